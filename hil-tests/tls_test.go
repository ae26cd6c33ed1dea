package hiltests

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/kinline/kinline/appliance/store"
	"github.com/kinline/kinline/internal/phone"
	"github.com/kinline/kinline/shared/sign"
	"github.com/kinline/kinline/shared/tlsconf"
	"github.com/kinline/kinline/shared/wire"
	"github.com/kinline/kinline/tools/stack"
)

// provision builds kinline-provision into binDir (once per run) and runs it.
func provision(t *testing.T, args ...string) string {
	t.Helper()
	bin := filepath.Join(binDir, "kinline-provision")
	if _, err := os.Stat(bin); err != nil {
		out, err := exec.Command("go", "build", "-o", bin, "../tools/provision").CombinedOutput()
		if err != nil {
			t.Fatalf("building kinline-provision: %v\n%s", err, out)
		}
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("kinline-provision %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// retainedPolicy fetches the appliance's retained policy from the broker's
// TLS listener, connecting with central's certificate (which the broker
// admits like central's internal user).
func retainedPolicy(ctx context.Context, t *testing.T, pki, tlsAddr string) *wire.Policy {
	t.Helper()
	tc, err := tlsconf.NewClient(tlsconf.ClientOptions{
		CertFile: filepath.Join(pki, "central", "server.pem"),
		KeyFile:  filepath.Join(pki, "central", "server.key"),
		CAFile:   filepath.Join(pki, "ca.pem"),
	})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte, 1)
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("ssl://" + tlsAddr).SetClientID("tls-test-observer").
		SetTLSConfig(tc).SetCleanSession(true).SetAutoReconnect(false))
	if tok := c.Connect(); !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
		t.Fatalf("observer connect over TLS with central's certificate: %v", tok.Error())
	}
	defer c.Disconnect(100)
	tok := c.Subscribe(wire.TopicPolicy(stack.ApplianceID), 1, func(_ mqtt.Client, m mqtt.Message) {
		select {
		case got <- m.Payload():
		default:
		}
	})
	if !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	select {
	case b := <-got:
		var p wire.Policy
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatalf("retained policy: %v", err)
		}
		return &p
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	case <-time.After(30 * time.Second):
		t.Fatal("no retained policy on the broker")
	}
	return nil
}

func logContains(t *testing.T, dir, name, s string) bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Contains(string(b), s)
}

