// Package tables is the batch import of people and contacts from CSV or
// XLSX tables, and the exports of people, contacts and calls in the same
// formats (the only user of excelize). It is built on the core store
// (central/store): imported rows are checked with the people's own rules
// and written in one of the core's transactions, audited row by row.
//
// An import is all or nothing: every row is validated first (against the
// database and the other rows of the file); a dry run stops there and
// reports the errors (row number, column, message) without changing
// anything; a real run with any error refuses the whole file
// (ErrImportRejected, with the same report) and otherwise applies every
// row in one transaction, audited row by row.
package tables

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/shared/pin"
	"github.com/kinline/kinline/shared/policy"
	"github.com/kinline/kinline/shared/wire"
)

// Errors of imports.
var (
	// ErrBadFile: the file is not a readable CSV or XLSX table with the
	// expected header (nothing was imported).
	ErrBadFile = errors.New("store: unreadable import file")
	// ErrImportRejected: a real run found errors in some rows and imported
	// nothing (see the report).
	ErrImportRejected = errors.New("store: import refused: some rows have errors")
)

// Store imports into and exports from the core store (the people through
// central/store/people). It is safe for concurrent use.
type Store struct {
	core   *store.Store
	people *people.Store
}

// New returns the import and export of core.
func New(core *store.Store) *Store { return &Store{core: core, people: people.New(core)} }

// Import kinds and table formats.
const (
	ImportPeople   = "people"
	ImportContacts = "contacts"
	FormatCSV      = "csv"
	FormatXLSX     = "xlsx"
)

// Limits of an import file.
const (
	MaxImportBytes   = 10 << 20
	MaxImportRows    = 20000
	MaxImportColumns = 64
	MaxCellChars     = 1000
	// MaxExportRows bounds an export (calls are cut there).
	MaxExportRows = 100000
)

// PeopleColumns and ContactColumns are the import (and export) headers.
// prison_number, name and block (people), prison_number, number and name
// (contacts) are required; the others may be left out or empty. A person's
// card column holds card UIDs separated by spaces; pin is 4 to 8 digits;
// calls_per_day, calls_per_week and calls_per_month are the person's own
// call quotas (empty or 0: the rule's).
var (
	PeopleColumns = []string{"prison_number", "name", "block", "supervision_level", "language", "status", "status_reason", "pin", "cards",
		"calls_per_day", "calls_per_week", "calls_per_month"}
	ContactColumns = []string{"prison_number", "number", "name", "relationship", "identity", "privileged", "status"}
	requiredCols   = map[string][]string{
		ImportPeople:   {"prison_number", "name", "block"},
		ImportContacts: {"prison_number", "number", "name"},
	}
)

// ImportColumns returns the columns of an import kind.
func ImportColumns(kind string) ([]string, error) {
	switch kind {
	case ImportPeople:
		return PeopleColumns, nil
	case ImportContacts:
		return ContactColumns, nil
	}
	return nil, fmt.Errorf("%w: import kind must be people or contacts", store.ErrInvalid)
}

// ImportError is one problem of one row. Row is the spreadsheet row
// number (the header is row 1); Column is empty for the whole row.
type ImportError struct {
	Row     int    `json:"row"`
	Column  string `json:"column,omitempty"`
	Message string `json:"message"`
}

// ImportReport is an import's outcome.
type ImportReport struct {
	Kind    string        `json:"kind"`
	DryRun  bool          `json:"dry_run"`
	Rows    int           `json:"rows"`    // data rows read (empty rows skipped)
	Applied int           `json:"applied"` // rows written (0 for a dry run or a refused file)
	Errors  []ImportError `json:"errors"`
}

