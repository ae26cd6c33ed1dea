package trunks_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/callctl/trunks"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/clock"
)

func table(t *testing.T, cfg trunks.Config) *trunks.Table {
	t.Helper()
	tb, err := trunks.New(cfg, clock.NewFake(time.Unix(0, 0)), nil)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func TestRoutePicksLongestPrefixThenType(t *testing.T) {
	tb := table(t, trunks.Config{
		Trunks: []trunks.Trunk{{Name: "a", Address: "10.0.0.1:5060"}, {Name: "b", Address: "10.0.0.2:5060"}, {Name: "mob", Address: "10.0.0.3:5060"}, {Name: "intl", Address: "10.0.0.4:5060"}},
		Routes: []trunks.Route{
			{Trunks: []string{"a", "b"}},                              // catch-all
			{Types: []string{"mobile"}, Trunks: []string{"mob", "a"}}, // mobiles anywhere
			{Prefix: "+", Trunks: []string{"intl", "b"}},              // international
			{Prefix: "+44", Trunks: []string{"a"}},                    // the UK, dialled as international
			{Prefix: "+44", Types: []string{"mobile"}, Trunks: []string{"mob"}},
		},
	})
	for _, c := range []struct {
		num, typ string
		want     []string
	}{
		{"0611223344", "", []string{"a", "b"}},
		{"0611223344", "national", []string{"a", "b"}},
		{"0711223344", "mobile", []string{"mob", "a"}},
		{"+34911223344", "international", []string{"intl", "b"}},
		{"0034911223344", "international", []string{"intl", "b"}}, // normalized as rates are
		{"+34611223344", "mobile", []string{"intl", "b"}},         // the longer prefix wins over the type
		{"+442079460001", "international", []string{"a"}},
		{"+447700900001", "mobile", []string{"mob"}}, // same prefix: the typed route wins
		{"*31#0611", "", []string{"a", "b"}},         // a number that does not normalize matches as dialled
	} {
		got, err := tb.Route(c.num, c.typ)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("Route(%q, %q) = %v, %v; want %v", c.num, c.typ, got, err, c.want)
		}
	}
}

func TestRouteNone(t *testing.T) {
	tb := table(t, trunks.Config{
		Trunks: []trunks.Trunk{{Name: "a", Address: "10.0.0.1:5060"}},
		Routes: []trunks.Route{{Prefix: "+", Trunks: []string{"a"}}, {Types: []string{"mobile"}, Trunks: []string{"a"}}},
	})
	if got, err := tb.Route("0611223344", "national"); !errors.Is(err, trunks.ErrNoRoute) {
		t.Fatalf("Route = %v, %v; want ErrNoRoute", got, err)
	}
}

func TestDefaultsOneCatchAllRouteInOrder(t *testing.T) {
	cfg := trunks.Config{Trunks: []trunks.Trunk{{Name: "x", Address: "10.0.0.1:5060"}, {Name: "y", Address: "10.0.0.2:5061", Transport: "TCP"}}}.WithDefaults()
	if len(cfg.Routes) != 1 || cfg.Routes[0].Prefix != "" || !slices.Equal(cfg.Routes[0].Trunks, []string{"x", "y"}) {
		t.Fatalf("routes = %+v", cfg.Routes)
	}
	x, y := cfg.Trunks[0], cfg.Trunks[1]
	if x.Transport != "udp" || x.Domain != x.Address || x.Timeout != trunks.DefaultTimeout || x.DownAfter != trunks.DefaultDownAfter || x.MaxCalls != 0 || x.KeepAlive != 0 {
		t.Errorf("defaults = %+v", x)
	}
	if y.Transport != "tcp" || !cfg.UsesTCP() {
		t.Errorf("tcp trunk = %+v (UsesTCP %v)", y, cfg.UsesTCP())
	}
}

