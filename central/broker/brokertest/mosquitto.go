package brokertest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kinline/kinline/internal/testkit"
)

// Mosquitto is a running Mosquitto started by StartMosquitto.
type Mosquitto struct {
	// URL is the TLS listener, ssl://127.0.0.1:PORT.
	URL string
	// Addr is its host:port.
	Addr string

	cmd  *exec.Cmd
	mu   sync.Mutex
	logs bytes.Buffer
}

func (m *Mosquitto) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.logs.Write(p)
}

// Logs returns what Mosquitto has printed so far.
func (m *Mosquitto) Logs() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.logs.String()
}

// Reload sends SIGHUP: Mosquitto rereads its configuration, certificates and
// revocation list.
func (m *Mosquitto) Reload(t testing.TB) {
	t.Helper()
	if err := m.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
}

// exampleDir is central/broker, where the documented example files live.
func exampleDir(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate brokertest's source directory")
	}
	return filepath.Dir(filepath.Dir(file))
}

// StartMosquitto runs a real Mosquitto with the documented configuration
// (central/broker/mosquitto.conf.example, with the dynamic-security rules
// kinline-provision wrote into pki), its paths pointed at pki and its
// listener at a free loopback port. It skips the test when mosquitto is not
// installed (testkit.NeedPeer: fails under KINLINE_REQUIRE_PEERS=1).
func StartMosquitto(t testing.TB, pki *PKI) *Mosquitto {
	t.Helper()
	bin := testkit.NeedPeer(t, "mosquitto", "mosquitto")
	src := exampleDir(t)
	confTmpl, err := os.ReadFile(filepath.Join(src, "mosquitto.conf.example"))
	if err != nil {
		t.Fatal(err)
	}
	plugin := DynsecPlugin(t)
	dir := t.TempDir()
	// The plugin may rewrite its file: give it a copy, not the PKI's.
	rules, err := os.ReadFile(filepath.Join(pki.Dir, "mosquitto-dynsec.json"))
	if err != nil {
		t.Fatalf("kinline-provision wrote no dynamic-security rules: %v", err)
	}
	rulesFile := filepath.Join(dir, "dynsec.json")
	if err := os.WriteFile(rulesFile, rules, 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()

	conf := string(confTmpl)
	for _, r := range [][2]string{
		{"plugin_opt_config_file /etc/kinline/pki/mosquitto-dynsec.json", "plugin_opt_config_file " + rulesFile},
		{"plugin /usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so", "plugin " + plugin},
		{"/etc/kinline/pki/", pki.Dir + "/"},
		{"\nlistener 8883\n", fmt.Sprintf("\nlistener %d 127.0.0.1\n", port)},
		{"persistence true", "persistence false"},
		{"persistence_location /var/lib/mosquitto/", ""},
	} {
		if !strings.Contains(conf, r[0]) {
			t.Fatalf("mosquitto.conf.example no longer contains %q", r[0])
		}
		conf = strings.ReplaceAll(conf, r[0], r[1])
	}
	if os.Geteuid() == 0 {
		// Mosquitto drops to the user mosquitto before it reads the
		// certificates: give it the PKI as the documented permissions
		// model does (chown -R kinline:mosquitto; the owner is root here)
		// and its own files, or, without that user, keep it root.
		if !runAsMosquitto(t, pki.Dir, dir, rulesFile) {
			conf = "user root\n" + conf
		}
	}
	confFile := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	m := &Mosquitto{Addr: fmt.Sprintf("127.0.0.1:%d", port)}
	m.URL = "ssl://" + m.Addr
	m.cmd = exec.Command(bin, "-c", confFile, "-v")
	m.cmd.Stdout, m.cmd.Stderr = m, m
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { m.cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		m.cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("mosquitto output:\n%s", m.Logs())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", m.Addr, time.Second)
		if err == nil {
			c.Close()
			return m
		}
		select {
		case <-exited:
			t.Fatalf("mosquitto exited:\n%s", m.Logs())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto not listening on %s: %v\n%s", m.Addr, err, m.Logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runAsMosquitto prepares the files for a Mosquitto that runs as the user
// mosquitto: pkiDir's group becomes mosquitto's (kinline-provision made
// what the broker needs group-readable), confDir and the rules file become
// the user's (the plugin rewrites its file), and the temporary
// directories above them are opened for it to enter. It reports false
// when there is no user mosquitto.
func runAsMosquitto(t testing.TB, pkiDir, confDir, rulesFile string) bool {
	t.Helper()
	u, err := user.Lookup("mosquitto")
	if err != nil {
		return false
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return false
	}
	for _, d := range []string{filepath.Dir(filepath.Dir(pkiDir)), filepath.Dir(pkiDir), filepath.Dir(confDir), confDir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	err = filepath.WalkDir(pkiDir, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, -1, gid)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{confDir, rulesFile} {
		if err := os.Lchown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	return true
}

// DynsecPlugin returns the path of Mosquitto's dynamic-security plugin
// (Debian package mosquitto), or skips the test (testkit.MissingPeer).
func DynsecPlugin(t testing.TB) string {
	t.Helper()
	for _, pattern := range []string{"/usr/lib/*/mosquitto_dynamic_security.so", "/usr/lib/mosquitto_dynamic_security.so", "/usr/local/lib/mosquitto_dynamic_security.so"} {
		if m, _ := filepath.Glob(pattern); len(m) > 0 {
			return m[0]
		}
	}
	testkit.MissingPeer(t, "mosquitto_dynamic_security.so", "mosquitto")
	return ""
}
