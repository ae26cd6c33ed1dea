package web

// Review pages: a call's page (its record, the player with its bookmarks,
// review notes and the forms to add both), the calls search's export with
// the search's filters, statistics with charts and the billing report.
//
// Charts are inline SVG drawn on the server (package chart): the console's CSP
// allows no script, and an <svg> in the page is markup, not an image or a
// script, so it needs nothing from the CSP. Every chart's numbers are also
// in a table beneath it.
//
// A privileged call never shows a player or any audio element, on any
// page: it has no recording, and the recording route refuses it too.

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/kinline/kinline/central/authz"
	"github.com/kinline/kinline/central/callquery"
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/reports"
	"github.com/kinline/kinline/central/store/tables"
	"github.com/kinline/kinline/central/store/users"
	"github.com/kinline/kinline/central/web/chart"
	"github.com/kinline/kinline/central/web/format"
	"github.com/kinline/kinline/central/web/page"
	"github.com/kinline/kinline/shared/ledger"
)

// reviewPages are the console's pages for call review: a call's page with
// its notes and bookmarks, the filtered calls export, statistics and the
// billing report.
func (s *Server) reviewPages() map[string]page.Handler {
	return map[string]page.Handler{
		"GET /calls/{id}":                              s.callPage,
		"POST /calls/{id}/notes":                       s.addNoteForm,
		"POST /calls/{id}/bookmarks":                   s.addBookmarkForm,
		"POST /calls/{id}/bookmarks/{bookmark}/remove": s.removeBookmarkForm,
		"GET /calls/export":                            s.callsExport,
		"GET /stats":                                   s.statsPage,
		"GET /reports/billing":                         s.billingPage,
		"GET /reports/billing.csv":                     s.billingExport,
	}
}

// callView is the data of review_call.html: a call's record, its player,
// bookmarks and review notes.
type callView struct {
	page.Layout
	Call              *store.Call
	Talk              string // the talk time, m:ss
	Charged           string // the cost as the money pages write it, "0.06 GBP"
	CanPlay           bool   // the caller may play recordings
	Playable          bool   // this call has an uploaded recording and is not privileged
	CanRead, CanWrite bool   // review notes and bookmarks; CanWrite: notes
	Bookmarkable      bool   // a bookmark form makes sense here
	StartAt           int    // seconds the player starts at (?t=)
	Notes             []reports.ReviewNote
	Bookmarks         []bookmarkRow
	Reasons           []string
	NoteForm          noteForm
	BookmarkForm      bookmarkForm
	NoteErr, MarkErr  string
}

// statsView is the data of stats_page.html.
type statsView struct {
	page.Layout
	Stats      *reports.Stats
	By         string
	Dimensions []dimLink
	Charts     []chart.Chart
	StatRows   []statRow
	Total      statRow
	From, To   string // YYYY-MM-DD in the prison's time zone, to inclusive
	Block      string
	Limit      int
	ByTop      bool // the dimension is cut to the busiest Limit rows
}

// billingView is the data of reports_billing.html.
type billingView struct {
	page.Layout
	// Settings are the money settings (the "charging is off" banner).
	Settings    store.MoneySettings
	Billing     *reports.BillingReport
	Periods     []string
	Period      string
	Block       string
	From, To    string // YYYY-MM-DD in the prison's time zone, to inclusive
	BillRows    []billingRow
	BillTotal   billingRow
	CSVLink     string
	ShowPeriod  bool
	ChartByDest *chart.Chart
}

type bookmarkRow struct {
	reports.Bookmark
	At      string // m:ss
	Seconds int64
	// Removable: the viewer wrote it, or is a system admin.
	Removable bool
}

type noteForm struct {
	Reason, Note string
	FollowUp     bool
}

type bookmarkForm struct{ At, Label string }

type dimLink struct {
	Key, Label, Link string
	Current          bool
}

type statRow struct {
	reports.StatsRow
	Total, Average string
}

type billingRow struct {
	reports.BillingRow
	Minutes, Charged, Refunded, Net string
}