// TestTLSIdentitiesAndSignatures runs the real binaries with a PKI made by
// kinline-provision: central with the broker's TLS listener, signed
// policies and required batch signatures; the appliance with its client
// certificate, event key and central's policy key, and no password. The
// policy reaches the appliance signed and is applied, a tapped card's call
// reaches central; then the appliance's certificate is revoked: the broker
// drops it, its next call's record stays in its outbox and central gets
// nothing new; central, restarted with the revoked appliance still in its
// configuration, starts and says the appliance is revoked.
func TestTLSIdentitiesAndSignatures(t *testing.T) {
	pki := filepath.Join(t.TempDir(), "pki")
	provision(t, "init", "-dir", pki, "-host", "127.0.0.1,localhost")
	provision(t, "appliance", "-dir", pki, "-id", stack.ApplianceID)

	family, err := phone.NewFamily(phone.FamilyConfig{RingFor: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer family.Close()
	var dir string
	e := newEnv(t, family.Addr().String(), func(d string, o *stack.Options) {
		dir = d
		o.PKIDir = pki
		o.CRLCheckInterval = time.Second
	})
	appCfg, err := os.ReadFile(filepath.Join(dir, "appliance.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(appCfg), "broker: ssl://") || strings.Contains(string(appCfg), "password: demo-appliance-password") {
		t.Fatalf("the appliance is not configured for TLS only:\n%s", appCfg)
	}

	// The policy arrives signed and is applied: the appliance (which
	// applies only policies signed with policy.pub) reports the newest
	// version, and the retained message verifies under policy.pub.
	seed(t, e)
	pub, err := sign.LoadPublicKey(filepath.Join(pki, "central", "policy.pub"))
	if err != nil {
		t.Fatal(err)
	}
	p := retainedPolicy(e.ctx, t, pki, e.MQTTTLSAddr)
	if err := sign.VerifyPolicy(pub, p); err != nil {
		t.Fatalf("retained policy v%d: %v", p.Version, err)
	}
	a, err := e.Appliance(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The retained snapshot may lag the applied version: later versions
	// can reach the appliance as deltas on their own topic.
	if a.PolicyVersionApplied < p.Version {
		t.Fatalf("appliance applies v%d, broker holds the snapshot of v%d", a.PolicyVersionApplied, p.Version)
	}

	// A tapped card's call reaches central (in a batch signed with the
	// appliance's event key: central requires it).
	port := newPort(t, e)
	e.tap(t, card)
	if res := call(t, e, port, approved, time.Second); !res.Answered {
		t.Fatalf("call over TLS: %+v", res)
	}
	calls, err := e.WaitCalls(e.ctx, 1, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if calls[0].Disposition != "completed" || calls[0].Number != approved {
		t.Fatalf("call at central: %+v", calls[0])
	}
	if logContains(t, dir, "kinline-central.log", "event batch refused") {
		t.Fatal("central refused a batch of the genuine appliance")
	}
	if logContains(t, dir, "kinline-appliance.log", "policy refused") {
		t.Fatal("the appliance refused central's policy")
	}
	// Everything the appliance had sent is acknowledged.
	var before uint64
	if err := stack.WaitFor(e.ctx, 30*time.Second, "central to acknowledge the call", func() error {
		a, err := e.Appliance(e.ctx)
		if err != nil {
			return err
		}
		before = a.AckedSeq
		if before == 0 {
			return fmt.Errorf("acked %d", before)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// Revoke: the broker rereads crl.pem and drops the live connection.
	provision(t, "revoke", "-dir", pki, "-id", stack.ApplianceID)
	if err := stack.WaitFor(e.ctx, 30*time.Second, "the broker to drop the revoked appliance", func() error {
		if !logContains(t, dir, "kinline-central.log", "dropping client whose certificate was revoked") {
			return fmt.Errorf("not dropped yet")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// Its reconnection attempts are refused in the TLS handshake.
	if err := stack.WaitFor(e.ctx, 30*time.Second, "a refused reconnection", func() error {
		if !logContains(t, dir, "kinline-central.log", "TLS client refused") {
			return fmt.Errorf("no refused handshake yet")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	a, err = e.Appliance(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	before = a.AckedSeq

	// The appliance still works alone: a new call goes through, and its
	// record waits in the outbox.
	e.tap(t, card)
	res := call(t, e, port, approved, time.Second)
	if !res.Answered {
		t.Fatalf("call after revocation: %+v", res)
	}
	// Connected, a call reached central within about a second; give the
	// cut-off appliance several times that.
	deadline := time.Now().Add(8 * time.Second)
	for time.Now().Before(deadline) {
		if now, err := e.Calls(e.ctx, nil); err != nil || len(now) != 1 {
			t.Fatalf("central got a call from the revoked appliance: %d calls, %v", len(now), err)
		}
		time.Sleep(250 * time.Millisecond) // real time on purpose: the whole window is watched
	}
	if a, err = e.Appliance(e.ctx); err != nil || a.AckedSeq != before {
		t.Fatalf("central's acked seq moved from %d to %d (%v)", before, a.AckedSeq, err)
	}

	// Stop the appliance and read its outbox: the new call's record is
	// there, after everything central acknowledged.
	e.KillAppliance(syscall.SIGTERM)
	st, err := store.Open(filepath.Join(dir, "appliance", "state.db"), store.Options{ApplianceID: stack.ApplianceID})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pending, err := st.Pending(0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ev := range pending {
		if ev.Seq <= before {
			t.Errorf("outbox still holds acknowledged seq %d (central acked %d)", ev.Seq, before)
		}
		if ev.Type == wire.EventCall {
			var rec wire.CallRecord
			if err := json.Unmarshal(ev.Payload, &rec); err != nil {
				t.Fatal(err)
			}
			if rec.Number == approved && rec.Disposition == "completed" {
				found = true
			}
		}
	}
	if !found {
		t.Fatalf("the call made after revocation is not in the outbox (%d pending events)", len(pending))
	}
	if err := st.Check(); err != nil {
		t.Fatalf("bbolt check: %v", err)
	}

	// A revoked appliance that is still in central's configuration does
	// not stop central from starting again: it says so and keeps refusing
	// the revoked box (its event key is retired), with what it already had.
	e.KillCentral(syscall.SIGTERM)
	if err := e.StartCentral(e.ctx); err != nil {
		t.Fatalf("central does not start again after a revocation: %v", err)
	}
	if !logContains(t, dir, "kinline-central.log", "appliance revoked") {
		t.Fatal("central did not say that a configured appliance is revoked")
	}
	if logContains(t, dir, "kinline-central.log", "kinline-provision appliance -id "+stack.ApplianceID+")") {
		t.Fatal("central told the operator to re-provision the revoked box")
	}
	if now, err := e.Calls(e.ctx, nil); err != nil || len(now) != 1 {
		t.Fatalf("after central's restart: %d calls, %v", len(now), err)
	}
}
