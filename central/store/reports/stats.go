package reports

// Call statistics over a period: volume, answered calls, total and average
// talk time by block, hour of day, day, person, contact and terminal, and
// refused calls by reason.
//
// Hours and days are the prison's (its time zone setting), and SQL has no
// portable way to turn a Unix time into a local hour or date: SQLite's
// strftime and PostgreSQL's to_timestamp/AT TIME ZONE differ. So the
// database groups calls by quarter hour since the epoch (start_ns /
// 900,000,000,000, integer division, the same on both), and Go places each
// quarter in the local hour or day: every time zone's offset is a whole
// number of quarter hours, so a quarter never straddles two local hours,
// and daylight saving time comes out right.

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/shared/wire"
)

// Statistics dimensions (StatsFilter.By).
const (
	StatsByBlock    = "blocks"
	StatsByHour     = "hours"
	StatsByDay      = "days"
	StatsByPerson   = "people"
	StatsByContact  = "contacts"
	StatsByTerminal = "terminals"
	StatsByRefusal  = "refusals"
)

// StatsDimensions lists the dimensions in the order the console shows them.
var StatsDimensions = []string{StatsByBlock, StatsByHour, StatsByDay, StatsByPerson, StatsByContact, StatsByTerminal, StatsByRefusal}

// MaxStatsDays bounds a statistics period.
const MaxStatsDays = 400

// quarter is the grouping unit of hours and days (see the file comment).
const quarter = 15 * time.Minute

// StatsFilter selects the calls counted and how they are grouped.
type StatsFilter struct {
	By string
	// From (inclusive) and To (exclusive) bound the calls' start; both are
	// required, at most MaxStatsDays apart.
	From, To time.Time
	Block    string
	// Blocks, when not nil, restricts the calls to these blocks (a block
	// officer's scope); an empty non-nil slice counts none.
	Blocks []string
	// ShowHidden counts hidden calls (investigators and system admins).
	ShowHidden bool
	// Limit bounds the rows by person, contact and terminal (the busiest
	// first): default 20, at most 1000.
	Limit int
}

// StatsRow is one group's numbers.
type StatsRow struct {
	Key string `json:"key"`
	// Label names the group for people (a person's name, a contact's
	// name); Detail adds context (a contact's person, a terminal's block).
	Label    string `json:"label"`
	Detail   string `json:"detail,omitempty"`
	Calls    int64  `json:"calls"`
	Answered int64  `json:"answered"`
	// TotalSeconds is the talk time of the answered calls, AverageSeconds
	// that divided by Answered.
	TotalSeconds   float64 `json:"total_seconds"`
	AverageSeconds float64 `json:"average_seconds"`
}

func (r *StatsRow) add(o StatsRow) {
	r.Calls += o.Calls
	r.Answered += o.Answered
	r.TotalSeconds += o.TotalSeconds
}

func (r *StatsRow) finish() {
	r.AverageSeconds = 0
	if r.Answered > 0 {
		r.AverageSeconds = r.TotalSeconds / float64(r.Answered)
	}
}

// Stats is the answer to a StatsFilter.
type Stats struct {
	By       string     `json:"by"`
	From     time.Time  `json:"from"`
	To       time.Time  `json:"to"`
	TimeZone string     `json:"time_zone"`
	Rows     []StatsRow `json:"rows"`
	// Total is every counted call (for refusals: every refused call).
	Total StatsRow `json:"total"`
	// More is how many groups were left off after Limit.
	More int `json:"more,omitempty"`
}

// validate checks f and fills its defaults.
func (f *StatsFilter) validate() error {
	if !slices.Contains(StatsDimensions, f.By) {
		return fmt.Errorf("%w: statistics by %q (one of %s)", store.ErrInvalid, f.By, strings.Join(StatsDimensions, ", "))
	}
	if f.From.IsZero() || f.To.IsZero() || !f.To.After(f.From) {
		return fmt.Errorf("%w: statistics need a period: from before to", store.ErrInvalid)
	}
	if f.To.Sub(f.From) > MaxStatsDays*24*time.Hour {
		return fmt.Errorf("%w: a statistics period is at most %d days", store.ErrInvalid, MaxStatsDays)
	}
	if f.Limit <= 0 {
		f.Limit = 20
	}
	if f.Limit > 1000 {
		return fmt.Errorf("%w: limit is at most 1000", store.ErrInvalid)
	}
	return nil
}

// statsAgg are the aggregate columns: calls, answered, talk milliseconds
// (integer arithmetic on BIGINT nanoseconds, CAST so both databases return
// an integer).
const statsAgg = `COUNT(*),
	CAST(SUM(CASE WHEN c.answer_ns IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT),
	CAST(SUM(CASE WHEN c.answer_ns IS NOT NULL AND c.end_ns > c.answer_ns THEN (c.end_ns - c.answer_ns) / 1000000 ELSE 0 END) AS BIGINT)`

