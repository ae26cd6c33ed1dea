package authz

import (
	"testing"

	"github.com/kinline/kinline/central/store"
)

func TestReviewRights(t *testing.T) {
	for role, want := range map[string][2]bool{ // reads, writes
		store.RoleSystemAdmin:  {true, true},
		store.RoleInvestigator: {true, true},
		store.RoleReadOnly:     {true, false},
		store.RoleFinance:      {false, false},
		store.RoleBlockOfficer: {true, true}, // their blocks' calls' notes
	} {
		c := Caller{Role: role, Blocks: []string{"A"}}
		if want := role == store.RoleSystemAdmin || role == store.RoleInvestigator; c.WritesBookmarks() != want {
			t.Errorf("%s: writes bookmarks %v, want %v", role, c.WritesBookmarks(), want)
		}
		if c.ReadsReview() != want[0] || c.WritesReview() != want[1] {
			t.Errorf("%s: reads %v writes %v, want %v", role, c.ReadsReview(), c.WritesReview(), want)
		}
		// Console and API agree.
		for _, p := range [][2]string{{"POST /calls/{id}/notes", "POST /api/v1/calls/{id}/notes"},
			{"POST /calls/{id}/bookmarks", "POST /api/v1/calls/{id}/bookmarks"}, {"GET /api/v1/calls/{id}/bookmarks", "GET /api/v1/calls/{id}/notes"}} {
			if (Check(p[0], c, "") == nil) != (Check(p[1], c, "") == nil) {
				t.Errorf("%s: %s and %s disagree", role, p[0], p[1])
			}
		}
		// Statistics and reports: everyone, officers scoped.
		for _, p := range []string{"GET /api/v1/stats/{by}", "GET /stats", "GET /reports/billing", "GET /reports/billing.csv", "GET /calls/export"} {
			if Check(p, c, "") != nil || !Routes[p].Scoped {
				t.Errorf("%s: %s refused or not scoped", role, p)
			}
		}
	}
}
