package authz

import "github.com/kinline/kinline/central/store"

// reviewers write bookmarks on calls: investigators and system
// administrators. Review notes are also written by block officers, on
// their blocks' calls (what they heard or did about a call is part of its
// review). Notes and bookmarks are read by oversight (reviewers and
// read-only auditors) and by block officers (their blocks'); finance
// neither.
var (
	reviewers   = []string{store.RoleSystemAdmin, store.RoleInvestigator}
	noteTakers  = []string{store.RoleSystemAdmin, store.RoleInvestigator, store.RoleBlockOfficer}
	noteReaders = append(append([]string{}, oversight...), store.RoleBlockOfficer)
)

// reviewRoutes: review notes, bookmarks, statistics and billing reports,
// and their console pages. Statistics and reports are for every role,
// block officers limited to their blocks (as the calls and accounts they
// summarize are).
var reviewRoutes = map[string]Rule{
	// JSON API.
	"GET /api/v1/calls/{id}/notes":      {Roles: noteReaders, Scoped: true},
	"POST /api/v1/calls/{id}/notes":     {Roles: noteTakers, Scoped: true},
	"GET /api/v1/calls/{id}/bookmarks":  {Roles: noteReaders, Scoped: true},
	"POST /api/v1/calls/{id}/bookmarks": {Roles: reviewers},
	// Only its author, or a system admin (checked by the handler).
	"DELETE /api/v1/calls/{id}/bookmarks/{bookmark}": {Roles: reviewers},
	"GET /api/v1/stats/{by}":                         {Roles: all, Scoped: true},
	"GET /api/v1/reports/billing":                    {Roles: all, Scoped: true},
	"GET /api/v1/reports/billing.csv":                {Roles: all, Scoped: true},

	// Console pages (package web).
	"GET /calls/{id}":                              {Roles: all, Scoped: true},
	"POST /calls/{id}/notes":                       {Roles: noteTakers, Scoped: true},
	"POST /calls/{id}/bookmarks":                   {Roles: reviewers},
	"POST /calls/{id}/bookmarks/{bookmark}/remove": {Roles: reviewers},
	"GET /calls/export":                            {Roles: all, Scoped: true},
	"GET /stats":                                   {Roles: all, Scoped: true},
	"GET /reports/billing":                         {Roles: all, Scoped: true},
	"GET /reports/billing.csv":                     {Roles: all, Scoped: true},
}

// ReadsReview reports whether c may read review notes and bookmarks.
func (c Caller) ReadsReview() bool { return Check("GET /api/v1/calls/{id}/notes", c, "") == nil }

// WritesReview reports whether c may write review notes.
func (c Caller) WritesReview() bool { return Check("POST /api/v1/calls/{id}/notes", c, "") == nil }

// WritesBookmarks reports whether c may add and remove bookmarks.
func (c Caller) WritesBookmarks() bool {
	return Check("POST /api/v1/calls/{id}/bookmarks", c, "") == nil
}
