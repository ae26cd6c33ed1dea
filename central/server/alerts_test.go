package server

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"gopkg.in/yaml.v3"

	"github.com/kinline/kinline/central/config"
	"github.com/kinline/kinline/internal/testkit"
)

// alertRules is the shape of a Prometheus rules file.
type alertRules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

var centralMetric = regexp.MustCompile(`kinline_central_[a-z0-9_]+`)

// TestAlertRulesNameExportedMetrics parses docs/alerts/central.rules.yml
// and checks that every kinline_central_ metric its expressions name is
// one a running central exports (scraped after an appliance's batch and a
// console request, so that every family has a series), and that the rules
// cover what the deployer must hear of. It also sees appliances connected
// to the embedded broker counted, central's own client not among them.
func TestAlertRulesNameExportedMetrics(t *testing.T) {
	data, err := os.ReadFile("../../docs/alerts/central.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rules alertRules
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&rules); err != nil {
		t.Fatalf("central.rules.yml: %v", err)
	}
	named := map[string][]string{}
	alerts := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Expr == "" || r.Labels["severity"] == "" {
				t.Errorf("rule %+v: alert, expr and a severity label are required", r)
			}
			if r.For != "" {
				if _, err := time.ParseDuration(r.For); err != nil {
					t.Errorf("%s: for %q: %v", r.Alert, r.For, err)
				}
			}
			alerts[r.Alert] = true
			for _, m := range centralMetric.FindAllString(r.Expr, -1) {
				named[m] = append(named[m], r.Alert)
			}
		}
	}
	for _, a := range []string{"KinlineCentralNotReady", "KinlineApplianceNotSeen", "KinlineProjectionLagGrowing", "KinlineIngestRefusals", "KinlineHTTP5xx"} {
		if !alerts[a] {
			t.Errorf("no alert %s", a)
		}
	}
	if len(named) == 0 {
		t.Fatal("the rules name no kinline_central_ metric")
	}

	s := runEmbedded(t)
	connected := func(n float64) func() bool {
		return func() bool { v, _ := scrape(t, s.MetricsAddr()); return v["kinline_central_appliances_connected"] == n }
	}
	testkit.Eventually(t, 20*time.Second, "no appliance connected (central's own client is not one)", connected(0))
	app := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + s.Broker.Addr()).SetClientID("appA").
		SetUsername("appA").SetPassword("password-a").SetAutoReconnect(false))
	if tok := app.Connect(); !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
		t.Fatalf("appliance connect: %v", tok.Error())
	}
	testkit.Eventually(t, 20*time.Second, "appA connected", connected(1))
	app.Disconnect(50)
	testkit.Eventually(t, 20*time.Second, "appA gone", connected(0))
	publishCalls(t, "tcp://"+s.Broker.Addr(), "appA", "password-a")
	testkit.Eventually(t, 20*time.Second, "the calls counted", func() bool {
		v, _ := scrape(t, s.MetricsAddr())
		return v[`kinline_central_calls_total{disposition="completed",reason=""}`] == 1
	})
	get(t, "http://"+s.HTTPAddr()+"/login")
	_, families := scrape(t, s.MetricsAddr())
	for m, by := range named {
		f := m
		for _, suffix := range []string{"_bucket", "_count", "_sum"} {
			if base, ok := strings.CutSuffix(m, suffix); ok && families[base] {
				f = base
			}
		}
		if !families[f] {
			t.Errorf("%s (in %s) is not exported by central", m, strings.Join(by, ", "))
		}
	}
}

// runEmbedded runs central with its embedded broker, its metrics on a free
// port and appliance appA (password "password-a") in block A.
func runEmbedded(t *testing.T) *Server {
	t.Helper()
	cfg := &config.Config{HTTPListen: "127.0.0.1:0", MetricsListen: "127.0.0.1:0", DataDir: filepath.Join(t.TempDir(), "data"),
		MQTT:       config.MQTT{Listen: "127.0.0.1:0"},
		Appliances: []config.Appliance{{ID: "appA", Block: "A", Password: "password-a"}}}
	cfg.Defaults()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := New(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-s.Ingest.Ready():
	case <-time.After(20 * time.Second):
		t.Fatal("ingest not ready")
	}
	return s
}
