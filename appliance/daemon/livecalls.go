package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/kinline/kinline/appliance/authz"
	"github.com/kinline/kinline/appliance/callctl"
	"github.com/kinline/kinline/appliance/media"
	"github.com/kinline/kinline/appliance/store"
	"github.com/kinline/kinline/shared/ledger"
	"github.com/kinline/kinline/shared/wire"
)

// Calls cut by a crash (docs/decisions/0015-calls-closed-on-restart.md).
//
// Every allowed call has a checkpoint in the store from its
// authorization (written with its call_started event) until its record
// is written (in the record's transaction): who, terminal, number, how it
// is priced, and once bridged its answer time and both legs' dialogs. While a
// call is up its checkpoint's Alive time is rewritten every
// checkpointEvery, off the call's path, all calls in one transaction. A
// checkpoint still in the store at start-up is a call the appliance died
// with: closeDeadCalls writes its record (disposition
// wire.DispRestarted, billed up to the last checkpoint at the rate it was
// priced with), its debit and its recovered recording in one
// transaction, and endDeadDialogs then sends a BYE on each of its legs.

// checkpointEvery is how often the Alive time of the calls in progress is
// written: a call cut by a crash is billed for at most this much less than
// it lasted, never more.
const checkpointEvery = 2 * time.Second

// ReasonRestarted is the reason of a record closed at start-up.
const ReasonRestarted = "appliance restarted: the call was cut by a crash; its duration is up to the last checkpoint"

// AlarmCallsClosed is the alarm code raised when calls were closed at
// start-up.
const AlarmCallsClosed = "calls_closed_on_restart"

// checkpoint is what the store keeps about a call in progress.
type checkpoint struct {
	// Record is the call's record as far as it is known: who, terminal,
	// number, start, confirmation, flags, limit; Answer once bridged.
	Record  wire.CallRecord `json:"record"`
	Pricing storedPricing   `json:"pricing"`
	// Trunk and Port are the legs' dialogs, once bridged.
	Trunk *callctl.Dialog `json:"trunk,omitempty"`
	Port  *callctl.Dialog `json:"port,omitempty"`
	// Alive is when the appliance last wrote the checkpoint while the
	// call was up.
	Alive time.Time `json:"alive"`
	// Closed is set once the call's record is written at start-up: only
	// the BYE to the trunk is left.
	Closed bool `json:"closed,omitempty"`
	// dirty is set when the checkpoint changed since it was last written.
	dirty bool
}

// storedPricing is a pricing as kept in a checkpoint.
type storedPricing struct {
	Rated       bool            `json:"rated,omitempty"`
	Free        bool            `json:"free,omitempty"`
	Hidden      bool            `json:"hidden,omitempty"`
	Privileged  bool            `json:"privileged,omitempty"`
	Rate        ledger.Rate     `json:"rate"`
	Currency    ledger.Currency `json:"currency"`
	MaxDuration time.Duration   `json:"max_duration,omitempty"`
	LimitedBy   string          `json:"limited_by,omitempty"`
}

func storePricing(p pricing) storedPricing {
	return storedPricing{Rated: p.rated, Free: p.free, Hidden: p.hidden, Privileged: p.privileged,
		Rate: p.rate, Currency: p.currency, MaxDuration: p.maxDuration, LimitedBy: p.limitedBy}
}

func (p storedPricing) pricing() pricing {
	return pricing{rated: p.Rated, free: p.Free, hidden: p.Hidden, privileged: p.Privileged,
		rate: p.Rate, currency: p.Currency, maxDuration: p.MaxDuration, limitedBy: p.LimitedBy}
}

// liveCalls holds the checkpoints of the calls in progress. Its zero
// value is ready for use.
type liveCalls struct {
	mu   sync.Mutex
	m    map[string]*checkpoint
	kick chan struct{} // a checkpoint changed: write soon
}

func (l *liveCalls) kicker() chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.kick == nil {
		l.kick = make(chan struct{}, 1)
	}
	return l.kick
}

