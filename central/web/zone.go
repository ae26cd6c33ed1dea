package web

import (
	"context"
	"html/template"
	"time"

	"github.com/kinline/kinline/central/web/format"
)

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
				return format.When(t, s.zone.Load())
			case *time.Time:
				if t != nil {
					return format.When(*t, s.zone.Load())
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
