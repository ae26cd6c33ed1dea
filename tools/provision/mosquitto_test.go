package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/clock"
)

// TestMosquittoAcceptsProvisionedFiles runs a real Mosquitto with the files
// kinline-provision writes (CA, central's server certificate, crl.pem) and
// connects appliances with tlsconf's client configuration: the valid one
// gets a CONNACK, the revoked one is refused in the TLS handshake.
func TestMosquittoAcceptsProvisionedFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the Mosquitto interoperability test")
	}
	bin := testkit.NeedPeer(t, "mosquitto", "mosquitto")
	dir := filepath.Join(sharedTempDir(t), "pki")
	clk := clock.Real{} // Mosquitto checks against the wall clock
	mustCLI(t, clk, "init", "-dir", dir, "-host", "127.0.0.1")
	mustCLI(t, clk, "appliance", "-dir", dir, "-id", "block-a-1")
	mustCLI(t, clk, "appliance", "-dir", dir, "-id", "block-a-2")
	mustCLI(t, clk, "revoke", "-dir", dir, "-id", "block-a-2")

	// As root, Mosquitto drops to the user mosquitto before it reads the
	// certificates: give it the directory's group as the usage text says
	// (chown -R kinline:mosquitto; the owner is root here).
	if os.Geteuid() == 0 {
		chownGroup(t, dir, "mosquitto")
	}
	port := freePort(t)
	conf := filepath.Join(filepath.Dir(dir), "mosquitto.conf")
	err := os.WriteFile(conf, []byte(fmt.Sprintf(`listener %d 127.0.0.1
cafile %s
certfile %s
keyfile %s
crlfile %s
require_certificate true
use_identity_as_username true
tls_version tlsv1.3
allow_anonymous false
log_type all
`, port, filepath.Join(dir, "ca.pem"), filepath.Join(dir, "central", "server.pem"),
		filepath.Join(dir, "central", "server.key"), filepath.Join(dir, "crl.pem"))), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd := exec.Command(bin, "-c", conf)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("mosquitto output:\n%s", logs.String())
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	testkit.EventuallyNil(t, 20*time.Second, "mosquitto to listen on "+addr, func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err
	})

	cfg := clientConfig(t, dir, "block-a-1", clk)
	if err := mqttConnect(addr, cfg, "block-a-1"); err != nil {
		t.Fatalf("valid appliance through Mosquitto: %v", err)
	}
	cfg = clientConfig(t, dir, "block-a-2", clk)
	if err := mqttConnect(addr, cfg, "block-a-2"); err == nil {
		t.Fatal("Mosquitto accepted a revoked appliance")
	} else if strings.Contains(err.Error(), "CONNACK") {
		t.Fatalf("revoked appliance refused by MQTT, not by TLS: %v", err)
	}
}

// sharedTempDir is a temporary directory other users may enter (the
// test's own are 0700), for a Mosquitto that runs as its own user.
func sharedTempDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	for _, p := range []string{filepath.Dir(d), d} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// chownGroup gives every file under dir the group name, as chgrp -R does.
func chownGroup(t *testing.T, dir, name string) {
	t.Helper()
	g, err := user.LookupGroup(name)
	if err != nil {
		t.Skipf("no group %s to run Mosquitto under: %v", name, err)
	}
	gid, err := strconv.Atoi(g.Gid)
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, -1, gid)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// mqttConnect sends an MQTT 3.1.1 CONNECT over TLS and expects an accepting
// CONNACK.
func mqttConnect(addr string, cfg *tls.Config, clientID string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d := tls.Dialer{Config: cfg}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	vh := []byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60}
	payload := append([]byte{byte(len(clientID) >> 8), byte(len(clientID))}, clientID...)
	body := append(vh, payload...)
	pkt := append([]byte{0x10, byte(len(body))}, body...)
	if _, err := c.Write(pkt); err != nil {
		return fmt.Errorf("tls write: %w", err)
	}
	ack := make([]byte, 4)
	if _, err := io.ReadFull(c, ack); err != nil {
		return fmt.Errorf("tls read: %w", err)
	}
	if ack[0] != 0x20 || ack[3] != 0 {
		return fmt.Errorf("CONNACK refused: % x", ack)
	}
	return nil
}
