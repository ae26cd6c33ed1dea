package deptest_test

import (
	"slices"
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
	// The JSON API's and the console's areas (handlers or pages with their
	// answers or views, e.g. central/api/finance, central/web/finance) build
	// on their side's shared packages (httpjson and openapi; page, format,
	// signin, ...) and never on each other; package api and package web
	// compose them. The shared packages know no area.
	{
		Name:      "the JSON API's shared packages import none of its areas",
		Packages:  []string{"./central/api/httpjson", "./central/api/openapi"},
		Forbidden: areas("central/api", apiAreas),
	},
	{
		Name:      "the console's shared packages import none of its areas",
		Packages:  []string{"./central/web/page", "./central/web/format", "./central/web/chart", "./central/web/signin", "./central/web/importjob"},
		Forbidden: areas("central/web", webAreas),
	},
	// The central store's domain packages (docs/decisions/0022) are built
	// on the core and do not build on each other; reports reads the
	// tables' formats, and the import (tables) checks rows with the
	// people's rules, so reports reaches people through tables. Their
	// tests may build fixtures with another domain (a person to charge, a
	// rate to publish), as central does; the core's tests may not.
	{
		Name:      "the core store imports none of its domain packages",
		Packages:  []string{"./central/store"},
		Tests:     true,
		Forbidden: storeDomains(),
	},
	// The core's lower layers (docs/decisions/0028): the core imports
	// them, so they cannot import it or its domain packages (a cycle);
	// they import nothing else of central either, and of each other only
	// sqldb (the databases and the dialect).
	{
		Name:      "central/store/sqldb imports nothing of central",
		Packages:  []string{"./central/store/sqldb"},
		Tests:     true,
		Forbidden: storeLayerForbidden(),
	},
	{
		Name:      "central/store/schema builds on sqldb alone",
		Packages:  []string{"./central/store/schema"},
		Tests:     true,
		Forbidden: storeLayerForbidden("central/store/schema"),
	},
	{
		Name:      "central/store/eventlog builds on sqldb alone",
		Packages:  []string{"./central/store/eventlog"},
		Tests:     true,
		Forbidden: storeLayerForbidden("central/store/eventlog"),
	},
	{
		Name:      "central/store/users builds on the core alone",
		Packages:  []string{"./central/store/users"},
		Forbidden: storeDomains("users"),
	},
	{
		Name:      "central/store/people builds on the core alone",
		Packages:  []string{"./central/store/people"},
		Forbidden: storeDomains("people"),
	},
	{
		Name:      "central/store/money builds on the core alone",
		Packages:  []string{"./central/store/money"},
		Forbidden: storeDomains("money"),
	},
	{
		Name:      "central/store/tables builds on the core and the people's rules",
		Packages:  []string{"./central/store/tables"},
		Forbidden: storeDomains("tables", "people"),
	},
	{
		Name:      "central/store/reports builds on the core and the tables' formats",
		Packages:  []string{"./central/store/reports"},
		Forbidden: storeDomains("reports", "tables", "people"),
	},
	{
		Name:      "ingest publishes policies through its Store interface, not the builder or the domain packages",
		Packages:  []string{"./central/ingest"},
		Forbidden: append(storeDomains(), "central/ingest/policysnap"),
	},
}

// apiAreas and webAreas are the JSON API's and the console's area
// packages, under central/api and central/web.
var (
	apiAreas = []string{"review", "finance", "consoleusers", "commands"}
	webAreas = []string{"finance"}
)

// areas are the area packages under dir but allowed.
func areas(dir string, all []string, allowed ...string) []string {
	var out []string
	for _, a := range all {
		if !slices.Contains(allowed, a) {
			out = append(out, dir+"/"+a)
		}
	}
	return out
}

// areaRules: each area of the JSON API and of the console imports no
// other area of its side.
func areaRules() []deptest.Rule {
	var out []deptest.Rule
	for _, side := range []struct {
		dir   string
		areas []string
	}{{"central/api", apiAreas}, {"central/web", webAreas}} {
		for _, a := range side.areas {
			out = append(out, deptest.Rule{
				Name:      side.dir + "/" + a + " imports no other area of " + side.dir,
				Packages:  []string{"./" + side.dir + "/" + a},
				Forbidden: areas(side.dir, side.areas, a),
			})
		}
	}
	return out
}

// storeDomains are the central store's domain packages but allowed.
func storeDomains(allowed ...string) []string {
	var out []string
	for _, d := range []string{"users", "people", "tables", "reports", "money"} {
		if !slices.Contains(allowed, d) {
			out = append(out, "central/store/"+d)
		}
	}
	return out
}

// storeLayerForbidden is what the core's lower layers may not import: the
// rest of central (the core itself is a cycle already) and the store's
// other subpackages but sqldb, except the package itself (its own tests).
func storeLayerForbidden(self ...string) []string {
	out := []string{"central/api", "central/authz", "central/broker", "central/callquery", "central/cmd", "central/config",
		"central/ingest", "central/photo", "central/recordings", "central/server", "central/web"}
	for _, d := range append(storeDomains(), "central/store/totp", "central/store/storetest", "central/store/pgtest",
		"central/store/schema", "central/store/eventlog") {
		if !slices.Contains(self, d) {
			out = append(out, d)
		}
	}
	return out
}

func TestDependencyRules(t *testing.T) {
	for _, r := range append(rules, areaRules()...) {
		t.Run(r.Name, func(t *testing.T) { deptest.Check(t, r) })
	}
}
