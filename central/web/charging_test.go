package web

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/money"
)

// chargingOff is the banner every money page shows while charging is off.
const chargingOff = "Charging is off: calls are free.</strong> Turn it on in <a href=\"/money/settings\">Money settings</a>."

// moneyPages are every console page about money.
func moneyPages(ann string) []string {
	return []string{"/money/rates", "/money/accounts", "/accounts/" + ann, "/money/reconciliation", "/reports/billing", "/money/settings"}
}

// TestChargingBannerOnEveryMoneyPage: a fresh installation charges
// nothing and every money page says so, with the way to change it; once
// finance turns charging on in the money settings (audited, every block's
// policy republished) the banner is gone, and it is back when charging is
// turned off again.
func TestChargingBannerOnEveryMoneyPage(t *testing.T) {
	e := newManageEnv(t)
	ctx := context.Background()
	if err := e.st.EnsureBlock(ctx, "test", "B"); err != nil {
		t.Fatal(err)
	}
	ann := personID(t, e.st)
	fin := e.signIn("fin", store.RoleFinance)
	banners := func(want bool) {
		t.Helper()
		for _, p := range moneyPages(ann) {
			resp, body := get(t, fin, e.srv.URL+p)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: %d", p, resp.StatusCode)
			}
			if got := strings.Contains(body, chargingOff); got != want {
				t.Errorf("%s: banner shown %v, want %v", p, got, want)
			}
		}
	}
	banners(true)
	if _, body := get(t, fin, e.srv.URL+"/money/settings"); !strings.Contains(body, "Charging is <strong>off</strong>") || !strings.Contains(body, `<option value="off" selected>`) {
		t.Fatalf("settings page of a fresh installation: %s", body)
	}

	e.n.take()
	form := url.Values{"currency": {"EUR"}, "digits": {"2"}, "time_zone": {"UTC"}, "charging": {"on"}}
	resp, body := e.post(fin, "/money/settings", "/money/settings", form)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/money/settings?notice=") {
		t.Fatalf("turn charging on: %d %s", resp.StatusCode, body)
	}
	got := e.n.take()
	sort.Strings(got)
	if !slices.Equal(got, []string{"A", "B"}) {
		t.Fatalf("turning charging on notified %v, want every block", got)
	}
	if set, err := money.New(e.st).MoneySettings(ctx); err != nil || !set.ChargingIsOn() {
		t.Fatalf("settings %+v, %v", set, err)
	}
	au, err := e.st.AuditLog(ctx, store.AuditFilter{Action: "money.settings"})
	if err != nil || len(au) != 1 || !strings.Contains(au[0].Detail, "charging=on") || !strings.HasSuffix(au[0].Actor, "fin") {
		t.Fatalf("audit %+v, %v", au, err)
	}
	banners(false)
	if _, body := get(t, fin, e.srv.URL+"/money/rates"); !strings.Contains(body, "No rates: with charging on, every call to a number that is not free is refused.") {
		t.Errorf("rates page without rates and charging on does not say what that means")
	}

	form.Set("charging", "off")
	if resp, body := e.post(fin, "/money/settings", "/money/settings", form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("turn charging off: %d %s", resp.StatusCode, body)
	}
	banners(true)
}

// TestChargingSettingRefusals: an unknown charging value or digits that
// are not a number change nothing and say why; a role that may not change
// money sees the settings but no form, and its post is refused.
func TestChargingSettingRefusals(t *testing.T) {
	e := newManageEnv(t)
	ctx := context.Background()
	fin := e.signIn("fin", store.RoleFinance)
	for _, tc := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"currency": {"EUR"}, "digits": {"2"}, "time_zone": {"UTC"}, "charging": {"yes"}}, "charging: choose on or off"},
		{url.Values{"currency": {"EUR"}, "digits": {"2"}, "time_zone": {"UTC"}}, "charging: choose on or off"},
		{url.Values{"currency": {"EUR"}, "digits": {"two"}, "time_zone": {"UTC"}, "charging": {"on"}}, "is not a whole number"},
		{url.Values{"currency": {"EUR"}, "digits": {"2"}, "time_zone": {"Mars/Olympus"}, "charging": {"on"}}, "not a known IANA zone"},
	} {
		resp, body := e.post(fin, "/money/settings", "/money/settings", tc.form)
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, tc.want) {
			t.Errorf("%v: %d, want 422 saying %q: %s", tc.form, resp.StatusCode, tc.want, body)
		}
	}
	if set, _ := money.New(e.st).MoneySettings(ctx); set.ChargingIsOn() || set.TimeZone != "UTC" {
		t.Fatalf("refused forms changed the settings: %+v", set)
	}

	off := e.signIn("off", store.RoleBlockOfficer, "A")
	resp, body := get(t, off, e.srv.URL+"/money/settings")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, chargingOff) || strings.Contains(body, `name="charging"`) {
		t.Fatalf("officer's settings page: %d %s", resp.StatusCode, body)
	}
	if resp, _ := e.post(off, "/money/settings", "/money/settings", url.Values{"currency": {"EUR"}, "digits": {"2"}, "time_zone": {"UTC"}, "charging": {"on"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("officer's post: %d, want 403", resp.StatusCode)
	}
	if set, _ := money.New(e.st).MoneySettings(ctx); set.ChargingIsOn() {
		t.Fatal("an officer turned charging on")
	}
}
