// Package chart lays out the console's bar charts, drawn as inline SVG by
// the console's "chart" template (central/web/templates/review_chart.html):
// horizontal bars for categories (blocks, people, reasons), vertical ones
// for a series (hours, days). Every bar carries a title with its label and
// value, and the chart is labelled by its caption, for screen readers and
// for a pointer's tooltip.
package chart

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// Point is one bar: its label, value (drawn to scale), the value as
// text, and the bar's tooltip.
type Point struct {
	Label string
	Value float64
	Text  string
	Title string
}

// Chart is a laid-out bar chart.
type Chart struct {
	ID, Title, Unit string
	Width, Height   float64
	Vertical        bool
	Empty           bool // every value is zero
	Bars            []Bar
	Ticks           []Tick
	// Axis is the value axis' baseline (vertical charts).
	AxisX1, AxisX2, AxisY float64
}

// Bar is one bar drawn, with its label and value text.
type Bar struct {
	X, Y, W, H float64
	Label      string
	LX, LY     float64 // label position
	ShowLabel  bool
	Text       string
	TX, TY     float64 // value position
	ShowText   bool
	Title      string
}

// Tick is a grid line of the value axis with its value.
type Tick struct {
	X1, Y1, X2, Y2 float64
	Text           string
	TX, TY         float64
}

// Horizontal layout.
const (
	hLabelW = 210.0
	hBarW   = 420.0
	hValueW = 110.0
	hRowH   = 22.0
	hBarH   = 15.0
	hTop    = 4.0
)

// Vertical layout.
const (
	vLeft   = 54.0
	vPlotW  = 720.0
	vPlotH  = 180.0
	vTop    = 16.0
	vBottom = 40.0
)

func round1(x float64) float64 { return math.Round(x*10) / 10 }

// shorten cuts a label to n characters.
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// niceMax is a round number at least max (1, 2 or 5 times a power of 10).
func niceMax(max float64) float64 {
	if max <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(max)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= max {
			return m * p
		}
	}
	return 10 * p
}

// niceStep is a round tick step at least x: 1, 2, 2.5 or 5 times a power
// of 10.
func niceStep(x float64) float64 {
	if x <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= x*(1-1e-12) {
			return m * p
		}
	}
	return 10 * p
}

// decimals is how many decimals step's multiples need (at most 9).
func decimals(step float64) int {
	d := 0
	for ; d < 9; d++ {
		x := step * math.Pow(10, float64(d))
		if math.Abs(x-math.Round(x)) < 1e-6*math.Max(1, x) {
			break
		}
	}
	return d
}

// ticks are the value axis' five values, 0 to top, as text: each with the
// decimals the step needs and no float noise ("0.0375", not
// "0.037500000000000006").
func tickTexts(top float64) [5]string {
	var out [5]string
	d := decimals(top / 4)
	for i := range out {
		out[i] = strconv.FormatFloat(top*float64(i)/4, 'f', d, 64)
		if i == 0 {
			out[i] = "0"
		}
	}
	return out
}

// New lays out pts.
func New(title, unit string, pts []Point, vertical bool) Chart {
	c := Chart{Title: title, Unit: unit, Vertical: vertical, Empty: true}
	max := 0.0
	for _, p := range pts {
		if p.Value > 0 {
			c.Empty = false
		}
		max = math.Max(max, p.Value)
	}
	top := niceMax(max)
	if unit == "calls" && top < 20 {
		top = math.Ceil(top/4) * 4 // whole calls at the four ticks
	}
	if !vertical {
		c.Width, c.Height = hLabelW+hBarW+hValueW, hTop+float64(len(pts))*hRowH+4
		for i, p := range pts {
			y := hTop + float64(i)*hRowH
			w := 0.0
			if p.Value > 0 {
				w = math.Max(1, p.Value/top*hBarW)
			}
			c.Bars = append(c.Bars, Bar{X: hLabelW, Y: round1(y), W: round1(w), H: hBarH,
				Label: shorten(p.Label, 30), LX: hLabelW - 6, LY: round1(y + hBarH - 3), ShowLabel: true,
				Text: p.Text, TX: round1(hLabelW + w + 5), TY: round1(y + hBarH - 3), ShowText: true, Title: p.Title})
		}
		return c
	}
	// Four equal steps of a round size, whole calls for a count.
	step := niceStep(max / 4)
	if unit == "calls" {
		step = math.Ceil(step)
	}
	top = 4 * step
	texts := tickTexts(top)
	// The plot starts right of the widest tick text (12 px digits are
	// at most 7.5 px wide), so no text is clipped.
	left := vLeft
	for _, t := range texts {
		left = math.Max(left, math.Ceil(10+7.5*float64(len(t))))
	}
	c.Width, c.Height = left+vPlotW+10, vTop+vPlotH+vBottom
	c.AxisX1, c.AxisX2, c.AxisY = left, left+vPlotW, vTop+vPlotH
	for i, text := range texts {
		y := round1(vTop + vPlotH - float64(i)/4*vPlotH)
		c.Ticks = append(c.Ticks, Tick{X1: left, Y1: y, X2: left + vPlotW, Y2: y, Text: text, TX: left - 6, TY: y + 4})
	}
	n := max1(len(pts))
	slot := vPlotW / float64(n)
	every := max1(int(math.Ceil(float64(n) / 24)))
	for i, p := range pts {
		h := 0.0
		if p.Value > 0 {
			h = math.Max(1, p.Value/top*vPlotH)
		}
		x := left + float64(i)*slot
		c.Bars = append(c.Bars, Bar{X: round1(x + slot*0.1), Y: round1(vTop + vPlotH - h), W: round1(math.Max(slot*0.8, 0.5)), H: round1(h),
			Label: shorten(p.Label, 8), LX: round1(x + slot/2), LY: vTop + vPlotH + 16, ShowLabel: i%every == 0,
			Text: p.Text, TX: round1(x + slot/2), TY: round1(vTop + vPlotH - h - 4), ShowText: n <= 24 && p.Value > 0, Title: p.Title})
	}
	return c
}

func max1(n int) int {
	if n < 1 {
		return 1
	}
	return n
}
