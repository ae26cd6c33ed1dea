package health

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

func TestMetricsServesTheRegistry(t *testing.T) {
	s := New()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "kinline_test_things_total", Help: "Things."})
	s.Registry.MustRegister(c)
	c.Add(3)
	code, body := get(t, s.Handler(), "/metrics")
	if code != 200 || !strings.Contains(body, "kinline_test_things_total 3") || !strings.Contains(body, "go_goroutines") {
		t.Fatalf("/metrics %d:\n%s", code, body)
	}
}

func TestReadinessNamesTheFailingCheck(t *testing.T) {
	s := New()
	h := s.Handler()
	if code, body := get(t, h, "/readyz"); code != 200 || body != "ready\n" {
		t.Fatalf("no checks: %d %q", code, body)
	}
	broken := errors.New("broker unreachable")
	s.Ready("store", func(context.Context) error { return nil })
	s.Ready("mqtt", func(context.Context) error { return broken })
	if code, body := get(t, h, "/readyz"); code != 503 || !strings.Contains(body, "mqtt: broker unreachable") {
		t.Fatalf("failing check: %d %q", code, body)
	}
	if code, _ := get(t, h, "/healthz"); code != 200 {
		t.Fatalf("/healthz %d while not ready: alive is not ready", code)
	}
	s.Ready("mqtt", func(context.Context) error { return nil })
	if code, _ := get(t, h, "/readyz"); code != 200 {
		t.Fatalf("after recovery: %d", code)
	}
}
