package web

// Calls in progress: the calls the appliances have placed and not yet
// reported ended (store.CallsInProgress), scoped as the calls search is,
// with an End button for those who may send commands to the call's
// appliance (an end_call command through Config.EndCall; the call's record
// then arrives with disposition "ended").

import (
	"net/http"
	"time"

	"github.com/kinline/kinline/central/authz"
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/users"
	"github.com/kinline/kinline/central/web/format"
	"github.com/kinline/kinline/central/web/page"
)

// inProgressPages are the pages of this file.
func (s *Server) inProgressPages() map[string]page.Handler {
	return map[string]page.Handler{
		"GET /calls/in-progress": s.inProgressPage,
		"POST /calls/{id}/end":   s.endCallForm,
	}
}

// inProgressView is the data of calls_in_progress.html.
type inProgressView struct {
	page.Layout
	Calls []inProgressRow
	Now   time.Time
}

type inProgressRow struct {
	store.CallInProgress
	For     string // how long it has been going (m:ss)
	Endable bool
}

func (s *Server) inProgressPage(w http.ResponseWriter, r *http.Request, se *users.Session) {
	c := CallerOf(se)
	p := &inProgressView{Layout: page.For(se, "Calls in progress").WithNotice(r), Now: s.st.Now().UTC()}
	calls, err := s.st.CallsInProgress(r.Context(), store.InProgressFilter{Blocks: c.ScopeBlocks(), WithHidden: c.SeesHidden()})
	if err == nil {
		err = s.st.Audit(r.Context(), se.Actor, "calls.in_progress", "calls", "console")
	}
	if err != nil {
		st, msg := s.statusOf(err)
		p.Error = msg
		s.render(w, st, "calls_in_progress.html", p)
		return
	}
	for _, call := range calls {
		p.Calls = append(p.Calls, inProgressRow{CallInProgress: call, For: format.Duration(p.Now.Sub(call.Start).Seconds()),
			Endable: s.cfg.EndCall != nil && authz.Check("POST /calls/{id}/end", c, call.Block) == nil})
	}
	s.render(w, http.StatusOK, "calls_in_progress.html", p)
}

// endCallForm sends the end_call command for a call in progress.
func (s *Server) endCallForm(w http.ResponseWriter, r *http.Request, se *users.Session) {
	if !s.postForm(w, r, se) {
		return
	}
	c := CallerOf(se)
	id := r.PathValue("id")
	calls, err := s.st.CallsInProgress(r.Context(), store.InProgressFilter{Blocks: c.ScopeBlocks(), WithHidden: c.SeesHidden()})
	if err != nil {
		s.reviewError(w, r, se, err)
		return
	}
	var call *store.CallInProgress
	for i := range calls {
		if calls[i].CallID == id {
			call = &calls[i]
		}
	}
	switch {
	case call == nil:
		redirectNotice(w, r, "/calls/in-progress", "That call is no longer in progress.")
		return
	case s.cfg.EndCall == nil:
		http.Error(w, "This console cannot reach the appliances.", http.StatusServiceUnavailable)
		return
	}
	if err := authz.Check("POST /calls/{id}/end", c, call.Block); err != nil {
		s.forbidden(w, r, se, err)
		return
	}
	if err := s.cfg.EndCall(r.Context(), se.Actor, call.ApplianceID, call.CallID); err != nil {
		s.log.Error("web: end call", "call", call.CallID, "appliance", call.ApplianceID, "err", err)
		http.Error(w, "The end command could not be sent to the appliance; try again.", http.StatusServiceUnavailable)
		return
	}
	redirectNotice(w, r, "/calls/in-progress", "End sent to "+call.ApplianceID+" for the call on "+call.Terminal+
		"; it leaves this list when the appliance reports the call ended.")
}