// ReadTable reads an uploaded table: XLSX (a ZIP container: its first
// sheet) or else CSV (comma or semicolon separated, UTF-8, an optional
// byte-order mark). Empty trailing cells are trimmed. It refuses with
// ErrBadFile anything else, files above MaxImportBytes, more than
// MaxImportRows+1 rows, MaxImportColumns columns or MaxCellChars
// characters in a cell.
func ReadTable(data []byte) ([][]string, error) {
	if len(data) > MaxImportBytes {
		return nil, fmt.Errorf("%w: the file is larger than %d MiB", ErrBadFile, MaxImportBytes>>20)
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: the file is empty", ErrBadFile)
	}
	var rows [][]string
	var err error
	if bytes.HasPrefix(data, []byte("PK\x03\x04")) {
		rows, err = readXLSX(data)
	} else {
		rows, err = readCSV(data)
	}
	if err != nil {
		return nil, err
	}
	for i, r := range rows {
		for len(r) > 0 && strings.TrimSpace(r[len(r)-1]) == "" {
			r = r[:len(r)-1]
		}
		rows[i] = r
	}
	return rows, nil
}

func checkRow(n int, r []string) error {
	if n > MaxImportRows+1 {
		return fmt.Errorf("%w: more than %d rows", ErrBadFile, MaxImportRows)
	}
	if len(r) > MaxImportColumns {
		return fmt.Errorf("%w: row %d has more than %d columns", ErrBadFile, n, MaxImportColumns)
	}
	for _, c := range r {
		if !utf8.ValidString(c) {
			return fmt.Errorf("%w: row %d is not UTF-8 text", ErrBadFile, n)
		}
		if utf8.RuneCountInString(c) > MaxCellChars {
			return fmt.Errorf("%w: row %d has a cell longer than %d characters", ErrBadFile, n, MaxCellChars)
		}
	}
	return nil
}

func readCSV(data []byte) ([][]string, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if bytes.IndexByte(data, 0) >= 0 || !utf8.Valid(data) {
		return nil, fmt.Errorf("%w: not a CSV (UTF-8 text) or XLSX file", ErrBadFile)
	}
	first, _, _ := bytes.Cut(data, []byte("\n"))
	cr := csv.NewReader(bytes.NewReader(data))
	if !bytes.Contains(first, []byte(",")) && bytes.Contains(first, []byte(";")) {
		cr.Comma = ';'
	}
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = false
	var out [][]string
	prevEnd := 0 // the line the previous record ended on
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: not a valid CSV file: %v", ErrBadFile, err)
		}
		// encoding/csv skips blank lines; keep them as empty rows so row
		// numbers match what a spreadsheet shows.
		start, _ := cr.FieldPos(0)
		for range max(start-prevEnd-1, 0) {
			if err := checkRow(len(out)+1, nil); err != nil {
				return nil, err
			}
			out = append(out, nil)
		}
		last, _ := cr.FieldPos(len(rec) - 1)
		prevEnd = last + strings.Count(rec[len(rec)-1], "\n")
		if err := checkRow(len(out)+1, rec); err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

func readXLSX(data []byte) (rows [][]string, err error) {
	f, err := excelize.OpenReader(bytes.NewReader(data), excelize.Options{UnzipSizeLimit: 64 << 20, UnzipXMLSizeLimit: 16 << 20})
	if err != nil {
		return nil, fmt.Errorf("%w: not a valid XLSX file: %v", ErrBadFile, err)
	}
	defer f.Close()
	sheets := f.GetSheetList()
	if len(sheets) == 0 {
		return nil, fmt.Errorf("%w: the workbook has no sheet", ErrBadFile)
	}
	it, err := f.Rows(sheets[0])
	if err != nil {
		return nil, fmt.Errorf("%w: cannot read the first sheet: %v", ErrBadFile, err)
	}
	defer it.Close()
	var out [][]string
	for it.Next() {
		rec, err := it.Columns()
		if err != nil {
			return nil, fmt.Errorf("%w: cannot read the first sheet: %v", ErrBadFile, err)
		}
		if err := checkRow(len(out)+1, rec); err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("%w: cannot read the first sheet: %v", ErrBadFile, err)
	}
	return out, nil
}

