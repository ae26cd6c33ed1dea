package wire

import "time"

// Calls in progress: an appliance appends an EventCallStarted when it
// places an allowed call, before the call's EventCall record (which ends
// it), and an EventCallsCleared when it starts (a call of an earlier run
// that never got a record, the appliance having died with it, is over).
// Central lists the calls started and not ended, so that one can be ended
// at once (CmdEndCall).
const (
	EventCallStarted  EventType = "call_started"  // payload: CallStarted
	EventCallsCleared EventType = "calls_cleared" // payload: CallsCleared
)

// CallStarted is an allowed call being placed.
type CallStarted struct {
	CallID       string    `json:"call_id"`
	Terminal     string    `json:"terminal"`
	PersonID     string    `json:"person_id,omitempty"`
	PrisonNumber string    `json:"prison_number,omitempty"`
	Number       string    `json:"number"`
	Start        time.Time `json:"start"`
	// Privileged and Hidden as in CallRecord.
	Privileged bool `json:"privileged,omitempty"`
	Hidden     bool `json:"hidden,omitempty"`
}

// CallsCleared says no call of the appliance started before At is in
// progress any more.
type CallsCleared struct {
	At time.Time `json:"at"`
}
