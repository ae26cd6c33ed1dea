package hiltests

// Issue 10, item 11, against the real binaries with kinline-provision's
// PKI: an appliance replaced under the same id (kinline-provision
// appliance -force, a fresh data directory) and an appliance whose data
// directory is put back from a backup each start their event chain again;
// every call record, debit and recording of the old and the new run
// arrives at central and is linked, and central alarms the new chain.

import (
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	centralstore "github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/tools/stack"
)

// appDataDir is the appliance's data directory (state.db, recordings).
func (fe *faultEnv) appDataDir() string { return filepath.Join(fe.Opts.Dir, "appliance") }

// copyTree copies the regular files and directories under from to to.
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.Walk(from, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, p)
		if err != nil {
			return err
		}
		dst := filepath.Join(to, rel)
		if info.IsDir() {
			return os.MkdirAll(dst, info.Mode().Perm()|0o700)
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, info.Mode().Perm())
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		t.Fatalf("copy %s to %s: %v", from, to, err)
	}
}

// synced waits until central has n calls and has acknowledged the
// appliance's events, then stops the appliance (SIGTERM).
func (fe *faultEnv) synced(n int) {
	fe.t.Helper()
	if _, err := fe.WaitCalls(fe.ctx, n, 90*time.Second); err != nil {
		fe.t.Fatal(err)
	}
	fe.waitAckedStable()
	fe.KillAppliance(syscall.SIGTERM)
}

// newPolicyApplied moves central's policy on (a small credit) and waits
// until the appliance applies it: a fresh or restored data directory holds
// no policy, or an old one, until then.
func (fe *faultEnv) newPolicyApplied(receipt string) {
	fe.t.Helper()
	fe.recharge(fe.people[0], "1.00", 100, receipt)
	fe.waitPolicy()
}

// chainAlarms checks central's alarms after a chain started again: exactly
// one event_chain_restarted, and no alarm other than the allowed ones
// about the event stream.
func (fe *faultEnv) chainAlarms(allowed ...string) {
	t := fe.t
	t.Helper()
	if n := len(fe.alarmsOf(centralstore.AlarmChainRestarted)); n != 1 {
		t.Errorf("%d %s alarms, want 1", n, centralstore.AlarmChainRestarted)
	}
	for _, code := range []string{centralstore.AlarmEventInvalid, centralstore.AlarmEventConflict, centralstore.AlarmChainBroken,
		centralstore.AlarmForeign, centralstore.AlarmPayload, centralstore.AlarmForeignPerson} {
		ok := false
		for _, a := range allowed {
			ok = ok || a == code
		}
		if al := fe.alarmsOf(code); len(al) > 0 && !ok {
			t.Errorf("%d %s alarms: %+v", len(al), code, al)
		}
	}
}

// TestReplaceApplianceSameID: a new deployer replaces block A's box: a new
// certificate and event key under the same id (the old certificate
// revoked) and a fresh data directory. The new box's chain starts at seq 1
// again; central keeps both chains, and the old and new calls, debits and
// recordings are all there and linked.
func TestReplaceApplianceSameID(t *testing.T) {
	fe := newFaultEnv(t, faultOptions{pki: true})
	fe.completed()
	fe.refused()
	fe.completed()
	fe.synced(fe.placed)

	provision(t, "appliance", "-dir", fe.pki, "-id", stack.ApplianceID, "-force")
	if err := os.RemoveAll(fe.appDataDir()); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(fe.appDataDir(), 0o700); err != nil {
		t.Fatal(err)
	}
	fe.restartAppliance()
	fe.newPolicyApplied("R-replaced")
	fe.burst(6)
	calls := fe.finish(fe.placed)
	if len(calls) != fe.placed {
		t.Fatalf("central has %d calls, the ports placed %d", len(calls), fe.placed)
	}
	wantDispositions(t, calls, 4, 5)
	fe.chainAlarms()
}

// TestRestoreApplianceBackup: the appliance's data directory is copied
// while it is stopped, the appliance runs on (more calls, all synced), and
// the copy is put back. The restored box numbers its new events as the
// backup left off, under seqs central holds the lost run's events for:
// central refuses those and says so, the box starts a new chain with them,
// and in the end every call of the three runs is at central once, with its
// debit and recording.
func TestRestoreApplianceBackup(t *testing.T) {
	fe := newFaultEnv(t, faultOptions{pki: true})
	fe.completed()
	fe.refused()
	fe.synced(fe.placed)
	backup := filepath.Join(t.TempDir(), "backup")
	copyTree(t, fe.appDataDir(), backup)

	fe.restartAppliance()
	fe.burst(4)
	fe.synced(fe.placed)

	if err := os.RemoveAll(fe.appDataDir()); err != nil {
		t.Fatal(err)
	}
	copyTree(t, backup, fe.appDataDir())
	fe.restartAppliance()
	fe.newPolicyApplied("R-restored")
	fe.burst(4)
	calls := fe.finishCalls(fe.placed, false)
	if len(calls) != fe.placed {
		t.Fatalf("central has %d calls, the ports placed %d", len(calls), fe.placed)
	}
	wantDispositions(t, calls, 5, 5)
	fe.chainAlarms(centralstore.AlarmEventConflict, centralstore.AlarmChainBroken)
	if len(fe.alarmsOf(centralstore.AlarmEventConflict))+len(fe.alarmsOf(centralstore.AlarmChainBroken)) == 0 {
		t.Error("central raised no alarm about the restored box's events under seqs it held others for")
	}
}
