package api

// The API's own answers for the core's rows (see userOut): the same fields
// and JSON as the store's types, under the OpenAPI component names the
// document has always used, so that a change to a store row cannot change
// the API unnoticed.

import (
	"time"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/shared/wire"
)

// alarmOut is one alarm, raised by an appliance or by central.
type alarmOut struct {
	ID          string     `json:"id"`
	ApplianceID string     `json:"appliance_id"`
	Block       string     `json:"block,omitempty"`
	Origin      string     `json:"origin"`
	Seq         uint64     `json:"seq,omitempty"`
	Time        time.Time  `json:"time"`
	Code        string     `json:"code"`
	Source      string     `json:"source"`
	Message     string     `json:"message"`
	Cleared     *time.Time `json:"cleared,omitempty"`
}

func (alarmOut) componentName() string { return "store.Alarm" }

func alarmBody(v *store.Alarm) alarmOut {
	return alarmOut{ID: v.ID, ApplianceID: v.ApplianceID, Block: v.Block, Origin: v.Origin, Seq: v.Seq, Time: v.Time, Code: v.Code, Source: v.Source, Message: v.Message, Cleared: v.Cleared}
}

func alarmsBody(vs []store.Alarm) []alarmOut {
	if vs == nil {
		return nil
	}
	out := make([]alarmOut, len(vs))
	for i := range vs {
		out[i] = alarmBody(&vs[i])
	}
	return out
}

// applianceOut is an appliance and its state.
type applianceOut struct {
	ID                   string     `json:"id"`
	Block                string     `json:"block"`
	LastSeen             *time.Time `json:"last_seen"`
	PolicyVersionApplied uint64     `json:"policy_version_applied"`
	PolicyVersionCurrent uint64     `json:"policy_version_current"`
	Software             string     `json:"software,omitempty"`
	AckedSeq             uint64     `json:"acked_seq"`
	OpenAlarms           int        `json:"open_alarms"`
	Online               bool       `json:"online"`
	PolicyCurrent        bool       `json:"policy_current"`
	// Retired is when it was retired (absent while enrolled).
	Retired *time.Time `json:"retired,omitempty"`
	// CertNotAfter is when the certificate it last connected with expires.
	CertNotAfter *time.Time `json:"cert_not_after,omitempty"`
}

func (applianceOut) componentName() string { return "store.Appliance" }

func applianceBody(v *store.Appliance) applianceOut {
	return applianceOut{ID: v.ID, Block: v.Block, LastSeen: v.LastSeen, PolicyVersionApplied: v.PolicyVersionApplied, PolicyVersionCurrent: v.PolicyVersionCurrent, Software: v.Software, AckedSeq: v.AckedSeq, OpenAlarms: v.OpenAlarms, Online: v.Online, PolicyCurrent: v.PolicyCurrent, Retired: v.Retired, CertNotAfter: v.CertNotAfter}
}

// auditEntryOut is one entry of the audit log.
type auditEntryOut struct {
	ID       int64     `json:"id"`
	Time     time.Time `json:"time"`
	Actor    string    `json:"actor"`
	Action   string    `json:"action"`
	Target   string    `json:"target"`
	Detail   string    `json:"detail,omitempty"`
	Hash     string    `json:"hash"`
	PrevHash string    `json:"prev_hash"`
}

func (auditEntryOut) componentName() string { return "store.AuditEntry" }

func auditEntryBody(v *store.AuditEntry) auditEntryOut {
	return auditEntryOut{ID: v.ID, Time: v.Time, Actor: v.Actor, Action: v.Action, Target: v.Target, Detail: v.Detail, Hash: v.Hash, PrevHash: v.PrevHash}
}

func auditEntriesBody(vs []store.AuditEntry) []auditEntryOut {
	if vs == nil {
		return nil
	}
	out := make([]auditEntryOut, len(vs))
	for i := range vs {
		out[i] = auditEntryBody(&vs[i])
	}
	return out
}

// blockOut is a block and its current policy version.
type blockOut struct {
	Name          string `json:"name"`
	PolicyVersion uint64 `json:"policy_version"`
}

func (blockOut) componentName() string { return "store.Block" }

func blockBody(v *store.Block) blockOut {
	return blockOut{Name: v.Name, PolicyVersion: v.PolicyVersion}
}