// WriteTable writes rows as CSV or XLSX (one sheet).
func WriteTable(w io.Writer, format string, rows [][]string) error {
	switch format {
	case FormatCSV:
		cw := csv.NewWriter(w)
		for _, r := range rows {
			out := make([]string, len(r))
			for i, c := range r {
				out[i] = store.CSVCell(c)
			}
			if err := cw.Write(out); err != nil {
				return fmt.Errorf("store: write csv: %w", err)
			}
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return fmt.Errorf("store: write csv: %w", err)
		}
		return nil
	case FormatXLSX:
		f := excelize.NewFile()
		defer f.Close()
		sheet := f.GetSheetName(0)
		sw, err := f.NewStreamWriter(sheet)
		if err != nil {
			return fmt.Errorf("store: write xlsx: %w", err)
		}
		for i, r := range rows {
			vals := make([]any, len(r))
			for j, c := range r {
				vals[j] = c // strings: never formulas
			}
			cell, _ := excelize.CoordinatesToCellName(1, i+1)
			if err := sw.SetRow(cell, vals); err != nil {
				return fmt.Errorf("store: write xlsx: %w", err)
			}
		}
		if err := sw.Flush(); err != nil {
			return fmt.Errorf("store: write xlsx: %w", err)
		}
		if err := f.Write(w); err != nil {
			return fmt.Errorf("store: write xlsx: %w", err)
		}
		return nil
	}
	return fmt.Errorf("%w: format must be csv or xlsx", store.ErrInvalid)
}

// ImportTemplate is a file to fill in for kind: the header and one
// example row.
func ImportTemplate(kind, format string) ([]byte, error) {
	var rows [][]string
	switch kind {
	case ImportPeople:
		rows = [][]string{PeopleColumns, {"A1234BC", "Sam Example", "A", "standard", "en", "active", "", "2580", "04A1B2C3", "3", "", ""}}
	case ImportContacts:
		rows = [][]string{ContactColumns, {"A1234BC", "+44 20 7946 0000", "Jo Example", "sister", "passport 123456789", "no", "requested"}}
	default:
		return nil, fmt.Errorf("%w: import kind must be people or contacts", store.ErrInvalid)
	}
	var b bytes.Buffer
	if err := WriteTable(&b, format, rows); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// importRow is one validated data row.
type importRow struct {
	row     int
	person  people.NewPerson
	pinHash string
	// contacts
	personID string
	contact  people.Contact
}

func cleanCell(c string) string {
	c = strings.TrimSpace(c)
	if len(c) > 1 && c[0] == '\'' && store.CSVCell(c[1:]) == c {
		c = c[1:]
	}
	return c
}

// CheckImportHeader checks table's header row for kind (ErrBadFile when
// it is missing, has unknown or repeated columns or lacks a required one),
// so a caller can refuse a file before starting an import job.
func CheckImportHeader(kind string, table [][]string) error {
	if len(table) == 0 {
		return fmt.Errorf("%w: the file has no header row", ErrBadFile)
	}
	_, err := header(kind, table[0])
	return err
}

// header maps column names to indexes, refusing unknown, repeated or
// missing required columns.
func header(kind string, h []string) (map[string]int, error) {
	cols, err := ImportColumns(kind)
	if err != nil {
		return nil, err
	}
	idx := map[string]int{}
	for i, c := range h {
		c = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(c, "\ufeff")))
		if c == "" {
			continue
		}
		if !slices.Contains(cols, c) {
			return nil, fmt.Errorf("%w: unknown column %q in the header (expected %s)", ErrBadFile, c, strings.Join(cols, ", "))
		}
		if _, dup := idx[c]; dup {
			return nil, fmt.Errorf("%w: column %q given twice", ErrBadFile, c)
		}
		idx[c] = i
	}
	var missing []string
	for _, c := range requiredCols[kind] {
		if _, ok := idx[c]; !ok {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: the header lacks the column(s) %s (download a template)", ErrBadFile, strings.Join(missing, ", "))
	}
	return idx, nil
}

