package web

// reviewPages are the console's pages for call review: notes, bookmarks and statistics.
func (s *Server) reviewPages() map[string]sessionHandler {
	return map[string]sessionHandler{}
}
