package eventlog

import (
	"strings"
	"testing"
)

// TestKindOfIsBounded: dispositions and reasons come from appliances; only
// the values the code knows become labels, the reason only for refusals.
func TestKindOfIsBounded(t *testing.T) {
	for _, c := range []struct {
		disp, reason string
		want         CallKind
	}{
		{"completed", "caller hung up", CallKind{"completed", ""}},
		{"refused", "number not approved", CallKind{"refused", "number not approved"}},
		{"refused", "recording storage full", CallKind{"refused", "recording storage full"}},
		{"refused", "<script>" + strings.Repeat("x", 1000), CallKind{"refused", "other"}},
		{"refused", "", CallKind{"refused", "other"}},
		{"exploded", "number not approved", CallKind{"other", ""}},
		{"appliance_restarted", "", CallKind{"appliance_restarted", ""}},
	} {
		if got := KindOf(c.disp, c.reason); got != c.want {
			t.Errorf("KindOf(%q, %.20q) = %+v, want %+v", c.disp, c.reason, got, c.want)
		}
	}
}
