package callctl_test

import (
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/callctl"
	"github.com/kinline/kinline/internal/sipprun"
)

// TestHotlineTrunkGetsNormalizedNumber: a number keyed at the hotline
// with the international prefix 00 is placed on the trunk (a sipp UAS,
// here busy) as the E.164 number the policy matched, +34..., not as the
// keys were pressed; the person still hears the keys read back.
func TestHotlineTrunkGetsNormalizedNumber(t *testing.T) {
	sipprun.Need(t)
	trunk := sipprun.Start(t, 0, "trunk_busy.xml")
	h := startHotline(t, hotlineOpts{cfg: func(c *callctl.Config) { c.Trunk.Address = trunk.Addr() }})
	c := h.dialHotline(t)
	ctx := ctxT(t)
	for _, keys := range []string{"1234#", "1", "0034911234567#"} {
		if err := c.SendDTMF(ctx, keys); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case ar := <-h.auths:
		if ar.Number != "0034911234567" {
			t.Fatalf("authorizer asked about %q", ar.Number)
		}
	case <-time.After(waitLong):
		t.Fatal("never authorized")
	}
	if err := trunk.Wait(t); err != nil {
		t.Fatalf("sipp trunk: %v", err)
	}
	msgs := trunk.Messages()
	if !strings.Contains(msgs, "INVITE sip:+34911234567@") {
		line, _, _ := strings.Cut(msgs[strings.Index(msgs, "INVITE"):], "\n")
		t.Fatalf("the trunk was asked for %q, want sip:+34911234567@...", line)
	}
	if rec := h.record(t); rec.Number != "+34911234567" {
		t.Fatalf("record number %q", rec.Number)
	}
}
