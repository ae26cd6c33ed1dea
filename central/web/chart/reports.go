package chart

// The charts of the statistics and billing pages.

import (
	"fmt"
	"strconv"

	"github.com/kinline/kinline/central/store/reports"
	"github.com/kinline/kinline/central/web/format"
	"github.com/kinline/kinline/shared/ledger"
)

// Stats lays out the charts of a statistics answer, with ids chart-0,
// chart-1, ...: calls, total and average talk time per row, or for
// refused calls the calls by reason.
func Stats(st *reports.Stats) []Chart {
	label := map[string]string{reports.StatsByBlock: "by block", reports.StatsByHour: "by hour of day", reports.StatsByDay: "by day",
		reports.StatsByPerson: "by person", reports.StatsByContact: "by contact", reports.StatsByTerminal: "by terminal, busiest first"}[st.By]
	vertical := st.By == reports.StatsByHour || st.By == reports.StatsByDay
	series := func(title, unit string, v func(reports.StatsRow) float64, text func(reports.StatsRow) string) Chart {
		var pts []Point
		for _, r := range st.Rows {
			l := r.Label
			switch st.By {
			case reports.StatsByDay:
				l = r.Key[5:] // MM-DD under the bars
			case reports.StatsByHour:
				l = r.Key // 00 to 23
			}
			pts = append(pts, Point{Label: l, Value: v(r), Text: text(r), Title: r.Label + ": " + text(r)})
		}
		return New(title, unit, pts, vertical)
	}
	// Talk time in minutes, or in seconds when no row reaches a minute.
	talk := func(title string, sec func(reports.StatsRow) float64) Chart {
		unit, per := "seconds", 1.0
		for _, r := range st.Rows {
			if sec(r) >= 60 {
				unit, per = "minutes", 60
			}
		}
		return series(title, unit, func(r reports.StatsRow) float64 { return sec(r) / per },
			func(r reports.StatsRow) string { return format.HMS(sec(r)) })
	}
	calls := func(r reports.StatsRow) float64 { return float64(r.Calls) }
	callsText := func(r reports.StatsRow) string { return strconv.FormatInt(r.Calls, 10) }
	var cs []Chart
	if st.By == reports.StatsByRefusal {
		cs = []Chart{series("Refused calls by reason", "calls", calls, callsText)}
	} else {
		cs = []Chart{
			series("Calls "+label, "calls", calls, callsText),
			talk("Total talk time "+label, func(r reports.StatsRow) float64 { return r.TotalSeconds }),
			talk("Average talk time "+label, func(r reports.StatsRow) float64 { return r.AverageSeconds }),
		}
	}
	if st.By == reports.StatsByBlock {
		cs[0].Title = "Call volume by block"
	}
	for i := range cs {
		cs[i].ID = fmt.Sprintf("chart-%d", i)
	}
	return cs
}

// ByDestination lays out a billing report's net charges by destination
// type, in the order the rows first name them, with id chart-dest.
func ByDestination(rep *reports.BillingReport) Chart {
	cur := ledger.Currency{Code: rep.Currency, Digits: rep.Digits}
	byDest := map[string]ledger.Money{}
	var dests []string
	for _, b := range rep.Rows {
		if _, ok := byDest[b.DestinationType]; !ok {
			dests = append(dests, b.DestinationType)
		}
		byDest[b.DestinationType] += b.Net
	}
	var pts []Point
	for _, d := range dests {
		text := cur.Format(byDest[d]) + " " + rep.Currency
		pts = append(pts, Point{Label: d, Value: float64(byDest[d]), Text: text, Title: d + ": " + text})
	}
	ch := New("Net charged by destination type ("+rep.Currency+")", rep.Currency, pts, false)
	ch.ID = "chart-dest"
	return ch
}