// statsLabels name the statistics dimensions.
var statsLabels = map[string]string{
	reports.StatsByBlock: "By block", reports.StatsByHour: "By hour of day", reports.StatsByDay: "By day",
	reports.StatsByPerson: "By person", reports.StatsByContact: "By contact", reports.StatsByTerminal: "Busiest terminals",
	reports.StatsByRefusal: "Refused calls by reason",
}

// reviewError answers a store or authorization error: a refusal page, or
// plain text.
func (s *Server) reviewError(w http.ResponseWriter, r *http.Request, se *users.Session, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		http.Error(w, "No such call.", http.StatusNotFound)
	case errors.Is(err, authz.ErrOutOfScope), errors.Is(err, authz.ErrForbidden):
		s.forbidden(w, r, se, err)
	case errors.Is(err, callquery.ErrBadQuery), errors.Is(err, store.ErrInvalid):
		http.Error(w, store.Message(err.Error()), http.StatusBadRequest)
	default:
		s.log.Error("web: review", "err", err)
		http.Error(w, "Something went wrong; try again.", http.StatusInternalServerError)
	}
}

// charged is call's cost as every money page writes it ("0.06 GBP"): in
// the prison currency's digits, or a common currency's when the call was
// charged in another.
func charged(call *store.Call, set store.MoneySettings) string {
	cur := ledger.Currency{Code: cmp.Or(call.Currency, set.Currency), Digits: set.Digits}
	if cur.Code != set.Currency {
		for _, c := range []ledger.Currency{ledger.EUR, ledger.USD, ledger.GBP, ledger.CNY, ledger.JPY, ledger.KWD} {
			if c.Code == cur.Code {
				cur = c
			}
		}
	}
	return cur.Format(ledger.Money(call.Cost)) + " " + cur.Code
}

