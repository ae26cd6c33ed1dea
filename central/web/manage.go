package web

// managePages are the console's pages for people, contacts and their approval, global numbers, rules, blocks, appliances, import and export.
func (s *Server) managePages() map[string]sessionHandler {
	return map[string]sessionHandler{}
}