// callInProgressOut is a call going on now.
type callInProgressOut struct {
	CallID       string    `json:"call_id"`
	ApplianceID  string    `json:"appliance_id"`
	Block        string    `json:"block"`
	PersonID     string    `json:"person_id"`
	PrisonNumber string    `json:"prison_number"`
	Terminal     string    `json:"terminal"`
	Number       string    `json:"number"`
	Start        time.Time `json:"start"`
	Privileged   bool      `json:"privileged"`
	Hidden       bool      `json:"hidden"`
}

func (callInProgressOut) componentName() string { return "store.CallInProgress" }

func callInProgressBody(v *store.CallInProgress) callInProgressOut {
	return callInProgressOut{CallID: v.CallID, ApplianceID: v.ApplianceID, Block: v.Block, PersonID: v.PersonID, PrisonNumber: v.PrisonNumber, Terminal: v.Terminal, Number: v.Number, Start: v.Start, Privileged: v.Privileged, Hidden: v.Hidden}
}

func callsInProgressBody(vs []store.CallInProgress) []callInProgressOut {
	if vs == nil {
		return nil
	}
	out := make([]callInProgressOut, len(vs))
	for i := range vs {
		out[i] = callInProgressBody(&vs[i])
	}
	return out
}

// officerActionOut is an officer's action at a block's panel.
type officerActionOut struct {
	ApplianceID string    `json:"appliance_id"`
	Seq         uint64    `json:"seq"`
	Time        time.Time `json:"time"`
	Action      string    `json:"action"`
	OfficerID   string    `json:"officer_id,omitempty"`
	OfficerName string    `json:"officer_name,omitempty"`
	CallID      string    `json:"call_id,omitempty"`
	Terminal    string    `json:"terminal,omitempty"`
}

func (officerActionOut) componentName() string { return "store.OfficerAction" }

func officerActionBody(v *people.OfficerAction) officerActionOut {
	return officerActionOut{ApplianceID: v.ApplianceID, Seq: v.Seq, Time: v.Time, Action: v.Action, OfficerID: v.OfficerID, OfficerName: v.OfficerName, CallID: v.CallID, Terminal: v.Terminal}
}

func officerActionsBody(vs []people.OfficerAction) []officerActionOut {
	if vs == nil {
		return nil
	}
	out := make([]officerActionOut, len(vs))
	for i := range vs {
		out[i] = officerActionBody(&vs[i])
	}
	return out
}

// terminalOut is a block's terminal (phone and card reader).
type terminalOut struct {
	ApplianceID string     `json:"appliance_id"`
	Block       string     `json:"block"`
	Terminal    string     `json:"terminal"`
	Reader      string     `json:"reader,omitempty"`
	LastSeen    *time.Time `json:"last_seen,omitempty"`
}

func (terminalOut) componentName() string { return "store.Terminal" }

func terminalBody(v *store.Terminal) terminalOut {
	return terminalOut{ApplianceID: v.ApplianceID, Block: v.Block, Terminal: v.Terminal, Reader: v.Reader, LastSeen: v.LastSeen}
}

// The people's and the calls' rows.

// personOut is a person (or an officer) with their cards and calling rules.
type personOut struct {
	ID                   string        `json:"id"`
	PrisonNumber         string        `json:"prison_number"`
	Name                 string        `json:"name"`
	Block                string        `json:"block"`
	Status               string        `json:"status"`
	Language             string        `json:"language,omitempty"`
	HasPIN               bool          `json:"has_pin"`
	Cards                []string      `json:"cards"`
	SupervisionLevel     string        `json:"supervision_level"`
	Confirm              string        `json:"confirm"`
	ConfirmWindowSeconds int           `json:"confirm_window_seconds"`
	Officer              bool          `json:"officer"`
	Windows              []wire.Window `json:"windows"`
	MaxDurationSeconds   int           `json:"max_duration_seconds"`
	CallsPerDay          int           `json:"calls_per_day"`
	CallsPerWeek         int           `json:"calls_per_week"`
	CallsPerMonth        int           `json:"calls_per_month"`
	HasPhoto             bool          `json:"has_photo"`
	StatusReason         string        `json:"status_reason,omitempty"`
	SuspendedUntil       *time.Time    `json:"suspended_until,omitempty"`
	Created              time.Time     `json:"created"`
	Updated              time.Time     `json:"updated"`
}

