package hiltests

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/kinline/kinline/central/authz"
)

// installDoc is the deployer's guide this test keeps true.
const installDoc = "../docs/INSTALL.md"

// fenced returns the bodies of docs's code blocks of language lang.
func fenced(doc, lang string) []string {
	var out []string
	for _, part := range strings.Split(doc, "```"+lang+"\n")[1:] {
		if end := strings.Index(part, "```"); end >= 0 {
			out = append(out, part[:end])
		}
	}
	return out
}

// shellLines joins continued lines and drops comments.
func shellLines(block string) []string {
	var out []string
	for _, l := range strings.Split(strings.ReplaceAll(block, "\\\n", " "), "\n") {
		if i := strings.Index(l, " #"); i >= 0 {
			l = l[:i]
		}
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// ourCommand matches a command line that runs one of Kinline's binaries
// (as its first word, after an optional sudo -u USER), with its arguments.
var ourCommand = regexp.MustCompile(`^(?:sudo -u \S+ )?(?:bin/|/usr/bin/)?(kinline-[a-z]+)((?:\s+[^\s|&;]+)*)`)

// subcommands are the binaries whose first word is a subcommand, and
// those subcommands.
var subcommands = map[string][]string{
	"kinline-central":   {"backup", "restore", "rotate-admin-token"},
	"kinline-provision": {"init", "server", "appliance", "revoke", "list", "mosquitto"},
	"kinline-sipsim":    {"port", "family"},
	"kinline-readersim": {"tap", "present", "remove"},
}

// TestInstallGuideMatchesTheBinaries: every command line of docs/INSTALL.md
// that runs one of Kinline's binaries names a subcommand and flags that
// binary has; every YAML snippet uses keys the documented example config
// has; every API route it names is one central serves; every relative link
// resolves. A renamed flag or key fails here, not at a deployer's desk.
func TestInstallGuideMatchesTheBinaries(t *testing.T) {
	b, err := os.ReadFile(installDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	bins := buildInstallTools(t)
	checked := 0
	for _, block := range fenced(doc, "sh") {
		for _, line := range shellLines(block) {
			for _, m := range ourCommand.FindAllStringSubmatch(line, -1) {
				name, args := m[1], strings.Fields(m[2])
				if bins[name] == "" {
					continue // kinline-appliance and the demo are started by systemd and make
				}
				checkInvocation(t, bins[name], name, args, line)
				checked++
			}
		}
	}
	if checked < 8 {
		t.Fatalf("only %d command lines of our binaries found in %s: is the parser broken?", checked, installDoc)
	}
	checkYAMLSnippets(t, doc)
	checkRoutes(t, doc)
	for _, m := range regexp.MustCompile(`\]\(([^)#:]+)\)`).FindAllStringSubmatch(doc, -1) {
		if _, err := os.Stat(filepath.Join(filepath.Dir(installDoc), m[1])); err != nil {
			t.Errorf("link %s: %v", m[1], err)
		}
	}
}

// buildInstallTools builds the tools the guide runs (central is built by
// TestMain, with a release version).
func buildInstallTools(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	bins := map[string]string{"kinline-central": filepath.Join(binDir, "kinline-central")}
	for name, pkg := range map[string]string{
		"kinline-provision": "../tools/provision",
		"kinline-sipsim":    "../tools/sipsim/cmd/kinline-sipsim",
		"kinline-readersim": "../tools/readersim",
	} {
		out := filepath.Join(dir, name)
		if b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", name, err, b)
		}
		bins[name] = out
	}
	return bins
}

// checkInvocation runs bin [sub] -h and checks every flag of args is in
// its usage.
func checkInvocation(t *testing.T, bin, name string, args []string, line string) {
	t.Helper()
	help := []string{"-h"}
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		if subs, ok := subcommands[name]; ok {
			found := false
			for _, s := range subs {
				found = found || s == args[0]
			}
			if !found {
				t.Errorf("%q: %s has no subcommand %q", line, name, args[0])
				return
			}
			help = []string{args[0], "-h"}
		}
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, help...)
	cmd.Stdout, cmd.Stderr = &out, &out
	_ = cmd.Run() // -h exits 0 or 2 depending on the flag package's use
	usage := out.String()
	for _, a := range args {
		if !strings.HasPrefix(a, "-") || a == "-" {
			continue
		}
		flagName, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !regexp.MustCompile(`(?m)^\s+-` + regexp.QuoteMeta(flagName) + `\b`).MatchString(usage) {
			t.Errorf("%q: %s %v has no flag -%s; its usage:\n%s", line, name, help[:len(help)-1], flagName, usage)
		}
	}
}

// checkYAMLSnippets checks each YAML block's keys against the example
// config of the binary it configures.
func checkYAMLSnippets(t *testing.T, doc string) {
	t.Helper()
	examples := map[bool]string{false: "../central/cmd/kinline-central/example.yaml", true: "../appliance/cmd/kinline-appliance/example.yaml"}
	blocks := fenced(doc, "yaml")
	if len(blocks) < 2 {
		t.Fatalf("%d YAML snippets in %s, want the central and the appliance one", len(blocks), installDoc)
	}
	for _, block := range blocks {
		var snippet map[string]any
		if err := yaml.Unmarshal([]byte(block), &snippet); err != nil {
			t.Fatalf("snippet does not parse: %v\n%s", err, block)
		}
		_, appliance := snippet["appliance_id"]
		b, err := os.ReadFile(examples[appliance])
		if err != nil {
			t.Fatal(err)
		}
		var example map[string]any
		if err := yaml.Unmarshal(b, &example); err != nil {
			t.Fatal(err)
		}
		for _, missing := range missingKeys("", snippet, example) {
			t.Errorf("%s: key %s is not in %s", installDoc, missing, examples[appliance])
		}
	}
}

// missingKeys lists the key paths of got that want does not have.
func missingKeys(prefix string, got, want map[string]any) []string {
	var out []string
	for k, v := range got {
		w, ok := want[k]
		if !ok {
			out = append(out, prefix+k)
			continue
		}
		if gm, ok := v.(map[string]any); ok {
			if wm, ok := w.(map[string]any); ok {
				out = append(out, missingKeys(prefix+k+".", gm, wm)...)
			}
		}
	}
	return out
}

// checkRoutes checks every "METHOD /api/v1/..." of the guide is a route of
// the access matrix (so one the API registers: api.New refuses any other),
// and every bare /api/v1/... path some method's.
func checkRoutes(t *testing.T, doc string) {
	t.Helper()
	n := 0
	for _, m := range regexp.MustCompile("(GET|POST|PUT|PATCH|DELETE) (/api/v1/[^\\s`),]+)").FindAllStringSubmatch(doc, -1) {
		n++
		if _, ok := authz.Routes[m[1]+" "+m[2]]; !ok {
			t.Errorf("%s names %s %s, which central does not serve", installDoc, m[1], m[2])
		}
	}
	if n < 8 {
		t.Fatalf("only %d routes found in %s: is the pattern broken?", n, installDoc)
	}
}
