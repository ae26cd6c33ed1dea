package conventions

import (
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeLinksResolve: README.md stands on its own. Every Markdown link
// that is not a web address, and every path in backquotes that starts at
// a top-level entry of the repository, names a file or directory that
// exists in it (a Go identifier after the path, as in
// `internal/testkit.NeedPeer`, names its package's directory); nothing
// points outside the repository ("../").
func TestReadmeLinksResolve(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	refs, outside := readmeRefs(t, string(b))
	for _, o := range outside {
		t.Errorf("README.md points outside the repository: %q", o)
	}
	for _, p := range refs {
		if !refExists(p) {
			t.Errorf("README.md names %q, which is not in the repository", p)
		}
	}
}

// readmeRefs returns the repository paths README text refers to, and the
// references that leave the repository.
func readmeRefs(t *testing.T, text string) (refs, outside []string) {
	t.Helper()
	top := map[string]bool{}
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		top[e.Name()] = true
	}
	for _, m := range regexp.MustCompile(`\]\(([^)\s]+)\)`).FindAllStringSubmatch(text, -1) {
		target := m[1]
		if u, err := url.Parse(target); err == nil && (u.Scheme != "" || strings.HasPrefix(target, "#")) {
			continue // a web address or an anchor
		}
		refs = append(refs, strings.SplitN(target, "#", 2)[0])
	}
	for _, m := range regexp.MustCompile("`([^`\\s]+)`").FindAllStringSubmatch(text, -1) {
		p := strings.TrimPrefix(m[1], "./")
		if strings.HasPrefix(p, "../") {
			outside = append(outside, m[1])
			continue
		}
		if first, _, ok := strings.Cut(p, "/"); ok && top[first] {
			refs = append(refs, p)
		}
	}
	kept := refs[:0]
	for _, r := range refs {
		if strings.HasPrefix(r, "../") || strings.HasPrefix(r, "/") {
			outside = append(outside, r)
		} else {
			kept = append(kept, r)
		}
	}
	return kept, outside
}

// refExists reports whether p names a file or directory under root, or a
// Go identifier in one (dir/pkg.Name).
func refExists(p string) bool {
	if _, err := os.Stat(filepath.Join(root, p)); err == nil {
		return true
	}
	dir, base := filepath.Split(p)
	if pkg, _, ok := strings.Cut(base, "."); ok && dir != "" {
		if st, err := os.Stat(filepath.Join(root, dir, pkg)); err == nil && st.IsDir() {
			return true
		}
	}
	return false
}

// TestReadmeRefsCatch: the checks above catch links out of the
// repository and paths that do not exist.
func TestReadmeRefsCatch(t *testing.T) {
	refs, outside := readmeRefs(t, "see [the guide](docs/NOPE.md), [site](https://example.org/x), `tools/nope/x.go`, `/etc/kinline/central.yaml`, `internal/testkit.NeedPeer`, `../shared/DESIGN.md`, [brief](../shared/DESIGN.md)")
	if len(outside) != 2 {
		t.Errorf("outside %q, want the two ../shared/DESIGN.md", outside)
	}
	want := map[string]bool{"docs/NOPE.md": false, "tools/nope/x.go": false, "internal/testkit.NeedPeer": true}
	if len(refs) != len(want) {
		t.Fatalf("refs %q, want %v", refs, want)
	}
	for _, r := range refs {
		if exists, ok := want[r]; !ok || refExists(r) != exists {
			t.Errorf("%q: exists %v, want %v (known %v)", r, refExists(r), exists, ok)
		}
	}
}