// Stats counts the calls of f.
func (s *Store) Stats(ctx context.Context, f StatsFilter) (*Stats, error) {
	if err := f.validate(); err != nil {
		return nil, err
	}
	set, err := store.ReadMoneySettings(ctx, s.core.Reader())
	if err != nil {
		return nil, err
	}
	loc := set.Location()
	out := &Stats{By: f.By, From: f.From.UTC(), To: f.To.UTC(), TimeZone: loc.String(), Rows: []StatsRow{}}
	groups, err := s.statsGroups(ctx, f)
	if err != nil {
		return nil, err
	}
	byKey := map[string]*StatsRow{}
	var order []string
	put := func(key string, r StatsRow) {
		cur, ok := byKey[key]
		if !ok {
			cur = &StatsRow{Key: key, Label: r.Label, Detail: r.Detail}
			byKey[key] = cur
			order = append(order, key)
		}
		cur.add(r)
	}
	for _, g := range groups {
		out.Total.add(g.row)
	}
	if err := s.statsPut(ctx, f, loc, groups, put); err != nil {
		return nil, err
	}
	for _, k := range order {
		r := byKey[k]
		r.finish()
		out.Rows = append(out.Rows, *r)
	}
	out.Total.Key, out.Total.Label = "total", "Total"
	out.Total.finish()
	if f.By != StatsByHour && f.By != StatsByDay {
		// The busiest first; equal ones by key, so the order is stable.
		slices.SortFunc(out.Rows, func(a, b StatsRow) int {
			return cmp.Or(cmp.Compare(b.Calls, a.Calls), cmp.Compare(a.Key, b.Key))
		})
		if f.By != StatsByBlock && f.By != StatsByRefusal && len(out.Rows) > f.Limit {
			out.More = len(out.Rows) - f.Limit
			out.Rows = out.Rows[:f.Limit]
		}
	}
	return out, nil
}

// statsGroupCols are the columns a statistics query groups by.
func statsGroupCols(by string) string {
	switch by {
	case StatsByBlock:
		return "c.block"
	case StatsByHour, StatsByDay:
		return fmt.Sprintf("c.start_ns / %d", int64(quarter))
	case StatsByPerson:
		return "c.person_id, c.prison_number"
	case StatsByContact:
		return "c.person_id, c.prison_number, c.number"
	case StatsByTerminal:
		return "c.appliance_id, c.terminal, c.block"
	case StatsByRefusal:
		return "c.reason"
	}
	return ""
}

// statsGroups runs the statistics query of f: one statsGroup per group
// of its dimension.
func (s *Store) statsGroups(ctx context.Context, f StatsFilter) ([]statsGroup, error) {
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	where := []string{"c.start_ns >= " + arg(store.NS(f.From)), "c.start_ns < " + arg(store.NS(f.To))}
	if f.Block != "" {
		where = append(where, "c.block = "+arg(f.Block))
	}
	if f.Blocks != nil {
		where = append(where, store.InList("c.block", f.Blocks, &args))
	}
	if !f.ShowHidden {
		where = append(where, store.HiddenCallTerm)
	}
	if f.By == StatsByRefusal {
		where = append(where, "c.disposition = "+arg(wire.DispRefused))
	}
	cols := statsGroupCols(f.By)
	ncols := strings.Count(cols, ",") + 1
	rows, err := s.core.Reader().QueryContext(ctx, `SELECT `+cols+`, `+statsAgg+` FROM calls c WHERE `+strings.Join(where, " AND ")+` GROUP BY `+cols, args...)
	if err != nil {
		return nil, fmt.Errorf("store: stats: %w", err)
	}
	var groups []statsGroup
	for rows.Next() {
		var g statsGroup
		var ms int64
		dst := []any{}
		if f.By == StatsByHour || f.By == StatsByDay {
			dst = append(dst, &g.q)
		} else {
			for i := 0; i < ncols; i++ {
				dst = append(dst, &g.keys[i])
			}
		}
		if err := rows.Scan(append(dst, &g.row.Calls, &g.row.Answered, &ms)...); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: stats: %w", err)
		}
		g.row.TotalSeconds = float64(ms) / 1000
		groups = append(groups, g)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: stats: %w", err)
	}
	return groups, nil
}

