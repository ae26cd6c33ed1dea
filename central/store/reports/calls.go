package reports

// The call search (Calls): the calls of a person, a number, a contact, an
// officer, blocks, a disposition and a period, newest first, shaped for
// the calls table's indexes; and the calls export (ExportCalls). A call
// is read as the core stores it (store.Call, store.ScanCall).

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/tables"
)

const callFrom = ` FROM calls c` + store.CallJoins

// CallFilter selects calls. Empty fields match everything; set fields must
// all match. Number is compared after normalization by the caller;
// From/To bound the start time (From inclusive, To exclusive).
type CallFilter struct {
	// Person matches a person id or a prison number (the API's and the
	// console's "inmate" parameter, decision 0026).
	Person string `query:"inmate"`
	// Name matches part of the person's name (case-insensitive for ASCII).
	Name        string
	Block       string
	Number      string
	Disposition string
	// Contact matches a contact id, or part of a contact's name
	// (case-insensitive for ASCII): the calls of that contact's person to
	// the contact's number.
	Contact string
	// Officer matches calls the officer (person id or staff number)
	// confirmed or ended.
	Officer string
	// Blocks, when not nil, restricts the search to calls made in these
	// blocks (a block officer's scope); an empty non-nil slice matches none.
	Blocks []string
	// ShowHidden includes hidden calls (call_flags.go): only for
	// investigators and system administrators. Without it they are left
	// out, so a search that forgets to decide shows less, never more.
	ShowHidden bool
	From, To   time.Time
	Limit      int // default 50, at most 1000
	Offset     int
}

// maxResolved bounds how many people, contacts or officers a filter may
// match: a search beyond it is refused as too broad (store.ErrInvalid).
const maxResolved = 500

// maxBranches bounds the index lookups one search is split into (see
// Calls); a filter with more keys is applied to the scan of the start
// time index instead.
const maxBranches = 200

// callTerm is one condition of a search. keys, when set, are equality
// conditions (each served by an index on (column, start_ns)) whose union
// is the same set of calls as sql: the term can drive the search. rest
// is the same condition written so that no index serves it (the column
// as the expression col || ”), for when another term drives: without
// statistics SQLite would otherwise as soon walk a whole block's index
// looking for one person's calls as that person's own index.
type callTerm struct {
	sql, rest string
	keys      []string
}

// callWhere is a search's conditions with their arguments.
type callWhere struct {
	terms []callTerm
	args  []any
	none  bool // a filter matched nothing it could name: no call matches
}

func (w *callWhere) arg(v any) string {
	w.args = append(w.args, v)
	return fmt.Sprintf("$%d", len(w.args))
}

// add appends a term that cannot drive the search.
func (w *callWhere) add(sql string) { w.terms = append(w.terms, callTerm{sql: sql, rest: sql}) }

// key is an equality condition on the calls row c, as a key (indexed)
// and as a residual condition (not indexed).
type key struct{ sql, rest string }

// addKeys appends the term "any of keys", which can drive the search.
func (w *callWhere) addKeys(keys []key) {
	if len(keys) == 0 {
		w.none = true
		w.add("1 = 0")
		return
	}
	t := callTerm{}
	var sql, rest []string
	for _, k := range keys {
		t.keys = append(t.keys, k.sql)
		sql, rest = append(sql, "("+k.sql+")"), append(rest, "("+k.rest+")")
	}
	t.sql, t.rest = "("+strings.Join(sql, " OR ")+")", "("+strings.Join(rest, " OR ")+")"
	w.terms = append(w.terms, t)
}

// eq is the key col = $n (col a column of c).
func (w *callWhere) eq(col, v string) key {
	a := w.arg(v)
	return key{sql: "c." + col + " = " + a, rest: "c." + col + " || '' = " + a}
}

// eqKeys are the keys col = v for each distinct v.
func (w *callWhere) eqKeys(col string, vals ...string) []key {
	var keys []key
	seen := map[string]bool{}
	for _, v := range vals {
		if v != "" && !seen[v] {
			seen[v] = true
			keys = append(keys, w.eq(col, v))
		}
	}
	return keys
}