func (l *liveCalls) add(id string, cp *checkpoint) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]*checkpoint{}
	}
	l.m[id] = cp
}

// answered records a call's bridge and asks for a write.
func (l *liveCalls) answered(a callctl.AnsweredCall) bool {
	l.mu.Lock()
	cp := l.m[a.CallID]
	if cp != nil {
		at := a.Answer.UTC()
		cp.Record.Answer, cp.Alive = &at, at
		if a.Trunk.CallID != "" {
			d := a.Trunk
			cp.Trunk = &d
		}
		if a.Port.CallID != "" {
			d := a.Port
			cp.Port = &d
		}
		if a.MaxDuration > 0 {
			cp.Record.MaxDurationSeconds = int((a.MaxDuration + time.Second - 1) / time.Second)
			cp.Record.LimitedBy = a.LimitedBy
		}
		cp.dirty = true
	}
	if l.kick == nil {
		l.kick = make(chan struct{}, 1)
	}
	kick := l.kick
	l.mu.Unlock()
	select {
	case kick <- struct{}{}:
	default:
	}
	return cp != nil
}

// putIn writes call id's checkpoint within tx, if the call is still live.
func (l *liveCalls) putIn(tx *store.Tx, id string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if cp := l.m[id]; cp != nil {
		return tx.PutLiveCall(id, cp)
	}
	return nil
}

// writeIn stamps every live checkpoint alive at now and writes them
// within tx (only those that changed unless all). Holding the lock
// through the writes, inside the store's single writer, is what keeps a
// checkpoint from being written back after the record that ends its call
// deleted it.
func (l *liveCalls) writeIn(tx *store.Tx, now time.Time, all bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, cp := range l.m {
		if !all && !cp.dirty {
			continue
		}
		cp.Alive, cp.dirty = now, false
		if err := tx.PutLiveCall(id, cp); err != nil {
			return err
		}
	}
	return nil
}

// dropIn forgets call id and deletes its checkpoint within tx (the
// transaction that writes its record).
func (l *liveCalls) dropIn(tx *store.Tx, id string) error {
	l.forget(id)
	return tx.DeleteLiveCall(id)
}

func (l *liveCalls) forget(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.m, id)
}

func (l *liveCalls) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}

// callLive starts the checkpoint of an allowed call (written with its
// call_started event).
func (s *System) callLive(r callctl.AuthRequest, res authz.Result, pr pricing, start time.Time) {
	rec := wire.CallRecord{
		CallID: r.CallID, PersonID: res.PersonID, PrisonNumber: res.PrisonNumber, CardUID: res.CardUID,
		Terminal: r.Terminal, Number: r.Number, Start: start.UTC(),
		OfficerID: res.OfficerID, ConfirmMethod: res.ConfirmMethod,
		Hidden: res.Hidden, Free: res.Free, Privileged: res.Privileged,
	}
	s.live.add(r.CallID, &checkpoint{Record: rec, Pricing: storePricing(pr), Alive: start.UTC()})
}

// callAnswered is call control's OnCallAnswered: the checkpoint gets the
// answer time and the trunk dialog, written at once.
func (s *System) callAnswered(a callctl.AnsweredCall) {
	if !s.live.answered(a) {
		s.Log.Warn("answered call without a checkpoint: a crash during it would leave no record", "call", a.CallID)
	}
}

// runCheckpoints writes every live call's checkpoint every
// checkpointEvery, and a changed one (an answer) at once, until ctx is
// done.
func (s *System) runCheckpoints(ctx context.Context) {
	kick := s.live.kicker()
	tick := s.Clock.After(checkpointEvery)
	for {
		all := false
		select {
		case <-ctx.Done():
			return
		case <-tick:
			all, tick = true, s.Clock.After(checkpointEvery)
		case <-kick:
		}
		if err := s.writeCheckpoints(all); err != nil {
			s.Log.Error("call checkpoints not written", "err", err)
		}
	}
}