func TestValidate(t *testing.T) {
	good := trunks.Trunk{Name: "a", Address: "10.0.0.1:5060"}
	for name, cfg := range map[string]trunks.Config{
		"no trunk":         {},
		"bad name":         {Trunks: []trunks.Trunk{{Name: "a b", Address: "10.0.0.1:5060"}}},
		"duplicate":        {Trunks: []trunks.Trunk{good, good}},
		"bad address":      {Trunks: []trunks.Trunk{{Name: "a", Address: "10.0.0.1"}}},
		"bad transport":    {Trunks: []trunks.Trunk{{Name: "a", Address: "10.0.0.1:5060", Transport: "sctp"}}},
		"negative limit":   {Trunks: []trunks.Trunk{{Name: "a", Address: "10.0.0.1:5060", MaxCalls: -1}}},
		"fast keepalive":   {Trunks: []trunks.Trunk{{Name: "a", Address: "10.0.0.1:5060", KeepAlive: time.Millisecond}}},
		"unknown trunk":    {Trunks: []trunks.Trunk{good}, Routes: []trunks.Route{{Trunks: []string{"b"}}}},
		"route no trunk":   {Trunks: []trunks.Trunk{good}, Routes: []trunks.Route{{Prefix: "+"}}},
		"trunk twice":      {Trunks: []trunks.Trunk{good}, Routes: []trunks.Route{{Trunks: []string{"a", "a"}}}},
		"bad prefix":       {Trunks: []trunks.Trunk{good}, Routes: []trunks.Route{{Prefix: "00", Trunks: []string{"a"}}}},
		"bad prefix chars": {Trunks: []trunks.Trunk{good}, Routes: []trunks.Route{{Prefix: "4a", Trunks: []string{"a"}}}},
		"bad type":         {Trunks: []trunks.Trunk{good}, Routes: []trunks.Route{{Types: []string{"premium"}, Trunks: []string{"a"}}}},
	} {
		if _, err := trunks.New(cfg, nil, nil); !errors.Is(err, trunks.ErrConfig) {
			t.Errorf("%s: New = %v, want ErrConfig", name, err)
		}
	}
}

func TestFailover(t *testing.T) {
	for code, want := range map[int]bool{500: true, 502: true, 503: true, 504: true, 599: true, 404: false, 408: false, 480: false, 486: false, 487: false, 603: false, 200: false, 180: false} {
		if trunks.Failover(code) != want {
			t.Errorf("Failover(%d) = %v", code, !want)
		}
	}
}

func TestAcquireRespectsMaxCalls(t *testing.T) {
	tb := table(t, trunks.Config{Trunks: []trunks.Trunk{{Name: "a", Address: "10.0.0.1:5060", MaxCalls: 2}, {Name: "b", Address: "10.0.0.2:5060"}}})
	l1, err := tb.Acquire("a")
	if err != nil {
		t.Fatal(err)
	}
	l2, err := tb.Acquire("a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Acquire("a"); !errors.Is(err, trunks.ErrFull) {
		t.Fatalf("third call on a 2-call trunk: %v, want ErrFull", err)
	}
	if tb.Available("a") || !tb.Available("b") {
		t.Fatalf("Available a=%v b=%v", tb.Available("a"), tb.Available("b"))
	}
	l1.Release()
	l1.Release() // a second Release must not free another call's slot
	if st := tb.Status(); st[0].Active != 1 {
		t.Fatalf("status after releases = %+v", st)
	}
	l3, err := tb.Acquire("a")
	if err != nil {
		t.Fatalf("slot not freed: %v", err)
	}
	if _, err := tb.Acquire("a"); !errors.Is(err, trunks.ErrFull) {
		t.Fatalf("double release freed a slot: %v", err)
	}
	l2.Release()
	l3.Release()
	if _, err := tb.Acquire("nope"); !errors.Is(err, trunks.ErrUnknown) {
		t.Fatalf("unknown trunk: %v", err)
	}
	for range 100 { // no limit on b
		if _, err := tb.Acquire("b"); err != nil {
			t.Fatal(err)
		}
	}
}

// fakePinger answers each trunk's OPTIONS as told: a status, or no answer
// (it waits for the probe's deadline).
type fakePinger struct {
	mu     sync.Mutex
	answer map[string]int // 0: no answer
	sent   chan string
}

