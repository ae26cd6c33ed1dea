package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/kinline/kinline/central/api/httpjson"
	"github.com/kinline/kinline/central/callquery"
	"github.com/kinline/kinline/central/photo"
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/central/store/reports"
	"github.com/kinline/kinline/central/store/tables"
	"github.com/kinline/kinline/shared/wire"
)

// manageRoutes are the JSON API's management routes: contacts' approval
// and lifting a contact's self-block, PIN reset, people's photos, global
// numbers, settings, block windows, terminals, import and export.
func (s *Server) manageRoutes() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"POST /api/v1/contacts/{contact}/decision": s.decideContact,
		"POST /api/v1/contacts/{contact}/unblock":  s.unblockContact,
		"POST /api/v1/inmates/{id}/pin":            s.resetPIN,
		"GET /api/v1/inmates/{id}/photo":           s.getPhoto,
		"PUT /api/v1/inmates/{id}/photo":           s.putPhoto,
		"DELETE /api/v1/inmates/{id}/photo":        s.deletePhoto,
		"GET /api/v1/numbers":                      s.listNumbers,
		"POST /api/v1/numbers":                     s.addNumber,
		"POST /api/v1/numbers/remove":              s.removeNumber,
		"GET /api/v1/settings":                     s.getSettings,
		"PUT /api/v1/settings":                     s.putSettings,
		"GET /api/v1/blocks/{name}/windows":        s.getBlockWindows,
		"PUT /api/v1/blocks/{name}/windows":        s.putBlockWindows,
		"GET /api/v1/terminals":                    s.listTerminals,
		"GET /api/v1/export/{file}":                s.export,
		"POST /api/v1/import/{kind}":               s.importFile,
	}
}

// TableStore is what the API needs of the batch import and the exports
// (tables.Store).
type TableStore interface {
	Import(ctx context.Context, actor, kind string, table [][]string, dryRun bool, progress func(done, total int)) (*tables.ImportReport, error)
	ExportTable(ctx context.Context, actor, what, format string, blocks []string) ([][]string, error)
}

// CallStore is what the API needs of the call search and the calls export
// (reports.Store).
type CallStore interface {
	Calls(ctx context.Context, f reports.CallFilter) ([]store.Call, error)
	ExportCalls(ctx context.Context, actor, format string, blocks []string, f reports.CallFilter) ([][]string, error)
}

// importReportOut is an import's outcome as the API answers it (the API's
// own type, so a change to tables.ImportReport does not change the API
// unnoticed).
type importReportOut struct {
	Kind    string           `json:"kind"`
	DryRun  bool             `json:"dry_run"`
	Rows    int              `json:"rows"`    // data rows read (empty rows skipped)
	Applied int              `json:"applied"` // rows written (0 for a dry run or a refused file)
	Errors  []importErrorOut `json:"errors"`
}

func (importReportOut) componentName() string { return "store.ImportReport" }

// importErrorOut is one problem of one row: Row is the spreadsheet row
// number (the header is row 1), Column empty for the whole row.
type importErrorOut struct {
	Row     int    `json:"row"`
	Column  string `json:"column,omitempty"`
	Message string `json:"message"`
}

func (importErrorOut) componentName() string { return "store.ImportError" }

func importReportBody(rep *tables.ImportReport) *importReportOut {
	if rep == nil {
		return nil
	}
	out := &importReportOut{Kind: rep.Kind, DryRun: rep.DryRun, Rows: rep.Rows, Applied: rep.Applied}
	if rep.Errors != nil {
		out.Errors = make([]importErrorOut, len(rep.Errors))
		for i, e := range rep.Errors {
			out.Errors[i] = importErrorOut{Row: e.Row, Column: e.Column, Message: e.Message}
		}
	}
	return out
}

// manageFail is fail with the management layer's own errors mapped: a
// decider outside their rights is 403, a bad import file 422.
func (s *Server) manageFail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, people.ErrNotAllowed):
		err = fmt.Errorf("%w: %v", ErrForbidden, strings.TrimPrefix(err.Error(), "store: "))
	case errors.Is(err, tables.ErrBadFile):
		err = fmt.Errorf("%w: %v", store.ErrInvalid, strings.TrimPrefix(err.Error(), "store: unreadable import file: "))
	}
	s.fail(w, r, err)
}

// decisionIn is the body of POST /api/v1/contacts/{id}/decision.
type decisionIn struct {
	Status string `json:"status"` // approved or rejected
	Reason string `json:"reason"`
}

