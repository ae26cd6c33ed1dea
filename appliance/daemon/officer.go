package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/kinline/kinline/appliance/authz"
	"github.com/kinline/kinline/appliance/callctl"
	"github.com/kinline/kinline/appliance/cardreader"
	"github.com/kinline/kinline/appliance/panel"
	"github.com/kinline/kinline/shared/policy"
	"github.com/kinline/kinline/shared/wire"
)

// ActionEndCall is the officer action reported when an officer's card tap
// ends a call in progress (the panel's own actions are in package panel).
const ActionEndCall = "end_call"

// ReasonEndedByOfficer is the reason of a call an officer's tap ended.
const ReasonEndedByOfficer = "ended by officer"

// AlarmNotOfficerCard is the alarm raised when a card that is not an
// active officer's is read on the officer panel's reader. The panel
// ignores such cards (a call waiting for confirmation keeps waiting); the
// alarm tells central that someone tried.
const AlarmNotOfficerCard = "not_officer_card"

// notOfficerAlarm is the alarm for card t on the officer reader, held by
// p in the policy (nil: nobody in it).
func notOfficerAlarm(t cardreader.Tap, p *wire.Person) wire.Alarm {
	who := "a card not in the block's policy"
	if p != nil {
		who = "the card of " + p.PrisonNumber
		if p.PrisonNumber == "" {
			who = "the card of person " + p.ID
		}
		if p.Officer {
			who += " (an officer who is not active)"
		}
	}
	return wire.Alarm{Code: AlarmNotOfficerCard, Source: t.Reader,
		Message: fmt.Sprintf("%s (%s) was tapped on the officer reader: ignored, it is not an active officer's", who, t.UID)}
}

// endCallTimeout bounds tearing down one call an officer ended.
const endCallTimeout = 10 * time.Second

// panelConfirmer adapts the officer panel to authz.Confirmer: it maps the
// rule's mode to the panel's and the panel's errors to the refusal reasons.
type panelConfirmer struct{ p *panel.Panel }

var _ authz.Confirmer = panelConfirmer{}

func panelMode(m string) (panel.Mode, error) {
	switch m {
	case wire.ConfirmButton:
		return panel.ConfirmButton, nil
	case wire.ConfirmCard:
		return panel.OfficerCard, nil
	case wire.ConfirmBoth:
		return panel.Both, nil
	}
	return 0, fmt.Errorf("%w: confirmation mode %q", policy.ErrPanelUnavailable, m)
}

// ConfirmCall shows the call on the panel and waits for the officer.
func (c panelConfirmer) ConfirmCall(ctx context.Context, r authz.ConfirmRequest) (authz.Confirmation, error) {
	mode, err := panelMode(r.Mode)
	if err != nil {
		return authz.Confirmation{}, err
	}
	conf, err := c.p.RequestConfirmation(ctx, panel.Request{
		CallID: r.CallID, Terminal: r.Terminal, PersonID: r.PersonID, Number: r.Number, Mode: mode, Window: r.Window,
	})
	switch {
	case err == nil:
		return authz.Confirmation{OfficerID: conf.OfficerID, Method: conf.Method}, nil
	case errors.Is(err, panel.ErrTimeout):
		return authz.Confirmation{}, fmt.Errorf("%w: %w", policy.ErrNotConfirmed, err)
	case errors.Is(err, panel.ErrCancelled):
		return authz.Confirmation{}, fmt.Errorf("%w: %w", policy.ErrOfficerRefused, err)
	case ctx.Err() != nil:
		return authz.Confirmation{}, err
	}
	return authz.Confirmation{}, fmt.Errorf("%w: %w", policy.ErrPanelUnavailable, err)
}

// callEnder is the part of call control an officer's tap uses
// (*callctl.Server).
type callEnder interface {
	ActiveCalls() []callctl.ActiveCall
	EndCall(ctx context.Context, callID string) error
}

// officerEnds ends calls when an officer taps a card on the idle panel,
// for people whose rule says so, and remembers who ended which call so the
// call record can name the officer.
type officerEnds struct {
	calls  callEnder
	rule   func(personID string) (policy.Rule, bool)
	action func(wire.OfficerAction)
	log    *slog.Logger

	mu      sync.Mutex
	endedBy map[string]ender // call id -> who ended it
	wg      sync.WaitGroup
}

// ender is who ended a call: an officer's id (a card tap), or who sent
// central's end_call command (central).
type ender struct {
	by      string
	central bool
}

func newOfficerEnds(calls callEnder, rule func(string) (policy.Rule, bool), action func(wire.OfficerAction), log *slog.Logger) *officerEnds {
	return &officerEnds{calls: calls, rule: rule, action: action, log: log, endedBy: map[string]ender{}}
}

// tapped handles an officer's card tapped while nothing waits on the panel
// (panel.Config.OnIdleOfficerTap). It returns at once; the calls end in
// the background. It returns the ids of the calls it ends.
func (o *officerEnds) tapped(officerID string) []string {
	var ended []string
	for _, c := range o.calls.ActiveCalls() {
		r, ok := o.rule(c.PersonID)
		if !ok || !r.EndOnOfficerTap {
			continue
		}
		o.mu.Lock()
		o.endedBy[c.CallID] = ender{by: officerID}
		o.mu.Unlock()
		o.log.Info("officer's card ends the call", "officer", officerID, "call", c.CallID, "terminal", c.Terminal, "person", c.PersonID)
		o.action(wire.OfficerAction{Action: ActionEndCall, OfficerID: officerID, CallID: c.CallID, Terminal: c.Terminal})
		ended = append(ended, c.CallID)
		o.wg.Add(1)
		go func(id string) {
			defer o.wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), endCallTimeout)
			defer cancel()
			if err := o.calls.EndCall(ctx, id); err != nil && !errors.Is(err, callctl.ErrNoSuchCall) {
				o.log.Warn("ending the call failed", "call", id, "err", err)
			}
		}(c.CallID)
	}
	if len(ended) == 0 {
		o.log.Info("officer's card tapped: no call to end", "officer", officerID)
	}
	return ended
}

// annotate names the officer in the record of a call an officer ended.
func (o *officerEnds) annotate(rec *wire.CallRecord) {
	o.mu.Lock()
	by, ok := o.endedBy[rec.CallID]
	delete(o.endedBy, rec.CallID)
	o.mu.Unlock()
	if ok && rec.Disposition == wire.DispEnded {
		rec.EndedBy, rec.Reason = by.by, ReasonEndedByOfficer
		if by.central {
			rec.Reason = ReasonEndedByCentral
		}
	}
}

// wait waits for the background EndCalls.
func (o *officerEnds) wait() { o.wg.Wait() }
