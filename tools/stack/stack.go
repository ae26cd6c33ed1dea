// Package stack starts a whole Kinline installation on one machine from the
// real binaries: kinline-central (embedded broker, SQLite, console) and one
// kinline-appliance, with configs generated in a directory, free loopback
// ports, and a small client for the JSON API. The demo (tools/demo) and the
// end-to-end tests in hil-tests use it; the simulated hardware (card reader
// on a pty, IAD port, family phone) is attached by the caller. On the
// simulated board the appliance serves its officer panel's control socket
// (Stack.PanelSocket), so a caller can press the confirm button (Press).
// With Options.PKIDir (a kinline-provision directory) the two talk over the
// broker's TLS listener with the appliance's certificate, signed batches and
// signed policies, as in production. Recordings are encrypted at rest, as
// in production: the appliance's recording.key_file is Stack.RecordingKey
// (unless Options.PlainRecordings).
package stack

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kinline/kinline/central/store/users"
	"github.com/kinline/kinline/internal/poll"
)

// Fixed identities of the single-block installation.
const (
	ApplianceID = "block-a-1"
	Block       = "A"
	Terminal    = "t1"
	PortUser    = "port1"
	PortPass    = "port1-secret"
	ReaderName  = "t1-reader"
	// OfficerReaderName is the officer panel's reader, when one is given.
	OfficerReaderName = "officer-reader"
)

// Options says where things go.
type Options struct {
	Dir    string // state, configs, logs
	BinDir string // where kinline-central and kinline-appliance are
	// HTTPAddr for the console; "" picks a free loopback port.
	HTTPAddr string
	// TrunkAddr is the SIP trunk the appliance places calls on (the
	// simulated family phone or a sipp UAS); "" picks a free UDP port.
	TrunkAddr string
	// Trunks, when set, replaces the single sip.trunk (TrunkAddr) with
	// these lines of the sip section: sip.trunks and sip.routes, indented
	// by two spaces.
	Trunks string
	// ReaderDevice is the card reader's device (a simulator's pty link).
	ReaderDevice string
	// ReaderDriver is pn532 (default) or em4100.
	ReaderDriver string
	// Board is the appliance's board definition; "" is "sim".
	Board string
	// PanelControl is where the simulated board's officer panel listens
	// for control commands; "" is Dir/panel.sock (sim board only).
	PanelControl string
	// OfficerReaderDevice, when set, is the officer panel's card reader
	// (role officer); OfficerReaderDriver is pn532 (default) or em4100.
	OfficerReaderDevice string
	OfficerReaderDriver string
	LogLevel            string
	// LogFormat, when set, is passed to both daemons as -log-format (text
	// or json).
	LogFormat string
	// IVR switches on the called party's acceptance (press 1) and spoken
	// refusals, as in production. Off by default here, because sipp trunks
	// cannot press 1; a simulated family phone must then be configured with
	// Accept '1'. AcceptTimeout applies when IVR is on (0: 5 s).
	IVR           bool
	AcceptTimeout time.Duration
	// HotlineNumber, when set, is the appliance's sip.hotline_number: an
	// INVITE from the port to it runs the hotline IVR (card, PIN, menu,
	// number by DTMF). "" leaves the IVR off (numbers dialled straight).
	HotlineNumber string
	// Quiet sends the daemons' logs only to files (not also to Stderr).
	Quiet bool
	// PKIDir, when set, is a kinline-provision directory (init done, and
	// appliance -id ApplianceID issued). Central then runs the embedded
	// broker's TLS listener with pki/central/server.pem and pki/crl.pem
	// (revocations checked every CRLCheckInterval), signs policies with
	// pki/central/policy.key and requires batches signed with the keys in
	// pki/appliances; the appliance connects over ssl:// with its
	// certificate (no password), signs its batches and applies only signed
	// policies. Central's own ingest client stays on the plain loopback
	// listener (MQTTAddr).
	PKIDir string
	// CRLCheckInterval is central's mqtt.tls.crl_check_interval with
	// PKIDir; 0 is 1s (quick for tests and demos).
	CRLCheckInterval time.Duration
	// CentralDSN, when set, puts central's state in PostgreSQL at this
	// connection string (database.driver postgres) instead of SQLite in
	// its data directory.
	CentralDSN string
	// SIPTransport "tcp" has the appliance accept SIP over TCP as well as
	// UDP (sip.tcp) and reach the trunk over TCP (sip.trunk.transport);
	// "" is UDP only.
	SIPTransport string
	// PlainRecordings stores the appliance's recordings unencrypted (no
	// recording.key_file). By default they are encrypted at rest with
	// the key at Stack.RecordingKey: PKIDir's appliances/<id>/
	// recording.key when it has one, else Dir/recording.key (32 random
	// bytes, made once and kept).
	PlainRecordings bool
}

