package web

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/money"
)

// Pages show moments in the prison's time zone (the settings'), the zone
// named; every date filter (the account page's too) is one date input.
func TestPagesShowThePrisonsTimeZone(t *testing.T) {
	st, srv, _, _ := setup(t)
	ctx := context.Background()
	ms := money.New(st)
	set, err := ms.MoneySettings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	set.TimeZone = "Pacific/Kiritimati"
	if err := ms.SetMoneySettings(ctx, "test", set); err != nil {
		t.Fatal(err)
	}
	pid := personID(t, st)
	mkUser(t, st, "rita", store.RoleReadOnly)
	c := client(t)
	passwordLogin(t, c, srv.URL, "rita")
	// rec-call started 2025-03-01 09:00 UTC: 23:00 at UTC+14.
	const start = "2025-03-01 23:00 Pacific/Kiritimati"
	for path, want := range map[string][]string{
		"/calls?from=2025-03-01&to=2025-03-01": {start, `type="date" id="f-from" name="from" value="2025-03-01"`, `type="date" id="f-to" name="to" value="2025-03-01"`, "From (Pacific/Kiritimati)"},
		"/calls/rec-call":                      {start},
		"/accounts/" + pid:                     {`type="date" id="s-from" name="from"`, `type="date" id="s-to" name="to"`, "From (Pacific/Kiritimati)"},
		"/stats":                               {`<input type="date" id="s-from"`, "From (Pacific/Kiritimati)"},
	} {
		resp, body := get(t, c, srv.URL+path)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("%s lacks %q", path, w)
			}
		}
		if strings.Contains(body, "(UTC)") || strings.Contains(body, "YYYY-MM-DD") {
			t.Errorf("%s still shows UTC times or text date boxes", path)
		}
	}
	// The day is the prison's: 2025-03-01 at UTC+14 ends at 10:00 UTC,
	// after rec-call (09:00 UTC) and before refused-call (11:00 UTC).
	if _, body := get(t, c, srv.URL+"/calls?to=2025-03-01"); !strings.Contains(body, `href="/calls/rec-call"`) || strings.Contains(body, `href="/calls/refused-call"`) {
		t.Errorf("calls up to 2025-03-01 in the prison's zone: %s", body)
	}
	if !strings.Contains(When(t0, mustZone(t, "Europe/London")), "2025-03-01 09:00 Europe/London") {
		t.Errorf("When: %s", When(t0, mustZone(t, "Europe/London")))
	}
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}
