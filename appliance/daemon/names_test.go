package daemon

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/authz"
	"github.com/kinline/kinline/appliance/config"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/recstore"
	"github.com/kinline/kinline/shared/wire"
)

// TestNameStoreKeepsReplacesAndNamesFromPolicy: a recorded name is kept
// under the data dir by hashed person id, replaced by a new recording,
// absent for others, bounded in size; Identity reads the person's and
// the prison's names from the policy in force.
func TestNameStoreKeepsReplacesAndNamesFromPolicy(t *testing.T) {
	a := authz.New(clock.NewFake(time.Unix(1e9, 0)), time.Minute)
	a.SetPolicy(&wire.Policy{Version: 1, Prison: "HMP Northfield", People: []wire.Person{{ID: "p/../1", Name: "Ana Pérez", Status: wire.StatusActive}}})
	dir := t.TempDir()
	s := &System{Config: &config.Config{DataDir: dir}, Authz: a}
	n := s.names(recstore.Key{})
	if _, ok, err := n.RecordedName("p/../1"); ok || err != nil {
		t.Fatalf("name before any recording: ok %v err %v", ok, err)
	}
	first := bytes.Repeat([]byte{0x11}, 8000)
	if err := n.SaveName("p/../1", first); err != nil {
		t.Fatal(err)
	}
	if err := n.SaveName("p/../1", bytes.Repeat([]byte{0x22}, 4000)); err != nil {
		t.Fatal(err)
	}
	got, ok, err := n.RecordedName("p/../1")
	if err != nil || !ok || !bytes.Equal(got, bytes.Repeat([]byte{0x22}, 4000)) {
		t.Fatalf("re-recorded name: %d bytes ok %v err %v", len(got), ok, err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "names", "*"))
	if len(files) != 1 || filepath.Dir(files[0]) != filepath.Join(dir, "names") {
		t.Fatalf("files under names/: %v (one, inside the store)", files)
	}
	if _, ok, _ := n.RecordedName("p-2"); ok {
		t.Fatal("another person has the name")
	}
	if err := n.SaveName("p-2", make([]byte, maxNameBytes+1)); !errors.Is(err, ErrName) {
		t.Fatalf("oversized name: %v", err)
	}
	if err := os.WriteFile(n.path("p-3"), make([]byte, maxNameBytes+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := n.RecordedName("p-3"); ok || !errors.Is(err, ErrName) {
		t.Fatalf("oversized file read: ok %v err %v", ok, err)
	}
	if name, prison := n.Identity("p/../1"); name != "Ana Pérez" || prison != "HMP Northfield" {
		t.Fatalf("Identity = %q, %q", name, prison)
	}
	if name, prison := n.Identity("nobody"); name != "" || prison != "HMP Northfield" {
		t.Fatalf("Identity of an unknown person = %q, %q", name, prison)
	}
}

// TestNameStoreEncryptedWithRecordingKey: with the recording key, a
// recorded name (a person's voice) is stored encrypted: the file holds
// none of the audio, reads back through the key, and another key cannot
// read it.
func TestNameStoreEncryptedWithRecordingKey(t *testing.T) {
	key, err := recstore.NewKey(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := &System{Config: &config.Config{DataDir: dir}, Authz: authz.New(clock.NewFake(time.Unix(1e9, 0)), time.Minute)}
	n := s.names(key)
	voice := bytes.Repeat([]byte{0x5A, 0xA5, 0x3C}, 3000)
	if err := n.SaveName("p1", voice); err != nil {
		t.Fatal(err)
	}
	if err := n.SaveName("p1", voice); err != nil { // re-recorded
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "names", "*"))
	if len(files) != 1 || filepath.Ext(files[0]) != ".enc" {
		t.Fatalf("files under names/: %v (one .enc)", files)
	}
	raw, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, voice[:64]) {
		t.Fatal("the name file holds the audio in the clear")
	}
	got, ok, err := n.RecordedName("p1")
	if err != nil || !ok || !bytes.Equal(got, voice) {
		t.Fatalf("decrypted name: %d bytes ok %v err %v", len(got), ok, err)
	}
	other, _ := recstore.NewKey(bytes.Repeat([]byte{8}, 32))
	if _, ok, err := s.names(other).RecordedName("p1"); ok || !errors.Is(err, ErrName) {
		t.Fatalf("read with another key: ok %v err %v", ok, err)
	}
}