// personKeys: the call was made by one of these people (id and prison
// number each), as the console names a call's person: by person id, or
// by prison number for records that carry no person id. The last key
// covers the latter for all of them at once, served by the index on
// (prison_number, person_id, start_ns), which has nothing to read for
// the usual record that carries both.
func (w *callWhere) personKeys(people [][3]string) []key {
	var keys []key
	var pns []string
	for _, p := range people {
		keys = append(keys, w.eq("person_id", p[0]))
		pns = append(pns, p[1])
	}
	if len(pns) > 0 {
		none := w.eq("person_id", "")
		in := store.InList("c.prison_number", pns, &w.args)
		// person_id in the key is not indexable either, or SQLite would
		// walk every id-less call by calls_person's (person_id, start_ns).
		keys = append(keys, key{sql: in + " AND " + none.rest, rest: "(c.prison_number || '') " + in[len("c.prison_number"):] + " AND " + none.rest})
	}
	return keys
}

// resolve reads up to maxResolved rows of three strings for a filter from
// the people or contacts tables. Filters that name people, contacts or
// officers are resolved first, so the calls query gets plain equalities
// its indexes serve, instead of a join or a LIKE evaluated on every call.
func (s *Store) resolve(ctx context.Context, what, q string, args ...any) ([][3]string, error) {
	rows, err := s.core.Reader().QueryContext(ctx, q+fmt.Sprintf(" LIMIT %d", maxResolved+1), args...)
	if err != nil {
		return nil, fmt.Errorf("store: calls: resolve %s: %w", what, err)
	}
	defer rows.Close()
	var out [][3]string
	for rows.Next() {
		var v [3]string
		if err := rows.Scan(&v[0], &v[1], &v[2]); err != nil {
			return nil, fmt.Errorf("store: calls: resolve %s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: calls: resolve %s: %w", what, err)
	}
	if len(out) > maxResolved {
		return nil, fmt.Errorf("%w: the %s matches more than %d; be more specific", store.ErrInvalid, what, maxResolved)
	}
	return out, nil
}

// likeAny is the LIKE pattern "contains v", case-folded (ASCII).
func likeAny(v string) string {
	return "%" + store.LikeEscape(strings.ToLower(strings.TrimSpace(v))) + "%"
}

// callWhereFor builds the conditions of f. Terms are appended most
// selective first: the first that can drive the search does (see Calls).
func (s *Store) callWhereFor(ctx context.Context, f CallFilter) (*callWhere, error) {
	w := &callWhere{}
	if f.Contact != "" {
		const q = `SELECT k.person_id, p.prison_number, k.number FROM contacts k JOIN people p ON p.id = k.person_id WHERE `
		ks, err := s.resolve(ctx, "contact", q+`k.id = $1`, f.Contact)
		if err == nil && len(ks) == 0 {
			ks, err = s.resolve(ctx, "contact", q+`LOWER(k.name) LIKE $1 ESCAPE '\' ORDER BY k.id`, likeAny(f.Contact))
		}
		if err != nil {
			return nil, err
		}
		// One key per contact, led by the number (index calls_number).
		var keys []key
		for _, k := range ks {
			n, p, pn, none := w.eq("number", k[2]), w.eq("person_id", k[0]), w.eq("prison_number", k[1]), w.eq("person_id", "")
			cond := " AND (" + p.rest + " OR " + none.rest + " AND " + pn.rest + ")"
			keys = append(keys, key{sql: n.sql + cond, rest: n.rest + cond})
		}
		w.addKeys(keys)
	}
	if f.Number != "" {
		w.addKeys(w.eqKeys("number", f.Number))
	}
	if f.Person != "" {
		ps, err := s.resolve(ctx, "person", `SELECT id, prison_number, '' FROM people WHERE id = $1 OR prison_number = $1`, f.Person)
		if err != nil {
			return nil, err
		}
		if len(ps) > 0 {
			w.addKeys(w.personKeys(ps))
		} else {
			// A person central does not know: whatever the records say.
			w.addKeys(append(w.eqKeys("person_id", f.Person), w.eqKeys("prison_number", f.Person)...))
		}
	}
	if f.Name != "" {
		ps, err := s.resolve(ctx, "name", `SELECT id, prison_number, '' FROM people WHERE officer = 0 AND LOWER(name) LIKE $1 ESCAPE '\' ORDER BY id`, likeAny(f.Name))
		if err != nil {
			return nil, err
		}
		w.addKeys(w.personKeys(ps))
	}
	if f.Officer != "" {
		offs, err := s.resolve(ctx, "officer", `SELECT id, '', '' FROM people WHERE officer = 1 AND (id = $1 OR prison_number = $1)`, f.Officer)
		if err != nil {
			return nil, err
		}
		ids := []string{f.Officer}
		for _, o := range offs {
			ids = append(ids, o[0])
		}
		w.addKeys(append(w.eqKeys("officer_id", ids...), w.eqKeys("ended_by", ids...)...))
	}
	if f.Block != "" {
		w.addKeys(w.eqKeys("block", f.Block))
	}
	if f.Blocks != nil {
		w.addKeys(w.eqKeys("block", f.Blocks...))
	}
	if f.Disposition != "" {
		w.addKeys(w.eqKeys("disposition", f.Disposition))
	}
	if !f.From.IsZero() {
		w.add("c.start_ns >= " + w.arg(store.NS(f.From)))
	}
	if !f.To.IsZero() {
		w.add("c.start_ns < " + w.arg(store.NS(f.To)))
	}
	if !f.ShowHidden {
		w.add(store.HiddenCallTerm)
	}
	return w, nil
}

// Calls lists calls matching f, newest first (ties by call id).
//
// The first page must come back in well under 100 ms over millions of
// calls (BenchmarkCallSearch), so the query is shaped for the indexes,
// which all end in start_ns. The most selective filter that names keys
// (a contact, a number, a person or the people a name matches, an
// officer, blocks, a disposition) drives the search: each of its keys is
// one lookup of at most Offset+Limit calls, read newest first from the
// index on (key column, start_ns) with the other filters applied, and the
// page is the newest Limit of their union. With many keys (the people a
// name matches) a first pass reads only the keys' indexes to find the
// start time the page cannot be older than, so the second reads about a
// page of calls in all instead of a page per key (and falls back to the
// full lookups when the other filters leave it short). A search with no
// such filter (or one with more than maxBranches keys) walks the start_ns
// index newest first and stops after the page. Either way nothing sorts
// every matching call, and the joins (names, recording, privileged) run
// for the page's rows only. The SQL is plain (UNION of aliased subqueries,
// LIMIT, $N placeholders), the same on SQLite and PostgreSQL.
func (s *Store) Calls(ctx context.Context, f CallFilter) ([]store.Call, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 50
	}
	f.Offset = max(f.Offset, 0)
	w, err := s.callWhereFor(ctx, f)
	if err != nil {
		return nil, err
	}
	if w.none {
		return []store.Call{}, nil
	}
	driver := -1
	for i, t := range w.terms {
		if len(t.keys) > 0 && len(t.keys) <= maxBranches {
			driver = i
			break
		}
	}
	var rest []string
	for i, t := range w.terms {
		if i != driver {
			rest = append(rest, t.rest)
		}
	}
	const order = ` ORDER BY c.start_ns DESC, c.call_id DESC`
	if driver < 0 {
		q := `SELECT ` + store.CallColumns + callFrom
		if len(rest) > 0 {
			q += ` WHERE ` + strings.Join(rest, " AND ")
		}
		return s.queryCalls(ctx, q+order+` LIMIT `+w.arg(f.Limit)+` OFFSET `+w.arg(f.Offset), w.args)
	}
	keys := w.terms[driver].keys
	depth := w.arg(f.Offset + f.Limit)
	branches := func(cols, cond, order string) string {
		bs := make([]string, len(keys))
		for i, k := range keys {
			bs[i] = fmt.Sprintf(`SELECT * FROM (SELECT %s FROM calls c WHERE %s%s%s LIMIT %s) AS b%d`, cols, k, cond, order, depth, i)
		}
		return strings.Join(bs, " UNION ")
	}
	// search runs the keys' lookups with cond added (every statement is
	// given w.args: queryCalls keeps the ones it uses).
	page := func(q string) ([]store.Call, error) {
		return s.queryCalls(ctx, `SELECT `+store.CallColumns+` FROM (`+q+order+` LIMIT `+w.arg(f.Limit)+` OFFSET `+w.arg(f.Offset)+`) AS pick
			JOIN calls c ON c.call_id = pick.call_id`+store.CallJoins+order, w.args)
	}
	// search runs each key's lookup of Offset+Limit calls with every
	// filter applied.
	search := func() ([]store.Call, error) {
		cond := ""
		for _, r := range rest {
			cond += " AND " + r
		}
		return page(`SELECT c.call_id, c.start_ns FROM (` + branches("c.call_id, c.start_ns", cond, order) + `) AS c`)
	}
	if len(keys) <= cutoffKeys {
		return search()
	}
	// First pass: the newest Offset+Limit start times of the keys' calls,
	// from their indexes alone (no call_id in the order, which would need
	// the rows).
	var n int
	var cut int64
	q := `SELECT COUNT(*), COALESCE(MIN(t.start_ns), 0) FROM (SELECT u.start_ns FROM (` + branches("c.start_ns", "", " ORDER BY c.start_ns DESC") + `) AS u
		ORDER BY u.start_ns DESC LIMIT ` + depth + `) AS t`
	cq, cargs := compactArgs(q, w.args)
	if err := s.core.Reader().QueryRowContext(ctx, cq, cargs...).Scan(&n, &cut); err != nil {
		return nil, fmt.Errorf("store: calls: %w", err)
	}
	if n < f.Offset+f.Limit {
		return search()
	}
	// Second pass: the keys' calls since the cut (about a page in all),
	// then the other filters.
	c := w.arg(cut)
	bs := make([]string, len(keys))
	for i, k := range keys {
		bs[i] = `SELECT c.call_id FROM calls c WHERE ` + k + ` AND c.start_ns >= ` + c
	}
	q = `SELECT c.call_id, c.start_ns FROM (` + strings.Join(bs, " UNION ") + `) AS u JOIN calls c ON c.call_id = u.call_id`
	if len(rest) > 0 {
		q += ` WHERE ` + strings.Join(rest, " AND ")
	}
	calls, err := page(q)
	if err != nil || len(calls) == f.Limit {
		return calls, err
	}
	// The other filters left calls older than the cut on the page.
	return search()
}

