package stack

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/kinline/kinline/appliance/panel"
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/shared/wire"
)

// Person is what Seed enrols.
type Person struct {
	PrisonNumber, Name, Card string
	Numbers                  []string
	Language                 string
	// SupervisionLevel selects the block's call rule (SetRules); Confirm
	// overrides its officer confirmation ("none", "button", "card", "both").
	SupervisionLevel, Confirm string
}

// Seed creates a person in the block with a card and approved numbers and
// returns the person's id.
func (s *Stack) Seed(ctx context.Context, p Person) (string, error) {
	var created people.Person
	lang := p.Language
	if lang == "" {
		lang = "en"
	}
	if err := s.Do(ctx, "POST", "/api/v1/inmates", map[string]any{
		"prison_number": p.PrisonNumber, "name": p.Name, "block": Block, "status": "active", "language": lang,
		"supervision_level": p.SupervisionLevel, "confirm": p.Confirm,
	}, &created); err != nil {
		return "", fmt.Errorf("stack: create person: %w", err)
	}
	if p.Card != "" {
		if err := s.Do(ctx, "POST", "/api/v1/inmates/"+created.ID+"/cards", map[string]string{"uid": p.Card}, nil); err != nil {
			return "", fmt.Errorf("stack: add card: %w", err)
		}
	}
	for i, n := range p.Numbers {
		if err := s.Do(ctx, "POST", "/api/v1/inmates/"+created.ID+"/contacts", map[string]any{
			"number": n, "name": fmt.Sprintf("Family member %d", i+1), "relationship": "family",
		}, nil); err != nil {
			return "", fmt.Errorf("stack: add contact: %w", err)
		}
	}
	return created.ID, nil
}

// Appliance returns central's view of the stack's appliance.
func (s *Stack) Appliance(ctx context.Context) (store.Appliance, error) {
	var out struct {
		Appliances []store.Appliance `json:"appliances"`
	}
	if err := s.Do(ctx, "GET", "/api/v1/appliances", nil, &out); err != nil {
		return store.Appliance{}, err
	}
	for _, a := range out.Appliances {
		if a.ID == ApplianceID {
			return a, nil
		}
	}
	return store.Appliance{}, fmt.Errorf("stack: appliance %s unknown to central", ApplianceID)
}

// WaitPolicyApplied waits until the appliance reports that it applies the
// newest policy central has for it (so a card enrolled before this call is
// known at the appliance).
func (s *Stack) WaitPolicyApplied(ctx context.Context, d time.Duration) error {
	return waitFor(ctx, d, "the appliance to apply the newest policy", func() error {
		a, err := s.Appliance(ctx)
		if err != nil {
			return err
		}
		if a.PolicyVersionCurrent == 0 || a.PolicyVersionApplied < a.PolicyVersionCurrent {
			return fmt.Errorf("applied %d, current %d", a.PolicyVersionApplied, a.PolicyVersionCurrent)
		}
		return nil
	})
}

// Calls lists calls, newest first, with optional filters (inmate, block,
// number, from, to, disposition).
func (s *Stack) Calls(ctx context.Context, filters url.Values) ([]store.Call, error) {
	var out struct {
		Calls []store.Call `json:"calls"`
	}
	path := "/api/v1/calls"
	if len(filters) > 0 {
		path += "?" + filters.Encode()
	}
	err := s.Do(ctx, "GET", path, nil, &out)
	return out.Calls, err
}

// WaitCalls waits until central holds at least n calls and returns them.
func (s *Stack) WaitCalls(ctx context.Context, n int, d time.Duration) ([]store.Call, error) {
	var calls []store.Call
	err := waitFor(ctx, d, fmt.Sprintf("%d calls at central", n), func() error {
		var err error
		if calls, err = s.Calls(ctx, nil); err != nil {
			return err
		}
		if len(calls) < n {
			return fmt.Errorf("%d calls so far", len(calls))
		}
		return nil
	})
	return calls, err
}

// Recording downloads a call's recording.
func (s *Stack) Recording(ctx context.Context, callID string) ([]byte, error) {
	var b []byte
	err := s.Do(ctx, "GET", "/api/v1/calls/"+url.PathEscape(callID)+"/recording", nil, &b)
	return b, err
}

// WaitRecording waits until a call's recording has reached central.
func (s *Stack) WaitRecording(ctx context.Context, callID string, d time.Duration) ([]byte, error) {
	var b []byte
	err := waitFor(ctx, d, "recording of "+callID, func() error {
		var err error
		b, err = s.Recording(ctx, callID)
		return err
	})
	return b, err
}

// EnrolOfficer enrols a member of staff of the block whose card confirms
// calls on the officer panel, and returns the officer's id.
func (s *Stack) EnrolOfficer(ctx context.Context, staffNumber, name, card string) (string, error) {
	var created people.Person
	body := map[string]any{"staff_number": staffNumber, "name": name, "block": Block}
	if card != "" {
		body["cards"] = []string{card}
	}
	if err := s.Do(ctx, "POST", "/api/v1/officers", body, &created); err != nil {
		return "", fmt.Errorf("stack: enrol officer: %w", err)
	}
	return created.ID, nil
}

// SetRules replaces the block's call rules (dual authorization per
// supervision level).
func (s *Stack) SetRules(ctx context.Context, rules []wire.CallRule) error {
	if err := s.Do(ctx, "PUT", "/api/v1/blocks/"+Block+"/rules", map[string]any{"rules": rules}, nil); err != nil {
		return fmt.Errorf("stack: set rules: %w", err)
	}
	return nil
}

// Panel sends one command to the simulated officer panel's control socket
// ("press confirm", "press cancel", "tap <uid>", "state") and returns the
// reply's detail.
func (s *Stack) Panel(ctx context.Context, cmd string) (string, error) {
	if s.PanelSocket == "" {
		return "", fmt.Errorf("stack: board %q has no panel control socket", s.Opts.Board)
	}
	return panel.Command(ctx, s.PanelSocket, cmd)
}

// WaitPanelPending waits until the officer panel shows a call waiting for
// confirmation and returns the panel's state line.
func (s *Stack) WaitPanelPending(ctx context.Context, d time.Duration) (string, error) {
	var state string
	err := waitFor(ctx, d, "a call pending on the officer panel", func() error {
		var err error
		if state, err = s.Panel(ctx, "state"); err != nil {
			return err
		}
		if !strings.Contains(state, "pending=on") {
			return fmt.Errorf("panel: %s", state)
		}
		return nil
	})
	return state, err
}

// OfficerActions lists the officer panel actions central holds, newest
// first.
func (s *Stack) OfficerActions(ctx context.Context) ([]people.OfficerAction, error) {
	var out struct {
		OfficerActions []people.OfficerAction `json:"officer_actions"`
	}
	err := s.Do(ctx, "GET", "/api/v1/officer-actions", nil, &out)
	return out.OfficerActions, err
}
