package daemon

import (
	"testing"

	"github.com/kinline/kinline/appliance/authz"
	"github.com/kinline/kinline/shared/ledger"
)

// TestAuthResultDestinationType: call control gets the destination type of
// the rate an allowed call is priced at, for trunk routes; none for an
// unrated or refused call.
func TestAuthResultDestinationType(t *testing.T) {
	for _, c := range []struct {
		res  authz.Result
		want string
	}{
		{authz.Result{Allowed: true, Rated: true, Rate: ledger.Rate{DestinationType: ledger.Mobile}}, "mobile"},
		{authz.Result{Allowed: true, Rated: true, Rate: ledger.Rate{DestinationType: ledger.International}}, "international"},
		{authz.Result{Allowed: true}, ""},
		{authz.Result{Allowed: false, Rated: true, Rate: ledger.Rate{DestinationType: ledger.Mobile}}, ""},
	} {
		if got := authResult(c.res).DestinationType; got != c.want {
			t.Errorf("%+v: destination type %q, want %q", c.res, got, c.want)
		}
	}
}