func (p *fakePinger) set(name string, code int) {
	p.mu.Lock()
	p.answer[name] = code
	p.mu.Unlock()
}

func (p *fakePinger) Ping(ctx context.Context, tr trunks.Trunk) (int, error) {
	p.mu.Lock()
	code := p.answer[tr.Name]
	p.mu.Unlock()
	p.sent <- tr.Name
	if code == 0 {
		<-ctx.Done()
		return 0, ctx.Err()
	}
	return code, nil
}

func up(tb *trunks.Table, name string) bool {
	for _, s := range tb.Status() {
		if s.Name == name {
			return s.Up
		}
	}
	return false
}

// TestKeepAliveMarksDownAndUp: with the injected clock, a trunk whose
// OPTIONS go unanswered is down after DownAfter probes (each bounded by
// Timeout) and skipped by Acquire; the first answered probe brings it
// back. A 5xx answer counts as a failure, a 4xx as alive. A trunk without
// KeepAlive is never probed.
func TestKeepAliveMarksDownAndUp(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	tb, err := trunks.New(trunks.Config{Trunks: []trunks.Trunk{
		{Name: "dead", Address: "10.0.0.1:5060", KeepAlive: 30 * time.Second, Timeout: 2 * time.Second, DownAfter: 2},
		{Name: "quiet", Address: "10.0.0.2:5060"},
	}}, clk, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := &fakePinger{answer: map[string]int{}, sent: make(chan string, 16)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { tb.KeepAlive(ctx, p); close(done) }()
	defer func() {
		cancel()
		<-done
	}()
	next := func() string {
		t.Helper()
		select {
		case n := <-p.sent:
			return n
		case <-time.After(20 * time.Second):
			t.Fatal("no keep-alive sent")
			return ""
		}
	}
	// Probe 1 at once: unanswered; after Timeout it fails, still up (1 of 2).
	if n := next(); n != "dead" {
		t.Fatalf("probed %q", n)
	}
	testkit.Eventually(t, waitLong, "probe 1's timer", func() bool { return clk.Pending() >= 1 })
	clk.Advance(2 * time.Second)
	testkit.Eventually(t, waitLong, "probe 1 to end (interval timer armed)", func() bool { return clk.Pending() >= 1 })
	if !up(tb, "dead") || !tb.Available("dead") {
		t.Fatal("down after a single failed keep-alive")
	}
	// Probe 2, after the interval: unanswered again: down.
	clk.Advance(30 * time.Second)
	next()
	testkit.Eventually(t, waitLong, "probe 2's timer", func() bool { return clk.Pending() >= 1 })
	clk.Advance(2 * time.Second)
	testkit.Eventually(t, waitLong, "down after 2 failures", func() bool { return !up(tb, "dead") })
	if _, err := tb.Acquire("dead"); !errors.Is(err, trunks.ErrDown) {
		t.Fatalf("Acquire on a down trunk: %v", err)
	}
	// A 503 answer is no better.
	p.set("dead", 503)
	testkit.Eventually(t, waitLong, "interval timer", func() bool { return clk.Pending() >= 1 })
	clk.Advance(30 * time.Second)
	next()
	testkit.Eventually(t, waitLong, "interval timer after the 503", func() bool { return clk.Pending() >= 1 })
	if up(tb, "dead") {
		t.Fatal("a 503 to OPTIONS brought the trunk up")
	}
	// A 404 (a carrier that does not implement OPTIONS) is an answer: up.
	p.set("dead", 404)
	clk.Advance(30 * time.Second)
	next()
	testkit.Eventually(t, waitLong, "up after an answer", func() bool { return up(tb, "dead") })
	if _, err := tb.Acquire("dead"); err != nil {
		t.Fatalf("Acquire after recovery: %v", err)
	}
	select {
	case n := <-p.sent:
		t.Fatalf("unexpected probe of %q", n)
	default:
	}
}

// waitLong bounds a wait for something the test has set in motion.
const waitLong = 20 * time.Second