// cutoffKeys is the number of keys above which Calls first finds the
// oldest start time the page can reach.
const cutoffKeys = 4

var placeholder = regexp.MustCompile(`\$[0-9]+`)

// compactArgs renumbers q's placeholders $N in order of first use from 1
// and returns the arguments they name, so that a statement using only
// some of a search's arguments is still given exactly its own
// (PostgreSQL must infer every parameter's type from its use).
func compactArgs(q string, args []any) (string, []any) {
	num := map[string]string{}
	var out []any
	q = placeholder.ReplaceAllStringFunc(q, func(p string) string {
		if n, ok := num[p]; ok {
			return n
		}
		i, _ := strconv.Atoi(p[1:])
		out = append(out, args[i-1])
		num[p] = "$" + strconv.Itoa(len(out))
		return num[p]
	})
	return q, out
}

// queryCalls runs a calls query (compacting its arguments).
func (s *Store) queryCalls(ctx context.Context, q string, args []any) ([]store.Call, error) {
	q, args = compactArgs(q, args)
	rows, err := s.core.Reader().QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: calls: %w", err)
	}
	defer rows.Close()
	out := []store.Call{}
	for rows.Next() {
		c, err := store.ScanCall(rows)
		if err != nil {
			return nil, fmt.Errorf("store: calls: %w", err)
		}
		out = append(out, *c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: calls: %w", err)
	}
	return out, nil
}

