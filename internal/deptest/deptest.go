// Package deptest checks which packages a set of packages may depend on,
// from `go list -deps` (tailscale's tstest/deptest is the model). A Rule
// names the packages it covers, whether their tests' imports count too,
// and the import path prefixes they must not reach, directly or through
// anything in between; a violation is reported with the whole import chain
// that reaches the forbidden package, so the edge to cut is plain.
//
// The repository's own rules are in this package's tests, so `go test
// ./...` (and `make test`) enforces them.
package deptest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// Rule is one dependency rule.
type Rule struct {
	// Name says what the rule protects; failures start with it.
	Name string
	// Packages are `go list` patterns relative to the module root, such as
	// "./shared/..." or "./appliance/cmd/kinline-appliance".
	Packages []string
	// Tests makes the packages' test files' imports count too
	// (`go list -deps -test`). Without it only what the packages link is
	// checked.
	Tests bool
	// Forbidden are module-relative import path prefixes ("central",
	// "tools"). A prefix matches the path itself and everything under it.
	Forbidden []string
	// ForbiddenOutside are import path prefixes outside the module, such as
	// "testing" for a binary, matched the same way.
	ForbiddenOutside []string
}

// Violation is one forbidden package reached, with the shortest import
// chain from one of the rule's packages to it.
type Violation struct {
	Package string   // the forbidden package, module-relative
	Chain   []string // the importing chain, first the rule's package, last Package
}

func (v Violation) String() string { return strings.Join(v.Chain, " -> ") }

// ErrGoList is wrapped by the errors of running the go command.
var ErrGoList = errors.New("deptest: go command failed")

// pkg is the part of `go list -json` output that is read.
type pkg struct {
	ImportPath string
	Module     *struct{ Path string }
	Imports    []string
	DepOnly    bool
	Error      *struct{ Err string }
}

// Check fails t with one error per violation of r, each naming the rule
// and the import chain.
func Check(t testing.TB, r Rule) {
	t.Helper()
	vs, err := Violations(r)
	if err != nil {
		t.Fatalf("%s: %v", r.Name, err)
	}
	for _, v := range vs {
		t.Errorf("%s: forbidden import of %s:\n\t%s", r.Name, v.Package, v.String())
	}
}

// Violations lists r's violations, sorted by forbidden package. The module
// is the one holding the current directory; r's patterns are relative to
// its root.
func Violations(r Rule) ([]Violation, error) {
	gomod, err := goCmd("", "env", "GOMOD")
	if err != nil {
		return nil, err
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	modPath, err := goCmd(root, "list", "-m")
	if err != nil {
		return nil, err
	}
	module := strings.TrimSpace(string(modPath))
	args := []string{"-deps", "-json=ImportPath,Module,Imports,DepOnly,Error"}
	if r.Tests {
		args = append(args, "-test")
	}
	out, err := goCmd(root, append(append([]string{"list"}, args...), r.Packages...)...)
	if err != nil {
		return nil, err
	}
	graph := map[string][]string{}
	var roots []string
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("%w: decoding its output: %w", ErrGoList, err)
		}
		if p.Error != nil {
			return nil, fmt.Errorf("%w: %s: %s", ErrGoList, p.ImportPath, p.Error.Err)
		}
		graph[p.ImportPath] = p.Imports
		if !p.DepOnly {
			roots = append(roots, p.ImportPath)
		}
	}
	sort.Strings(roots)
	return find(graph, roots, module, r.Forbidden, r.ForbiddenOutside), nil
}

// find walks graph breadth first from each root and returns the forbidden
// packages reached: for each import of a forbidden package (each importer),
// the shortest chain from a root through that importer.
func find(graph map[string][]string, roots []string, module string, forbidden, outside []string) []Violation {
	rel := func(path string) string {
		return strings.ReplaceAll(path, module+"/", "")
	}
	bad := func(path string) bool {
		// A test variant is named "path [path.test]"; its own path counts.
		path, _, _ = strings.Cut(path, " ")
		path = strings.TrimSuffix(path, ".test")
		if path != module && !strings.HasPrefix(path, module+"/") {
			return matches(path, outside)
		}
		return matches(rel(path), forbidden)
	}
	found := map[[2]string][]string{} // importer, forbidden package -> chain
	for _, root := range roots {
		parent := map[string]string{}
		seen := map[string]bool{root: true}
		queue := []string{root}
		for len(queue) > 0 {
			p := queue[0]
			queue = queue[1:]
			if bad(p) {
				chain := []string{rel(p)}
				for q := p; q != root; {
					q = parent[q]
					chain = append([]string{rel(q)}, chain...)
				}
				key := [2]string{parent[p], p}
				if old, ok := found[key]; !ok || len(chain) < len(old) {
					found[key] = chain
				}
				continue // what a forbidden package imports is its own matter
			}
			for _, imp := range graph[p] {
				if !seen[imp] {
					seen[imp] = true
					parent[imp] = p
					queue = append(queue, imp)
				}
			}
		}
	}
	vs := make([]Violation, 0, len(found))
	for _, chain := range found {
		vs = append(vs, Violation{Package: chain[len(chain)-1], Chain: chain})
	}
	sort.Slice(vs, func(i, j int) bool {
		if vs[i].Package != vs[j].Package {
			return vs[i].Package < vs[j].Package
		}
		return strings.Join(vs[i].Chain, " ") < strings.Join(vs[j].Chain, " ")
	})
	return vs
}

func matches(path string, prefixes []string) bool {
	for _, p := range prefixes {
		p = strings.TrimSuffix(p, "/")
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

// goCmd runs the go command with args in dir (the current directory if
// empty) and returns its standard output.
func goCmd(dir string, args ...string) ([]byte, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%w: go %s: %w: %s", ErrGoList, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}
