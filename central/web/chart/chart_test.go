package chart

import (
	"strings"
	"testing"

	"github.com/kinline/kinline/central/store/reports"
)

func TestChartLayout(t *testing.T) {
	c := New("Calls by block", "calls", []Point{{Label: "A", Value: 30}, {Label: "B", Value: 15}, {Label: strings.Repeat("long", 20), Value: 0}}, false)
	if c.Empty || len(c.Bars) != 3 || c.Bars[0].W != hBarW*30/niceMax(30) || c.Bars[1].W != c.Bars[0].W/2 || c.Bars[2].W != 0 ||
		c.Bars[1].Y <= c.Bars[0].Y || len([]rune(c.Bars[2].Label)) != 30 || !strings.HasSuffix(c.Bars[2].Label, "…") {
		t.Fatalf("horizontal %+v", c.Bars)
	}
	// A tiny value still shows; zero shows nothing; no bar leaves the plot.
	v := New("Calls by hour", "calls", []Point{{Value: 1000}, {Value: 1}, {Value: 0}}, true)
	if v.Bars[1].H < 1 || v.Bars[2].H != 0 || v.Bars[0].Y < vTop || v.Bars[0].Y+v.Bars[0].H != vTop+vPlotH || len(v.Ticks) != 5 || v.Ticks[4].Text != "1000" {
		t.Fatalf("vertical %+v %+v", v.Bars, v.Ticks)
	}
	if e := New("x", "calls", []Point{{Value: 0}}, true); !e.Empty {
		t.Fatal("all-zero chart not empty")
	}
	// Many days: every label would overlap, so only some are drawn.
	var days []Point
	for i := 0; i < 96; i++ {
		days = append(days, Point{Label: "d", Value: 1})
	}
	shown := 0
	for _, b := range New("x", "calls", days, true).Bars {
		if b.ShowLabel {
			shown++
		}
		if b.ShowText {
			t.Fatal("values drawn on 96 bars")
		}
	}
	if shown != 24 {
		t.Fatalf("%d day labels shown", shown)
	}
	for in, want := range map[float64]float64{0: 1, 0.3: 0.5, 1: 1, 3: 5, 7: 10, 11: 20, 4200: 5000} {
		if got := niceMax(in); got != want {
			t.Errorf("niceMax(%v) = %v, want %v", in, got, want)
		}
	}
}

// TestTickLabels: a vertical chart's axis reads round numbers without
// float noise (never "0.037500000000000006"), in four equal steps, and
// every tick text fits left of the plot, however small or large the values.
func TestTickLabels(t *testing.T) {
	for _, tc := range []struct {
		unit  string
		max   float64
		ticks string
	}{
		{"minutes", 0.0375, "0 0.01 0.02 0.03 0.04"},
		{"minutes", 0.05, "0 0.02 0.04 0.06 0.08"},
		{"minutes", 0.1, "0 0.025 0.050 0.075 0.100"},
		{"minutes", 0.3, "0 0.1 0.2 0.3 0.4"},
		{"minutes", 2.25, "0 1 2 3 4"},
		{"minutes", 9, "0 2.5 5.0 7.5 10.0"},
		{"calls", 9, "0 3 6 9 12"},
		{"calls", 3, "0 1 2 3 4"},
		{"calls", 1000, "0 250 500 750 1000"},
		{"calls", 123456789, "0 50000000 100000000 150000000 200000000"},
	} {
		c := New("x", tc.unit, []Point{{Value: tc.max / 3}, {Value: tc.max}}, true)
		var got []string
		for _, tk := range c.Ticks {
			got = append(got, tk.Text)
			if tk.TX-7.5*float64(len(tk.Text)) < 0 || tk.TX >= c.AxisX1 {
				t.Errorf("%v %s: tick %q at x %v is clipped (plot at %v)", tc.max, tc.unit, tk.Text, tk.TX, c.AxisX1)
			}
		}
		if strings.Join(got, " ") != tc.ticks {
			t.Errorf("%v %s: ticks %q, want %q", tc.max, tc.unit, got, tc.ticks)
		}
		if b := c.Bars[1]; b.Y < vTop-0.05 || b.X < c.AxisX1 || c.Width < c.AxisX2 {
			t.Errorf("%v %s: the tallest bar leaves the plot: %+v", tc.max, tc.unit, b)
		}
	}
}

// TestStatsTalkUnit: talk time charts count in seconds until a row
// reaches a minute, so short calls are not drawn as fractions of minutes.
func TestStatsTalkUnit(t *testing.T) {
	st := &reports.Stats{By: reports.StatsByHour, Rows: []reports.StatsRow{{Key: "09", Label: "09:00", Calls: 2, Answered: 2, TotalSeconds: 4.5, AverageSeconds: 2.25}}}
	cs := Stats(st)
	if cs[1].Unit != "seconds" || cs[2].Unit != "seconds" || cs[2].Ticks[4].Text != "4" {
		t.Fatalf("short calls: %s %s %+v", cs[1].Unit, cs[2].Unit, cs[2].Ticks)
	}
	st.Rows[0].TotalSeconds = 90
	if cs := Stats(st); cs[1].Unit != "minutes" || cs[1].Ticks[4].Text != "2.0" || cs[2].Unit != "seconds" {
		t.Fatalf("a minute and more: %s %+v", cs[1].Unit, cs[1].Ticks)
	}
}
