package conventions

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// root is the repository's root, two levels up from this package.
const root = "../.."

// sourceFiles returns the non-test .go files under the given top-level
// directories, parsed, keyed by path relative to the root.
func sourceFiles(t *testing.T, fset *token.FileSet, dirs ...string) map[string]*ast.File {
	t.Helper()
	files := map[string]*ast.File{}
	for _, d := range dirs {
		err := filepath.WalkDir(filepath.Join(root, d), func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if e.IsDir() {
				if n := e.Name(); n == "testdata" || strings.HasPrefix(n, ".") {
					return filepath.SkipDir
				}
				return nil
			}
			if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
			if err != nil {
				return fmt.Errorf("parse %s: %w", p, err)
			}
			rel, _ := filepath.Rel(root, p)
			files[filepath.ToSlash(rel)] = f
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return files
}

// maxFuncLines is issue 12's limit on a function's body in appliance/ and
// central/: longer ones hide their phases (decision 0026).
const maxFuncLines = 100

func TestNoLongFunctions(t *testing.T) {
	fset := token.NewFileSet()
	var long []string
	for path, f := range sourceFiles(t, fset, "appliance", "central") {
		ast.Inspect(f, func(n ast.Node) bool {
			var body *ast.BlockStmt
			name := "a function literal"
			switch fn := n.(type) {
			case *ast.FuncDecl:
				body, name = fn.Body, fn.Name.Name
			case *ast.FuncLit:
				body = fn.Body
			}
			if body == nil {
				return true
			}
			lines := fset.Position(body.End()).Line - fset.Position(body.Pos()).Line
			if lines > maxFuncLines {
				long = append(long, fmt.Sprintf("%s:%d: %s is %d lines", path, fset.Position(body.Pos()).Line, name, lines))
			}
			return true
		})
	}
	sort.Strings(long)
	for _, l := range long {
		t.Errorf("%s (at most %d: split it into steps that each return how it goes on)", l, maxFuncLines)
	}
}

// maxPackageLines is issue 12's limit on a central package's non-test
// source: central grows by domain packages, not by one package growing.
const maxPackageLines = 3000

func TestNoLargeCentralPackages(t *testing.T) {
	lines := map[string]int{}
	err := filepath.WalkDir(filepath.Join(root, "central"), func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(p))
		lines[filepath.ToSlash(rel)] += strings.Count(string(b), "\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) < 5 {
		t.Fatalf("found only %d central packages: is the root wrong?", len(lines))
	}
	for pkg, n := range lines {
		if n > maxPackageLines {
			t.Errorf("%s has %d non-test lines (at most %d): split it by what it does", pkg, n, maxPackageLines)
		}
	}
}

// logMethods are slog's logging calls whose arguments after the message
// (or, for With, all of them) are key-value pairs.
var logMethods = map[string]int{
	"Debug": 1, "Info": 1, "Warn": 1, "Error": 1,
	"DebugContext": 2, "InfoContext": 2, "WarnContext": 2, "ErrorContext": 2,
	"With": 0,
}

// TestErrorLogKey: an error is logged under one key, "err", everywhere, so
// that one query finds every failure in the journal.
func TestErrorLogKey(t *testing.T) {
	fset := token.NewFileSet()
	for _, f := range sourceFiles(t, fset, "appliance", "central", "shared", "tools", "internal") {
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			start, ok := logMethods[sel.Sel.Name]
			if !ok {
				return true
			}
			for _, key := range logKeys(call.Args, start) {
				if key == "error" || key == "error_msg" || key == "e" {
					t.Errorf("%s: log key %q: use \"err\"", fset.Position(call.Pos()), key)
				}
			}
			return true
		})
	}
}

// logKeys returns the string-literal keys of slog's alternating key-value
// arguments from args[start:]; a non-literal in a key's place (a slog.Attr,
// a spread slice) is taken as one whole attribute.
func logKeys(args []ast.Expr, start int) []string {
	var keys []string
	for i := start; i < len(args); {
		lit, ok := args[i].(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			i++
			continue
		}
		if k, err := strconv.Unquote(lit.Value); err == nil {
			keys = append(keys, k)
		}
		i += 2
	}
	return keys
}

func TestLogKeysReadsPairs(t *testing.T) {
	src := `package p
func f() { log.Warn("msg", "call", id, slog.Int("n", 1), "error", err, "status", "error") }`
	f, err := parser.ParseFile(token.NewFileSet(), "p.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	ast.Inspect(f, func(n ast.Node) bool {
		if c, ok := n.(*ast.CallExpr); ok {
			if s, ok := c.Fun.(*ast.SelectorExpr); ok && s.Sel.Name == "Warn" {
				got = logKeys(c.Args, 1)
			}
		}
		return true
	})
	if strings.Join(got, ",") != "call,error,status" {
		t.Fatalf("keys %v, want call,error,status (a value \"error\" is not a key)", got)
	}
}

// TestOneWordForPeople: code names a person in prison "person", never
// "inmate"; the word stays only in string literals that are contracts (the
// API's paths and fields, sealed audit action names; decision 0026).
func TestOneWordForPeople(t *testing.T) {
	fset := token.NewFileSet()
	for _, f := range sourceFiles(t, fset, "appliance", "central", "shared") {
		ast.Inspect(f, func(n ast.Node) bool {
			if id, ok := n.(*ast.Ident); ok && strings.Contains(strings.ToLower(id.Name), "inmate") {
				t.Errorf("%s: identifier %s: say person (decision 0026)", fset.Position(id.Pos()), id.Name)
			}
			return true
		})
	}
}