// statsPut labels groups as rows of f's dimension and puts them (hours
// and days in loc, every hour and day of the period present).
func (s *Store) statsPut(ctx context.Context, f StatsFilter, loc *time.Location, groups []statsGroup, put func(string, StatsRow)) error {
	switch f.By {
	case StatsByBlock, StatsByRefusal:
		for _, g := range groups {
			label := g.keys[0]
			if label == "" {
				label = "(none)"
			}
			g.row.Label = label
			put(g.keys[0], g.row)
		}
	case StatsByHour:
		for h := 0; h < 24; h++ {
			put(fmt.Sprintf("%02d", h), StatsRow{Label: fmt.Sprintf("%02d:00", h)})
		}
		for _, g := range groups {
			put(fmt.Sprintf("%02d", time.Unix(0, g.q*int64(quarter)).In(loc).Hour()), g.row)
		}
	case StatsByDay:
		first := f.From.In(loc)
		for d := time.Date(first.Year(), first.Month(), first.Day(), 0, 0, 0, 0, loc); d.Before(f.To); d = d.AddDate(0, 0, 1) {
			put(d.Format(time.DateOnly), StatsRow{Label: d.Format("Mon 2 Jan 2006")})
		}
		for _, g := range groups {
			put(time.Unix(0, g.q*int64(quarter)).In(loc).Format(time.DateOnly), g.row)
		}
	case StatsByPerson, StatsByContact:
		return s.statsPeople(ctx, f.By, groups, put)
	case StatsByTerminal:
		for _, g := range groups {
			g.row.Label, g.row.Detail = g.keys[1]+" ("+g.keys[0]+")", g.keys[2]
			put(g.keys[0]+"/"+g.keys[1], g.row)
		}
	}
	return nil
}

// statsGroup is one row of a statistics query: its group's key columns
// (or quarter hour) and numbers.
type statsGroup struct {
	keys [3]string
	q    int64
	row  StatsRow
}

// NoPersonLabel labels the calls by person or contact that name no
// person and no prison number: refused before a card was read.
const NoPersonLabel = "no person (refused before a card)"

// statsPeople merges the groups of (person id, prison number[, number])
// into people (a record with only a prison number counts for the person
// with that prison number, as the calls search names it) and labels them
// with people's and contacts' names.
func (s *Store) statsPeople(ctx context.Context, by string, groups []statsGroup, put func(string, StatsRow)) error {
	type who struct{ id, pn, name string }
	byID, byPN := map[string]*who{}, map[string]*who{}
	var ids, pns []string
	for _, g := range groups {
		k := g.keys
		if k[0] != "" {
			ids = append(ids, k[0])
		} else if k[1] != "" {
			pns = append(pns, k[1])
		}
	}
	// Look the people up in chunks (a long IN list is fine on both
	// databases, but SQLite caps a statement's parameters).
	for _, by := range []struct {
		col  string
		list []string
	}{{"id", ids}, {"prison_number", pns}} {
		col, list := by.col, by.list
		for len(list) > 0 {
			n := min(len(list), 500)
			var args []any
			rows, err := s.core.Reader().QueryContext(ctx, `SELECT id, prison_number, name FROM people WHERE `+store.InList(col, list[:n], &args), args...)
			if err != nil {
				return fmt.Errorf("store: stats: %w", err)
			}
			for rows.Next() {
				var w who
				if err := rows.Scan(&w.id, &w.pn, &w.name); err != nil {
					rows.Close()
					return fmt.Errorf("store: stats: %w", err)
				}
				byID[w.id], byPN[w.pn] = &w, &w
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("store: stats: %w", err)
			}
			list = list[n:]
		}
	}
	contacts := map[[2]string]string{}
	if by == StatsByContact {
		var pids []string
		for id := range byID {
			pids = append(pids, id)
		}
		slices.Sort(pids)
		for len(pids) > 0 {
			n := min(len(pids), 500)
			var args []any
			rows, err := s.core.Reader().QueryContext(ctx, `SELECT person_id, number, name FROM contacts WHERE `+store.InList("person_id", pids[:n], &args), args...)
			if err != nil {
				return fmt.Errorf("store: stats: %w", err)
			}
			for rows.Next() {
				var pid, num, name string
				if err := rows.Scan(&pid, &num, &name); err != nil {
					rows.Close()
					return fmt.Errorf("store: stats: %w", err)
				}
				contacts[[2]string{pid, num}] = name
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("store: stats: %w", err)
			}
			pids = pids[n:]
		}
	}
	for _, g := range groups {
		k, r := g.keys, g.row
		w := byID[k[0]]
		if k[0] == "" {
			w = byPN[k[1]]
		}
		person, label := k[0], k[1]
		if w != nil {
			person, label = w.id, w.name+" ("+w.pn+")"
		} else if person == "" {
			person = "prison_number:" + k[1]
		}
		switch {
		case w == nil && k[0] == "" && k[1] == "":
			label = NoPersonLabel
		case label == "":
			label = person
		}
		if by == StatsByPerson {
			r.Label = label
			put(person, r)
			continue
		}
		r.Label, r.Detail = k[2], label
		if name := contacts[[2]string{person, k[2]}]; name != "" {
			r.Label = name + " (" + k[2] + ")"
		}
		put(person+" "+k[2], r)
	}
	return nil
}
