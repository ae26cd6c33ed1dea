// Package review is the review side of the JSON API: review notes and
// bookmarks on a call, call statistics and billing reports. Package api
// registers its routes (Routes) and documents them (Docs).
//
//	GET  /api/v1/calls/{id}/notes       the call's review notes, oldest first
//	POST /api/v1/calls/{id}/notes       {"reason", "note", "follow_up"}
//	GET  /api/v1/calls/{id}/bookmarks   the call's bookmarks, by position
//	POST /api/v1/calls/{id}/bookmarks   {"offset_ms" or "at" ("1:23"), "label"}
//	DELETE /api/v1/calls/{id}/bookmarks/{bookmark}  its author, or a system admin
//	GET  /api/v1/stats/{by}             by = blocks, hours, days, people,
//	                                    contacts, terminals or refusals;
//	                                    from, to, block, limit
//	GET  /api/v1/reports/billing        from, to, period (total, day, month), block
//	GET  /api/v1/reports/billing.csv    the same as CSV
//
// Notes and bookmarks are read by system admins, investigators and
// read-only auditors and written by the first two; a hidden call's are
// not found for the others. Every write is audited, and so are statistics
// and report views and the export. Statistics and reports count block
// officers' blocks only, and hidden calls only for those who may see them.
package review

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/kinline/kinline/central/api/httpjson"
	"github.com/kinline/kinline/central/callquery"
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/reports"
	"github.com/kinline/kinline/central/store/tables"
)

// Deps are what the review routes need.
type Deps struct {
	// Store gives the clock and the audit log.
	Store   *store.Store
	Reports ReportStore
	// Settings gives the prison's time zone (the money settings).
	Settings SettingsStore
	Log      *slog.Logger
	// ScopedCall loads the request's call {id} for its caller: another
	// block's call refused to a block officer, a hidden call not found for
	// who may not see it.
	ScopedCall func(r *http.Request) (*store.Call, error)
}

// SettingsStore is what the review routes need of the money settings
// (money.Store): the prison's time zone for days and months.
type SettingsStore interface {
	MoneySettings(ctx context.Context) (store.MoneySettings, error)
}

// Handlers serve the review routes.
type Handlers struct {
	st         *store.Store
	reports    ReportStore
	settings   SettingsStore
	log        *slog.Logger
	scopedCall func(r *http.Request) (*store.Call, error)
}

// New returns the review routes' handlers.
func New(d Deps) *Handlers {
	return &Handlers{st: d.Store, reports: d.Reports, settings: d.Settings, log: d.Log, scopedCall: d.ScopedCall}
}

// The JSON conventions of package httpjson.
var (
	writeJSON  = httpjson.Write
	decode     = httpjson.Decode
	callerFrom = httpjson.Caller
)

func (s *Handlers) fail(w http.ResponseWriter, r *http.Request, err error) {
	httpjson.Fail(s.log, w, r, err)
}

// Routes are the JSON API's review routes: notes, bookmarks, statistics
// and billing reports.
func (s *Handlers) Routes() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"GET /api/v1/calls/{id}/notes":                   s.listNotes,
		"POST /api/v1/calls/{id}/notes":                  s.addNote,
		"GET /api/v1/calls/{id}/bookmarks":               s.listBookmarks,
		"POST /api/v1/calls/{id}/bookmarks":              s.addBookmark,
		"DELETE /api/v1/calls/{id}/bookmarks/{bookmark}": s.removeBookmark,
		"GET /api/v1/stats/{by}":                         s.stats,
		"GET /api/v1/reports/billing":                    s.billing,
		"GET /api/v1/reports/billing.csv":                s.billingCSV,
	}
}

// noteIn is the body of POST /api/v1/calls/{id}/notes.
type noteIn struct {
	Reason   string `json:"reason"`
	Note     string `json:"note"`
	FollowUp bool   `json:"follow_up"`
}

func (s *Handlers) listNotes(w http.ResponseWriter, r *http.Request) {
	c, err := s.scopedCall(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ns, err := s.reports.ReviewNotes(r.Context(), c.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.st.Audit(r.Context(), callerFrom(r.Context()).Actor, "call.notes.view", c.ID, ""); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"call_id": c.ID, "notes": reviewNotesBody(ns)})
}

