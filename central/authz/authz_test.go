package authz

import (
	"errors"
	"testing"

	"github.com/kinline/kinline/central/store"
)

func TestCheck(t *testing.T) {
	inv := Caller{Role: store.RoleInvestigator, UserID: "u1", MFA: false}
	if err := Check("GET /api/v1/calls/{id}/recording", inv, ""); !errors.Is(err, ErrSecondFactor) {
		t.Fatalf("no second factor: %v", err)
	}
	inv.MFA = true
	if err := Check("GET /api/v1/calls/{id}/recording", inv, ""); err != nil {
		t.Fatal(err)
	}
	if err := Check("GET /api/v1/calls/{id}/recording", Caller{Role: store.RoleFinance, MFA: true}, ""); !errors.Is(err, ErrForbidden) {
		t.Fatalf("finance playback: %v", err)
	}
	if err := Check("POST /api/v1/users/{id}/totp", inv, "u1"); err != nil {
		t.Fatalf("self enrol: %v", err)
	}
	if err := Check("POST /api/v1/users/{id}/totp", inv, "u2"); !errors.Is(err, ErrForbidden) {
		t.Fatalf("enrol other: %v", err)
	}
	// A token has no user id, so Self never matches it.
	if err := Check("POST /api/v1/users/{id}/totp", Caller{Role: store.RoleReadOnly, MFA: true}, ""); !errors.Is(err, ErrForbidden) {
		t.Fatalf("token self: %v", err)
	}
	if err := Check("GET /nowhere", inv, ""); !errors.Is(err, ErrUnknownRoute) {
		t.Fatalf("unknown: %v", err)
	}
	// Every rule names only known roles.
	for p, r := range Routes {
		if len(r.Roles) == 0 {
			t.Errorf("%s: no roles", p)
		}
		for _, role := range r.Roles {
			if store.UserRole(role) != role {
				t.Errorf("%s: unknown role %q", p, role)
			}
		}
	}
}

func TestScope(t *testing.T) {
	bo := Caller{Role: store.RoleBlockOfficer, Blocks: []string{"A"}}
	if bo.CheckBlock("A") != nil || !errors.Is(bo.CheckBlock("B"), ErrOutOfScope) || !errors.Is(bo.CheckBlock(""), ErrOutOfScope) {
		t.Fatal("officer scope")
	}
	if got := (Caller{Role: store.RoleBlockOfficer}).ScopeBlocks(); got == nil || len(got) != 0 {
		t.Fatalf("officer without blocks sees %v", got)
	}
	adm := Caller{Role: store.RoleSystemAdmin}
	if adm.CheckBlock("B") != nil || adm.ScopeBlocks() != nil {
		t.Fatal("admin scoped")
	}
}
