package hiltests

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kinline/kinline/internal/phone"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/tools/stack"
)

// metricsIs waits until the appliance's /metrics satisfies every want
// (sample key to a test of its value) and returns the scrape.
func metricsIs(t *testing.T, e *env, what string, want map[string]func(float64) bool) stack.Metrics {
	t.Helper()
	var m stack.Metrics
	testkit.EventuallyNil(t, time.Minute, what, func() error {
		var err error
		if m, err = e.ApplianceMetrics(e.ctx); err != nil {
			return err
		}
		for k, ok := range want {
			v, has := m[k]
			if !has {
				return fmt.Errorf("no sample %s", k)
			}
			if !ok(v) {
				return fmt.Errorf("%s = %v", k, v)
			}
		}
		return nil
	})
	return m
}

func eq(want float64) func(float64) bool { return func(v float64) bool { return v == want } }
func gt(than float64) func(float64) bool { return func(v float64) bool { return v > than } }

// TestApplianceMetrics runs the real kinline-appliance with metrics.listen
// and scrapes it: a refused and an answered call counted, RTP relayed and
// a recording written, the broker connection state going to 0 (with the
// failures counted by cause and logged) when central's broker goes away
// while the outbox holds the call made meanwhile, and back to 1 with the
// outbox drained when it returns. Readiness holds throughout: the block
// works offline. Last, every metric the example alert rules name is one
// the appliance exports.
func TestApplianceMetrics(t *testing.T) {
	family, err := phone.NewFamily(phone.FamilyConfig{RingFor: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer family.Close()
	e := newEnv(t, family.Addr().String())
	seed(t, e)
	port := newPort(t, e)

	e.tap(t, card)
	wantRefused(t, call(t, e, port, unapproved, time.Second), "number not approved")
	e.tap(t, card)
	if res := call(t, e, port, approved, 2*time.Second); !res.Answered {
		t.Fatalf("approved call: %+v", res)
	}
	metricsIs(t, e, "the calls counted", map[string]func(float64) bool{
		"kinline_appliance_call_attempts_total":                                         eq(2),
		`kinline_appliance_call_refusals_total{reason="number_not_approved"}`:           eq(1),
		`kinline_appliance_calls_ended_total{disposition="completed"}`:                  eq(1),
		`kinline_appliance_calls_ended_total{disposition="refused"}`:                    eq(1),
		"kinline_appliance_calls_up":                                                    eq(0),
		"kinline_appliance_rtp_packets_relayed_total":                                   gt(50),
		"kinline_appliance_recording_bytes_total":                                       gt(1000),
		"kinline_appliance_rtp_jitter_seconds_count":                                    gt(0),
		"kinline_appliance_mqtt_connected":                                              eq(1),
		"kinline_appliance_outbox_events":                                               eq(0), // central has it all
		`kinline_appliance_mqtt_connection_failures_total{cause="certificate_revoked"}`: eq(0),
	})
	if err := e.ApplianceReady(e.ctx); err != nil {
		t.Fatal(err)
	}

	// Central, and with it the embedded broker, goes away.
	e.KillCentral(syscall.SIGKILL)
	metricsIs(t, e, "the connection state down and the refused attempts counted", map[string]func(float64) bool{
		"kinline_appliance_mqtt_connected":                                  eq(0),
		`kinline_appliance_mqtt_connection_failures_total{cause="refused"}`: gt(0),
	})
	if _, err := e.WaitApplianceLog(e.ctx, time.Minute, 1, `msg="sync: cannot connect to the broker"`, "cause=refused"); err != nil {
		t.Fatal(err)
	}
	e.tap(t, card)
	if res := call(t, e, port, approved, time.Second); !res.Answered {
		t.Fatalf("call with central down: %+v", res)
	}
	metricsIs(t, e, "the offline call waiting in the outbox", map[string]func(float64) bool{
		"kinline_appliance_outbox_events":             gt(0),
		"kinline_appliance_outbox_oldest_age_seconds": gt(0),
		"kinline_appliance_sync_lag_seconds":          gt(0),
	})
	if err := e.ApplianceReady(e.ctx); err != nil {
		t.Fatalf("not ready with the broker away (offline-first): %v", err)
	}

	if err := e.StartCentral(e.ctx); err != nil {
		t.Fatal(err)
	}
	scrape := metricsIs(t, e, "connected again, the outbox drained", map[string]func(float64) bool{
		"kinline_appliance_mqtt_connected":   eq(1),
		"kinline_appliance_outbox_events":    eq(0),
		"kinline_appliance_sync_lag_seconds": eq(0),
	})
	if _, err := e.WaitApplianceLog(e.ctx, time.Minute, 1, `msg="sync: connected to the broker again after failed attempts"`); err != nil {
		t.Fatal(err)
	}

	t.Run("alert rules name only exported metrics", func(t *testing.T) {
		data, err := os.ReadFile("../docs/alerts/appliance.rules.yml")
		if err != nil {
			t.Fatal(err)
		}
		if problems := checkAlertRules(data, "kinline_appliance_", scrape.Names()); len(problems) > 0 {
			t.Fatalf("docs/alerts/appliance.rules.yml:\n%s", strings.Join(problems, "\n"))
		}
		// The check itself: a rule naming a metric nobody exports, or
		// selecting another job's, is caught.
		bad := strings.Replace(string(data), "kinline_appliance_mqtt_connected == 0", "kinline_appliance_mqtt_conected == 0 or up{job=\"x\"} == 0", 1)
		if problems := checkAlertRules([]byte(bad), "kinline_appliance_", scrape.Names()); len(problems) != 2 {
			t.Fatalf("a misspelt metric and a foreign selector: %q", problems)
		}
	})
}

// alertRules is a Prometheus rules file.
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

var (
	metricRef   = regexp.MustCompile(`\b[a-zA-Z_:][a-zA-Z0-9_:]*\b`)
	selectorRef = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{`)
)

// checkAlertRules parses a rules file and returns its problems: a rule
// that is not complete, a selector of a metric without prefix, a metric
// its expressions and annotations name (by prefix; histograms by their
// family) that is not among exported.
func checkAlertRules(data []byte, prefix string, exported []string) (problems []string) {
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	var rf alertRules
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&rf); err != nil {
		return []string{err.Error()}
	}
	named := map[string]bool{}
	rules := 0
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			rules++
			if r.Alert == "" || r.Expr == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				bad("rule %q: alert, expr, labels.severity and annotations.summary are required", r.Alert)
			}
			if r.For != "" {
				if _, err := time.ParseDuration(r.For); err != nil {
					bad("rule %s: for %q: %v", r.Alert, r.For, err)
				}
			}
			for _, m := range selectorRef.FindAllStringSubmatch(r.Expr, -1) {
				if !strings.HasPrefix(m[1], prefix) && !slices.Contains([]string{"by", "without", "on", "ignoring", "group_left", "group_right"}, m[1]) {
					bad("rule %s selects %s, not one of the appliance's metrics", r.Alert, m[1])
				}
			}
			for _, text := range []string{r.Expr, r.Annotations["description"]} {
				for _, m := range metricRef.FindAllString(text, -1) {
					if strings.HasPrefix(m, prefix) {
						named[m] = true
					}
				}
			}
		}
	}
	if rules < 6 {
		bad("%d rules", rules)
	}
	for m := range named {
		fam := m
		for _, suffix := range []string{"_bucket", "_count", "_sum"} {
			if base, ok := strings.CutSuffix(m, suffix); ok && slices.Contains(exported, base+"_count") {
				fam = base
			}
		}
		if !slices.Contains(exported, fam) && !slices.Contains(exported, fam+"_count") {
			bad("names %s, which the appliance does not export", m)
		}
	}
	return problems
}
