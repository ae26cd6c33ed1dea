package stack

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/kinline/kinline/central/config"
)

// The demo stack's console shows where its admin token is on the sign-in
// page (a real installation's shows nothing: the setting is empty by
// default).
func TestCentralConfigSignInHint(t *testing.T) {
	dir := t.TempDir()
	if _, err := Prepare(Options{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "central.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if want := "Demo: sign in with the admin token in " + filepath.Join(dir, "admin-token") + "."; c.Console.SignInHint != want {
		t.Fatalf("sign_in_hint = %q, want %q", c.Console.SignInHint, want)
	}
}