func (s *Handlers) addNote(w http.ResponseWriter, r *http.Request) {
	var in noteIn
	if err := decode(r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	c, err := s.scopedCall(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	n, err := s.reports.AddReviewNote(r.Context(), callerFrom(r.Context()).Actor, c.ID, reports.NewReviewNote{Reason: in.Reason, Note: in.Note, FollowUp: in.FollowUp})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/calls/"+c.ID+"/notes")
	writeJSON(w, http.StatusCreated, reviewNoteBody(n))
}

// bookmarkIn is the body of POST /api/v1/calls/{id}/bookmarks: the
// position as offset_ms or as at ("83", "1:23", "1:02:03"), not both.
type bookmarkIn struct {
	OffsetMS *int64 `json:"offset_ms"`
	At       string `json:"at"`
	Label    string `json:"label"`
}

func (s *Handlers) listBookmarks(w http.ResponseWriter, r *http.Request) {
	c, err := s.scopedCall(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	bs, err := s.reports.Bookmarks(r.Context(), c.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.st.Audit(r.Context(), callerFrom(r.Context()).Actor, "call.bookmarks.view", c.ID, ""); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"call_id": c.ID, "bookmarks": bookmarksBody(bs)})
}

func (s *Handlers) addBookmark(w http.ResponseWriter, r *http.Request) {
	var in bookmarkIn
	if err := decode(r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	var at time.Duration
	switch {
	case in.OffsetMS != nil && in.At != "", in.OffsetMS == nil && in.At == "":
		s.fail(w, r, fmt.Errorf("%w: give the position as offset_ms or at, once", httpjson.ErrBadRequest))
		return
	case in.OffsetMS != nil:
		if *in.OffsetMS < 0 || *in.OffsetMS > callquery.MaxOffset.Milliseconds() {
			s.fail(w, r, fmt.Errorf("%w: offset_ms out of range", store.ErrInvalid))
			return
		}
		at = time.Duration(*in.OffsetMS) * time.Millisecond
	default:
		var err error
		if at, err = callquery.ParseOffset(in.At); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	c, err := s.scopedCall(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	b, err := s.reports.AddBookmark(r.Context(), callerFrom(r.Context()).Actor, c.ID, at, in.Label)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/calls/"+c.ID+"/bookmarks")
	writeJSON(w, http.StatusCreated, bookmarkBody(b))
}

// removeBookmark serves DELETE /api/v1/calls/{id}/bookmarks/{bookmark}:
// 204; 403 when the caller is neither its author nor a system admin; 404
// when the call has no such bookmark (or it was removed).
func (s *Handlers) removeBookmark(w http.ResponseWriter, r *http.Request) {
	c, err := s.scopedCall(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	caller := callerFrom(r.Context())
	if err := s.reports.RemoveBookmark(r.Context(), caller.Actor, c.ID, r.PathValue("bookmark"), caller.Role == store.RoleSystemAdmin); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// location is the prison's time zone (hours and days of statistics and
// reports).
func (s *Handlers) location(r *http.Request) (*time.Location, error) {
	set, err := s.settings.MoneySettings(r.Context())
	if err != nil {
		return nil, err
	}
	return set.Location(), nil
}

func (s *Handlers) stats(w http.ResponseWriter, r *http.Request) {
	loc, err := s.location(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f, err := callquery.ParseStats(r.URL.Query(), r.PathValue("by"), loc, s.st.Now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	c := callerFrom(r.Context())
	if f.Block != "" {
		if err := c.CheckBlock(f.Block); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	f.Blocks, f.ShowHidden = c.ScopeBlocks(), c.SeesHidden()
	st, err := s.reports.Stats(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.st.Audit(r.Context(), c.Actor, "stats.search", "stats/"+f.By, r.URL.RawQuery); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, statsBody(st))
}

// billingFilter reads a billing report's filter, scoped to the caller.
func (s *Handlers) billingFilter(r *http.Request) (reports.BillingFilter, error) {
	loc, err := s.location(r)
	if err != nil {
		return reports.BillingFilter{}, err
	}
	f, err := callquery.ParseBilling(r.URL.Query(), loc, s.st.Now())
	if err != nil {
		return f, err
	}
	c := callerFrom(r.Context())
	if f.Block != "" {
		if err := c.CheckBlock(f.Block); err != nil {
			return f, err
		}
	}
	f.Blocks = c.ScopeBlocks()
	return f, nil
}

func (s *Handlers) billing(w http.ResponseWriter, r *http.Request) {
	f, err := s.billingFilter(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rep, err := s.reports.Billing(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.st.Audit(r.Context(), callerFrom(r.Context()).Actor, "reports.billing", "billing", r.URL.RawQuery); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, billingBody(rep))
}

func (s *Handlers) billingCSV(w http.ResponseWriter, r *http.Request) {
	f, err := s.billingFilter(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	tb, err := s.reports.ExportBilling(r.Context(), callerFrom(r.Context()).Actor, tables.FormatCSV, f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", tables.ContentType(tables.FormatCSV))
	w.Header().Set("Content-Disposition", `attachment; filename="billing.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	if err := tables.WriteTable(w, tables.FormatCSV, tb); err != nil {
		s.log.Error("api: billing export", "err", err)
	}
}