// ExportCalls returns the calls f selects, limited to blocks when not nil
// (a block officer's scope), as a table (header first) of at most
// tables.MaxExportRows rows, and audits the export with format.
func (s *Store) ExportCalls(ctx context.Context, actor, format string, blocks []string, f CallFilter) ([][]string, error) {
	if format != tables.FormatCSV && format != tables.FormatXLSX {
		return nil, fmt.Errorf("%w: format must be csv or xlsx", store.ErrInvalid)
	}
	out := [][]string{{"call_id", "start", "end", "block", "appliance", "terminal", "prison_number", "person", "number",
		"disposition", "reason", "duration_s", "privileged", "officer"}}
	f.Blocks = blocks
	f.Limit = 500
	for off := 0; len(out) <= tables.MaxExportRows; off += 500 {
		f.Offset = off
		cs, err := s.Calls(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			out = append(out, []string{c.ID, c.Start.Format(time.RFC3339), c.End.Format(time.RFC3339), c.Block, c.ApplianceID, c.Terminal,
				c.PrisonNumber, c.PersonName, c.Number, c.Disposition, c.Reason, strconv.FormatFloat(c.DurationSeconds, 'f', 0, 64),
				strconv.FormatBool(c.Privileged), c.OfficerID})
		}
		if len(cs) < 500 {
			break
		}
	}
	if len(out) > tables.MaxExportRows+1 {
		out = out[:tables.MaxExportRows+1]
	}
	if err := s.core.Audit(ctx, actor, "export.calls", "calls", fmt.Sprintf("format=%s rows=%d", format, len(out)-1)); err != nil {
		return nil, err
	}
	return out, nil
}
