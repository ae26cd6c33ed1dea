package review

import (
	"net/http"
	"strings"

	"github.com/kinline/kinline/central/api/openapi"
	"github.com/kinline/kinline/central/store/reports"
)

// pCall describes the {id} of a call's routes.
const pCall = "The call id the appliance gave the call."

// Docs document the review routes (package openapi).
var Docs = map[string]openapi.Doc{
	"GET /api/v1/calls/{id}/notes": {
		Summary:     "List a call's review notes",
		Description: "The reviewers' notes on the call, oldest first: who wrote each, why, the note and whether it needs following up. For system administrators, investigators, read-only auditors and block officers (their blocks' calls); a hidden call's are not found for those who may not see it. Audited as call.notes.view.",
		Path:        map[string]string{"id": pCall},
		Out:         openapi.Obj{"call_id": "", "notes": []reviewNoteOut{}},
	},
	"POST /api/v1/calls/{id}/notes": {
		Summary:     "Write a review note on a call",
		Description: "Adds a note (notes are never changed or deleted); audited as call.note. Written by system administrators, investigators and block officers (their blocks' calls). Privileged calls take notes too (they have no recording).",
		Path:        map[string]string{"id": pCall},
		Body:        noteIn{},
		Fields: map[string]string{
			"reason":    "Why the call was reviewed (1 to 100 characters, one line), e.g. " + strings.Join(reports.ReviewReasons[:3], ", ") + ".",
			"note":      "What the reviewer found (1 to 4000 characters, may span lines).",
			"follow_up": "The call needs following up.",
		},
		Status: http.StatusCreated, Out: reviewNoteOut{}, Location: true,
	},
	"GET /api/v1/calls/{id}/bookmarks": {
		Summary:     "List a call's bookmarks",
		Description: "Labelled positions in the call's recording, by position. Who may read them: as review notes. Audited as call.bookmarks.view.",
		Path:        map[string]string{"id": pCall},
		Out:         openapi.Obj{"call_id": "", "bookmarks": []bookmarkOut{}},
	},
	"POST /api/v1/calls/{id}/bookmarks": {
		Summary:     "Bookmark a position in a call's recording",
		Description: "Marks a position (from the answer) with a label; audited as call.bookmark. The call must have a recording (privileged calls never do) and the position must lie within its talk time.",
		Path:        map[string]string{"id": pCall},
		Body:        bookmarkIn{},
		Fields: map[string]string{
			"offset_ms": "The position in milliseconds; or give at instead.",
			"at":        `The position as seconds, m:ss or h:mm:ss ("83", "1:23"); or give offset_ms instead.`,
			"label":     "What is there (1 to 200 characters).",
		},
		Status: http.StatusCreated, Out: bookmarkOut{}, Location: true,
	},
	"DELETE /api/v1/calls/{id}/bookmarks/{bookmark}": {
		Summary: "Remove a bookmark",
		Description: "Removes a bookmark put in the wrong place: it is no longer listed, and central keeps who removed it and when; audited as " +
			"call.bookmark.remove. Only its author or a system administrator may (403 for other reviewers); 404 when the call has no such bookmark.",
		Path:   map[string]string{"id": pCall, "bookmark": "The bookmark's id (bm_...)."},
		Status: http.StatusNoContent, OutDesc: "Removed.",
	},
	"GET /api/v1/stats/{by}": {
		Summary: "Call statistics",
		Description: "Calls, answered calls, total and average talk time over a period, grouped by block, hour of day or day (in the prison's time zone), " +
			"person, contact or terminal (the busiest first, limit rows), or refused calls by reason. Block officers count their blocks only; hidden calls " +
			"count only for investigators and system administrators. Audited as stats.search.",
		Path:  map[string]string{"by": strings.Join(reports.StatsDimensions, ", ") + "."},
		Query: reportQuery(openapi.Int("limit", "Rows by person, contact or terminal: 1 to 1000 (default 20).")),
		Out:   statsOut{},
	},
	"GET /api/v1/reports/billing": {
		Summary: "Billing report",
		Description: "What calls were charged over a period (call debits in the ledger, refunds that name a call), by period, block, destination type and rate " +
			"(the rate the appliance priced each call with; for calls recorded before appliances named it, the rate matching the number in today's rates table). Block officers get their blocks only. Audited as reports.billing. " +
			"In each row, billed_seconds is the billed time of its calls: each call's talk time rounded up to its rate's billing unit, as the ledger charged it " +
			"(a one-second call on a 60-second unit bills 60); charged, refunded and net are in the currency's minor unit (digits decimals).",
		Query: reportQuery(openapi.Enum("period", "Split the rows by day or month (default total).", reports.BillingPeriods...)),
		Out:   billingReportOut{},
	},
	"GET /api/v1/reports/billing.csv": {
		Summary:     "Export a billing report",
		Description: "The billing report as a CSV attachment (amounts in the major unit, a total row last); audited as export.billing.",
		Query:       reportQuery(openapi.Enum("period", "Split the rows by day or month (default total).", reports.BillingPeriods...)),
		OutMedia:    []string{"text/csv"},
		OutDesc:     "The report.",
	},
}

// reportQuery is a statistics or report period with a block, and more.
func reportQuery(more ...openapi.Param) []openapi.Param {
	return append([]openapi.Param{
		openapi.Str("from", "Start of the period: RFC 3339, a date and time (2025-03-01T14:30) or a date, the last two in the prison's time zone (default 30 days before to)."),
		openapi.Str("to", "End of the period (exclusive), as from; a date includes that day (default the end of today)."),
		openapi.Str("block", "Block name (block officers: one of their blocks)."),
	}, more...)
}
