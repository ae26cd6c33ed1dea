package review

import (
	"context"
	"github.com/kinline/kinline/central/api/openapi"
	"time"

	"github.com/kinline/kinline/central/store/reports"
	"github.com/kinline/kinline/shared/ledger"
)

// ReportStore is what the review routes need of the reports (reports.Store):
// statistics, billing and the review of calls.
type ReportStore interface {
	Stats(ctx context.Context, f reports.StatsFilter) (*reports.Stats, error)
	Billing(ctx context.Context, f reports.BillingFilter) (*reports.BillingReport, error)
	ExportBilling(ctx context.Context, actor, format string, f reports.BillingFilter) ([][]string, error)
	ReviewNotes(ctx context.Context, callID string) ([]reports.ReviewNote, error)
	AddReviewNote(ctx context.Context, actor, callID string, in reports.NewReviewNote) (*reports.ReviewNote, error)
	Bookmarks(ctx context.Context, callID string) ([]reports.Bookmark, error)
	AddBookmark(ctx context.Context, actor, callID string, at time.Duration, label string) (*reports.Bookmark, error)
	RemoveBookmark(ctx context.Context, actor, callID, id string, anyAuthor bool) error
}

// The API's own answers for the reports (as package api's): the same
// fields and JSON as the reports' types, under the OpenAPI component names
// the document has always used (componentName, OwnType).

// component is implemented by the answers: they are components of the
// OpenAPI document under the name componentName gives.
type component interface{ componentName() string }

// OwnType is the openapi.Owner of this package's types: inlined unless
// they name a component.
var OwnType = openapi.OwnerOf(component.componentName)

// statsRowOut is one group of call statistics.
type statsRowOut struct {
	Key            string  `json:"key"`
	Label          string  `json:"label"`
	Detail         string  `json:"detail,omitempty"`
	Calls          int64   `json:"calls"`
	Answered       int64   `json:"answered"`
	TotalSeconds   float64 `json:"total_seconds"`
	AverageSeconds float64 `json:"average_seconds"`
}

func (statsRowOut) componentName() string { return "store.StatsRow" }

// statsOut is call statistics over a period.
type statsOut struct {
	By       string        `json:"by"`
	From     time.Time     `json:"from"`
	To       time.Time     `json:"to"`
	TimeZone string        `json:"time_zone"`
	Rows     []statsRowOut `json:"rows"`
	Total    statsRowOut   `json:"total"`
	More     int           `json:"more,omitempty"`
}

func (statsOut) componentName() string { return "store.Stats" }

func statsRowBody(r reports.StatsRow) statsRowOut {
	return statsRowOut{Key: r.Key, Label: r.Label, Detail: r.Detail, Calls: r.Calls, Answered: r.Answered,
		TotalSeconds: r.TotalSeconds, AverageSeconds: r.AverageSeconds}
}

func statsBody(st *reports.Stats) statsOut {
	out := statsOut{By: st.By, From: st.From, To: st.To, TimeZone: st.TimeZone, Total: statsRowBody(st.Total), More: st.More}
	if st.Rows != nil {
		out.Rows = make([]statsRowOut, len(st.Rows))
		for i, r := range st.Rows {
			out.Rows[i] = statsRowBody(r)
		}
	}
	return out
}

// billingRowOut is one row of a billing report.
type billingRowOut struct {
	Period          string       `json:"period,omitempty"`
	Block           string       `json:"block"`
	DestinationType string       `json:"destination_type"`
	RatePrefix      string       `json:"rate_prefix"`
	RateName        string       `json:"rate_name,omitempty"`
	Calls           int64        `json:"calls"`
	BilledSeconds   float64      `json:"billed_seconds"`
	Charged         ledger.Money `json:"charged"`
	Refunded        ledger.Money `json:"refunded"`
	Net             ledger.Money `json:"net"`
}

func (billingRowOut) componentName() string { return "store.BillingRow" }

// billingReportOut is what calls were charged over a period.
type billingReportOut struct {
	From     time.Time       `json:"from"`
	To       time.Time       `json:"to"`
	Period   string          `json:"period"`
	TimeZone string          `json:"time_zone"`
	Currency string          `json:"currency"`
	Digits   int             `json:"digits"`
	Rows     []billingRowOut `json:"rows"`
	Total    billingRowOut   `json:"total"`
}

func (billingReportOut) componentName() string { return "store.BillingReport" }

func billingRowBody(r reports.BillingRow) billingRowOut {
	return billingRowOut{Period: r.Period, Block: r.Block, DestinationType: r.DestinationType, RatePrefix: r.RatePrefix, RateName: r.RateName,
		Calls: r.Calls, BilledSeconds: r.BilledSeconds, Charged: r.Charged, Refunded: r.Refunded, Net: r.Net}
}

func billingBody(rep *reports.BillingReport) billingReportOut {
	out := billingReportOut{From: rep.From, To: rep.To, Period: rep.Period, TimeZone: rep.TimeZone, Currency: rep.Currency, Digits: rep.Digits,
		Total: billingRowBody(rep.Total)}
	if rep.Rows != nil {
		out.Rows = make([]billingRowOut, len(rep.Rows))
		for i, r := range rep.Rows {
			out.Rows[i] = billingRowBody(r)
		}
	}
	return out
}

// reviewNoteOut is a reviewer's note on a call.
type reviewNoteOut struct {
	ID       string    `json:"id"`
	CallID   string    `json:"call_id"`
	Reviewer string    `json:"reviewer"`
	Reason   string    `json:"reason"`
	Note     string    `json:"note"`
	FollowUp bool      `json:"follow_up"`
	Created  time.Time `json:"created"`
}

func (reviewNoteOut) componentName() string { return "store.ReviewNote" }

func reviewNoteBody(n *reports.ReviewNote) reviewNoteOut {
	return reviewNoteOut{ID: n.ID, CallID: n.CallID, Reviewer: n.Reviewer, Reason: n.Reason, Note: n.Note, FollowUp: n.FollowUp, Created: n.Created}
}

func reviewNotesBody(ns []reports.ReviewNote) []reviewNoteOut {
	if ns == nil {
		return nil
	}
	out := make([]reviewNoteOut, len(ns))
	for i := range ns {
		out[i] = reviewNoteBody(&ns[i])
	}
	return out
}

// bookmarkOut is a labelled position in a call's recording.
type bookmarkOut struct {
	ID       string    `json:"id"`
	CallID   string    `json:"call_id"`
	Author   string    `json:"author"`
	OffsetMS int64     `json:"offset_ms"`
	Label    string    `json:"label"`
	Created  time.Time `json:"created"`
}

func (bookmarkOut) componentName() string { return "store.Bookmark" }

func bookmarkBody(b *reports.Bookmark) bookmarkOut {
	return bookmarkOut{ID: b.ID, CallID: b.CallID, Author: b.Author, OffsetMS: b.OffsetMS, Label: b.Label, Created: b.Created}
}

func bookmarksBody(bs []reports.Bookmark) []bookmarkOut {
	if bs == nil {
		return nil
	}
	out := make([]bookmarkOut, len(bs))
	for i := range bs {
		out[i] = bookmarkBody(&bs[i])
	}
	return out
}
