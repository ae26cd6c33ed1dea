package web

import (
	"context"
	"html/template"
	"time"
)

// WhenLayout is how the console shows a moment: in the prison's time zone
// (the settings' time_zone), the zone named, for example
// "2026-12-08 14:05 Europe/London".
const WhenLayout = "2006-01-02 15:04"

// When is t as the console shows it in loc (WhenLayout and the zone's
// name); the zero time is "".
func When(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return ""
	}
	return t.In(loc).Format(WhenLayout) + " " + loc.String()
}

// loadZone reads the prison's time zone from the settings (UTC when they
// cannot be read).
func (s *Server) loadZone() *time.Location {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	m, err := s.money.MoneySettings(ctx)
	if err != nil {
		s.log.Error("web: time zone", "err", err)
		return time.UTC
	}
	return m.Location()
}

// timeFuncs are the templates' functions for moments and days, in the
// zone render last read (Server.zone): when (a moment, WhenLayout and
// the zone; a *time.Time may be nil), day (a date input's value: the day
// of t) and dayBefore (the day before t: an exclusive end shown as the
// inclusive last day).
func (s *Server) timeFuncs() template.FuncMap {
	return template.FuncMap{
		"when": func(v any) string {
			switch t := v.(type) {
			case time.Time:
				return When(t, s.zone.Load())
			case *time.Time:
				if t != nil {
					return When(*t, s.zone.Load())
				}
			}
			return ""
		},
		"zone": func() string { return s.zone.Load().String() },
		"day": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.In(s.zone.Load()).Format(time.DateOnly)
		},
		"dayBefore": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.In(s.zone.Load()).AddDate(0, 0, -1).Format(time.DateOnly)
		},
	}
}