// quotaCell writes a person's call quota for export: "" for 0 (the
// rule's), as the import reads it.
func quotaCell(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

// errMsg is err's message without the layer prefixes.
func errMsg(err error) string {
	m := err.Error()
	for _, p := range []string{"store: invalid input: ", "store: "} {
		m = strings.ReplaceAll(m, p, "")
	}
	return m
}

func parseBool(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "", "0", "no", "n", "false", "f":
		return false, true
	case "1", "yes", "y", "true", "t", "x":
		return true, true
	}
	return false, false
}

// validateImport checks every row of table (header first) and returns the
// valid rows and the errors.
func (s *Store) validateImport(ctx context.Context, q store.Querier, kind string, table [][]string, progress func(int)) ([]importRow, []ImportError, int, error) {
	if len(table) == 0 {
		return nil, nil, 0, fmt.Errorf("%w: the file has no header row", ErrBadFile)
	}
	idx, err := header(kind, table[0])
	if err != nil {
		return nil, nil, 0, err
	}
	c, err := newImportCheck(ctx, q, kind, idx)
	if err != nil {
		return nil, nil, 0, err
	}
	n := 0
	for i, rec := range table[1:] {
		if progress != nil {
			progress(i)
		}
		if ctx.Err() != nil {
			return nil, nil, 0, ctx.Err()
		}
		empty := true
		for _, cell := range rec {
			if strings.TrimSpace(cell) != "" {
				empty = false
				break
			}
		}
		if empty {
			continue
		}
		n++
		if err := c.row(i+2, rec); err != nil {
			return nil, nil, 0, err
		}
	}
	return c.rows, c.errs, n, nil
}

// importCheck is one validation of an import: what it reads once (the
// blocks, the contact limit), what the rows so far used (prison numbers,
// cards, numbers, contacts per person), and the valid rows and errors.
type importCheck struct {
	ctx       context.Context
	q         store.Querier
	kind      string
	idx       map[string]int
	blocks    map[string]bool
	limit     int
	seenPN    map[string]int
	seenCard  map[string]int
	seenNum   map[string]int
	perPerson map[string]int
	personIDs map[string]string
	rows      []importRow
	errs      []ImportError
}

func newImportCheck(ctx context.Context, q store.Querier, kind string, idx map[string]int) (*importCheck, error) {
	c := &importCheck{ctx: ctx, q: q, kind: kind, idx: idx, blocks: map[string]bool{}, seenPN: map[string]int{}, seenCard: map[string]int{},
		seenNum: map[string]int{}, perPerson: map[string]int{}, personIDs: map[string]string{}}
	bl, err := q.QueryContext(ctx, `SELECT name FROM blocks`)
	if err != nil {
		return nil, fmt.Errorf("store: import blocks: %w", err)
	}
	for bl.Next() {
		var b string
		if err := bl.Scan(&b); err != nil {
			bl.Close()
			return nil, fmt.Errorf("store: import blocks: %w", err)
		}
		c.blocks[b] = true
	}
	bl.Close()
	set, err := people.ReadSettings(ctx, q)
	if err != nil {
		return nil, err
	}
	c.limit = set.MaxContacts
	return c, nil
}

// importCell reads a row's cells by column name; importBad records an
// error of a row's column.
type (
	importCell func(col string) string
	importBad  func(col string, err error)
)

// row checks the data row rec (row number rowNo, not empty): its errors
// are recorded, a valid row is kept. The error is a failure to read.
func (c *importCheck) row(rowNo int, rec []string) error {
	get := func(col string) string {
		j, ok := c.idx[col]
		if !ok || j >= len(rec) {
			return ""
		}
		return cleanCell(rec[j])
	}
	bad := func(col string, err error) {
		c.errs = append(c.errs, ImportError{Row: rowNo, Column: col, Message: errMsg(err)})
	}
	before := len(c.errs)
	pn := get("prison_number")
	if err := store.ValidText("prison_number", pn, 32, true); err != nil {
		bad("prison_number", err)
	}
	switch c.kind {
	case ImportPeople:
		return c.person(rowNo, before, pn, get, bad)
	case ImportContacts:
		return c.contact(rowNo, before, pn, get, bad)
	}
	return nil
}

