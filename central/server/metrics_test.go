package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/kinline/kinline/central/config"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/wire"
)

// scrape reads /metrics: every sample by its series as written
// (name{label="value",...}), and the metric families named by # TYPE.
func scrape(t *testing.T, addr string) (map[string]float64, map[string]bool) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("scrape: %s", resp.Status)
	}
	samples, families := map[string]float64{}, map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if f, ok := strings.CutPrefix(l, "# TYPE "); ok {
			families[strings.Fields(f)[0]] = true
			continue
		}
		if l == "" || l[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err != nil {
			t.Fatalf("scrape: line %q: %v", l, err)
		}
		samples[l[:i]] = v
	}
	return samples, families
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// callEvent is an event of appliance appA carrying a call record.
func callEvent(seq uint64, prev, callID, disposition, reason string) wire.Event {
	now := time.Now().UTC().Truncate(time.Millisecond)
	c := wire.CallRecord{CallID: callID, Terminal: "t1", Number: "+15550100", Start: now.Add(-time.Minute), End: now, Disposition: disposition, Reason: reason}
	p, _ := json.Marshal(c)
	ev := wire.Event{ApplianceID: "appA", Seq: seq, Time: now, Type: wire.EventCall, Payload: p, PrevHash: prev}
	ev.Seal()
	return ev
}

// publishCalls publishes one batch of appA with a refused call (a known
// reason), a refused call whose reason no code gives (a hostile or newer
// appliance: counted as "other"), a completed call and its status (which
// makes it seen).
func publishCalls(t *testing.T, brokerURL, user, pass string) {
	t.Helper()
	e1 := callEvent(1, "", "call-1", wire.DispRefused, "number not approved")
	e2 := callEvent(2, e1.Hash, "call-2", wire.DispRefused, "a reason <script> made up")
	e3 := callEvent(3, e2.Hash, "call-3", wire.DispCompleted, "")
	sp, _ := json.Marshal(wire.Status{Software: "test"})
	e4 := wire.Event{ApplianceID: "appA", Seq: 4, Time: time.Now().UTC(), Type: wire.EventStatus, Payload: sp, PrevHash: e3.Hash}
	e4.Seal()
	data, err := json.Marshal(&wire.Batch{V: wire.ProtocolVersion, ApplianceID: "appA", Events: []wire.Event{e1, e2, e3, e4}})
	if err != nil {
		t.Fatal(err)
	}
	app := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID("appA").
		SetUsername(user).SetPassword(pass).SetAutoReconnect(false))
	if tok := app.Connect(); !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
		t.Fatalf("appliance connect: %v", tok.Error())
	}
	defer app.Disconnect(50)
	if tok := app.Publish(wire.TopicEvents("appA"), 1, false, data); !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
}

