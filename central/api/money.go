package api

import "net/http"

// moneyRoutes are the JSON API's rates, accounts, ledger and
// reconciliation routes.
func (s *Server) moneyRoutes() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{}
}
