package web

import (
	"net/http"

	"github.com/kinline/kinline/central/store/users"
	"github.com/kinline/kinline/central/web/confirm"
)

// confirmed asks before a destructive action (package confirm).
func (s *Server) confirmed(w http.ResponseWriter, r *http.Request, se *users.Session, pattern string) bool {
	return confirm.Confirmed(w, r, se, pattern, s.render)
}
