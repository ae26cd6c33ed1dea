package hiltests

import (
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/internal/readersim"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/tools/stack"
)

// hilVersion is the release the binaries are built with, as make build
// sets it (shared/version).
const hilVersion = "v0.0.0-hil"

// binDir holds the binaries built for this run.
var binDir string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("hil-tests: skipped in -short mode")
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "kinline-hil-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	cmd := exec.Command("go", "build", "-ldflags", "-X github.com/kinline/kinline/shared/version.Version="+hilVersion,
		"-o", dir+"/", "../appliance/cmd/kinline-appliance", "../central/cmd/kinline-central")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "hil-tests: building the binaries:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is one installation under test: central, an appliance and a PN532
// reader simulator, with logs dumped when the test fails.
type env struct {
	*stack.Stack
	Reader *readersim.Sim
	ctx    context.Context
	// lastRead is when each card was last in the simulated reader's field:
	// the driver counts reads of a card within 2 s of its previous read as
	// the same tap (cardreader.Config.DedupWindow), so a new tap of the same
	// card waits that long, as a person would.
	lastRead map[string]time.Time
}

// newEnv starts an installation; opts may adjust the stack's options (dir
// is the installation's directory).
func newEnv(t *testing.T, trunk string, opts ...func(dir string, o *stack.Options)) *env {
	t.Helper()
	dir := t.TempDir()
	reader, err := readersim.New(readersim.Options{Driver: readersim.DriverPN532, Link: filepath.Join(dir, "reader-t1")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reader.Close() })
	so := stack.Options{Dir: dir, BinDir: binDir, TrunkAddr: trunk, ReaderDevice: reader.Path(), Quiet: true, LogLevel: "info"}
	for _, o := range opts {
		o(dir, &so)
	}
	st, err := stack.Prepare(so)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		st.Close()
		if t.Failed() {
			for _, f := range []string{"kinline-central.log", "kinline-appliance.log"} {
				b, _ := os.ReadFile(filepath.Join(dir, f))
				if len(b) > 12000 {
					b = b[len(b)-12000:]
				}
				t.Logf("---- %s (tail) ----\n%s", f, b)
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	if err := st.StartCentral(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.StartAppliance(ctx); err != nil {
		t.Fatal(err)
	}
	return &env{Stack: st, Reader: reader, ctx: ctx, lastRead: map[string]time.Time{}}
}

// tap presents a card and waits until the simulated PN532 has reported it
// to the appliance's driver.
func (e *env) tap(t *testing.T, uid string) {
	t.Helper()
	b, err := readersim.ParseUID(uid)
	if err != nil {
		t.Fatal(err)
	}
	if wait := time.Until(e.lastRead[uid].Add(2200 * time.Millisecond)); wait > 0 {
		time.Sleep(wait) // real time on purpose: the driver's duplicate-read window
	}
	before, logged := e.Reader.Stats().Targets, e.tapsLogged(t, b)
	if err := e.Reader.Tap(b, readersim.DefaultHold); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 15*time.Second, "the appliance to read card "+uid, func() bool { return e.Reader.Stats().Targets != before })
	e.lastRead[uid] = time.Now().Add(readersim.DefaultHold)
	testkit.Eventually(t, 15*time.Second, "the appliance to take the tap of card "+uid, func() bool { return e.tapsLogged(t, b) > logged })
}

// tapsLogged counts the appliance's "card tap" log lines for uid: the
// daemon logs one once the authorizer holds the tap.
func (e *env) tapsLogged(t *testing.T, uid []byte) int {
	t.Helper()
	lines, err := e.ApplianceLogLines(`msg="card tap"`, "uid="+strings.ToUpper(hex.EncodeToString(uid))+" ")
	if err != nil {
		t.Fatal(err)
	}
	return len(lines)
}