// Stack is a running installation.
type Stack struct {
	Opts     Options
	HTTPAddr string
	MQTTAddr string
	// MQTTTLSAddr is the broker's TLS listener (only with Options.PKIDir).
	MQTTTLSAddr string
	SIPAddr     string // the appliance's SIP address (UDP; TCP too with Options.SIPTransport tcp)
	TrunkAddr   string
	Token       string
	// PanelSocket is the officer panel's control socket ("" when the
	// board is not simulated).
	PanelSocket string
	// RecordingKey is the appliance's recording.key_file (absolute; ""
	// with Options.PlainRecordings): open its recordings with
	// recstore.LoadKey and recstore.Open.
	RecordingKey string
	// RecordingsDir is where the appliance keeps recordings until central
	// has verified them.
	RecordingsDir string
	// ApplianceMetricsAddr is the appliance's metrics.listen: /metrics,
	// /healthz and /readyz (ApplianceMetrics scrapes it).
	ApplianceMetricsAddr string
	central              *proc
	appliance            *proc
	client               *http.Client
}

// FreeTCP returns a free loopback TCP address.
func FreeTCP() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// FreeUDP returns a free loopback UDP address.
func FreeUDP() (string, error) {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer c.Close()
	return c.LocalAddr().String(), nil
}

// Prepare allocates ports and writes the two config files; it starts nothing.
func Prepare(o Options) (*Stack, error) {
	if o.ReaderDriver == "" {
		o.ReaderDriver = "pn532"
	}
	if o.LogLevel == "" {
		o.LogLevel = "info"
	}
	if o.Board == "" {
		o.Board = "sim"
	}
	if o.OfficerReaderDevice != "" && o.OfficerReaderDriver == "" {
		o.OfficerReaderDriver = "pn532"
	}
	s := &Stack{Opts: o, client: &http.Client{Timeout: 30 * time.Second}}
	var err error
	// Hold each picked TCP port until both are picked, so HTTP and MQTT
	// never get the same one.
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	pick := func() (string, error) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		held = append(held, l)
		return l.Addr().String(), nil
	}
	if s.HTTPAddr = o.HTTPAddr; s.HTTPAddr == "" {
		if s.HTTPAddr, err = pick(); err != nil {
			return nil, err
		}
	}
	if s.MQTTAddr, err = pick(); err != nil {
		return nil, err
	}
	if s.ApplianceMetricsAddr, err = pick(); err != nil {
		return nil, err
	}
	if o.PKIDir != "" {
		if s.MQTTTLSAddr, err = pick(); err != nil {
			return nil, err
		}
	}
	if o.SIPTransport == "tcp" {
		// A port free for both: TCP held with the others, UDP checked.
		for attempt := 0; s.SIPAddr == ""; attempt++ {
			a, err := pick()
			if err != nil {
				return nil, err
			}
			if c, err := net.ListenPacket("udp", a); err == nil {
				c.Close()
				s.SIPAddr = a
			} else if attempt == 20 {
				return nil, fmt.Errorf("stack: no loopback port free for SIP over both UDP and TCP: %w", err)
			}
		}
	} else if s.SIPAddr, err = FreeUDP(); err != nil {
		return nil, err
	}
	if s.TrunkAddr = o.TrunkAddr; s.TrunkAddr == "" {
		if s.TrunkAddr, err = FreeUDP(); err != nil {
			return nil, err
		}
	}
	for _, d := range []string{"central", "appliance"} {
		if err := os.MkdirAll(filepath.Join(o.Dir, d), 0o750); err != nil {
			return nil, err
		}
	}
	if o.Board == "sim" {
		if s.PanelSocket = o.PanelControl; s.PanelSocket == "" {
			s.PanelSocket = filepath.Join(o.Dir, "panel.sock")
		}
		if s.PanelSocket, err = filepath.Abs(s.PanelSocket); err != nil {
			return nil, err
		}
	}
	rtpBase := 30000 + (os.Getpid()%150)*200
	mqttPass := "demo-appliance-password"
	central := fmt.Sprintf(`# generated by tools/internal/stack
http_listen: %s
data_dir: central
admin_token_file: admin-token
log_level: %s
# The demo's console is plain HTTP on loopback: no Secure cookies; its
# sign-in page says where the admin token is.
console:
  secure_cookie: false
  sign_in_hint: %q
mqtt:
  embedded: true
  listen: %s
appliances:
  - id: %s
    block: %s
    password: %s
`, s.HTTPAddr, o.LogLevel, SignInHint(o.Dir), s.MQTTAddr, ApplianceID, Block, mqttPass)
	appliance := fmt.Sprintf(`# generated by tools/internal/stack
appliance_id: %s
data_dir: appliance
log_level: %s
board: %s
panel_control: %q
tap_window: 60s
sync:
  broker: tcp://%s
  password: %s
sip:
  listen: %s
  media_ip: 127.0.0.1
  rtp_port_min: %d
  rtp_port_max: %d
  trunk:
    address: %s
  terminals:
    - id: %s
      sip_user: %s
      password: %s
readers:
  - name: %s
    terminal: %s
    device: %s
    driver: %s
`, ApplianceID, o.LogLevel, o.Board, s.PanelSocket, s.MQTTAddr, mqttPass, s.SIPAddr, rtpBase, rtpBase+198, s.TrunkAddr,
		Terminal, PortUser, PortPass, ReaderName, Terminal, o.ReaderDevice, o.ReaderDriver)
	if o.IVR {
		at := o.AcceptTimeout
		if at == 0 {
			at = 5 * time.Second
		}
		appliance = strings.Replace(appliance, "sip:\n", fmt.Sprintf("sip:\n  family_accept: true\n  spoken_refusals: true\n  accept_timeout: %s\n", at), 1)
	} else {
		appliance = strings.Replace(appliance, "sip:\n", "sip:\n  family_accept: false\n  spoken_refusals: false\n", 1)
	}
	if o.HotlineNumber != "" {
		appliance = strings.Replace(appliance, "sip:\n", fmt.Sprintf("sip:\n  hotline_number: %q\n", o.HotlineNumber), 1)
	}
	if o.Trunks != "" {
		appliance = strings.Replace(appliance, fmt.Sprintf("  trunk:\n    address: %s\n", s.TrunkAddr), strings.TrimRight(o.Trunks, "\n")+"\n", 1)
	}
	switch o.SIPTransport {
	case "", "udp":
	case "tcp":
		appliance = strings.Replace(appliance, "sip:\n", "sip:\n  tcp: true\n", 1)
		appliance = strings.Replace(appliance, "  trunk:\n", "  trunk:\n    transport: tcp\n", 1)
	default:
		return nil, fmt.Errorf("stack: SIPTransport %q: udp or tcp", o.SIPTransport)
	}
	if o.CentralDSN != "" {
		central += fmt.Sprintf("database:\n  driver: postgres\n  dsn: %q\n", o.CentralDSN)
	}
	if o.PKIDir != "" {
		if central, appliance, err = s.withPKI(central, appliance); err != nil {
			return nil, err
		}
	}
	if s.RecordingsDir, err = filepath.Abs(filepath.Join(o.Dir, "appliance", "recordings")); err != nil {
		return nil, err
	}
	if !o.PlainRecordings {
		if s.RecordingKey, err = s.recordingKey(); err != nil {
			return nil, err
		}
		// Before readers: the officer reader below is appended to them.
		appliance = strings.Replace(appliance, "readers:\n", fmt.Sprintf("recording:\n  key_file: %q\nreaders:\n", s.RecordingKey), 1)
	}
	appliance = strings.Replace(appliance, "readers:\n", fmt.Sprintf("metrics:\n  listen: %s\nreaders:\n", s.ApplianceMetricsAddr), 1)
	if o.OfficerReaderDevice != "" {
		appliance += fmt.Sprintf(`  - name: %s
    role: officer
    device: %s
    driver: %s
`, OfficerReaderName, o.OfficerReaderDevice, o.OfficerReaderDriver)
	}
	if err := os.WriteFile(filepath.Join(o.Dir, "central.yaml"), []byte(central), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(o.Dir, "appliance.yaml"), []byte(appliance), 0o600); err != nil {
		return nil, err
	}
	return s, nil
}

