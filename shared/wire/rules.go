package wire

// Call rules, schedules, number attributes and money in a block's policy
// (CapabilityVersion 8, additive, protocol version 1 unchanged). A peer that does not know these
// fields sees no schedule, no quota, no money and no global numbers, and its
// calls are limited only by Config.MaxDuration.
//
// Times of day are "HH:MM" (24 h) in Policy.TimeZone (an IANA zone; ""
// means UTC). A window whose End is before its Start runs past midnight
// (22:00-02:00 belongs to the day it starts on).

// Window is a span of the week during which calls may be made (or, in a
// person's Windows, the person's own windows, which replace the rule's).
type Window struct {
	// Days the window starts on: 0 = Sunday ... 6 = Saturday. Empty means
	// every day.
	Days  []int  `json:"days,omitempty"`
	Start string `json:"start"` // "HH:MM", inclusive
	End   string `json:"end"`   // "HH:MM", exclusive; "24:00" is the end of the day
}

// Global number kinds (NumberAttr.Kind): the prison-wide list of numbers
// whose treatment does not depend on who calls them.
const (
	// NumberKindBlocked numbers can never be called by anyone (even when a
	// person has them approved).
	NumberKindBlocked = "blocked"
	// NumberKindPrivileged numbers (legal advisers, helplines) are never
	// recorded and never monitorable, for everyone calling them.
	NumberKindPrivileged = "privileged"
	// NumberKindFree numbers cost nothing and count against no balance.
	NumberKindFree = "free"
	// NumberKindHidden numbers' call records are hidden from ordinary roles at
	// central (investigators and system admins see them).
	NumberKindHidden = "hidden"
)

// NumberAttr is one entry of the prison-wide number list. A number may
// appear once per kind. Number is normalized (policy.NormalizeNumber); a
// number that ends in '*' is a prefix (e.g. "+44800*" for every free-phone
// number).
type NumberAttr struct {
	Number string `json:"number"`
	Kind   string `json:"kind"`
	Note   string `json:"note,omitempty"`
}

// Refusal and limit reasons added with rules and money (CallRecord.Reason
// holds the refusal's text; CallRecord.LimitedBy names what set the
// call's maximum duration).
const (
	LimitRule    = "rule"    // the rule's (or Config's) maximum duration
	LimitBalance = "balance" // the balance at the destination's rate
	LimitWindow  = "window"  // the end of the calling window
)
