package api

// The API's own answers for the core's rows (see userOut): the same fields
// and JSON as the store's types, under the OpenAPI component names the
// document has always used, so that a change to a store row cannot change
// the API unnoticed.

import (
	"time"

	"github.com/kinline/kinline/central/store"
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
}

func (applianceOut) componentName() string { return "store.Appliance" }

func applianceBody(v *store.Appliance) applianceOut {
	return applianceOut{ID: v.ID, Block: v.Block, LastSeen: v.LastSeen, PolicyVersionApplied: v.PolicyVersionApplied, PolicyVersionCurrent: v.PolicyVersionCurrent, Software: v.Software, AckedSeq: v.AckedSeq, OpenAlarms: v.OpenAlarms, Online: v.Online, PolicyCurrent: v.PolicyCurrent}
}

// commandOut is a command sent to an appliance and its answer.
type commandOut struct {
	ID          string     `json:"id"`
	ApplianceID string     `json:"appliance_id"`
	Kind        string     `json:"kind"`
	CallID      string     `json:"call_id,omitempty"`
	Issued      time.Time  `json:"issued"`
	Expires     time.Time  `json:"expires"`
	IssuedBy    string     `json:"issued_by"`
	State       string     `json:"state"`
	OK          bool       `json:"ok"`
	Error       string     `json:"error,omitempty"`
	AnsweredAt  *time.Time `json:"answered_at,omitempty"`
}

func (commandOut) componentName() string { return "store.Command" }

func commandBody(v *store.Command) commandOut {
	return commandOut{ID: v.ID, ApplianceID: v.ApplianceID, Kind: v.Kind, CallID: v.CallID, Issued: v.Issued, Expires: v.Expires, IssuedBy: v.IssuedBy, State: v.State, OK: v.OK, Error: v.Error, AnsweredAt: v.AnsweredAt}
}

func commandsBody(vs []store.Command) []commandOut {
	if vs == nil {
		return nil
	}
	out := make([]commandOut, len(vs))
	for i := range vs {
		out[i] = commandBody(&vs[i])
	}
	return out
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

func officerActionBody(v *store.OfficerAction) officerActionOut {
	return officerActionOut{ApplianceID: v.ApplianceID, Seq: v.Seq, Time: v.Time, Action: v.Action, OfficerID: v.OfficerID, OfficerName: v.OfficerName, CallID: v.CallID, Terminal: v.Terminal}
}

func officerActionsBody(vs []store.OfficerAction) []officerActionOut {
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
