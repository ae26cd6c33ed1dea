package api

// The OpenAPI description of the JSON API (GET /api/v1/openapi.json).
//
// The document is generated when it is first asked for, from the routes the
// server actually registered (each of which is in the access matrix,
// package authz): every "/api/v1" route appears once, with the roles of its
// matrix rule, so it cannot drift from what is served or from who may use
// it. What a route does (summary, description, parameters, bodies) comes
// from the table opDocs below, keyed by the exact route pattern; request
// and response body schemas are reflected from the Go types the handlers
// decode and write (package openapi). A route missing from the table is still listed (with
// its pattern as summary) and fails TestOpenAPIDocumentsEveryRoute.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/kinline/kinline/central/api/commands"
	"github.com/kinline/kinline/central/api/consoleusers"
	"github.com/kinline/kinline/central/api/enrol"
	"github.com/kinline/kinline/central/api/finance"
	"github.com/kinline/kinline/central/api/openapi"
	"github.com/kinline/kinline/central/api/review"
	"github.com/kinline/kinline/central/authz"
	"github.com/kinline/kinline/central/callquery"
	"github.com/kinline/kinline/central/store/tables"
	"github.com/kinline/kinline/shared/wire"
)

// APIVersion is the JSON API's version, the OpenAPI document's
// info.version. Its major number is the path prefix (/api/v1); the minor
// grows with additions that leave existing clients working.
const APIVersion = "1.1.0"

// apiPrefix is the path prefix of the API of major version APIVersion.
const apiPrefix = "/api/v1"

// OpenAPIVersion is the version of the OpenAPI specification the document
// follows.
const OpenAPIVersion = "3.1.0"

