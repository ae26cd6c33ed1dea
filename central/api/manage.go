package api

import "net/http"

// manageRoutes are the JSON API's management routes: contacts' approval,
// global numbers, settings, import and export.
func (s *Server) manageRoutes() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{}
}