// person checks a row of people.
func (c *importCheck) person(rowNo, before int, pn string, get importCell, bad importBad) error {
	np := people.NewPerson{PrisonNumber: pn, Name: get("name"), Block: get("block"), SupervisionLevel: get("supervision_level"),
		Language: get("language"), Status: strings.ToLower(get("status")), StatusReason: get("status_reason"), PIN: get("pin")}
	if np.Status == "" {
		np.Status = wire.StatusActive
	}
	if pn != "" {
		if r, dup := c.seenPN[pn]; dup {
			bad("prison_number", fmt.Errorf("prison number %s is also on row %d", pn, r))
		} else {
			c.seenPN[pn] = rowNo
			var one int
			err := c.q.QueryRowContext(c.ctx, `SELECT 1 FROM people WHERE prison_number = $1`, pn).Scan(&one)
			if err == nil {
				bad("prison_number", fmt.Errorf("prison number %s already exists", pn))
			} else if !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("store: import: %w", err)
			}
		}
	}
	if err := store.ValidText("name", np.Name, 200, true); err != nil {
		bad("name", err)
	}
	if np.Block == "" {
		bad("block", errors.New("block is required"))
	} else if !c.blocks[np.Block] {
		bad("block", fmt.Errorf("block %q does not exist", np.Block))
	}
	if err := people.ValidLevel(np.SupervisionLevel); err != nil {
		bad("supervision_level", err)
	}
	if err := store.ValidText("language", np.Language, 16, false); err != nil {
		bad("language", err)
	}
	if err := people.ValidStatus(np.Status); err != nil {
		bad("status", err)
	} else if err := people.ValidSuspension(np.Status, np.StatusReason, time.Time{}); err != nil {
		bad("status_reason", err)
	}
	if np.PIN != "" {
		if err := people.ValidPIN(np.PIN); err != nil {
			bad("pin", err)
		}
	}
	personQuotas(&np, get, bad)
	if err := c.personCards(rowNo, &np, get, bad); err != nil {
		return err
	}
	if len(c.errs) == before {
		c.rows = append(c.rows, importRow{row: rowNo, person: np})
	}
	return nil
}

// personQuotas reads a person's call quotas (empty: the rule's) into np.
func personQuotas(np *people.NewPerson, get importCell, bad importBad) {
	for _, q := range []struct {
		col string
		n   *int
	}{{"calls_per_day", &np.CallsPerDay}, {"calls_per_week", &np.CallsPerWeek}, {"calls_per_month", &np.CallsPerMonth}} {
		v := get(q.col)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			err = fmt.Errorf("%s must be a whole number of calls (empty or 0: the rule's), not %q", q.col, v)
		} else {
			err = people.ValidQuota(q.col, n)
		}
		if err != nil {
			bad(q.col, err)
		}
		*q.n = n
	}
}

// personCards reads a person's cards into np: valid, on no other row and
// not issued yet.
func (c *importCheck) personCards(rowNo int, np *people.NewPerson, get importCell, bad importBad) error {
	for _, card := range strings.FieldsFunc(get("cards"), func(r rune) bool { return r == ' ' || r == ',' || r == ';' }) {
		uid := policy.NormalizeUID(card)
		if !people.ValidCardUID(uid) {
			bad("cards", fmt.Errorf("card %q must be 8 to 20 hex digits", card))
			continue
		}
		if r, dup := c.seenCard[uid]; dup {
			bad("cards", fmt.Errorf("card %s is also on row %d", uid, r))
			continue
		}
		c.seenCard[uid] = rowNo
		var one int
		err := c.q.QueryRowContext(c.ctx, `SELECT 1 FROM cards WHERE uid = $1`, uid).Scan(&one)
		if err == nil {
			bad("cards", fmt.Errorf("card %s is already issued", uid))
		} else if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: import: %w", err)
		}
		np.Cards = append(np.Cards, uid)
	}
	return nil
}

