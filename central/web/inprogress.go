package web

// Calls in progress: the calls the appliances have placed and not yet
// reported ended (store.CallsInProgress), scoped as the calls search is,
// with an End button for those who may send commands to the call's
// appliance (an end_call command through Config.EndCall; the call's record
// then arrives with disposition "ended"). Each row names the person and
// the call's limit (the person's own maximum duration, else their
// supervision level's rule in the block; a low balance or the end of a
// calling window may end the call sooner). The page's script
// (calls_live.js) polls the same rows as JSON from /calls/in-progress/live
// every two seconds and ticks the elapsed times in between; without
// JavaScript the page is the same list with a reload link. The page view
// is audited; the polls refreshing it are not (one entry per viewing).

import (
	"context"
	"encoding/json"
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
		"GET /calls/in-progress":      s.inProgressPage,
		"GET /calls/in-progress/live": s.inProgressLive,
		"POST /calls/{id}/end":        s.endCallForm,
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
	// Name is the person's; LimitSeconds the call's limit (0: none known).
	Name         string
	LimitSeconds int
}

// Limit is the call's limit as m:ss, or "none".
func (r inProgressRow) Limit() string {
	if r.LimitSeconds <= 0 {
		return "none"
	}
	return format.Duration(float64(r.LimitSeconds))
}

// Kind is "privileged", "hidden" or "recorded".
func (r inProgressRow) Kind() string {
	switch {
	case r.Privileged:
		return "privileged"
	case r.Hidden:
		return "hidden"
	}
	return "recorded"
}

// liveCall is one row of the live JSON.
type liveCall struct {
	CallID         string    `json:"call_id"`
	Name           string    `json:"name"`
	PrisonNumber   string    `json:"prison_number"`
	Block          string    `json:"block"`
	Terminal       string    `json:"terminal"`
	Number         string    `json:"number"`
	Kind           string    `json:"kind"`
	Start          time.Time `json:"start"`
	StartText      string    `json:"start_text"` // Start in the prison's zone, as the page shows it
	ElapsedSeconds int       `json:"elapsed_seconds"`
	LimitSeconds   int       `json:"limit_seconds"`
	Endable        bool      `json:"endable"`
}

// inProgressRows are the calls in progress se may see, as of now.
func (s *Server) inProgressRows(ctx context.Context, se *users.Session, now time.Time) ([]inProgressRow, error) {
	c := CallerOf(se)
	calls, err := s.st.CallsInProgress(ctx, store.InProgressFilter{Blocks: c.ScopeBlocks(), WithHidden: c.SeesHidden()})
	if err != nil {
		return nil, err
	}
	rules := map[string]map[string]int{} // block, level: max duration
	rows := make([]inProgressRow, 0, len(calls))
	for _, call := range calls {
		row := inProgressRow{CallInProgress: call, For: format.Duration(now.Sub(call.Start).Seconds()),
			Endable: s.cfg.EndCall != nil && authz.Check("POST /calls/{id}/end", c, call.Block) == nil}
		if call.PersonID != "" {
			p, err := s.people.Person(ctx, call.PersonID)
			if err == nil {
				row.Name, row.LimitSeconds = p.Name, p.MaxDurationSeconds
				if row.LimitSeconds == 0 {
					row.LimitSeconds = s.ruleLimit(ctx, rules, call.Block, p.SupervisionLevel)
				}
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// ruleLimit is the maximum duration of level's rule in block (0: none),
// read once per block into rules.
func (s *Server) ruleLimit(ctx context.Context, rules map[string]map[string]int, block, level string) int {
	if _, ok := rules[block]; !ok {
		rules[block] = map[string]int{}
		rs, err := s.people.Rules(ctx, block)
		if err != nil {
			s.log.Warn("web: calls in progress: rules", "block", block, "err", err)
		}
		for _, r := range rs {
			rules[block][r.Level] = r.MaxDurationSeconds
		}
	}
	return rules[block][level]
}

func (s *Server) inProgressPage(w http.ResponseWriter, r *http.Request, se *users.Session) {
	p := &inProgressView{Layout: page.For(se, "Calls in progress").WithNotice(r), Now: s.st.Now().UTC()}
	calls, err := s.inProgressRows(r.Context(), se, p.Now)
	if err == nil {
		err = s.st.Audit(r.Context(), se.Actor, "calls.in_progress", "calls", "console")
	}
	if err != nil {
		st, msg := s.statusOf(err)
		p.Error = msg
		s.render(w, st, "calls_in_progress.html", p)
		return
	}
	p.Calls = calls
	s.render(w, http.StatusOK, "calls_in_progress.html", p)
}

// inProgressLive is the page's rows as JSON, for its script.
func (s *Server) inProgressLive(w http.ResponseWriter, r *http.Request, se *users.Session) {
	now := s.st.Now().UTC()
	rows, err := s.inProgressRows(r.Context(), se, now)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err != nil {
		s.log.Error("web: calls in progress live", "err", err)
		w.WriteHeader(http.StatusInternalServerError)
		json.NewEncoder(w).Encode(map[string]string{"error": "could not list the calls in progress"})
		return
	}
	out := struct {
		Now   time.Time  `json:"now"`
		Calls []liveCall `json:"calls"`
	}{Now: now, Calls: make([]liveCall, 0, len(rows))}
	for _, c := range rows {
		out.Calls = append(out.Calls, liveCall{CallID: c.CallID, Name: c.Name, PrisonNumber: c.PrisonNumber, Block: c.Block, Terminal: c.Terminal,
			Number: c.Number, Kind: c.Kind(), Start: c.Start, StartText: format.When(c.Start, s.zone.Load()), ElapsedSeconds: int(now.Sub(c.Start).Seconds()), LimitSeconds: c.LimitSeconds, Endable: c.Endable})
	}
	json.NewEncoder(w).Encode(out)
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
	if err := s.cfg.EndCall(r.Context(), c, call.ApplianceID, call.CallID); err != nil {
		s.log.Error("web: end call", "call", call.CallID, "appliance", call.ApplianceID, "err", err)
		http.Error(w, "The end command could not be sent to the appliance; try again.", http.StatusServiceUnavailable)
		return
	}
	redirectNotice(w, r, "/calls/in-progress", "End sent to "+call.ApplianceID+" for the call on "+call.Terminal+
		"; it leaves this list when the appliance reports the call ended.")
}