// openapiRoutes serves the OpenAPI document. It is built once, on the
// first request, from s.patterns (complete once New returns).
//
// It needs a signed-in caller of any role, like every other /api route:
// the API has no public endpoint, and the document describes this
// deployment's access matrix; keeping it behind the same authentication
// keeps the rule "every /api route is in the matrix and authenticated"
// without an exception. A signed-in console user opens it in the browser
// with the session cookie; a client with its bearer token.
func (s *Server) openapiRoutes() map[string]http.HandlerFunc {
	var (
		once sync.Once
		doc  []byte
		err  error
	)
	return map[string]http.HandlerFunc{
		"GET /api/v1/openapi.json": func(w http.ResponseWriter, r *http.Request) {
			once.Do(func() {
				var d map[string]any
				if d, err = openAPIDocument(s.patterns); err == nil {
					doc, err = json.MarshalIndent(d, "", "  ")
				}
			})
			if err != nil {
				s.fail(w, r, fmt.Errorf("api: openapi document: %w", err))
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-cache")
			w.Write(doc)
		},
	}
}

// callFilters are the calls search's parameters (package callquery).
var callFilters = []openapi.Param{
	openapi.Str("inmate", "A person's id or prison number."),
	openapi.Str("name", "Part of the person's name (case-insensitive); refused when it matches more than 500 people."),
	openapi.Str("block", "Block name (block officers: one of their blocks)."),
	openapi.Str("number", "Called number; normalized as the appliances do (spaces and punctuation dropped, 00 to +)."),
	openapi.Str("contact", "A contact's id, or part of a contact's name (case-insensitive): that person's calls to that contact's number."),
	openapi.Str("from", "Calls that started at or after this time: RFC 3339, a date and time (2025-03-01T14:30) or a date (2025-03-01), the last two in UTC."),
	openapi.Str("to", "Calls that started before this time, as from; a date includes that day. Must be after from."),
	openapi.Enum("disposition", "How the call ended.", callquery.Dispositions...),
	openapi.Str("officer", "An officer's person id or staff number: the calls the officer confirmed or ended."),
}

// auditFilters are the audit log's filters (auditFilter).
var auditFilters = []openapi.Param{
	openapi.Str("actor", `Who acted: "user:<username>" or "token:<name>".`),
	openapi.Str("action", `What was done, e.g. "person.create", "calls.search", "recording.play".`),
	openapi.Str("target", "The id the action applied to."),
	openapi.Str("from", "Entries at or after this time: RFC 3339, or a date (YYYY-MM-DD, UTC midnight)."),
	openapi.Str("to", "Entries before this time: RFC 3339, or a date (YYYY-MM-DD, UTC midnight)."),
}

// peopleFilters are the inmate and officer lists' filters.
var peopleFilters = append([]openapi.Param{
	openapi.Str("block", "Block name (block officers: one of their blocks)."),
	openapi.Enum("status", "Person status.", wire.StatusActive, wire.StatusSuspended, wire.StatusReleased),
}, listPaging...)

// Path parameter descriptions shared by several routes.
const (
	pPerson    = "The person's id (as answered when created, e.g. in Location)."
	pBlock     = "The block's name."
	pAppliance = "The appliance id (its certificate's name)."
	pContact   = "The contact's id."
	pCall      = "The call id the appliance gave the call."
)

// opDocs documents every /api/v1 route, keyed by its ServeMux pattern.
var opDocs = map[string]openapi.Doc{
	// People in prison.
	"POST /api/v1/inmates": {
		Summary:     "Enrol a person in prison",
		Description: "Creates a person with their block, status, language, optional PIN, supervision level and overrides of the block's call rule; the block's policy is republished. Block officers may only enrol into their blocks. The new person's URL is in Location.",
		Body:        newPersonIn{},
		Fields: map[string]string{
			"prison_number":     "Required, unique.",
			"name":              "Required.",
			"block":             "Required: an existing block.",
			"status":            `"active" (default), "suspended" (status_reason required) or "released".`,
			"pin":               "4 to 8 digits; only its argon2id hash is kept.",
			"supervision_level": "Selects the block's call rule for this person.",
			"confirm":           `Overrides the rule's officer confirmation: "" (the rule's), "none", "button", "card" or "both".`,
			"windows":           "Calling windows replacing the rule's.",
			"suspended_until":   "When a suspension ends (absent: until lifted).",
		},
		Status: http.StatusCreated, Out: personOut{}, OutDesc: "The person.", Location: true,
		Errors: map[int]any{409: "A person with this prison number exists."},
	},
	"GET /api/v1/inmates": {
		Summary:     "List people in prison",
		Description: "People in prison by prison number, optionally filtered by block and status; block officers get their blocks' only. Every search is written to the audit log.",
		Query:       peopleFilters,
		Out:         openapi.Obj{"inmates": []personOut{}},
	},
	"GET /api/v1/inmates/{id}": {
		Summary:     "Get a person",
		Description: "One person (in prison or an officer) with their cards, status and call-rule overrides. Audited as person.view.",
		Path:        map[string]string{"id": pPerson},
		Out:         personOut{},
	},
	"PATCH /api/v1/inmates/{id}": {
		Summary:     "Change a person",
		Description: "Changes only the fields given (name, block, status, language, PIN, supervision level, confirmation, windows, maximum duration, suspension); audited, and the blocks' policies are republished. Block officers may only move a person between their own blocks.",
		Path:        map[string]string{"id": pPerson},
		Body:        personPatch{},
		Fields: map[string]string{
			"status":          `"active", "suspended" (with status_reason) or "released".`,
			"pin":             "A new PIN of 4 to 8 digits.",
			"suspended_until": "When the suspension ends.",
		},
		Out: personOut{},
	},
	"POST /api/v1/inmates/{id}/cards": {
		Summary:     "Give a person a card",
		Description: "Links an IC card (its UID, normalized to upper-case hex) to the person; a card belongs to one person.",
		Path:        map[string]string{"id": pPerson},
		Body:        openapi.Obj{"uid": ""},
		Fields:      map[string]string{"uid": `The card's UID, 8 to 20 hex digits, e.g. "04A1B2C3".`},
		Status:      http.StatusCreated, Out: openapi.Obj{"uid": "", "person_id": ""},
		Errors: map[int]any{409: "The card belongs to someone."},
	},
	"POST /api/v1/inmates/{id}/contacts": {
		Summary:     "Add a contact",
		Description: "Adds a number the person may call, approved at once (status absent) or \"requested\" for approval by POST /api/v1/contacts/{contact}/decision; a person has at most the prison's max_contacts contacts (not rejected), beyond which it answers 422.",
		Path:        map[string]string{"id": pPerson},
		Body:        contactIn{},
		Fields: map[string]string{
			"number":     "Required; normalized.",
			"privileged": "A legal adviser or helpline: never recorded.",
			"identity":   "Identity details checked for the contact, free text.",
			"status":     `"" or "approved" (approved at once), "requested" (for approval) or "rejected".`,
			"reason":     "The decision's reason when approved or rejected at once.",
		},
		Status: http.StatusCreated, Out: contactOut{},
		Errors: map[int]any{409: "The person has this number already."},
	},
	"GET /api/v1/inmates/{id}/contacts": {
		Summary:     "List a person's contacts",
		Description: "The person's contacts in the order they were added, with their approval state and self-block. Audited as person.contacts.view.",
		Path:        map[string]string{"id": pPerson},
		Out:         openapi.Obj{"contacts": []contactOut{}},
	},
	"POST /api/v1/inmates/{id}/pin": {
		Summary:     "Reset a person's PIN",
		Description: "Gives the person a new random 6-digit PIN and answers it, the only time it is seen (only its hash is kept); the block's policy is republished. No request body.",
		Path:        map[string]string{"id": pPerson},
		Out:         openapi.Obj{"person_id": "", "pin": ""},
	},
	"POST /api/v1/contacts/{contact}/decision": {
		Summary:     "Approve or reject a contact",
		Description: "Decides a contact with a required reason, recording who decided and when; approving needs room under max_contacts. Only system administrators and the person's block's officers decide.",
		Path:        map[string]string{"contact": pContact},
		Body:        decisionIn{},
		Fields:      map[string]string{"status": `"approved" or "rejected".`, "reason": "Required."},
		Out:         contactOut{},
	},
	"POST /api/v1/contacts/{contact}/unblock": {
		Summary:     "Lift a contact's self-block",
		Description: "The called party pressed 9 to refuse further calls; this puts the number back in the person's policy, audited with the reason.",
		Path:        map[string]string{"contact": pContact},
		Body:        openapi.Obj{"reason": ""},
		Fields:      map[string]string{"reason": "Required: why the block is lifted."},
		Out:         contactOut{},
	},

	// Officers.
	"POST /api/v1/officers": {
		Summary:     "Enrol an officer",
		Description: "Enrols a member of staff whose cards confirm calls on the block's officer panel (an officer is a person who can never call).",
		Body:        officerIn{},
		Fields:      map[string]string{"staff_number": "Required, unique among people.", "cards": "Card UIDs in hex."},
		Status:      http.StatusCreated, Out: personOut{}, OutDesc: "The officer (a person).", Location: true,
		Errors: map[int]any{409: "The staff number or a card is taken."},
	},
	"GET /api/v1/officers": {
		Summary:     "List officers",
		Description: "Officers by staff number, optionally filtered by block and status; block officers get their blocks' only. Audited as a search.",
		Query:       peopleFilters,
		Out:         openapi.Obj{"officers": []personOut{}},
	},
	"GET /api/v1/officer-actions": {
		Summary:     "List officer panel actions",
		Description: "What officers did on the appliances' panels (confirmations, refusals, calls ended), newest first. Unknown parameters are refused. Audited as officer_actions.search.",
		Query: append([]openapi.Param{
			openapi.Str("appliance", "Appliance id."),
			openapi.Str("officer", "The officer's person id."),
			openapi.Str("call", "Call id."),
		}, listPaging...),
		Out: openapi.Obj{"officer_actions": []officerActionOut{}},
	},

	// Blocks, rules and the estate.
	"GET /api/v1/blocks": {
		Summary:     "List blocks",
		Description: "The blocks by name with their current policy version; block officers get their blocks only.",
		Out:         openapi.Obj{"blocks": []blockOut{}},
	},
	"POST /api/v1/blocks": {
		Summary:     "Create a block",
		Description: "Creates the block if it does not exist yet (creating an existing one changes nothing).",
		Body:        openapi.Obj{"name": ""},
		Status:      http.StatusCreated, Out: openapi.Obj{"name": ""},
	},
	"GET /api/v1/blocks/{name}/rules": {
		Summary:     "Get a block's call rules",
		Description: "The block's call rules, one per supervision level (\"\" is the default): officer confirmation, maximum duration, calls per day, week and month, calling windows.",
		Path:        map[string]string{"name": pBlock},
		Out:         openapi.Obj{"block": "", "rules": []wire.CallRule{}},
	},
	"PUT /api/v1/blocks/{name}/rules": {
		Summary:     "Replace a block's call rules",
		Description: "Replaces the block's whole set of call rules (an empty list removes them), audited; the block's policy is republished. Answers the stored rules.",
		Path:        map[string]string{"name": pBlock},
		Body:        rulesIn{},
		Fields:      map[string]string{"rules": "The whole set, at most one per level."},
		Out:         openapi.Obj{"block": "", "rules": []wire.CallRule{}},
	},
	"GET /api/v1/blocks/{name}/windows": {
		Summary:     "Get a block's calling windows",
		Description: "When the block's people may call (empty: any time), in the prison's time zone.",
		Path:        map[string]string{"name": pBlock},
		Out:         openapi.Obj{"block": "", "windows": []wire.Window{}},
	},
	"PUT /api/v1/blocks/{name}/windows": {
		Summary:     "Replace a block's calling windows",
		Description: "Replaces the block's calling windows (an empty list allows any time), audited; the block's policy is republished. Answers the stored windows.",
		Path:        map[string]string{"name": pBlock},
		Body:        openapi.Obj{"windows": []wire.Window{}},
		Fields:      map[string]string{"windows": `Days (0 = Sunday; empty: every day), start and end as "HH:MM" (end exclusive, "24:00" the end of the day).`},
		Out:         openapi.Obj{"block": "", "windows": []wire.Window{}},
	},
	"GET /api/v1/appliances": {
		Summary:     "List appliances",
		Description: "Every appliance with its block, when it was last heard from (online: heard from within a minute; a connected appliance sends a heartbeat every 15 s), the policy version it applied against its block's, its open alarms and the release it reports (software; which releases work with this central: docs/COMPATIBILITY.md); block officers get their blocks' only.",
		Out:         openapi.Obj{"appliances": []applianceOut{}},
	},
	"GET /api/v1/terminals": {
		Summary:     "List terminals",
		Description: "The phones (SIP ports) the appliances reported, with their block; block officers get their blocks' only.",
		Out:         openapi.Obj{"terminals": []terminalOut{}},
	},
	"GET /api/v1/alarms": {
		Summary:     "List alarms",
		Description: "Alarms raised by appliances and by central, newest first; block officers get their blocks' appliances' only. Unknown parameters are refused. Audited as alarms.search.",
		Query: append([]openapi.Param{
			openapi.Str("appliance", "Appliance id."),
			openapi.Bool("open", "true: only alarms not cleared yet."),
		}, listPaging...),
		Out: openapi.Obj{"alarms": []alarmOut{}},
	},
	"POST /api/v1/alarms/{id}/clear": {
		Summary:     "Clear an alarm",
		Description: "Marks an alarm as looked into, audited with the note.",
		Path:        map[string]string{"id": "The alarm's id."},
		Body:        openapi.Obj{"note": ""},
		Fields:      map[string]string{"note": "What was done about it."},
		Out:         alarmOut{},
	},

	// Calls.
	"GET /api/v1/calls": {
		Summary:     "Search calls",
		Description: "Call records, newest first, filtered by person (id, prison number or name), block, called number, contact, time range, disposition and officer; block officers get their blocks' only and hidden calls are left out except for investigators and system administrators. Unknown parameters are refused. Every search is written to the audit log; next_offset is set when the page is full.",
		Query:       append(slices.Clone(callFilters), listPaging...),
		Out:         openapi.Obj{"calls": []callOut{}, "limit": 0, "offset": 0, "next_offset": 0},
	},
	"GET /api/v1/calls/in-progress": {
		Summary: "List calls in progress",
		Description: "Calls the appliances have placed and not yet reported ended, the oldest first (an appliance reports a call's start when it places it and " +
			"its record when it ends; its restart ends the calls it died with). End one with an end_call command to its appliance. Block officers get their " +
			"blocks' only; hidden calls are left out except for investigators and system administrators. Audited as calls.in_progress.",
		Out: openapi.Obj{"calls": []callInProgressOut{}},
	},
	"GET /api/v1/calls/{id}": {
		Summary:     "Get a call",
		Description: "One call record with its recording's state; a hidden call is not found for callers who may not see hidden calls. Audited as call.view.",
		Path:        map[string]string{"id": pCall},
		Out:         callOut{},
	},
	"GET /api/v1/calls/{id}/recording": {
		Summary:     "Play a call's recording",
		Description: "The call's stereo recording as WAV, with Range requests (206) for seeking; each playback is audited (recording.play) before any byte is sent, once per listening: the requests of one caller for one call less than 10 minutes apart, HEAD included, are one playback. A refused playback (role, second factor, block, hidden call, privileged call) is audited as recording.refused with the reason. A privileged call is never recorded and never played.",
		Path:        map[string]string{"id": pCall},
		OutMedia:    []string{"audio/wav"},
		OutDesc:     "The recording (206 with Content-Range for a Range request).",
		Errors:      map[int]any{403: "Not allowed, outside your blocks, no second factor, or a privileged call.", 404: "No such call, or its recording is not uploaded yet."},
	},

	// Security administration.
	"GET /api/v1/audit": {
		Summary:     "Read the audit log",
		Description: "The hash-chained log of sign-ins, changes, searches, playbacks and exports, newest first, filtered by actor, action, target and time. Each search is itself audited (audit.search).",
		Query:       append(slices.Clone(auditFilters), listPaging...),
		Out:         openapi.Obj{"audit": []auditEntryOut{}},
	},
	"GET /api/v1/audit.csv": {
		Summary:     "Export the audit log as CSV",
		Description: "The audit log (same filters as GET /api/v1/audit, every matching entry) as a CSV attachment; the export is itself audited first.",
		Query:       auditFilters,
		OutMedia:    []string{"text/csv"},
		OutDesc:     "kinline-audit.csv",
	},
	"GET /api/v1/audit/verify": {
		Summary:     "Verify the audit log's hash chain",
		Description: "Recomputes the chain of the whole log: ok, or 409 with the first broken entry.",
		Out:         openapi.Obj{"ok": true},
		Errors:      map[int]any{409: openapi.ErrorWith{Desc: "The chain is broken (an entry was changed or removed).", Body: openapi.Obj{"ok": false, "error": ""}}},
	},

	// Global numbers and settings.
	"GET /api/v1/numbers": {
		Summary:     "List global numbers",
		Description: "The prison-wide number list: blocked (nobody may call them), privileged (never recorded), free (cost nothing) and hidden (their calls seen by investigators and system administrators only), with notes.",
		Out:         openapi.Obj{"numbers": []globalNumberOut{}},
	},
	"POST /api/v1/numbers": {
		Summary:     "Add a global number",
		Description: "Puts a number (or a prefix ending in '*') on the list as one kind with a required note, audited; every block's policy is republished.",
		Body:        numberIn{},
		Fields: map[string]string{
			"kind": strings.Join([]string{wire.NumberKindBlocked, wire.NumberKindPrivileged, wire.NumberKindFree, wire.NumberKindHidden}, ", ") + ".",
			"note": "Required: why.",
		},
		Status: http.StatusCreated, Out: globalNumberOut{},
		Errors: map[int]any{409: "The number is on the list as this kind already."},
	},
	"POST /api/v1/numbers/remove": {
		Summary:     "Remove a global number",
		Description: "Takes a number off the list for one kind with a required note saying why, audited; every block's policy is republished.",
		Body:        numberIn{},
		Fields:      map[string]string{"note": "Required: why."},
		Out:         openapi.Obj{"removed": "", "kind": ""},
	},
	"GET /api/v1/settings": {
		Summary:     "Get the prison's settings",
		Description: "The prison's name (said to called parties), time zone of schedules and quotas, and the maximum number of contacts per person.",
		Out:         prisonSettingsIO{},
	},
	"PUT /api/v1/settings": {
		Summary:     "Change the prison's settings",
		Description: "Replaces the prison's settings, audited; every block's policy is republished. Answers the stored settings.",
		Body:        prisonSettingsIO{},
		Fields:      map[string]string{"time_zone": `IANA zone ("" is UTC).`},
		Out:         prisonSettingsIO{},
	},

	// Import and export.
	"GET /api/v1/export/{file}": {
		Summary:     "Export people, contacts or calls",
		Description: "The table as a CSV or XLSX attachment; calls take the calls search's filters (every matching call, hidden ones only for those who may see them). Block officers get their blocks only. Every export is audited.",
		Path:        map[string]string{"file": "people, contacts or calls, then .csv or .xlsx (e.g. calls.xlsx)."},
		Query:       callFilters,
		OutMedia:    []string{"text/csv", tables.ContentType(tables.FormatXLSX)},
		OutDesc:     "The table.",
	},
	"POST /api/v1/import/{kind}": {
		Summary:     "Import people or contacts",
		Description: "Reads a CSV or XLSX file (the body) with the columns of the import template and checks every row; a dry run only reports, a real run applies every row or, if any row has an error, none.",
		Path:        map[string]string{"kind": "people or contacts."},
		Query:       []openapi.Param{openapi.Bool("dry_run", "true: check and report, change nothing.")},
		RawBody:     []string{"text/csv", tables.ContentType(tables.FormatXLSX)},
		Out:         importReportOut{},
		OutDesc:     "The report: rows read, rows applied and each row's errors.",
		Errors: map[int]any{422: openapi.ErrorWith{Desc: "The file is unreadable, or (a real run) rows have errors and nothing was imported.",
			Body: openapi.Obj{"error": "", "report": importReportOut{}}}},
	},

	"GET /api/v1/openapi.json": {
		Summary:     "This API description",
		Description: "The OpenAPI 3.1 description of every /api/v1 route, generated from the routes served and the access matrix.",
		OutDesc:     "The OpenAPI document.",
		Out:         openapi.Schema{"type": "object", "description": "An OpenAPI 3.1 document."},
	},
}

// openAPIDocument builds the OpenAPI document of the /api/v1 routes among
// patterns, with their rules from authz.Routes and their documentation
// from opDocs (package openapi generates the paths and schemas).
func openAPIDocument(patterns []string) (map[string]any, error) {
	paths, schemas, err := openapi.Paths(apiPrefix, patterns, authz.Routes, listDocs(opDocs), ownType)
	if err != nil {
		return nil, err
	}
	schemas["Error"] = map[string]any{
		"type":       "object",
		"required":   []string{"error"},
		"properties": map[string]any{"error": map[string]any{"type": "string", "description": "What went wrong, for a person to read."}},
	}
	errResp := func(desc string) map[string]any {
		return map[string]any{"description": desc, "content": openapi.JSONContent(openapi.Ref("Error"))}
	}
	unauthorized := errResp("No credential, or a bad or expired one.")
	unauthorized["headers"] = map[string]any{"WWW-Authenticate": map[string]any{"schema": map[string]any{"type": "string"}, "description": `Bearer realm="kinline"`}}
	return map[string]any{
		"openapi": OpenAPIVersion,
		"info": map[string]any{
			"title":   "Kinline central JSON API",
			"version": APIVersion,
			"description": "The JSON API of Kinline's central server. Authenticate with \"Authorization: Bearer <token>\" (an API token) " +
				"or the console's session cookie, whose state-changing requests must also send the session's CSRF token in " + CSRFHeader + ". " +
				"Each operation's x-kinline-roles lists the user roles that may use it (an admin token acts as system_admin, a viewer token as read_only); " +
				"x-kinline-block-scoped operations limit block officers to their blocks (list filters are forced, other blocks' items answer 403); " +
				"x-kinline-mfa operations need a verified second factor (TOTP) on a password session (a token counts as one). " +
				"Errors are JSON {\"error\": \"...\"}, a message for a person to read (no control characters). JSON request bodies are at most 64 KiB and unknown fields are refused (400); " +
				"a body larger than its route accepts (64 KiB of JSON, a photo, an import file) answers 413. A method a path does not have answers 405 with an Allow header listing those it has. " +
				"Every answer carries X-Content-Type-Options: nosniff. " +
				fmt.Sprintf("Every list pages alike: limit is 1 to %d (default %d; 0 gives the default, more than %d gives %d), offset the items to skip; ", MaxLimit, DefaultLimit, MaxLimit, MaxLimit) +
				"the answer carries limit and offset (the page answered), has_more (whether items follow) and next (the offset of the next page, null on the last). " +
				"Every change, search, playback and export is written to the hash-chained audit log.",
			"license": map[string]any{"name": "See the project's LICENSE"},
		},
		"paths": paths,
		"components": map[string]any{
			"schemas": schemas,
			"securitySchemes": map[string]any{
				"bearerToken": map[string]any{"type": "http", "scheme": "bearer",
					"description": "An API token: the admin token central writes at start-up, or one from POST /api/v1/tokens. It plays and exports recordings only if its owner has enrolled TOTP."},
				"sessionCookie": map[string]any{"type": "apiKey", "in": "cookie", "name": authz.SessionCookie,
					"description": "The web console's session cookie; state-changing requests must also carry the session's CSRF token in the " + CSRFHeader + " header."},
			},
			"responses": map[string]any{
				"BadRequest":          errResp("Malformed request: bad JSON, unknown field or parameter, wrong parameter value."),
				"Unauthorized":        unauthorized,
				"Forbidden":           errResp("The role may not use this route, the item is outside a block officer's blocks, a second factor is required, or a cookie session's CSRF token is missing."),
				"NotFound":            errResp("No such item."),
				"Conflict":            errResp("Conflicts with what is stored (a duplicate)."),
				"UnprocessableEntity": errResp("Invalid values (the message says which)."),
				"InternalError":       errResp("Internal error (logged by central)."),
				"PayloadTooLarge":     errResp("The request body is larger than the route accepts (the message says the limit)."),
				"MethodNotAllowed":    errResp("The path has no route for this method; Allow lists the methods it has."),
			},
		},
		"security": []any{map[string]any{"bearerToken": []string{}}, map[string]any{"sessionCookie": []string{}}},
	}, nil
}

// Each area's handler package documents its routes: init adds them to
// opDocs.
func init() {
	for _, docs := range []map[string]openapi.Doc{review.Docs, finance.Docs, consoleusers.Docs, commands.Docs, enrol.Docs, tokenDocs} {
		for p, d := range docs {
			if _, dup := opDocs[p]; dup {
				panic("api: route documented twice: " + p)
			}
			opDocs[p] = d
		}
	}
}

// component is implemented by the API's own response types: they are
// components of the document under the name componentName gives, the name
// of the store type they replaced ("store.User"), so that the document
// stays the same for clients generated from it.
type component interface{ componentName() string }

// ownType is the document's openapi.Owner: the API's own types (this
// package's and its areas') are inlined unless they name a component.
var ownType = openapi.Owners(review.OwnType, finance.OwnType, consoleusers.OwnType, commands.OwnType, enrol.OwnType,
	openapi.OwnerOf(component.componentName))
