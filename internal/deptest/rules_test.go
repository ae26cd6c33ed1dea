package deptest_test

import (
	"testing"

	"github.com/kinline/kinline/internal/deptest"
)

// The repository's dependency rules (docs/decisions/0023). A failure names
// the import chain that breaks one; cut an edge of it (move the shared code
// to shared/, the cross-side test to hil-tests/, the test helper to
// internal/) rather than widen the rule.
var rules = []deptest.Rule{
	{
		Name:             "the appliance binary links no central, tool or test code",
		Packages:         []string{"./appliance/cmd/kinline-appliance"},
		Forbidden:        []string{"central", "tools", "hil-tests", "internal"},
		ForbiddenOutside: []string{"testing"},
	},
	{
		Name:             "the central binary links no appliance, tool or test code",
		Packages:         []string{"./central/cmd/kinline-central"},
		Forbidden:        []string{"appliance", "tools", "hil-tests", "internal"},
		ForbiddenOutside: []string{"testing"},
	},
	{
		Name:      "shared code, tests included, imports neither side nor tools",
		Packages:  []string{"./shared/..."},
		Tests:     true,
		Forbidden: []string{"appliance", "central", "tools", "hil-tests"},
	},
	{
		Name:      "central, tests included, imports nothing from the appliance or tools",
		Packages:  []string{"./central/..."},
		Tests:     true,
		Forbidden: []string{"appliance", "tools", "hil-tests"},
	},
	{
		Name:      "appliance code, tests included, imports nothing from central, tools or hil-tests",
		Packages:  []string{"./appliance/..."},
		Tests:     true,
		Forbidden: []string{"central", "hil-tests", "tools"},
	},
	{
		Name:      "the JSON API, tests included, does not know the console (central/server composes them)",
		Packages:  []string{"./central/api/..."},
		Tests:     true,
		Forbidden: []string{"central/web"},
	},
	{
		Name:      "the console, tests included, does not know the JSON API (central/server composes them)",
		Packages:  []string{"./central/web/..."},
		Tests:     true,
		Forbidden: []string{"central/api"},
	},
}

func TestDependencyRules(t *testing.T) {
	for _, r := range rules {
		t.Run(r.Name, func(t *testing.T) { deptest.Check(t, r) })
	}
}
