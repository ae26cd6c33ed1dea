package deptest

import (
	"slices"
	"testing"
)

func TestFindNamesTheShortestChain(t *testing.T) {
	const m = "example.com/m"
	graph := map[string][]string{
		m + "/app/cmd":           {m + "/app/daemon", "fmt"},
		m + "/app/daemon":        {m + "/app/sync", m + "/shared/wire"},
		m + "/app/sync":          {m + "/central/store/pin", m + "/shared/wire"},
		m + "/shared/wire":       {"fmt"},
		m + "/central/store/pin": {"testing"},
		"fmt":                    nil,
		"testing":                {"fmt"},
	}
	roots := []string{m + "/app/cmd"}
	got := find(graph, roots, m, []string{"central"}, []string{"testing"})
	want := []Violation{{
		Package: "central/store/pin",
		Chain:   []string{"app/cmd", "app/daemon", "app/sync", "central/store/pin"},
	}}
	if len(got) != 1 || got[0].Package != want[0].Package || !slices.Equal(got[0].Chain, want[0].Chain) {
		t.Fatalf("find = %+v, want %+v", got, want)
	}
	if got[0].String() != "app/cmd -> app/daemon -> app/sync -> central/store/pin" {
		t.Errorf("String() = %q", got[0].String())
	}
	if got := find(graph, roots, m, []string{"centra", "app/cmdx"}, nil); len(got) != 0 {
		t.Errorf("prefixes matched inside a path element: %+v", got)
	}
	graph[m+"/app/cmd"] = append(graph[m+"/app/cmd"], "testing")
	if got := find(graph, roots, m, nil, []string{"testing"}); len(got) != 1 || !slices.Equal(got[0].Chain, []string{"app/cmd", "testing"}) {
		t.Errorf("outside prefix: %+v", got)
	}
}

func TestTestImportsAreFollowed(t *testing.T) {
	const m = "example.com/m"
	variant := m + "/app/callctl [" + m + "/app/callctl.test]"
	xtest := m + "/app/callctl_test [" + m + "/app/callctl.test]"
	graph := map[string][]string{
		m + "/app/callctl.test":  {variant, xtest},
		variant:                  {m + "/shared/wire"},
		xtest:                    {variant, m + "/hil-tests/sipprun"},
		m + "/hil-tests/sipprun": nil,
		m + "/shared/wire":       nil,
	}
	got := find(graph, []string{m + "/app/callctl.test"}, m, []string{"hil-tests"}, nil)
	want := []string{"app/callctl.test", "app/callctl_test [app/callctl.test]", "hil-tests/sipprun"}
	if len(got) != 1 || !slices.Equal(got[0].Chain, want) {
		t.Fatalf("find = %+v, want the chain %q", got, want)
	}
}

func TestViolationsRunsGoList(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list over a part of the module")
	}
	vs, err := Violations(Rule{Packages: []string{"./tools/provision"}, Forbidden: []string{"shared/sign"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) == 0 || vs[0].Chain[0] != "tools/provision" || vs[0].Package != "shared/sign" {
		t.Fatalf("Violations = %+v, want a chain from tools/provision to shared/sign", vs)
	}
}
