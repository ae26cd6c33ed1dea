// Package health serves a process's operational endpoints, the same way
// for the appliance and central: /metrics in Prometheus's text format from
// the process's own registry (never the global one, so tests can build two
// processes in one binary), /healthz (the process answers) and /readyz
// (every readiness check passes: 503 naming the first that fails).
//
// Metrics are registered by the packages that own what they measure, on the
// Registry they are given; the Go runtime's and the process's collectors
// are registered by New.
package health

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check reports whether one thing the process needs is ready (nil) or why
// not.
type Check func(ctx context.Context) error

// Server holds a process's registry and readiness checks.
type Server struct {
	// Registry is where the process's metrics are registered.
	Registry *prometheus.Registry

	mu     sync.Mutex
	checks map[string]Check
}

// New returns a Server whose registry has the Go runtime and process
// collectors.
func New() *Server {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &Server{Registry: r, checks: map[string]Check{}}
}

// Ready adds (or replaces) the readiness check called name.
func (s *Server) Ready(name string, c Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks[name] = c
}

// checkTimeout bounds each readiness check.
const checkTimeout = 2 * time.Second

// readiness runs the checks in name order; it returns the first failure's
// name and error.
func (s *Server) readiness(ctx context.Context) (string, error) {
	s.mu.Lock()
	names := make([]string, 0, len(s.checks))
	for n := range s.checks {
		names = append(names, n)
	}
	checks := make(map[string]Check, len(s.checks))
	for n, c := range s.checks {
		checks[n] = c
	}
	s.mu.Unlock()
	sort.Strings(names)
	for _, n := range names {
		cctx, cancel := context.WithTimeout(ctx, checkTimeout)
		err := checks[n](cctx)
		cancel()
		if err != nil {
			return n, err
		}
	}
	return "", nil
}

// Handler serves /metrics, /healthz and /readyz.
func (s *Server) Handler() http.Handler {
	m := http.NewServeMux()
	m.Handle("GET /metrics", promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{}))
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	m.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if name, err := s.readiness(r.Context()); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "not ready: %s: %v\n", name, err)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return m
}
