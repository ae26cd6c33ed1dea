package server

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kinline/kinline/central/config"
	"github.com/kinline/kinline/shared/sign"
)

func TestKeyringFollowsFiles(t *testing.T) {
	dir := t.TempDir()
	cfg := &config.Config{ApplianceKeysDir: dir}
	k := newKeyring(cfg.ApplianceKeyFile, slog.New(slog.DiscardHandler))
	if _, ok := k.lookup("a1"); ok {
		t.Fatal("key found for an unprovisioned appliance")
	}
	if _, ok := k.lookup(".."); ok {
		t.Fatal("key found for id \"..\"")
	}
	if err := os.MkdirAll(filepath.Join(dir, "a1"), 0o755); err != nil {
		t.Fatal(err)
	}
	pub1, _, _ := sign.GenerateKey(nil)
	path := filepath.Join(dir, "a1", "event.pub")
	if err := sign.SavePublicKey(path, pub1); err != nil {
		t.Fatal(err)
	}
	if got, ok := k.lookup("a1"); !ok || !got.Equal(pub1) {
		t.Fatalf("lookup = %v, %v; want the saved key", got, ok)
	}
	// A re-provisioned appliance (new event key) is picked up without a
	// restart; the mtime is moved on explicitly so that a coarse clock
	// cannot hide the change.
	pub2, _, _ := sign.GenerateKey(nil)
	if err := sign.SavePublicKey(path, pub2); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	if got, ok := k.lookup("a1"); !ok || !got.Equal(pub2) {
		t.Fatalf("after re-provisioning lookup = %v, %v; want the new key", got, ok)
	}
	// A damaged or removed key refuses the appliance (fail closed).
	if err := os.WriteFile(path, []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, ok := k.lookup("a1"); ok {
		t.Fatal("damaged key accepted")
	}
	os.Remove(path)
	if _, ok := k.lookup("a1"); ok {
		t.Fatal("removed key accepted")
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:1883": true, "[::1]:1883": true, "localhost:1883": true, "0.0.0.0:1883": false, ":1883": false, "10.0.0.1:1883": false, "junk": false} {
		if isLoopback(addr) != want {
			t.Errorf("isLoopback(%q) = %v", addr, !want)
		}
	}
}