// recordingKey returns the appliance's recording key file: PKIDir's, when
// it has one, else Dir/recording.key, created with 32 random bytes (mode
// 0600) if missing.
func (s *Stack) recordingKey() (string, error) {
	if s.Opts.PKIDir != "" {
		pk, err := filepath.Abs(filepath.Join(s.Opts.PKIDir, "appliances", ApplianceID, "recording.key"))
		if err != nil {
			return "", err
		}
		if _, err := os.Stat(pk); err == nil {
			return pk, nil
		}
	}
	path, err := filepath.Abs(filepath.Join(s.Opts.Dir, "recording.key"))
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("stack: recording key: %w", err)
	}
	if err := os.WriteFile(path, key, 0o600); err != nil {
		return "", fmt.Errorf("stack: recording key: %w", err)
	}
	return path, nil
}

// withPKI rewrites the generated configs for Options.PKIDir: TLS and
// signatures on both sides, no appliance password.
func (s *Stack) withPKI(central, appliance string) (string, string, error) {
	pki, err := filepath.Abs(s.Opts.PKIDir)
	if err != nil {
		return "", "", err
	}
	crlEvery := s.Opts.CRLCheckInterval
	if crlEvery == 0 {
		crlEvery = time.Second
	}
	app := filepath.Join(pki, "appliances", ApplianceID)
	pw := "    password: demo-appliance-password\n"
	if !strings.Contains(central, pw) || !strings.Contains(appliance, "  password: demo-appliance-password\n") {
		return "", "", errors.New("stack: generated configs not as expected")
	}
	central = strings.Replace(central, pw, "", 1)
	central = strings.Replace(central, "appliances:\n", fmt.Sprintf(`  tls:
    listen: %s
    ca: %s
    cert: %s
    key: %s
    crl: %s
    crl_check_interval: %s
policy_key: %s
appliance_keys_dir: %s
appliances:
`, s.MQTTTLSAddr, filepath.Join(pki, "ca.pem"), filepath.Join(pki, "central", "server.pem"), filepath.Join(pki, "central", "server.key"),
		filepath.Join(pki, "crl.pem"), crlEvery, filepath.Join(pki, "central", "policy.key"), filepath.Join(pki, "appliances")), 1)
	appliance = strings.Replace(appliance, "  broker: tcp://"+s.MQTTAddr+"\n  password: demo-appliance-password\n", fmt.Sprintf(`  broker: ssl://%s
  tls:
    ca: %s
    cert: %s
    key: %s
  signing_key: %s
  policy_key: %s
`, s.MQTTTLSAddr, filepath.Join(app, "ca.pem"), filepath.Join(app, "client.pem"), filepath.Join(app, "client.key"),
		filepath.Join(app, "event.key"), filepath.Join(app, "policy.pub")), 1)
	if !strings.Contains(appliance, "ssl://") {
		return "", "", errors.New("stack: appliance config not rewritten for TLS")
	}
	return central, appliance, nil
}