// plainMosquitto runs a real Mosquitto on addr (anonymous, plain TCP) and
// returns a function that stops it.
func plainMosquitto(t *testing.T, bin, addr string) func() {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	conf := filepath.Join(t.TempDir(), "mosquitto.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, "listener %s %s\nallow_anonymous true\npersistence false\n", port, host), 0o644); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		os.WriteFile(conf, fmt.Appendf(nil, "user root\nlistener %s %s\nallow_anonymous true\npersistence false\n", port, host), 0o644)
	}
	cmd := exec.Command(bin, "-c", conf)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop := func() {
		cmd.Process.Kill()
		<-exited
	}
	t.Cleanup(stop)
	testkit.EventuallyNil(t, 20*time.Second, "mosquitto listening on "+addr, func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err
	})
	return stop
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestMetricsAndReadinessAgainstARealBroker: central against a real
// Mosquitto, its metrics on their own listener. A batch of three calls and a status is
// ingested while the projection fails: /metrics shows the batch, its
// events and the four events of projection backlog; once the projection
// works the backlog is 0 and the calls are counted by disposition and
// reason (an unknown reason as "other"). Requests are timed by route
// pattern, never by raw path. /readyz is 503 naming mqtt while the broker
// is down and 200 again once central has reconnected to it.
func TestMetricsAndReadinessAgainstARealBroker(t *testing.T) {
	bin := testkit.NeedPeer(t, "mosquitto", "mosquitto")
	baddr := freeAddr(t)
	stopBroker := plainMosquitto(t, bin, baddr)
	off := false
	dir := t.TempDir()
	cfg := &config.Config{HTTPListen: "127.0.0.1:0", MetricsListen: "127.0.0.1:0", DataDir: filepath.Join(dir, "data"),
		MQTT:       config.MQTT{Embedded: &off, Broker: "tcp://" + baddr},
		Appliances: []config.Appliance{{ID: "appA", Block: "A"}}}
	cfg.Defaults()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := New(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	m := "http://" + s.MetricsAddr()
	testkit.Eventually(t, 30*time.Second, "/readyz 200", func() bool { c, _ := get(t, m+"/readyz"); return c == 200 })
	if c, _ := get(t, "http://"+s.HTTPAddr()+"/metrics"); c == 200 {
		t.Fatal("/metrics served on the console's port")
	}

	fail := func() error { return fmt.Errorf("projection held by the test") }
	s.Store.SetProjectionHook(&fail)
	publishCalls(t, "tcp://"+baddr, "", "")
	testkit.Eventually(t, 20*time.Second, "the batch counted and its events in the projection backlog", func() bool {
		v, _ := scrape(t, s.MetricsAddr())
		return v["kinline_central_ingest_batches_received_total"] == 1 && v["kinline_central_ingest_events_received_total"] == 4 &&
			v["kinline_central_projection_backlog_events"] == 4
	})
	if v, _ := scrape(t, s.MetricsAddr()); v[`kinline_central_calls_total{disposition="refused",reason="number not approved"}`] != 0 {
		t.Fatal("calls counted before their projection committed")
	}
	s.Store.SetProjectionHook(nil)
	testkit.Eventually(t, 20*time.Second, "the backlog projected and the calls counted", func() bool {
		v, _ := scrape(t, s.MetricsAddr())
		return v["kinline_central_projection_backlog_events"] == 0 &&
			v[`kinline_central_calls_total{disposition="refused",reason="number not approved"}`] == 1 &&
			v[`kinline_central_calls_total{disposition="refused",reason="other"}`] == 1 &&
			v[`kinline_central_calls_total{disposition="completed",reason=""}`] == 1
	})
	checkHTTPMetrics(t, s)
	v, _ := scrape(t, s.MetricsAddr())
	if v[`kinline_central_appliance_last_seen_timestamp_seconds{appliance="appA"}`] < float64(time.Now().Add(-time.Hour).Unix()) {
		t.Fatalf("appA's last seen: %v", v[`kinline_central_appliance_last_seen_timestamp_seconds{appliance="appA"}`])
	}
	if v[`kinline_central_appliances{state="online"}`] != 1 || v["kinline_central_mqtt_connected"] != 1 || v["kinline_central_store_up"] != 1 {
		t.Fatalf("appliances online %v, mqtt connected %v, store up %v", v[`kinline_central_appliances{state="online"}`], v["kinline_central_mqtt_connected"], v["kinline_central_store_up"])
	}

	stopBroker()
	testkit.Eventually(t, 30*time.Second, "/readyz 503 naming mqtt", func() bool {
		c, body := get(t, m+"/readyz")
		return c == 503 && strings.Contains(body, "mqtt")
	})
	if v, _ := scrape(t, s.MetricsAddr()); v["kinline_central_mqtt_connected"] != 0 || v["kinline_central_mqtt_connections_lost_total"] != 1 {
		t.Fatalf("broker down: connected %v, lost %v", v["kinline_central_mqtt_connected"], v["kinline_central_mqtt_connections_lost_total"])
	}
	if c, _ := get(t, m+"/healthz"); c != 200 {
		t.Fatalf("/healthz %d while the broker is down: alive is not ready", c)
	}
	plainMosquitto(t, bin, baddr)
	testkit.Eventually(t, 30*time.Second, "/readyz 200 after the broker is back", func() bool { c, _ := get(t, m+"/readyz"); return c == 200 })
}

// checkHTTPMetrics makes requests and finds them by route pattern and
// status class; the raw paths appear nowhere.
func checkHTTPMetrics(t *testing.T, s *Server) {
	t.Helper()
	base := "http://" + s.HTTPAddr()
	for _, p := range []string{"/login", "/api/v1/inmates/p-secret-123", "/no/such/page-xyz"} {
		get(t, base+p)
	}
	v, fam := scrape(t, s.MetricsAddr())
	if !fam["kinline_central_http_request_duration_seconds"] {
		t.Fatal("no HTTP histogram")
	}
	for _, series := range []string{
		`kinline_central_http_request_duration_seconds_count{code="2xx",route="GET /login"}`,
		`kinline_central_http_request_duration_seconds_count{code="4xx",route="GET /api/v1/inmates/{id}"}`,
		`kinline_central_http_request_duration_seconds_count{code="4xx",route="unmatched"}`,
	} {
		if v[series] < 1 {
			t.Errorf("missing %s", series)
		}
	}
	for k := range v {
		if strings.Contains(k, "p-secret-123") || strings.Contains(k, "page-xyz") {
			t.Errorf("raw path in a label: %s", k)
		}
	}
}
