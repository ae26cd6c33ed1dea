package chart

import (
	"strings"
	"testing"
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