// proc is a started daemon; done is closed once Wait has returned.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func (s *Stack) start(name, cfg string) (*proc, error) {
	logf, err := os.OpenFile(filepath.Join(s.Opts.Dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, err
	}
	args := []string{"-config", filepath.Join(s.Opts.Dir, cfg)}
	if s.Opts.LogFormat != "" {
		args = append(args, "-log-format", s.Opts.LogFormat)
	}
	cmd := exec.Command(filepath.Join(s.Opts.BinDir, name), args...)
	if s.Opts.Quiet {
		cmd.Stdout, cmd.Stderr = logf, logf
	} else {
		w := io.MultiWriter(logf, os.Stderr)
		cmd.Stdout, cmd.Stderr = w, w
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("stack: start %s: %w", name, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); logf.Close(); close(p.done) }()
	return p, nil
}

// StartCentral starts kinline-central and waits for its API and token.
func (s *Stack) StartCentral(ctx context.Context) error {
	var err error
	if s.central, err = s.start("kinline-central", "central.yaml"); err != nil {
		return err
	}
	tokenFile := filepath.Join(s.Opts.Dir, "admin-token")
	err = waitFor(ctx, 30*time.Second, "central's API", func() error {
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return err
		}
		s.Token = strings.TrimSpace(string(b))
		return s.Do(ctx, "GET", "/api/v1/appliances", nil, nil)
	})
	if err != nil {
		return err
	}
	// A token plays and exports recordings only if its owner has a second
	// factor: the stack gives the admin token's owner, the bootstrap
	// administrator, one (as an administrator may give any user).
	if err := s.Do(ctx, "POST", "/api/v1/users/"+users.BootstrapUserID+"/totp", nil, nil); err != nil {
		return fmt.Errorf("second factor of the bootstrap administrator: %w", err)
	}
	return nil
}