// contact checks a row of contacts.
func (c *importCheck) contact(rowNo, before int, pn string, get importCell, bad importBad) error {
	k := people.Contact{Name: get("name"), Relationship: get("relationship"), Identity: get("identity"), Status: strings.ToLower(get("status"))}
	if k.Status == "" {
		k.Status = people.ContactRequested
	}
	pid, err := c.contactPerson(pn, bad)
	if err != nil {
		return err
	}
	if k.Number, err = c.contactNumber(rowNo, pid, get("number"), bad); err != nil {
		return err
	}
	if err := store.ValidText("name", k.Name, 200, true); err != nil {
		bad("name", err)
	}
	if err := store.ValidText("relationship", k.Relationship, 64, false); err != nil {
		bad("relationship", err)
	}
	if err := store.ValidText("identity", k.Identity, 500, false); err != nil {
		bad("identity", err)
	}
	priv, ok := parseBool(get("privileged"))
	if !ok {
		bad("privileged", errors.New("privileged must be yes or no"))
	}
	k.Privileged = priv
	switch k.Status {
	case people.ContactRequested, people.ContactApproved, people.ContactRejected:
	default:
		bad("status", errors.New("status must be requested, approved or rejected"))
	}
	if pid != "" && k.Status != people.ContactRejected && len(c.errs) == before {
		if c.perPerson[pid] >= c.limit {
			bad("", fmt.Errorf("%s would have more than %d contacts (max_contacts)", pn, c.limit))
		} else {
			c.perPerson[pid]++
		}
	}
	if len(c.errs) == before {
		k.PersonID = pid
		c.rows = append(c.rows, importRow{row: rowNo, personID: pid, contact: k})
	}
	return nil
}

// contactPerson is the id of the person (not an officer) with prison
// number pn, "" when there is none; the first time it also counts the
// person's contacts that are not rejected.
func (c *importCheck) contactPerson(pn string, bad importBad) (string, error) {
	pid, known := c.personIDs[pn]
	if pn == "" || known {
		return pid, nil
	}
	err := c.q.QueryRowContext(c.ctx, `SELECT id FROM people WHERE prison_number = $1 AND officer = 0`, pn).Scan(&pid)
	if errors.Is(err, sql.ErrNoRows) {
		bad("prison_number", fmt.Errorf("no person with prison number %s", pn))
		return pid, nil
	} else if err != nil {
		return "", fmt.Errorf("store: import: %w", err)
	}
	c.personIDs[pn] = pid
	var cnt int
	if err := c.q.QueryRowContext(c.ctx, `SELECT COUNT(*) FROM contacts WHERE person_id = $1 AND status <> $2`, pid, people.ContactRejected).Scan(&cnt); err != nil {
		return "", fmt.Errorf("store: import: %w", err)
	}
	c.perPerson[pid] = cnt
	return pid, nil
}

// contactNumber normalises a contact's number raw and checks it is a
// number on no other row and not yet on the person's (pid's) list.
func (c *importCheck) contactNumber(rowNo int, pid, raw string, bad importBad) (string, error) {
	num := policy.NormalizeNumber(raw)
	if num == "" || len(strings.TrimPrefix(num, "+")) < 3 {
		bad("number", fmt.Errorf("%q is not a phone number", raw))
		return num, nil
	}
	if pid == "" {
		return num, nil
	}
	key := pid + " " + num
	if r, dup := c.seenNum[key]; dup {
		bad("number", fmt.Errorf("number %s is also on row %d for this person", num, r))
		return num, nil
	}
	c.seenNum[key] = rowNo
	var one int
	err := c.q.QueryRowContext(c.ctx, `SELECT 1 FROM contacts WHERE person_id = $1 AND number = $2`, pid, num).Scan(&one)
	if err == nil {
		bad("number", fmt.Errorf("number %s is already on this person's list", num))
	} else if !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("store: import: %w", err)
	}
	return num, nil
}