// scopedCall loads the call {id} for c: another block's call is out of
// scope, and a hidden call is not found for who may not see it.
func (s *Server) scopedCall(r *http.Request, c authz.Caller) (*store.Call, error) {
	call, err := s.st.Call(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if call.Hidden && !c.SeesHidden() {
		return nil, fmt.Errorf("%w: call %s", store.ErrNotFound, call.ID)
	}
	if err := c.CheckBlock(call.Block); err != nil {
		return nil, err
	}
	return call, nil
}

func (s *Server) callPage(w http.ResponseWriter, r *http.Request, se *users.Session) {
	p := &callView{}
	if t := r.URL.Query().Get("t"); t != "" {
		if n, err := strconv.Atoi(t); err == nil && n >= 0 && n <= int(callquery.MaxOffset/time.Second) {
			p.StartAt = n
		}
	}
	p.Notice = r.URL.Query().Get("notice")
	s.showCall(w, r, se, http.StatusOK, p)
}

// showCall renders the call {id}'s page with p's form state.
func (s *Server) showCall(w http.ResponseWriter, r *http.Request, se *users.Session, status int, p *callView) {
	c := CallerOf(se)
	call, err := s.scopedCall(r, c)
	if err != nil {
		s.reviewError(w, r, se, err)
		return
	}
	l := page.For(se, "Call "+call.ID)
	l.Notice = p.Notice
	p.Layout, p.Call = l, call
	p.Talk = reports.FormatOffset(time.Duration(call.DurationSeconds * float64(time.Second)))
	if call.Cost != 0 {
		set, err := s.money.MoneySettings(r.Context())
		if err != nil {
			s.reviewError(w, r, se, err)
			return
		}
		p.Charged = charged(call, set)
	}
	p.CanPlay = page.Allowed(se, "GET /calls/{id}/recording")
	p.Playable = !call.Privileged && call.Recording != nil && call.Recording.Uploaded
	p.CanRead, p.CanWrite = c.ReadsReview(), c.WritesReview()
	p.Bookmarkable = c.WritesBookmarks() && !call.Privileged && call.Recording != nil
	p.Reasons = reports.ReviewReasons
	if p.CanRead {
		if p.Notes, err = s.reports.ReviewNotes(r.Context(), call.ID); err == nil {
			var bs []reports.Bookmark
			if bs, err = s.reports.Bookmarks(r.Context(), call.ID); err == nil {
				for _, b := range bs {
					d := time.Duration(b.OffsetMS) * time.Millisecond
					p.Bookmarks = append(p.Bookmarks, bookmarkRow{Bookmark: b, At: reports.FormatOffset(d), Seconds: int64(d / time.Second),
						Removable: c.WritesBookmarks() && (b.Author == se.Actor || c.Role == store.RoleSystemAdmin)})
				}
			}
		}
		if err != nil {
			s.reviewError(w, r, se, err)
			return
		}
	}
	if err := s.st.Audit(r.Context(), se.Actor, "call.view", call.ID, "console"); err != nil {
		s.reviewError(w, r, se, err)
		return
	}
	s.render(w, status, "review_call.html", p)
}

// callForm checks a form posted on a call's page (session, CSRF) and
// loads the call {id} for its caller; false: the answer is written.
func (s *Server) callForm(w http.ResponseWriter, r *http.Request, se *users.Session) (*store.Call, authz.Caller, bool) {
	c := CallerOf(se)
	if !s.postForm(w, r, se) {
		return nil, c, false
	}
	call, err := s.scopedCall(r, c)
	if err != nil {
		s.reviewError(w, r, se, err)
		return nil, c, false
	}
	return call, c, true
}

func (s *Server) addNoteForm(w http.ResponseWriter, r *http.Request, se *users.Session) {
	call, _, ok := s.callForm(w, r, se)
	if !ok {
		return
	}
	in := noteForm{Reason: r.PostForm.Get("reason"), Note: r.PostForm.Get("note"), FollowUp: r.PostForm.Get("follow_up") != ""}
	if _, err := s.reports.AddReviewNote(r.Context(), se.Actor, call.ID, reports.NewReviewNote{Reason: in.Reason, Note: in.Note, FollowUp: in.FollowUp}); err != nil {
		if !errors.Is(err, store.ErrInvalid) {
			s.reviewError(w, r, se, err)
			return
		}
		s.showCall(w, r, se, http.StatusUnprocessableEntity, &callView{NoteForm: in, NoteErr: store.Message(err.Error())})
		return
	}
	redirectNotice(w, r, "/calls/"+url.PathEscape(call.ID), "Review note saved.")
}

func (s *Server) addBookmarkForm(w http.ResponseWriter, r *http.Request, se *users.Session) {
	call, _, ok := s.callForm(w, r, se)
	if !ok {
		return
	}
	in := bookmarkForm{At: r.PostForm.Get("at"), Label: r.PostForm.Get("label")}
	at, err := callquery.ParseOffset(in.At)
	if err == nil {
		_, err = s.reports.AddBookmark(r.Context(), se.Actor, call.ID, at, in.Label)
	}
	if err != nil {
		if !errors.Is(err, store.ErrInvalid) && !errors.Is(err, callquery.ErrBadQuery) {
			s.reviewError(w, r, se, err)
			return
		}
		msg := store.Message(err.Error())
		s.showCall(w, r, se, http.StatusUnprocessableEntity, &callView{BookmarkForm: in, MarkErr: msg})
		return
	}
	redirectNotice(w, r, "/calls/"+url.PathEscape(call.ID), "Bookmark saved at "+reports.FormatOffset(at)+".")
}

// removeBookmarkForm removes a bookmark from the call's page (its author,
// or a system admin) and goes back to the page.
func (s *Server) removeBookmarkForm(w http.ResponseWriter, r *http.Request, se *users.Session) {
	call, c, ok := s.callForm(w, r, se)
	if !ok {
		return
	}
	err := s.reports.RemoveBookmark(r.Context(), se.Actor, call.ID, r.PathValue("bookmark"), c.Role == store.RoleSystemAdmin)
	switch {
	case errors.Is(err, reports.ErrNotAuthor):
		http.Error(w, "Only the bookmark's author or a system administrator may remove it.", http.StatusForbidden)
		return
	case errors.Is(err, store.ErrNotFound):
		http.Error(w, "No such bookmark on this call (it may have been removed already).", http.StatusNotFound)
		return
	case err != nil:
		s.reviewError(w, r, se, err)
		return
	}
	redirectNotice(w, r, "/calls/"+url.PathEscape(call.ID), "Bookmark removed.")
}

// callsExport serves the calls search's result as CSV or XLSX (format=),
// with the search's filters; audited as every export is.
func (s *Server) callsExport(w http.ResponseWriter, r *http.Request, se *users.Session) {
	q := formQuery(r)
	format := q.Get("format")
	for _, k := range []string{"format", "limit", "offset"} {
		q.Del(k)
	}
	if format != tables.FormatCSV && format != tables.FormatXLSX {
		http.Error(w, "format must be csv or xlsx", http.StatusBadRequest)
		return
	}
	f, err := callquery.Parse(q)
	if err != nil {
		s.reviewError(w, r, se, err)
		return
	}
	c := CallerOf(se)
	if f.Block != "" {
		if err := c.CheckBlock(f.Block); err != nil {
			s.reviewError(w, r, se, err)
			return
		}
	}
	f.ShowHidden = c.SeesHidden()
	tb, err := s.search.ExportCalls(r.Context(), se.Actor, format, c.ScopeBlocks(), f)
	if err != nil {
		s.reviewError(w, r, se, err)
		return
	}
	s.writeTable(w, "calls", format, tb)
}

// location is the prison's time zone.
func (s *Server) location(r *http.Request) (*time.Location, error) {
	set, err := s.money.MoneySettings(r.Context())
	if err != nil {
		return nil, err
	}
	return set.Location(), nil
}

// formQuery is r's query without empty values (the forms and links send
// every field, so "disposition=&disposition=refused" is a refused call).
func formQuery(r *http.Request) url.Values {
	q := r.URL.Query()
	for k, vs := range q {
		if vs = slices.DeleteFunc(vs, func(v string) bool { return v == "" }); len(vs) == 0 {
			q.Del(k)
		} else {
			q[k] = vs
		}
	}
	return q
}

func (s *Server) statsPage(w http.ResponseWriter, r *http.Request, se *users.Session) {
	loc, err := s.location(r)
	if err != nil {
		s.reviewError(w, r, se, err)
		return
	}
	q := formQuery(r)
	by := q.Get("by")
	if by == "" {
		by = reports.StatsByBlock
	}
	p := &statsView{Layout: page.For(se, "Statistics"), By: by, Block: q.Get("block")}
	c := CallerOf(se)
	f, err := callquery.ParseStats(q, by, loc, s.st.Now())
	if err == nil && f.Block != "" {
		err = c.CheckBlock(f.Block)
	}
	if errors.Is(err, authz.ErrOutOfScope) {
		s.reviewError(w, r, se, err)
		return
	}
	status := http.StatusOK
	if err == nil {
		f.Blocks, f.ShowHidden = c.ScopeBlocks(), c.SeesHidden()
		p.Stats, err = s.reports.Stats(r.Context(), f)
		if err == nil {
			err = s.st.Audit(r.Context(), se.Actor, "stats.search", "console/stats/"+by, q.Encode())
		}
	}
	switch {
	case err == nil:
	case errors.Is(err, callquery.ErrBadQuery), errors.Is(err, store.ErrInvalid):
		status, p.Error = http.StatusBadRequest, store.Message(err.Error())
	default:
		s.reviewError(w, r, se, err)
		return
	}
	if p.Stats == nil {
		// Show the form again with what was asked for.
		p.From, p.To = q.Get("from"), q.Get("to")
	} else {
		p.From, p.To = format.Days(f.From, f.To, loc)
		p.Limit, p.ByTop = f.Limit, by == reports.StatsByPerson || by == reports.StatsByContact || by == reports.StatsByTerminal
		if p.Limit == 0 {
			p.Limit = 20
		}
		fillStats(p)
	}
	for _, d := range reports.StatsDimensions {
		v := url.Values{"by": {d}}
		for _, k := range []string{"from", "to", "block"} {
			if x := q.Get(k); x != "" {
				v.Set(k, x)
			}
		}
		p.Dimensions = append(p.Dimensions, dimLink{Key: d, Label: statsLabels[d], Link: "/stats?" + v.Encode(), Current: d == by})
	}
	s.render(w, status, "stats_page.html", p)
}

// fillStats fills p's table and charts from p.Stats.
func fillStats(p *statsView) {
	st := p.Stats
	view := func(r reports.StatsRow) statRow {
		return statRow{StatsRow: r, Total: format.HMS(r.TotalSeconds), Average: format.HMS(r.AverageSeconds)}
	}
	for _, r := range st.Rows {
		p.StatRows = append(p.StatRows, view(r))
	}
	p.Total = view(st.Total)
	p.Charts = chart.Stats(st)
}

// billingQuery reads the billing report's filter for se.
func (s *Server) billingQuery(r *http.Request, se *users.Session) (reports.BillingFilter, *time.Location, error) {
	loc, err := s.location(r)
	if err != nil {
		return reports.BillingFilter{}, nil, err
	}
	f, err := callquery.ParseBilling(formQuery(r), loc, s.st.Now())
	if err != nil {
		return f, loc, err
	}
	c := CallerOf(se)
	if f.Block != "" {
		if err := c.CheckBlock(f.Block); err != nil {
			return f, loc, err
		}
	}
	f.Blocks = c.ScopeBlocks()
	return f, loc, nil
}

func (s *Server) billingPage(w http.ResponseWriter, r *http.Request, se *users.Session) {
	q := formQuery(r)
	p := &billingView{Layout: page.For(se, "Billing report"), Periods: reports.BillingPeriods,
		Period: q.Get("period"), Block: q.Get("block"), From: q.Get("from"), To: q.Get("to")}
	set, err := s.money.MoneySettings(r.Context())
	if err != nil {
		s.reviewError(w, r, se, err)
		return
	}
	p.Settings = set
	f, loc, err := s.billingQuery(r, se)
	if errors.Is(err, authz.ErrOutOfScope) {
		s.reviewError(w, r, se, err)
		return
	}
	status := http.StatusOK
	if err == nil {
		p.Billing, err = s.reports.Billing(r.Context(), f)
		if err == nil {
			err = s.st.Audit(r.Context(), se.Actor, "reports.billing", "console", q.Encode())
		}
	}
	switch {
	case err == nil:
	case errors.Is(err, callquery.ErrBadQuery), errors.Is(err, store.ErrInvalid):
		status, p.Error = http.StatusBadRequest, store.Message(err.Error())
	default:
		s.reviewError(w, r, se, err)
		return
	}
	if rep := p.Billing; rep != nil {
		p.Period, p.ShowPeriod = rep.Period, rep.Period != reports.BillingTotal
		p.From, p.To = format.Days(rep.From, rep.To, loc)
		cur := ledger.Currency{Code: rep.Currency, Digits: rep.Digits}
		view := func(b reports.BillingRow) billingRow {
			return billingRow{BillingRow: b, Minutes: reports.BilledMinutes(b.BilledSeconds),
				Charged: cur.Format(b.Charged), Refunded: cur.Format(b.Refunded), Net: cur.Format(b.Net)}
		}
		for _, b := range rep.Rows {
			p.BillRows = append(p.BillRows, view(b))
		}
		p.BillTotal = view(rep.Total)
		ch := chart.ByDestination(rep)
		p.ChartByDest = &ch
		v := url.Values{"from": {p.From}, "to": {p.To}, "period": {rep.Period}}
		if f.Block != "" {
			v.Set("block", f.Block)
		}
		p.CSVLink = "/reports/billing.csv?" + v.Encode()
	}
	s.render(w, status, "reports_billing.html", p)
}

func (s *Server) billingExport(w http.ResponseWriter, r *http.Request, se *users.Session) {
	f, _, err := s.billingQuery(r, se)
	if err != nil {
		s.reviewError(w, r, se, err)
		return
	}
	tb, err := s.reports.ExportBilling(r.Context(), se.Actor, tables.FormatCSV, f)
	if err != nil {
		s.reviewError(w, r, se, err)
		return
	}
	s.writeTable(w, "billing", tables.FormatCSV, tb)
}
