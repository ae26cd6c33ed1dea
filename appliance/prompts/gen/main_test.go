package main

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/prompts"
	"github.com/kinline/kinline/internal/testkit"
)

// Regenerating with the same tool versions reproduces the committed
// assets byte for byte (so the manifest's SHA-256 sums are meaningful).
func TestRegenerationIsByteIdentical(t *testing.T) {
	for _, tool := range []string{"espeak-ng", "sox"} {
		testkit.NeedPeer(t, tool, tool)
	}
	m, err := prompts.LoadManifest()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, tc := range []struct{ tool, have string }{{"espeak-ng", m.EspeakNG}, {"sox", m.Sox}} {
		v, err := toolVersion(ctx, tc.tool, "--version")
		if err != nil {
			t.Fatal(err)
		}
		if v != tc.have {
			t.Skipf("installed %s is %q, the assets were made with %q: byte identity is only promised for the same version", tc.tool, v, tc.have)
		}
	}
	dir := t.TempDir()
	if err := generate(ctx, dir, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if err := compare(dir, "../assets"); err != nil {
		t.Fatal(err)
	}
}
