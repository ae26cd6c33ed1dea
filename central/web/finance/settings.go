package finance

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/users"
)

// settingsView is the data of money_settings.html: the money settings and
// the form that changes them (refilled with what was posted on an error).
type settingsView struct {
	moneyHead
	Form settingsForm
}

type settingsForm struct{ Currency, Digits, TimeZone, Charging string }

func formOf(m store.MoneySettings) settingsForm {
	return settingsForm{Currency: m.Currency, Digits: strconv.Itoa(m.Digits), TimeZone: m.TimeZone, Charging: m.Charging}
}

func (s *Pages) settingsPage(w http.ResponseWriter, r *http.Request, se *users.Session) {
	h, ok := s.newMoneyHead(w, r, se, "Money settings", "POST /money/settings")
	if !ok {
		return
	}
	h.Layout = h.WithNotice(r)
	s.render(w, http.StatusOK, "money_settings.html", &settingsView{moneyHead: h, Form: formOf(h.Settings)})
}

// putSettings changes the money settings: currency, digits, time zone and
// whether calls are charged. The form always sends charging, so leaving
// it as it is keeps it; every block's policy is republished.
func (s *Pages) putSettings(w http.ResponseWriter, r *http.Request, se *users.Session) {
	if !checkForm(w, r, se) {
		return
	}
	h, ok := s.newMoneyHead(w, r, se, "Money settings", "POST /money/settings")
	if !ok {
		return
	}
	f := settingsForm{Currency: strings.TrimSpace(r.PostFormValue("currency")), Digits: strings.TrimSpace(r.PostFormValue("digits")),
		TimeZone: strings.TrimSpace(r.PostFormValue("time_zone")), Charging: r.PostFormValue("charging")}
	p := &settingsView{moneyHead: h, Form: f}
	digits, err := strconv.Atoi(f.Digits)
	if err != nil {
		p.Error = "digits: " + strconv.Quote(f.Digits) + " is not a whole number"
		s.render(w, http.StatusUnprocessableEntity, "money_settings.html", p)
		return
	}
	if f.Charging != store.ChargingOn && f.Charging != store.ChargingOff {
		p.Error = "charging: choose on or off"
		s.render(w, http.StatusUnprocessableEntity, "money_settings.html", p)
		return
	}
	in := store.MoneySettings{Currency: f.Currency, Digits: digits, TimeZone: f.TimeZone, Charging: f.Charging}
	if err := s.money.SetMoneySettings(r.Context(), se.Actor, in); err != nil {
		status, msg := s.userError(err)
		p.Error = msg
		s.render(w, status, "money_settings.html", p)
		return
	}
	s.notifyAllBlocks(r.Context())
	notice := "Money settings saved. Charging is " + f.Charging + "."
	http.Redirect(w, r, "/money/settings?notice="+url.QueryEscape(notice), http.StatusSeeOther)
}
