package stack

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/kinline/kinline/central/store"
)

// AlarmsWithCode lists the alarms central holds with code (every
// appliance, open or cleared), newest first.
func (s *Stack) AlarmsWithCode(ctx context.Context, code string) ([]store.Alarm, error) {
	var out struct {
		Alarms []store.Alarm `json:"alarms"`
	}
	if err := s.Do(ctx, "GET", "/api/v1/alarms?"+url.Values{"limit": {"1000"}}.Encode(), nil, &out); err != nil {
		return nil, err
	}
	var with []store.Alarm
	for _, a := range out.Alarms {
		if a.Code == code {
			with = append(with, a)
		}
	}
	return with, nil
}

// WaitAlarms waits until central holds at least n alarms with code and
// returns them, newest first.
func (s *Stack) WaitAlarms(ctx context.Context, code string, n int, d time.Duration) ([]store.Alarm, error) {
	var got []store.Alarm
	err := waitFor(ctx, d, fmt.Sprintf("%d %s alarm(s) at central", n, code), func() error {
		var err error
		if got, err = s.AlarmsWithCode(ctx, code); err != nil {
			return err
		}
		if len(got) < n {
			return fmt.Errorf("%d so far", len(got))
		}
		return nil
	})
	return got, err
}
