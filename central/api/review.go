package api

import "net/http"

// reviewRoutes are the JSON API's review routes: notes, bookmarks and
// statistics.
func (s *Server) reviewRoutes() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{}
}
