package web

// moneyPages are the console's pages for rates, accounts, recharges, statements and reconciliation.
func (s *Server) moneyPages() map[string]sessionHandler {
	return map[string]sessionHandler{}
}