func (personOut) componentName() string { return "store.Person" }

func personBody(v *people.Person) personOut {
	return personOut{ID: v.ID, PrisonNumber: v.PrisonNumber, Name: v.Name, Block: v.Block, Status: v.Status, Language: v.Language, HasPIN: v.HasPIN, Cards: v.Cards, SupervisionLevel: v.SupervisionLevel, Confirm: v.Confirm, ConfirmWindowSeconds: v.ConfirmWindowSeconds, Officer: v.Officer, Windows: v.Windows, MaxDurationSeconds: v.MaxDurationSeconds, CallsPerDay: v.CallsPerDay, CallsPerWeek: v.CallsPerWeek, CallsPerMonth: v.CallsPerMonth, HasPhoto: v.HasPhoto, StatusReason: v.StatusReason, SuspendedUntil: v.SuspendedUntil, Created: v.Created, Updated: v.Updated}
}

func peopleBody(vs []people.Person) []personOut {
	if vs == nil {
		return nil
	}
	out := make([]personOut, len(vs))
	for i := range vs {
		out[i] = personBody(&vs[i])
	}
	return out
}

// contactOut is a number on a person's contact list and its approval.
type contactOut struct {
	ID             string     `json:"id"`
	PersonID       string     `json:"person_id"`
	Number         string     `json:"number"`
	Name           string     `json:"name"`
	Relationship   string     `json:"relationship"`
	Status         string     `json:"status"`
	Privileged     bool       `json:"privileged"`
	Created        time.Time  `json:"created"`
	Identity       string     `json:"identity,omitempty"`
	RequestedBy    string     `json:"requested_by,omitempty"`
	DecidedBy      string     `json:"decided_by,omitempty"`
	Decided        *time.Time `json:"decided,omitempty"`
	DecisionReason string     `json:"decision_reason,omitempty"`
	SelfBlocked    bool       `json:"self_blocked"`
}

func (contactOut) componentName() string { return "store.Contact" }

func contactBody(v *people.Contact) contactOut {
	return contactOut{ID: v.ID, PersonID: v.PersonID, Number: v.Number, Name: v.Name, Relationship: v.Relationship, Status: v.Status, Privileged: v.Privileged, Created: v.Created, Identity: v.Identity, RequestedBy: v.RequestedBy, DecidedBy: v.DecidedBy, Decided: v.Decided, DecisionReason: v.DecisionReason, SelfBlocked: v.SelfBlocked}
}

func contactsBody(vs []people.Contact) []contactOut {
	if vs == nil {
		return nil
	}
	out := make([]contactOut, len(vs))
	for i := range vs {
		out[i] = contactBody(&vs[i])
	}
	return out
}

// globalNumberOut is a number on the prison-wide list.
type globalNumberOut struct {
	Number    string    `json:"number"`
	Kind      string    `json:"kind"`
	Note      string    `json:"note"`
	CreatedBy string    `json:"created_by"`
	Created   time.Time `json:"created"`
}

func (globalNumberOut) componentName() string { return "store.GlobalNumber" }

func globalNumberBody(v *people.GlobalNumber) globalNumberOut {
	return globalNumberOut{Number: v.Number, Kind: v.Kind, Note: v.Note, CreatedBy: v.CreatedBy, Created: v.Created}
}

func globalNumbersBody(vs []people.GlobalNumber) []globalNumberOut {
	if vs == nil {
		return nil
	}
	out := make([]globalNumberOut, len(vs))
	for i := range vs {
		out[i] = globalNumberBody(&vs[i])
	}
	return out
}

// photoOut is a person's photo's description (never the image).
type photoOut struct {
	PersonID    string    `json:"person_id"`
	ContentType string    `json:"content_type"`
	SHA256      string    `json:"sha256"`
	Bytes       int       `json:"bytes"`
	Width       int       `json:"width"`
	Height      int       `json:"height"`
	UpdatedBy   string    `json:"updated_by"`
	Updated     time.Time `json:"updated"`
}

func (photoOut) componentName() string { return "store.Photo" }