// writeCheckpoints writes the live calls' checkpoints (those that changed
// unless all), stamped alive now, in one transaction.
func (s *System) writeCheckpoints(all bool) error {
	if s.live.len() == 0 {
		return nil
	}
	now := s.Clock.Now().UTC()
	return s.Store.Update(func(tx *store.Tx) error { return s.live.writeIn(tx, now, all) })
}

// deadDialog is a dialog of a call closed at start-up, still to be
// ended: its trunk leg, then its port leg.
type deadDialog struct {
	callID string
	leg    string // "trunk" or "port"
	dialog callctl.Dialog
}

// closeDeadCalls closes every call the previous run died with (see the
// comment at the top of this file) and returns the dialogs left to end. A checkpoint that cannot be read or closed is left in the store
// (nothing is lost) and raises an alarm.
func (s *System) closeDeadCalls() []deadDialog {
	lcs, err := s.Store.LiveCalls()
	if err != nil {
		s.Log.Error("checkpoints of calls in progress unreadable: calls cut by a crash are not closed", "err", err)
		s.alarm(wire.Alarm{Code: AlarmCallsClosed, Source: "calls", Message: "checkpoints unreadable: " + err.Error()})
		return nil
	}
	var dialogs []deadDialog
	var closed, failed []string
	for _, lc := range lcs {
		var cp checkpoint
		if err := json.Unmarshal(lc.Data, &cp); err != nil {
			s.Log.Error("call checkpoint unreadable: left in the store", "call", lc.CallID, "err", err)
			failed = append(failed, lc.CallID)
			continue
		}
		if !cp.Closed {
			if err := s.closeDeadCall(lc.CallID, &cp); err != nil {
				s.Log.Error("call cut by a crash NOT closed: its checkpoint stays for the next start", "call", lc.CallID, "err", err)
				failed = append(failed, lc.CallID)
				continue
			}
			closed = append(closed, lc.CallID)
		}
		for _, leg := range []struct {
			name string
			d    *callctl.Dialog
		}{{"trunk", cp.Trunk}, {"port", cp.Port}} {
			if leg.d == nil {
				continue
			}
			dl := *leg.d
			// Session refreshes (RFC 4028) raised the dialog's CSeq after
			// the answer's checkpoint; a UAS refuses a BYE below one it
			// has seen. There is at most one in-dialog request a second.
			if a := cp.Record.Answer; a != nil && cp.Alive.After(*a) {
				dl.CSeq += uint32(cp.Alive.Sub(*a) / time.Second)
			}
			dialogs = append(dialogs, deadDialog{callID: lc.CallID, leg: leg.name, dialog: dl})
		}
	}
	if len(closed) > 0 || len(failed) > 0 {
		msg := fmt.Sprintf("%d call(s) cut by an appliance restart closed with disposition %s", len(closed), wire.DispRestarted)
		if len(closed) > 0 {
			msg += ": " + strings.Join(closed, ", ")
		}
		if len(failed) > 0 {
			msg += fmt.Sprintf("; %d could not be closed (see the appliance log): %s", len(failed), strings.Join(failed, ", "))
		}
		s.alarm(wire.Alarm{Code: AlarmCallsClosed, Source: "calls", Message: msg})
	}
	return dialogs
}

