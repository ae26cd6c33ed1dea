package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/cardreader"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/wire"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func httpGet(url string) (int, string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// metrics.listen serves /metrics, /healthz and /readyz while Run runs:
// ready with the broker unreachable (offline-first), not ready while a
// card reader is down; decisions are counted by reason; the listener
// closes with Run.
func TestMetricsEndpointServedAndStopped(t *testing.T) {
	addr := freeAddr(t)
	s, _ := newSystem(t, fmt.Sprintf("metrics: {listen: '%s'}\n", addr), Deps{Stater: roomy()})
	base := "http://" + addr
	if code, body, _ := httpGetHandler(s, "/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "sip") {
		t.Fatalf("/readyz before Run: %d %q", code, body)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(cancel)
	testkit.EventuallyNil(t, waitLong, "/readyz 200 with the broker unreachable", func() error {
		code, body, err := httpGet(base + "/readyz")
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("%d %s", code, body)
		}
		return err
	})
	if code, _, err := httpGet(base + "/healthz"); err != nil || code != http.StatusOK {
		t.Fatalf("/healthz %d %v", code, err)
	}
	dial(s, "ok-1", numRecorded)
	dial(s, "refused-1", "+449999999")
	testkit.EventuallyNil(t, waitLong, "the decisions and the refused connections on /metrics", func() error {
		_, body, err := httpGet(base + "/metrics")
		if err != nil {
			return err
		}
		for _, want := range []string{
			"kinline_appliance_call_attempts_total 2\n",
			`kinline_appliance_call_refusals_total{reason="number_not_approved"} 1` + "\n",
			"kinline_appliance_calls_up 1\n",
			"kinline_appliance_mqtt_connected 0\n",
			"kinline_appliance_outbox_events ",
			"kinline_appliance_rtp_packets_relayed_total 0\n",
			"kinline_appliance_recordings_disk_free_bytes 5.36870912e+10\n",
			`kinline_appliance_trunk_up{trunk="trunk"} 1` + "\n",
			"kinline_appliance_sip_requests_shed_total 0\n",
			"kinline_appliance_sip_transactions ",
		} {
			if !strings.Contains(body, want) {
				return fmt.Errorf("no %q in\n%s", want, body)
			}
		}
		if strings.Contains(body, `kinline_appliance_mqtt_connection_failures_total{cause="refused"} 0`) {
			return fmt.Errorf("no refused connection counted yet")
		}
		return nil
	})

	s.readerAlarm(wire.Alarm{Code: cardreader.AlarmReaderDown, Source: "r1", Message: "gone"})
	if code, body, _ := httpGet(base + "/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "readers: card readers down: r1") {
		t.Fatalf("/readyz with a reader down: %d %q", code, body)
	}
	s.readerAlarm(wire.Alarm{Code: cardreader.AlarmReaderDown, Source: "r1", Cleared: true})
	if code, body, _ := httpGet(base + "/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz with the reader back: %d %q", code, body)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(waitLong):
		t.Fatal("Run did not return")
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatal("the metrics endpoint still listens after Run returned")
	}
}

// httpGetHandler asks s's handler without a listener.
func httpGetHandler(s *System, path string) (int, string, error) {
	srv := &http.Server{Handler: s.Health.Handler()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, "", err
	}
	go srv.Serve(ln)
	defer srv.Close()
	return httpGet("http://" + ln.Addr().String() + path)
}

// A metrics.listen that cannot be bound is logged; the appliance runs.
func TestMetricsListenBusyDoesNotStopTheAppliance(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	var logs syncBuf
	s, _ := newSystemLog(t, fmt.Sprintf("metrics: {listen: '%s'}\n", busy.Addr()), Deps{Stater: roomy()},
		slog.New(slog.NewTextHandler(io.MultiWriter(&logs, t.Output()), nil)))
	run(t, s)
	testkit.Eventually(t, waitLong, "SIP serving", s.Calls.Serving)
	testkit.Eventually(t, waitLong, "the busy port logged", func() bool {
		return strings.Contains(logs.String(), `msg="metrics endpoint not served: metrics.listen cannot be bound"`)
	})
	if res := dial(s, "ok-1", numRecorded); !res.Allowed {
		t.Fatalf("call refused with the metrics port busy: %+v", res)
	}
}

// syncBuf is a buffer safe for concurrent writes.
type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuf) Write(p []byte) (int, error) { b.mu.Lock(); defer b.mu.Unlock(); return b.b.Write(p) }

func (b *syncBuf) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.b.String() }
