package authz

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/users"
)

// TestAccessOfTokens: a token's caller has a second factor only when its
// owner has one, and a refusal then says what to do; token routes are
// open to every role, whose owner scope keeps them to their own tokens.
func TestAccessOfTokens(t *testing.T) {
	exp := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tok := &users.Token{ID: "t_1", Name: "play", Role: store.RoleInvestigator, Owner: "u_ivy", Expires: &exp}
	c := TokenCaller(tok)
	err := Check("GET /api/v1/calls/{id}/recording", c, "c1")
	if !errors.Is(err, ErrSecondFactor) || !errors.Is(err, ErrTokenSecondFactor) || !strings.Contains(err.Error(), "enrols TOTP") {
		t.Fatalf("token without the owner's TOTP: %v", err)
	}
	for _, p := range []string{"GET /api/v1/export/{file}", "GET /api/v1/audit.csv"} {
		if err := Check(p, TokenCaller(&users.Token{Role: store.RoleSystemAdmin, ID: "t_2"}), ""); !errors.Is(err, ErrTokenSecondFactor) {
			t.Errorf("%s: %v", p, err)
		}
	}
	tok.OwnerTOTP = true
	if c = TokenCaller(tok); Check("GET /api/v1/calls/{id}/recording", c, "c1") != nil {
		t.Fatal("token with the owner's TOTP refused")
	}
	if c.UserID != "" || c.TokenOwner() != "u_ivy" || c.TokenScope() != "u_ivy" || c.TokenExpires == nil {
		t.Fatalf("token caller %+v", c)
	}
	// A token never uses Self rules (its owner's TOTP, its owner's user).
	if err := Check("POST /api/v1/users/{id}/totp", c, "u_ivy"); !errors.Is(err, ErrForbidden) {
		t.Fatalf("token enrols its owner's TOTP: %v", err)
	}
	for _, role := range store.UserRoles {
		for _, p := range []string{"GET /api/v1/tokens", "POST /api/v1/tokens", "DELETE /api/v1/tokens/{id}", "POST /api/v1/tokens/{id}/revoke", "GET /tokens", "POST /tokens", "POST /tokens/{id}/revoke"} {
			if err := Check(p, Caller{Role: role, UserID: "u_x", MFA: true}, ""); err != nil {
				t.Errorf("%s as %s: %v", p, role, err)
			}
		}
	}
	if (Caller{Role: store.RoleSystemAdmin, UserID: "u_a"}).TokenScope() != "" || (Caller{Role: store.RoleFinance}).TokenScope() != "-" {
		t.Fatal("token scope: an admin sees all, a caller without a user none")
	}
}
