package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/kinline/kinline/central/api/consoleusers"
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/users"
)

// UserStore is what the API needs of the console users' store
// (users.Store): the users routes (package consoleusers) and cookie
// sessions.
type UserStore interface {
	consoleusers.Store
	SessionByID(ctx context.Context, id string) (*users.Session, error)
	// API tokens (tokens.go).
	AuthenticateToken(ctx context.Context, secret string) (*users.Token, error)
	Tokens(ctx context.Context, owner string) ([]users.Token, error)
	CreateToken(ctx context.Context, by users.Creator, in users.NewToken) (string, *users.Token, error)
	RevokeToken(ctx context.Context, actor, owner, id string) (*users.Token, error)
	EnsureAdminToken(ctx context.Context, path string, log *slog.Logger) error
}

// exportAudit streams the audit log (filtered by actor, action, target,
// from and to) as CSV; the export itself is audited first. Like playback
// it needs a verified second factor (package authz).
func (s *Server) exportAudit(w http.ResponseWriter, r *http.Request) {
	f, err := auditFilter(r.URL.Query())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Disposition", `attachment; filename="kinline-audit.csv"`)
	// Headers are only sent with the first byte, so an error before any
	// row is written still gets its JSON status.
	bw := &lazyWriter{w: w}
	if err := s.st.ExportAuditCSV(r.Context(), callerFrom(r.Context()).Actor, f, bw); err != nil {
		if bw.started {
			s.log.Error("api: audit export failed mid-stream", "err", err)
			return
		}
		w.Header().Del("Content-Disposition")
		s.fail(w, r, err)
	}
}

type lazyWriter struct {
	w       http.ResponseWriter
	started bool
}

func (l *lazyWriter) Write(p []byte) (int, error) {
	l.started = true
	return l.w.Write(p)
}

// verifyAudit checks the audit log's hash chain: 200 {"ok": true} or 409
// with the first broken row.
func (s *Server) verifyAudit(w http.ResponseWriter, r *http.Request) {
	err := s.st.VerifyAudit(r.Context())
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, map[string]any{"ok": true})
	case errors.Is(err, store.ErrAuditTampered):
		writeJSON(w, http.StatusConflict, map[string]any{"ok": false, "error": err.Error()})
	default:
		s.fail(w, r, err)
	}
}
