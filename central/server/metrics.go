package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kinline/kinline/central/store"
)

// Metrics read from the store at each scrape (storeCollector).
var (
	descInProgress = prometheus.NewDesc("kinline_central_calls_in_progress",
		"Calls up now, as the appliances reported them.", nil, nil)
	descCalls = prometheus.NewDesc("kinline_central_calls_total",
		"Call records ingested (projected) since start, by disposition and, for refusals, reason (other: not a known value).",
		[]string{"disposition", "reason"}, nil)
	descBacklog = prometheus.NewDesc("kinline_central_projection_backlog_events",
		"Events stored and acknowledged but not yet projected into the calls and the rest the console reads.", nil, nil)
	descAppliances = prometheus.NewDesc("kinline_central_appliances",
		"Appliances central knows, by state: online when heard from (a heartbeat every 15 s while connected) within the last minute.", []string{"state"}, nil)
	descLastSeen = prometheus.NewDesc("kinline_central_appliance_last_seen_timestamp_seconds",
		"When each known appliance was last heard from (absent until it is).", []string{"appliance"}, nil)
	descStoreUp = prometheus.NewDesc("kinline_central_store_up",
		"1 when the store answered this scrape's queries, else 0.", nil, nil)
)

// scrapeTimeout bounds the store's queries of one scrape.
const scrapeTimeout = 5 * time.Second

// storeCollector reads the store's state at each scrape: cheap queries
// (the appliances, the calls in progress) and the event log's counters.
type storeCollector struct {
	st  *store.Store
	log *slog.Logger
}

func (c storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descInProgress, descCalls, descBacklog, descAppliances, descLastSeen, descStoreUp} {
		ch <- d
	}
}

func (c storeCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descBacklog, prometheus.GaugeValue, float64(c.st.ProjectionBacklog()))
	for k, n := range c.st.CallsProjected() {
		ch <- prometheus.MustNewConstMetric(descCalls, prometheus.CounterValue, float64(n), k.Disposition, k.Reason)
	}
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	up := 1.0
	if calls, err := c.st.CallsInProgress(ctx, store.InProgressFilter{WithHidden: true}); err != nil {
		c.log.Warn("metrics: calls in progress not read", "err", err)
		up = 0
	} else {
		ch <- prometheus.MustNewConstMetric(descInProgress, prometheus.GaugeValue, float64(len(calls)))
	}
	if apps, err := c.st.Appliances(ctx); err != nil {
		c.log.Warn("metrics: appliances not read", "err", err)
		up = 0
	} else {
		online := 0
		for _, a := range apps {
			if a.Online {
				online++
			}
			if a.LastSeen != nil {
				ch <- prometheus.MustNewConstMetric(descLastSeen, prometheus.GaugeValue, float64(a.LastSeen.UnixNano())/1e9, a.ID)
			}
		}
		ch <- prometheus.MustNewConstMetric(descAppliances, prometheus.GaugeValue, float64(online), "online")
		ch <- prometheus.MustNewConstMetric(descAppliances, prometheus.GaugeValue, float64(len(apps)-online), "offline")
	}
	ch <- prometheus.MustNewConstMetric(descStoreUp, prometheus.GaugeValue, up)
}

// httpMetrics times the console's and the API's requests by route pattern
// (the ServeMux pattern that matched, never the raw path: the label set is
// bounded by the code) and status class.
type httpMetrics struct {
	dur *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) (*httpMetrics, error) {
	m := &httpMetrics{dur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "kinline_central_http_request_duration_seconds",
		Help:    "Console and API requests by route pattern (unmatched: no route) and status class (2xx ... 5xx).",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"route", "code"})}
	if err := reg.Register(m.dur); err != nil {
		return nil, err
	}
	return m, nil
}

// wrap times next. ServeMux sets r.Pattern on the request it is handed,
// which api.Server and the console's handler pass on as they are.
func (m *httpMetrics) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			m.dur.WithLabelValues(route, statusClass(sw.status)).Observe(time.Since(start).Seconds())
		}()
		next.ServeHTTP(sw, r)
	})
}

func statusClass(code int) string {
	if code == 0 {
		code = http.StatusOK // nothing written: net/http answers 200
	}
	if code < 100 || code > 599 {
		return "other"
	}
	return strconv.Itoa(code/100) + "xx"
}

// statusWriter records the status a handler wrote. Unwrap lets
// http.ResponseController reach the connection's own writer.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush passes a flush on when the writer beneath can.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// errNotConnected is the MQTT readiness check's failure.
var errNotConnected = errors.New("central's ingest client is not connected to the broker")

// setupHealth registers the store's metrics and the readiness checks on
// s.Health and binds metrics_listen (when set). Ingest's and the HTTP
// side's metrics are registered where they are built (New).
func (s *Server) setupHealth() error {
	if err := s.Health.Registry.Register(storeCollector{st: s.Store, log: s.Log}); err != nil {
		return fmt.Errorf("server: metrics: %w", err)
	}
	if b := s.Broker; b != nil {
		connected := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kinline_central_appliances_connected",
			Help: "Clients connected to the embedded broker now, central's own excepted (absent with an external broker)."},
			func() float64 { return float64(b.AppliancesConnected()) })
		if err := s.Health.Registry.Register(connected); err != nil {
			return fmt.Errorf("server: metrics: %w", err)
		}
	}
	s.Health.Ready("store", s.Store.Ping)
	s.Health.Ready("mqtt", func(context.Context) error {
		if !s.Ingest.Connected() {
			return errNotConnected
		}
		return nil
	})
	if s.Config.MetricsListen == "" {
		return nil
	}
	ln, err := net.Listen("tcp", s.Config.MetricsListen)
	if err != nil {
		return fmt.Errorf("server: metrics_listen: %w", err)
	}
	s.metricsLn = ln
	s.metrics = &http.Server{Handler: s.Health.Handler(), ReadHeaderTimeout: 10 * time.Second}
	return nil
}

// MetricsAddr is the bound metrics address ("" when metrics_listen is not
// set).
func (s *Server) MetricsAddr() string {
	if s.metricsLn == nil {
		return ""
	}
	return s.metricsLn.Addr().String()
}

// serveMetrics serves the health listener until stopMetrics; its failure
// is logged, not fatal: central's work goes on without its metrics.
func (s *Server) serveMetrics() {
	if s.metrics == nil {
		return
	}
	s.metricsDone = make(chan struct{})
	go func() {
		defer close(s.metricsDone)
		if err := s.metrics.Serve(s.metricsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.Log.Error("metrics listener stopped", "err", err)
		}
	}()
}

// stopMetrics shuts the health listener down (before the parts its
// collectors read stop) and waits for it.
func (s *Server) stopMetrics(ctx context.Context) {
	if s.metrics == nil {
		return
	}
	if err := s.metrics.Shutdown(ctx); err != nil {
		s.Log.Warn("metrics: shutdown incomplete, closing the connections left", "err", err)
		s.metrics.Close()
	}
	if s.metricsDone != nil {
		<-s.metricsDone
	}
}
