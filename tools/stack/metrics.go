package stack

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metrics is one scrape: each sample's value by its name and labels as
// Prometheus writes them, e.g. `kinline_appliance_calls_up` or
// `kinline_appliance_call_refusals_total{reason="unknown_card"}`; a
// histogram gives name_count and name_sum.
type Metrics map[string]float64

// Names are the metric families of the scrape, sorted.
func (m Metrics) Names() []string {
	seen := map[string]bool{}
	for k := range m {
		name, _, _ := strings.Cut(k, "{")
		seen[name] = true
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// ApplianceMetrics scrapes the appliance's /metrics.
func (s *Stack) ApplianceMetrics(ctx context.Context) (Metrics, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+s.ApplianceMetricsAddr+"/metrics", nil)
	if err != nil {
		return nil, fmt.Errorf("stack: metrics: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("stack: metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("stack: metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("stack: metrics: %w", err)
	}
	out := Metrics{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			key := name
			if len(labels) > 0 {
				sort.Strings(labels)
				key += "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case m.Counter != nil:
				out[key] = m.Counter.GetValue()
			case m.Gauge != nil:
				out[key] = m.Gauge.GetValue()
			case m.Untyped != nil:
				out[key] = m.Untyped.GetValue()
			case m.Histogram != nil:
				out[name+"_count"] = float64(m.Histogram.GetSampleCount())
				out[name+"_sum"] = m.Histogram.GetSampleSum()
			}
		}
	}
	return out, nil
}

// ApplianceReady asks the appliance's /readyz: nil when ready, else its
// answer.
func (s *Stack) ApplianceReady(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+s.ApplianceMetricsAddr+"/readyz", nil)
	if err != nil {
		return fmt.Errorf("stack: readyz: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("stack: readyz: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("stack: readyz: %s", resp.Status)
	}
	return nil
}