// Import validates table (a header row, then data rows) as kind and, unless
// dryRun, applies it: see the file comment. progress, if not nil, is called
// with (done, total) as rows are validated and then written (a real run
// counts every row twice). A bad file gives ErrBadFile, a real run with
// row errors ErrImportRejected; both with nothing imported.
func (s *Store) Import(ctx context.Context, actor, kind string, table [][]string, dryRun bool, progress func(done, total int)) (*ImportReport, error) {
	if _, err := ImportColumns(kind); err != nil {
		return nil, err
	}
	total := max(len(table)-1, 0)
	if !dryRun {
		total *= 2
	}
	tick := func(done int) {
		if progress != nil {
			progress(done, total)
		}
	}
	rep := &ImportReport{Kind: kind, DryRun: dryRun, Errors: []ImportError{}}
	rows, errs, n, err := s.validateImport(ctx, s.core.Reader(), kind, table, tick)
	if err != nil {
		return nil, err
	}
	rep.Rows = n
	if errs != nil {
		rep.Errors = errs
	}
	if dryRun {
		tick(total)
		return rep, nil
	}
	if len(rep.Errors) > 0 {
		return rep, fmt.Errorf("%w: %d errors", ErrImportRejected, len(rep.Errors))
	}
	half := total / 2
	// PIN hashes (argon2id, slow on purpose) are computed before the write
	// transaction, so it stays short.
	for i := range rows {
		if rows[i].person.PIN != "" {
			h, err := pin.Hash(rows[i].person.PIN)
			if err != nil {
				return nil, fmt.Errorf("store: hash PIN: %w", err)
			}
			rows[i].pinHash = h
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		tick(half + i/2)
	}
	err = s.core.InTx(ctx, func(tx *sql.Tx) error {
		return s.applyImport(ctx, tx, actor, kind, table, rows, rep, func(i int) { tick(half + len(rows)/2 + i/2 + 1) })
	})
	if err != nil {
		return rep, err
	}
	rep.Applied = len(rows)
	tick(total)
	return rep, nil
}

// applyImport writes the validated rows of table inside tx, after checking
// table again against tx's view, bumps the policies of the blocks people
// were added to and audits the import; written(i) follows the rows.
func (s *Store) applyImport(ctx context.Context, tx *sql.Tx, actor, kind string, table [][]string, rows []importRow, rep *ImportReport, written func(int)) error {
	// Re-check against the transaction's view: a concurrent change
	// since validation refuses the file rather than half-applying it.
	if _, errs, _, err := s.validateImport(ctx, tx, kind, table, nil); err != nil {
		return err
	} else if len(errs) > 0 {
		rep.Errors = errs
		return fmt.Errorf("%w: %d errors after a concurrent change", ErrImportRejected, len(errs))
	}
	now := store.NS(s.core.Clock().Now())
	var touched []string
	for i, r := range rows {
		switch kind {
		case ImportPeople:
			if err := s.importPerson(ctx, tx, actor, r, now); err != nil {
				return err
			}
			if !slices.Contains(touched, r.person.Block) {
				touched = append(touched, r.person.Block)
			}
		case ImportContacts:
			c := r.contact
			c.ID, c.Created, c.RequestedBy = store.NewID("c_"), store.FromNS(now), actor
			if c.Status != people.ContactRequested {
				t := store.FromNS(now)
				c.DecidedBy, c.Decided, c.DecisionReason = actor, &t, c.Status+" by import"
			}
			if _, err := s.people.AddContactTx(ctx, tx, actor, &c); err != nil {
				return fmt.Errorf("row %d: %w", r.row, err)
			}
		}
		written(i)
	}
	if err := store.BumpPolicy(ctx, tx, touched...); err != nil {
		return err
	}
	return s.core.AuditTx(ctx, tx, actor, "import."+kind, kind, fmt.Sprintf("rows=%d", len(rows)))
}

// importPerson inserts a validated person row with its block history and
// cards inside tx, audited.
func (s *Store) importPerson(ctx context.Context, tx *sql.Tx, actor string, r importRow, now int64) error {
	np := r.person
	id := store.NewID("p_")
	if _, err := tx.ExecContext(ctx, `INSERT INTO people (id, prison_number, name, block, status, language, pin_hash, created_ns, updated_ns,
			supervision_level, status_reason, calls_per_day, calls_per_week, calls_per_month) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10, $11, $12, $13)`,
		id, np.PrisonNumber, np.Name, np.Block, np.Status, np.Language, r.pinHash, now, np.SupervisionLevel, np.StatusReason,
		np.CallsPerDay, np.CallsPerWeek, np.CallsPerMonth); err != nil {
		return fmt.Errorf("store: import row %d: %w", r.row, err)
	}
	if err := store.RecordPersonBlock(ctx, tx, id, np.Block, now); err != nil {
		return fmt.Errorf("store: import row %d: %w", r.row, err)
	}
	for _, uid := range np.Cards {
		if _, err := tx.ExecContext(ctx, `INSERT INTO cards (uid, person_id, created_ns) VALUES ($1, $2, $3)`, uid, id, now); err != nil {
			return fmt.Errorf("store: import row %d: %w", r.row, err)
		}
	}
	return s.core.AuditTx(ctx, tx, actor, "inmate.create", id, fmt.Sprintf("import row=%d prison_number=%s block=%s calls_per_day=%d calls_per_week=%d calls_per_month=%d cards=%s",
		r.row, np.PrisonNumber, np.Block, np.CallsPerDay, np.CallsPerWeek, np.CallsPerMonth, strings.Join(np.Cards, ",")))
}

// ExportTable returns a table (header first) of what ("people" or
// "contacts"), limited to blocks when not nil (a block officer's scope),
// and audits the export with format. PINs are never exported. The calls
// export is central/store/reports' (ExportCalls), with the call search.
func (s *Store) ExportTable(ctx context.Context, actor, what, format string, blocks []string) ([][]string, error) {
	if format != FormatCSV && format != FormatXLSX {
		return nil, fmt.Errorf("%w: format must be csv or xlsx", store.ErrInvalid)
	}
	var out [][]string
	switch what {
	case "people":
		out = append(out, PeopleColumns)
		for off := 0; ; off += 1000 {
			ps, err := s.people.People(ctx, people.PeopleFilter{Blocks: blocks, Limit: 1000, Offset: off})
			if err != nil {
				return nil, err
			}
			for _, p := range ps {
				out = append(out, []string{p.PrisonNumber, p.Name, p.Block, p.SupervisionLevel, p.Language, p.Status, p.StatusReason, "", strings.Join(p.Cards, " "),
					quotaCell(p.CallsPerDay), quotaCell(p.CallsPerWeek), quotaCell(p.CallsPerMonth)})
			}
			if len(ps) < 1000 || len(out) > MaxExportRows {
				break
			}
		}
	case "contacts":
		out = append(out, ContactColumns)
		args := []any{}
		where := "1 = 1"
		if blocks != nil {
			where = store.InList("p.block", blocks, &args)
		}
		rows, err := s.core.Reader().QueryContext(ctx, `SELECT p.prison_number, c.number, c.name, c.relationship, c.identity, c.privileged, c.status
			FROM contacts c JOIN people p ON p.id = c.person_id WHERE `+where+` ORDER BY p.prison_number, c.number LIMIT `+strconv.Itoa(MaxExportRows), args...)
		if err != nil {
			return nil, fmt.Errorf("store: export contacts: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var r [7]string
			var priv bool
			if err := rows.Scan(&r[0], &r[1], &r[2], &r[3], &r[4], &priv, &r[6]); err != nil {
				return nil, fmt.Errorf("store: export contacts: %w", err)
			}
			r[5] = "no"
			if priv {
				r[5] = "yes"
			}
			out = append(out, r[:])
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("store: export contacts: %w", err)
		}
	default:
		return nil, fmt.Errorf("%w: export must be people, contacts or calls", store.ErrInvalid)
	}
	if len(out) > MaxExportRows+1 {
		out = out[:MaxExportRows+1]
	}
	if err := s.core.Audit(ctx, actor, "export."+what, what, fmt.Sprintf("format=%s rows=%d", format, len(out)-1)); err != nil {
		return nil, err
	}
	return out, nil
}
