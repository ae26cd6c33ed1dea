package stack

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/kinline/kinline/central/store"
)

// Person is what Seed enrols.
type Person struct {
	PrisonNumber, Name, Card string
	Numbers                  []string
	Language                 string
}

// Seed creates a person in the block with a card and approved numbers and
// returns the person's id.
func (s *Stack) Seed(ctx context.Context, p Person) (string, error) {
	var created store.Person
	lang := p.Language
	if lang == "" {
		lang = "en"
	}
	if err := s.Do(ctx, "POST", "/api/v1/inmates", map[string]any{
		"prison_number": p.PrisonNumber, "name": p.Name, "block": Block, "status": "active", "language": lang,
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
