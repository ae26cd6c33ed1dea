package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kinline/kinline/appliance/cardreader"
	"github.com/kinline/kinline/shared/health"
	"github.com/kinline/kinline/shared/policy"
	"github.com/kinline/kinline/shared/wire"
)

// refusalReasons are the refusals counted under their own label (their
// sentinel's text in snake case); any other is "other", so the label's
// values stay a fixed set.
var refusalReasons = []error{
	policy.ErrUnknownCard, policy.ErrNoTap, policy.ErrNotApproved, policy.ErrInactive, policy.ErrNoPolicy,
	policy.ErrInvalidNumber, policy.ErrUnknownTerminal, policy.ErrNotConfirmed, policy.ErrOfficerRefused,
	policy.ErrPanelUnavailable, policy.ErrOutsideSchedule, policy.ErrQuotaExceeded, policy.ErrInsufficientBalance,
	policy.ErrNumberBlocked, policy.ErrNoRate, policy.ErrBadPIN, policy.ErrPINLocked, policy.ErrStorageFull,
	policy.ErrLockdown,
}

// reasonLabel is the refusal label of err.
func reasonLabel(err error) string {
	for _, r := range refusalReasons {
		if errors.Is(err, r) {
			return strings.ReplaceAll(r.Error(), " ", "_")
		}
	}
	return "other"
}

// dispositions are the call record dispositions counted under their own
// label; any other is "other".
var dispositions = []string{wire.DispCompleted, wire.DispRefused, wire.DispBusy, wire.DispNoAnswer, wire.DispRejected,
	wire.DispFailed, wire.DispCancelled, wire.DispLimited, wire.DispEnded, wire.DispRestarted}

// callMetrics count the calls the daemon decides and records.
type callMetrics struct {
	attempts prometheus.Counter
	refusals *prometheus.CounterVec
	ended    *prometheus.CounterVec
}

// newHealth builds the operational endpoint's server: every part's
// metrics and the readiness checks (docs/decisions/0034). The sync
// client registers its own when it is made.
func (s *System) newHealth() error {
	h := health.New()
	s.Health = h
	m := &callMetrics{
		attempts: prometheus.NewCounter(prometheus.CounterOpts{Name: "kinline_appliance_call_attempts_total",
			Help: "Calls the appliance decided (allowed or refused)."}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kinline_appliance_call_refusals_total",
			Help: "Calls refused by the appliance's authorization, by reason."}, []string{"reason"}),
		ended: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kinline_appliance_calls_ended_total",
			Help: "Calls ended, by disposition (refused attempts included, also those a refusal flood only counts)."}, []string{"disposition"}),
	}
	for _, r := range refusalReasons {
		m.refusals.WithLabelValues(reasonLabel(r))
	}
	m.refusals.WithLabelValues("other")
	for _, d := range dispositions {
		m.ended.WithLabelValues(d)
	}
	up := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kinline_appliance_calls_up",
		Help: "Calls allowed and not yet ended (ringing, waiting for acceptance or bridged)."},
		func() float64 { return float64(s.live.len()) })
	for _, c := range []prometheus.Collector{m.attempts, m.refusals, m.ended, up} {
		if err := h.Registry.Register(c); err != nil {
			return fmt.Errorf("daemon: metrics: %w", err)
		}
	}
	s.metrics = m
	if err := s.Store.RegisterMetrics(h.Registry); err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	if err := s.Calls.RegisterMetrics(h.Registry); err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	if err := s.Media.RegisterMetrics(h.Registry); err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	if err := s.Disk.RegisterMetrics(h.Registry); err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	s.readiness(h)
	return nil
}

// readiness adds the checks of /readyz: the store answers, the SIP
// listener serves and no card reader is down. The broker is not one of
// them: the block works with the WAN down (docs/decisions/0034).
func (s *System) readiness(h *health.Server) {
	h.Ready("store", func(context.Context) error {
		_, err := s.Store.Acked()
		return err
	})
	h.Ready("sip", func(context.Context) error {
		if s.Calls == nil || !s.Calls.Serving() {
			return errors.New("SIP listener not serving")
		}
		return nil
	})
	h.Ready("readers", func(context.Context) error {
		if down := s.readers.down(); len(down) > 0 {
			return fmt.Errorf("card readers down: %s", strings.Join(down, ", "))
		}
		return nil
	})
}

// countDecision counts one authorization decision.
func (m *callMetrics) countDecision(allowed bool, err error) {
	if m == nil {
		return
	}
	m.attempts.Inc()
	if !allowed {
		m.refusals.WithLabelValues(reasonLabel(err)).Inc()
	}
}

// countEnded counts one call record.
func (m *callMetrics) countEnded(disposition string) {
	if m == nil {
		return
	}
	for _, d := range dispositions {
		if d == disposition {
			m.ended.WithLabelValues(d).Inc()
			return
		}
	}
	m.ended.WithLabelValues("other").Inc()
}

// readerStates tracks which card readers have a reader_down alarm
// raised and not cleared.
type readerStates struct {
	mu   sync.Mutex
	gone map[string]bool
}

// alarm takes a reader's alarm.
func (r *readerStates) alarm(a wire.Alarm) {
	if a.Code != cardreader.AlarmReaderDown {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gone == nil {
		r.gone = map[string]bool{}
	}
	if a.Cleared {
		delete(r.gone, a.Source)
	} else {
		r.gone[a.Source] = true
	}
}

// down lists the readers down.
func (r *readerStates) down() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for name := range r.gone {
		out = append(out, name)
	}
	return out
}

// metricsShutdownTimeout bounds the wait for scrapes in progress at
// shutdown.
const metricsShutdownTimeout = 2 * time.Second

// serveHealth serves the endpoint on metrics.listen until ctx is done.
// A listener that cannot be bound is logged, not fatal: the block's calls
// matter more than its metrics.
func (s *System) serveHealth(ctx context.Context) {
	addr := s.Config.Metrics.Listen
	if addr == "" {
		return
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		s.Log.Error("metrics endpoint not served: metrics.listen cannot be bound", "addr", addr, "err", err)
		return
	}
	srv := &http.Server{Handler: s.Health.Handler(), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), metricsShutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			srv.Close()
		}
	}()
	s.Log.Info("metrics endpoint listening", "addr", ln.Addr().String(), "paths", "/metrics /healthz /readyz")
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.Log.Error("metrics endpoint stopped", "err", err)
	}
	<-done
}