// StartAppliance starts kinline-appliance.
func (s *Stack) StartAppliance(ctx context.Context) error {
	var err error
	s.appliance, err = s.start("kinline-appliance", "appliance.yaml")
	return err
}

// KillAppliance stops the appliance with sig (syscall.SIGKILL for kill -9).
func (s *Stack) KillAppliance(sig syscall.Signal) { stop(s.appliance, sig) }

// SuspendAppliance stops the appliance's process group (SIGSTOP) and
// returns the function that lets it run on (SIGCONT): for a test that
// must hold the appliance's MQTT identity without the appliance, whose
// client reconnects at once, taking the session back in between.
func (s *Stack) SuspendAppliance() (resume func()) {
	if s.appliance == nil {
		return func() {}
	}
	pid := s.appliance.cmd.Process.Pid
	syscall.Kill(-pid, syscall.SIGSTOP)
	var once sync.Once
	return func() { once.Do(func() { syscall.Kill(-pid, syscall.SIGCONT) }) }
}

// KillCentral stops central with sig.
func (s *Stack) KillCentral(sig syscall.Signal) { stop(s.central, sig) }

// stop signals the daemon's process group and waits for it to exit,
// killing it after 10 s.
func stop(p *proc, sig syscall.Signal) {
	if p == nil {
		return
	}
	pid := p.cmd.Process.Pid
	syscall.Kill(-pid, sig)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		syscall.Kill(-pid, syscall.SIGKILL)
		<-p.done
	}
}

// Close stops both daemons.
func (s *Stack) Close() {
	stop(s.appliance, syscall.SIGTERM)
	stop(s.central, syscall.SIGTERM)
}

// Do calls the JSON API: body (if not nil) is sent as JSON, the answer is
// decoded into out (if not nil). A non-2xx answer is an error with the
// server's message.
func (s *Stack) Do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+s.HTTPAddr+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(data)))
	}
	if out == nil {
		return nil
	}
	if b, ok := out.(*[]byte); ok {
		*b = data
		return nil
	}
	return json.Unmarshal(data, out)
}

// ErrTimeout is returned by the Wait helpers.
var ErrTimeout = errors.New("stack: timed out")

func waitFor(ctx context.Context, d time.Duration, what string, f func() error) error {
	var last error
	err := poll.Until(ctx, d, 100*time.Millisecond, func() bool { last = f(); return last == nil })
	if errors.Is(err, poll.ErrTimeout) {
		return fmt.Errorf("%w waiting for %s: %v", ErrTimeout, what, last)
	}
	return err
}

// WaitFor polls f until it returns nil or d passes.
func WaitFor(ctx context.Context, d time.Duration, what string, f func() error) error {
	return waitFor(ctx, d, what, f)
}

// SignInHint is the line the stack's console shows on its sign-in page:
// where the admin token of the stack in dir is.
func SignInHint(dir string) string {
	return "Demo: sign in with the admin token in " + filepath.Join(dir, "admin-token") + "."
}