// closeDeadCall writes the record, debit and recording of one call the
// appliance died with, in one transaction that also marks its checkpoint
// closed (a trunk dialog is left to end) or deletes it.
func (s *System) closeDeadCall(id string, cp *checkpoint) error {
	rec := cp.Record
	rec.CallID = id
	rec.Disposition, rec.Reason = wire.DispRestarted, ReasonRestarted
	end := cp.Alive
	if rec.Answer != nil && end.Before(*rec.Answer) {
		end = *rec.Answer
	}
	if end.Before(rec.Start) {
		end = rec.Start
	}
	rec.End = end
	var recPath string
	if s.Media != nil && !cp.Pricing.Privileged {
		res, err := s.Media.RecoverRecording(id)
		switch {
		case errors.Is(err, media.ErrNoPart):
		case err != nil:
			// The .part stays for forensics; the record goes without it.
			s.Log.Error("recording of a call cut by a crash not recovered", "call", id, "err", err)
		case res.Path != "":
			rec.Recording = &wire.RecordingRef{ID: id, SHA256: res.SHA256, Bytes: res.Bytes, Format: res.Format}
			recPath = res.Path
		}
	}
	debit, charge := annotateMoney(&rec, cp.Pricing.pricing(), true)
	err := s.Store.Update(func(tx *store.Tx) error {
		if _, err := tx.AppendCall(rec); err != nil {
			return err
		}
		if charge {
			if _, _, err := tx.AppendDebit(debit); err != nil {
				return err
			}
		}
		if rec.Recording != nil {
			if err := tx.AddRecording(*rec.Recording, recPath); err != nil {
				return err
			}
		}
		if cp.Trunk != nil || cp.Port != nil {
			cp.Closed = true
			return tx.PutLiveCall(id, cp)
		}
		return tx.DeleteLiveCall(id)
	})
	if err != nil {
		return err
	}
	// The same line as callEnded's, after the same kind of transaction.
	s.Log.Info("call recorded", "call", id, "disposition", rec.Disposition, "reason", rec.Reason,
		"cost", rec.Cost, "currency", rec.Currency, "answered", rec.Answer != nil, "end", rec.End, "recording", rec.Recording != nil)
	return nil
}

// deadByeAttempts bounds the BYEs sent for one dead dialog; a trunk that
// never answers them ends the dialog by its session timer.
const deadByeAttempts = 5

// endDeadDialogs sends a BYE for each dialog of the calls closed at
// start-up (once call control serves SIP), retrying with a backoff, and
// then forgets each call's checkpoint.
func (s *System) endDeadDialogs(ctx context.Context, dialogs []deadDialog) {
	end := s.endDialog
	if end == nil {
		end = s.Calls.EndDialog
	}
	byCall := map[string][]deadDialog{}
	var order []string
	for _, d := range dialogs {
		if byCall[d.callID] == nil {
			order = append(order, d.callID)
		}
		byCall[d.callID] = append(byCall[d.callID], d)
	}
	var wg sync.WaitGroup
	for _, id := range order {
		wg.Go(func() {
			for _, d := range byCall[id] {
				s.endDeadDialog(ctx, end, d)
			}
			if ctx.Err() != nil {
				return // the next start tries again
			}
			if err := s.Store.Update(func(tx *store.Tx) error { return tx.DeleteLiveCall(id) }); err != nil {
				s.Log.Error("closed call's checkpoint not deleted", "call", id, "err", err)
			}
		})
	}
	wg.Wait()
}

// endDeadDialog sends BYEs for one dialog until one is answered or
// deadByeAttempts were sent.
func (s *System) endDeadDialog(ctx context.Context, end func(context.Context, callctl.Dialog) error, d deadDialog) {
	backoff := time.Second
	var err error
	for attempt := 1; attempt <= deadByeAttempts; attempt++ {
		actx, cancel := context.WithTimeout(ctx, 40*time.Second)
		err = end(actx, d.dialog)
		cancel()
		if err == nil || ctx.Err() != nil {
			break
		}
		s.Log.Warn("BYE for a call cut by a crash failed", "call", d.callID, "leg", d.leg, "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
		case <-s.Clock.After(backoff):
		}
		backoff *= 2
	}
	switch {
	case ctx.Err() != nil:
	case err == nil:
		s.Log.Info("leg of a call cut by a crash ended", "call", d.callID, "leg", d.leg)
	default:
		s.Log.Error("leg of a call cut by a crash not ended (a trunk's session timer ends it)", "call", d.callID, "leg", d.leg, "err", err)
	}
}