func photoBody(v *people.Photo) photoOut {
	return photoOut{PersonID: v.PersonID, ContentType: v.ContentType, SHA256: v.SHA256, Bytes: v.Bytes, Width: v.Width, Height: v.Height, UpdatedBy: v.UpdatedBy, Updated: v.Updated}
}

// callRecordingOut is a call's recording's description.
type callRecordingOut struct {
	ID       string `json:"id,omitempty"`
	SHA256   string `json:"sha256"`
	Bytes    int64  `json:"bytes"`
	Format   string `json:"format"`
	Uploaded bool   `json:"uploaded"`
}

func (callRecordingOut) componentName() string { return "store.CallRecording" }

func callRecordingBody(v *store.CallRecording) callRecordingOut {
	return callRecordingOut{ID: v.ID, SHA256: v.SHA256, Bytes: v.Bytes, Format: v.Format, Uploaded: v.Uploaded}
}

// callOut is a call's record.
type callOut struct {
	ID              string            `json:"id"`
	ApplianceID     string            `json:"appliance_id"`
	Block           string            `json:"block"`
	PersonID        string            `json:"person_id,omitempty"`
	PrisonNumber    string            `json:"prison_number,omitempty"`
	PersonName      string            `json:"person_name,omitempty"`
	CardUID         string            `json:"card_uid,omitempty"`
	Terminal        string            `json:"terminal"`
	Number          string            `json:"number"`
	Start           time.Time         `json:"start"`
	Answer          *time.Time        `json:"answer,omitempty"`
	End             time.Time         `json:"end"`
	DurationSeconds float64           `json:"duration_seconds"`
	Disposition     string            `json:"disposition"`
	Reason          string            `json:"reason,omitempty"`
	Privileged      bool              `json:"privileged"`
	Recording       *callRecordingOut `json:"recording,omitempty"`
	OfficerID       string            `json:"officer_id,omitempty"`
	OfficerName     string            `json:"officer_name,omitempty"`
	ConfirmMethod   string            `json:"confirm_method,omitempty"`
	EndedBy         string            `json:"ended_by,omitempty"`
	Hidden          bool              `json:"hidden,omitempty"`
	Free            bool              `json:"free,omitempty"`
	Cost            int64             `json:"cost,omitempty"`
	Currency        string            `json:"currency,omitempty"`
	Trunk           string            `json:"trunk,omitempty"`
}

func (callOut) componentName() string { return "store.Call" }

func callBody(v *store.Call) callOut {
	out := callOut{ID: v.ID, ApplianceID: v.ApplianceID, Block: v.Block, PersonID: v.PersonID, PrisonNumber: v.PrisonNumber, PersonName: v.PersonName, CardUID: v.CardUID, Terminal: v.Terminal, Number: v.Number, Start: v.Start, Answer: v.Answer, End: v.End, DurationSeconds: v.DurationSeconds, Disposition: v.Disposition, Reason: v.Reason, Privileged: v.Privileged, OfficerID: v.OfficerID, OfficerName: v.OfficerName, ConfirmMethod: v.ConfirmMethod, EndedBy: v.EndedBy, Hidden: v.Hidden, Free: v.Free, Cost: v.Cost, Currency: v.Currency, Trunk: v.Trunk}
	if v.Recording != nil {
		rec := callRecordingBody(v.Recording)
		out.Recording = &rec
	}
	return out
}

func callsBody(vs []store.Call) []callOut {
	if vs == nil {
		return nil
	}
	out := make([]callOut, len(vs))
	for i := range vs {
		out[i] = callBody(&vs[i])
	}
	return out
}

// The settings, read and written through the API's own types (request
// body and answer alike).

// prisonSettingsIO is the prison-wide settings.
type prisonSettingsIO struct {
	PrisonName  string `json:"prison_name"`
	TimeZone    string `json:"time_zone"`
	MaxContacts int    `json:"max_contacts"`
}

func (prisonSettingsIO) componentName() string { return "store.PrisonSettings" }

func prisonSettingsBody(v *people.PrisonSettings) prisonSettingsIO {
	return prisonSettingsIO{PrisonName: v.PrisonName, TimeZone: v.TimeZone, MaxContacts: v.MaxContacts}
}

func (in prisonSettingsIO) settings() people.PrisonSettings {
	return people.PrisonSettings{PrisonName: in.PrisonName, TimeZone: in.TimeZone, MaxContacts: in.MaxContacts}
}
