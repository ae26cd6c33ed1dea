package testkit_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// peerCall matches a NeedPeer, OptionalPeer or MissingPeer call whose
// Debian package is a string literal.
var peerCall = regexp.MustCompile(`(?:NeedPeer|OptionalPeer|MissingPeer)\([^()]*?,\s*"([^"]+)"\)`)

// TestCIInstallsEveryPeer: every Debian package a test names for a peer is
// one .ci/run installs, so that KINLINE_REQUIRE_PEERS=1 there never fails
// for a peer CI forgot.
func TestCIInstallsEveryPeer(t *testing.T) {
	const root = "../.."
	ci, err := os.ReadFile(filepath.Join(root, ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	installs := map[string]bool{}
	for _, f := range strings.Fields(string(ci)) {
		installs[f] = true
	}
	self, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if abs, _ := filepath.Abs(path); abs == self || d.Name() == ".git" || d.Name() == "node_modules" {
				return filepath.SkipDir // testkit's own tests name made-up packages
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range peerCall.FindAllStringSubmatch(string(b), -1) {
			found++
			if !installs[m[1]] {
				t.Errorf("%s needs Debian package %s, which .ci/run does not install", path, m[1])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found == 0 {
		t.Fatal("no peer check found: the pattern no longer matches the calls")
	}
	t.Logf("%d peer checks, each of a package .ci/run installs", found)
}
