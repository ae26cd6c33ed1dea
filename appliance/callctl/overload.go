package callctl

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Load shedding (issue 11 item 6). What an offered SIP rate can make the
// appliance hold is bounded here:
//
//   - Challenges (401/407), refusals before a call exists (403 for wrong
//     credentials, 400, 481, ...) and this 503 are sent statelessly
//     (Server.respondStateless): their transactions end with the answer,
//     so an unanswered one is neither kept for Timer H (32 s) nor
//     retransmitted.
//   - A transaction answered statefully (an authenticated INVITE, from
//     which a call starts; an accepted REGISTER, whose 200 a port may need
//     again) is admitted by txGate first: at most Config.MaxTransactions at
//     once, and at most Config.MaxTransactionsPerTerminal for one port.
//     Past either limit the request gets 503 Service Unavailable with
//     Retry-After, statelessly, before anything is kept for it; while
//     the total limit is reached, requests without credentials get the
//     503 instead of a challenge (which would only bring their ACK and a
//     second request to shed).
//   - A refused INVITE's transaction ends when its ACK arrives instead of
//     absorbing ACK retransmissions for Timer I (5 s), so the limit is
//     what is in flight, not what happened in the last seconds.

// txGate counts the stateful server transactions in flight, in total and
// by terminal.
type txGate struct {
	max, perTerminal int

	mu    sync.Mutex
	total int
	by    map[string]int
	// shed counts the requests refused with 503.
	shed atomic.Uint64
}

func newTxGate(max, perTerminal int) *txGate {
	return &txGate{max: max, perTerminal: perTerminal, by: map[string]int{}}
}

// admit takes a place for terminal, reporting false if either limit is
// reached.
func (g *txGate) admit(terminal string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.total >= g.max || g.by[terminal] >= g.perTerminal {
		return false
	}
	g.total++
	g.by[terminal]++
	return true
}

// full reports whether the total limit is reached.
func (g *txGate) full() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.total >= g.max
}

// release gives terminal's place back.
func (g *txGate) release(terminal string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.total--
	if g.by[terminal]--; g.by[terminal] <= 0 {
		delete(g.by, terminal)
	}
}

// Load is what the server holds for SIP requests at a moment.
type Load struct {
	// Transactions is the stateful server transactions in flight (at most
	// Config.MaxTransactions).
	Transactions int
	// Shed is the requests answered 503 for want of room since the start.
	Shed uint64
}

// Load reports the transactions in flight and the requests shed.
func (s *Server) Load() Load {
	s.gate.mu.Lock()
	defer s.gate.mu.Unlock()
	return Load{Transactions: s.gate.total, Shed: s.gate.shed.Load()}
}

// shed answers req 503 with Retry-After, statelessly, and counts it
// (terminal is "" before authentication). Overload is logged at most
// every 10 s.
func (s *Server) shed(req *sip.Request, tx sip.ServerTransaction, terminal string) {
	n := s.gate.shed.Add(1)
	now := s.clk.Now().UnixNano()
	if last := s.shedLogged.Load(); now-last >= int64(10*time.Second) && s.shedLogged.CompareAndSwap(last, now) {
		s.log.Warn("SIP overload: requests answered 503", "method", string(req.Method), "terminal", terminal,
			"source", req.Source(), "limit", s.cfg.MaxTransactions, "per_terminal", s.cfg.MaxTransactionsPerTerminal, "shed_total", n)
	}
	s.respondStateless(req, tx, sip.StatusServiceUnavailable, "Service Unavailable",
		sip.NewHeader("Retry-After", strconv.Itoa(int(s.cfg.RetryAfter/time.Second))))
}

// admit admits req's transaction for term, or answers 503 with
// Retry-After (statelessly) and reports false. An admitted request holds
// its place until both its transaction has ended (an INVITE's at its ACK
// when its final answer was not a 2xx) and its handler has called
// release (a call's record is then written): so neither transactions nor
// calls waiting for the store can pile up past the limit.
func (s *Server) admit(req *sip.Request, tx sip.ServerTransaction, term Terminal) (release func(), ok bool) {
	if !s.gate.admit(term.ID) {
		s.shed(req, tx, term.ID)
		return nil, false
	}
	var refs atomic.Int32
	refs.Store(2)
	drop := func() {
		if refs.Add(-1) == 0 {
			s.gate.release(term.ID)
		}
	}
	var once sync.Once
	release = func() { once.Do(drop) }
	if !tx.OnTerminate(func(string, error) { drop() }) {
		drop() // already ended
		return release, true
	}
	if req.IsInvite() {
		go func() {
			select {
			case <-tx.Acks():
				// The ACK of a non-2xx answer: nothing more for this
				// transaction to do (a retransmitted ACK matches none
				// and is ignored).
				tx.Terminate()
			case <-tx.Done():
			}
		}()
	}
	return release, true
}
