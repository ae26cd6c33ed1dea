package web

import (
	"time"

	"github.com/kinline/kinline/central/web/page"
	"github.com/kinline/kinline/central/web/tokens"
)

// tokenPages are the API tokens page's routes (package tokens).
func (s *Server) tokenPages() map[string]page.Handler {
	return tokens.New(tokens.Deps{Users: s.users, Now: func() time.Time { return s.st.Clock().Now() }, Render: s.render,
		PostForm: s.postForm, StatusOf: s.statusOf, RedirectNotice: redirectNotice}).Routes()
}
