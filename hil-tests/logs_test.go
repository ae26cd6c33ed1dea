package hiltests

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/internal/phone"
	"github.com/kinline/kinline/internal/readersim"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/logging"
	"github.com/kinline/kinline/tools/stack"
)

// TestLogLinesParse runs the real kinline-central and kinline-appliance
// with -log-format json, then text, through start-up, a refused call, a
// card tap, a recorded call and a graceful stop, and checks every line
// either prints: JSON (or key=value text) that parses, no key twice (the
// JSON is walked token by token, so a repeated key is seen) and a
// non-empty msg.
func TestLogLinesParse(t *testing.T) {
	for _, format := range []string{logging.FormatJSON, logging.FormatText} {
		t.Run(format, func(t *testing.T) {
			family, err := phone.NewFamily(phone.FamilyConfig{RingFor: 100 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer family.Close()
			e := newEnv(t, family.Addr().String(), func(_ string, o *stack.Options) { o.LogFormat = format; o.LogLevel = "debug" })
			seed(t, e)
			port := newPort(t, e)
			wantRefused(t, call(t, e, port, approved, time.Second), "no card tapped")
			tapAnyFormat(t, e, format, card)
			if res := call(t, e, port, approved, time.Second); !res.Answered {
				t.Fatalf("approved call: %+v", res)
			}
			if _, err := e.WaitCalls(e.ctx, 2, time.Minute); err != nil {
				t.Fatal(err)
			}
			e.Close()
			for _, f := range []string{"kinline-central.log", "kinline-appliance.log"} {
				checkLogFile(t, filepath.Join(e.Opts.Dir, f), format)
			}
		})
	}
}

// tapAnyFormat is env.tap for either log format: it waits for the
// appliance's "card tap" line of the card.
func tapAnyFormat(t *testing.T, e *env, format, uid string) {
	t.Helper()
	if format == logging.FormatText {
		e.tap(t, uid)
		return
	}
	b, err := readersim.ParseUID(uid)
	if err != nil {
		t.Fatal(err)
	}
	logged := func() int {
		lines, err := e.ApplianceLogLines(`"msg":"card tap"`, `"uid":"`+strings.ToUpper(hex.EncodeToString(b))+`"`)
		if err != nil {
			t.Fatal(err)
		}
		return len(lines)
	}
	before := logged()
	if err := e.Reader.Tap(b, readersim.DefaultHold); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 15*time.Second, "the appliance to take the tap of card "+uid, func() bool { return logged() > before })
}

func checkLogFile(t *testing.T, path, format string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) < 5 {
		t.Fatalf("%s: %d lines only", filepath.Base(path), len(lines))
	}
	bad := 0
	for _, l := range lines {
		if err := logging.CheckLine(format, l); err != nil {
			bad++
			if bad <= 20 {
				t.Errorf("%s: %v", filepath.Base(path), err)
			}
		}
	}
	if bad > 20 {
		t.Errorf("%s: %d bad lines in all", filepath.Base(path), bad)
	}
}