func (s *Server) decideContact(w http.ResponseWriter, r *http.Request) {
	var in decisionIn
	if err := decode(r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	c := callerFrom(r.Context())
	ct, err := s.scopedContact(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	got, block, err := s.people.DecideContact(r.Context(), people.Decider{Actor: c.Actor, Role: c.Role, Blocks: c.Blocks}, ct.ID, in.Status, in.Reason)
	if err != nil {
		s.manageFail(w, r, err)
		return
	}
	s.notify(r.Context(), block)
	writeJSON(w, http.StatusOK, contactBody(got))
}

// scopedContact loads the path's contact, refusing a block officer another
// block's person's contact.
func (s *Server) scopedContact(r *http.Request) (*people.Contact, error) {
	ct, err := s.people.Contact(r.Context(), r.PathValue("contact"))
	if err != nil {
		return nil, err
	}
	p, err := s.people.Person(r.Context(), ct.PersonID)
	if err != nil {
		return nil, err
	}
	if err := callerFrom(r.Context()).CheckBlock(p.Block); err != nil {
		return nil, err
	}
	return ct, nil
}

// unblockContact serves POST /api/v1/contacts/{contact}/unblock
// {"reason": "..."}: the contact's self-block (the called party pressed 9)
// is lifted, audited with the reason, and the block's policy republished.
func (s *Server) unblockContact(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Reason string `json:"reason"`
	}
	if err := decode(r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	ct, err := s.scopedContact(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	got, block, err := s.people.LiftSelfBlock(r.Context(), callerFrom(r.Context()).Actor, ct.ID, in.Reason)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.notify(r.Context(), block)
	writeJSON(w, http.StatusOK, contactBody(got))
}

func (s *Server) resetPIN(w http.ResponseWriter, r *http.Request) {
	if _, err := s.scopedPerson(r); err != nil {
		s.fail(w, r, err)
		return
	}
	pin, block, err := s.people.ResetPIN(r.Context(), callerFrom(r.Context()).Actor, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.notify(r.Context(), block)
	writeJSON(w, http.StatusOK, map[string]string{"person_id": r.PathValue("id"), "pin": pin})
}

// getPhoto serves GET /api/v1/inmates/{id}/photo: the person's photo as
// the image it is (its own media type, never sniffed), 404 when none.
func (s *Server) getPhoto(w http.ResponseWriter, r *http.Request) {
	p, err := s.scopedPerson(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ph, err := s.people.Photo(r.Context(), p.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	photo.Write(w, ph.ContentType, ph.Data)
}

// putPhoto serves PUT /api/v1/inmates/{id}/photo with the image as the
// body (Content-Type image/jpeg or image/png): 415 for another type or a
// file that is not what it says, 413 beyond people.MaxPhotoBytes, 422 for
// dimensions out of bounds or a damaged image. It answers the photo's
// description.
func (s *Server) putPhoto(w http.ResponseWriter, r *http.Request) {
	p, err := s.scopedPerson(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != people.PhotoJPEG && ct != people.PhotoPNG {
		writeError(w, http.StatusUnsupportedMediaType, "Content-Type must be image/jpeg or image/png, with the image as the body")
		return
	}
	data, err := httpjson.ReadBody(r, people.MaxPhotoBytes)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ph, err := s.people.SetPhoto(r.Context(), callerFrom(r.Context()).Actor, p.ID, data, ct)
	if err != nil {
		s.photoFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, photoBody(ph))
}

// photoFail is fail with a refused photo's size and type errors as 413 and
// 415.
func (s *Server) photoFail(w http.ResponseWriter, r *http.Request, err error) {
	msg := strings.TrimPrefix(err.Error(), "store: invalid input: ")
	switch {
	case errors.Is(err, people.ErrPhotoTooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, msg)
	case errors.Is(err, people.ErrPhotoType):
		writeError(w, http.StatusUnsupportedMediaType, msg)
	default:
		s.fail(w, r, err)
	}
}

// deletePhoto serves DELETE /api/v1/inmates/{id}/photo: 204, or 404 when
// the person has no photo.
func (s *Server) deletePhoto(w http.ResponseWriter, r *http.Request) {
	p, err := s.scopedPerson(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.people.DeletePhoto(r.Context(), callerFrom(r.Context()).Actor, p.ID); err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listNumbers(w http.ResponseWriter, r *http.Request) {
	ns, err := s.people.GlobalNumbers(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"numbers": globalNumbersBody(ns)})
}

// numberIn adds or removes a global number; the note is required.
type numberIn struct {
	Number string `json:"number"`
	Kind   string `json:"kind"`
	Note   string `json:"note"`
}

func (s *Server) addNumber(w http.ResponseWriter, r *http.Request) {
	var in numberIn
	if err := decode(r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	g, blocks, err := s.people.AddGlobalNumber(r.Context(), callerFrom(r.Context()).Actor, in.Number, in.Kind, in.Note)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.notify(r.Context(), blocks...)
	writeJSON(w, http.StatusCreated, globalNumberBody(g))
}

func (s *Server) removeNumber(w http.ResponseWriter, r *http.Request) {
	var in numberIn
	if err := decode(r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	blocks, err := s.people.RemoveGlobalNumber(r.Context(), callerFrom(r.Context()).Actor, in.Number, in.Kind, in.Note)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.notify(r.Context(), blocks...)
	writeJSON(w, http.StatusOK, map[string]string{"removed": in.Number, "kind": in.Kind})
}

func (s *Server) getSettings(w http.ResponseWriter, r *http.Request) {
	set, err := s.people.Settings(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, prisonSettingsBody(set))
}

func (s *Server) putSettings(w http.ResponseWriter, r *http.Request) {
	var in prisonSettingsIO
	if err := decode(r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	blocks, err := s.people.UpdateSettings(r.Context(), callerFrom(r.Context()).Actor, in.settings())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.notify(r.Context(), blocks...)
	s.getSettings(w, r)
}

func (s *Server) getBlockWindows(w http.ResponseWriter, r *http.Request) {
	if err := callerFrom(r.Context()).CheckBlock(r.PathValue("name")); err != nil {
		s.fail(w, r, err)
		return
	}
	ws, err := s.people.BlockWindows(r.Context(), r.PathValue("name"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"block": r.PathValue("name"), "windows": ws})
}

func (s *Server) putBlockWindows(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Windows []wire.Window `json:"windows"`
	}
	if err := decode(r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	block := r.PathValue("name")
	if err := s.people.SetBlockWindows(r.Context(), callerFrom(r.Context()).Actor, block, in.Windows); err != nil {
		s.fail(w, r, err)
		return
	}
	s.notify(r.Context(), block)
	s.getBlockWindows(w, r)
}

func (s *Server) listTerminals(w http.ResponseWriter, r *http.Request) {
	ts, err := s.st.Terminals(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	c := callerFrom(r.Context())
	out := []terminalOut{}
	for _, t := range ts {
		if c.InScope(t.Block) {
			out = append(out, terminalBody(&t))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"terminals": out})
}

// ExportFile splits an export file name ("people.csv", "calls.xlsx") into
// what and format.
func ExportFile(name string) (what, format string, err error) {
	what, format, _ = strings.Cut(name, ".")
	switch what {
	case "people", "contacts", "calls":
	default:
		return "", "", fmt.Errorf("%w: export people, contacts or calls", ErrBadRequest)
	}
	if format != tables.FormatCSV && format != tables.FormatXLSX {
		return "", "", fmt.Errorf("%w: export as .csv or .xlsx", ErrBadRequest)
	}
	return what, format, nil
}

// export serves GET /api/v1/export/{people|contacts|calls}.{csv|xlsx};
// calls take the calls search's filters (hidden calls only for those who
// may see them). Block officers get their blocks only. Every export is
// audited, and needs a verified second factor (package authz).
func (s *Server) export(w http.ResponseWriter, r *http.Request) {
	what, format, err := ExportFile(r.PathValue("file"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	c := callerFrom(r.Context())
	var f reports.CallFilter
	if what == "calls" {
		q := r.URL.Query()
		q.Del("limit")
		q.Del("offset")
		if f, err = callquery.Parse(q); err != nil {
			s.fail(w, r, err)
			return
		}
		if f.Block != "" {
			if err := c.CheckBlock(f.Block); err != nil {
				s.fail(w, r, err)
				return
			}
		}
		f.ShowHidden = c.SeesHidden()
	}
	var tb [][]string
	if what == "calls" {
		tb, err = s.search.ExportCalls(r.Context(), c.Actor, format, c.ScopeBlocks(), f)
	} else {
		tb, err = s.tables.ExportTable(r.Context(), c.Actor, what, format, c.ScopeBlocks())
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var buf bytes.Buffer
	if err := tables.WriteTable(&buf, format, tb); err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", tables.ContentType(format))
	w.Header().Set("Content-Disposition", `attachment; filename="`+what+"."+format+`"`)
	w.Header().Set("Cache-Control", "no-store")
	w.Write(buf.Bytes())
}

// importFile serves POST /api/v1/import/{people|contacts}?dry_run=true with
// the CSV or XLSX file as the body. It answers the report: 200 when the
// dry run ran or the rows were applied, 422 when the file is unreadable or
// (real run) refused for row errors, with nothing imported.
func (s *Server) importFile(w http.ResponseWriter, r *http.Request) {
	kind := r.PathValue("kind")
	if _, err := tables.ImportColumns(kind); err != nil {
		s.fail(w, r, fmt.Errorf("%w: import people or contacts", ErrBadRequest))
		return
	}
	dry := r.URL.Query().Get("dry_run")
	if dry != "" && dry != "true" && dry != "false" {
		s.fail(w, r, fmt.Errorf("%w: dry_run must be true or false", ErrBadRequest))
		return
	}
	data, err := httpjson.ReadBody(r, tables.MaxImportBytes)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	tb, err := tables.ReadTable(data)
	if err != nil {
		s.manageFail(w, r, err)
		return
	}
	rep, err := s.tables.Import(r.Context(), callerFrom(r.Context()).Actor, kind, tb, dry == "true", nil)
	switch {
	case errors.Is(err, tables.ErrImportRejected):
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": "nothing imported: some rows have errors", "report": importReportBody(rep)})
		return
	case err != nil:
		s.manageFail(w, r, err)
		return
	}
	if rep.Applied > 0 {
		blocks, err := s.st.Blocks(r.Context())
		if err == nil {
			for _, b := range blocks {
				s.notify(r.Context(), b.Name)
			}
		}
	}
	writeJSON(w, http.StatusOK, importReportBody(rep))
}
