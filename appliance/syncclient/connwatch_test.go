package syncclient

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kinline/kinline/shared/clock"
)

// The errors crypto/tls, net and the CONNACK give, each to its cause.
func TestClassify(t *testing.T) {
	remote := func(alert string) error { return &net.OpError{Op: "remote error", Err: errors.New("tls: " + alert)} }
	for err, want := range map[error]Cause{
		&net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true}:            CauseDNS,
		&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}: CauseRefused,
		&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.EHOSTUNREACH)}: CauseUnreachable,
		&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ENETUNREACH)}:  CauseUnreachable,
		fmt.Errorf("read: %w", os.ErrDeadlineExceeded):                                     CauseTimeout,
		remote("revoked certificate"):                                                      CauseCertRevoked,
		remote("expired certificate"):                                                      CauseCertExpired,
		remote("unknown certificate authority"):                                            CauseCertRefused,
		remote("bad certificate"):                                                          CauseCertRefused,
		remote("certificate required"):                                                     CauseCertRefused,
		remote("handshake failure"):                                                        CauseTLS,
		&connackError{code: 5}:                                                             CauseNotAuthorized,
		&connackError{code: 4}:                                                             CauseNotAuthorized,
		&connackError{code: 2}:                                                             CauseBrokerRefused,
		io.EOF:                                                                             CauseClosed,
		fmt.Errorf("x: %w", syscall.ECONNRESET):                                            CauseClosed,
		errors.New("something else"):                                                       CauseOther,
	} {
		if got := Classify(err); got != want {
			t.Errorf("Classify(%v) = %s, want %s", err, got, want)
		}
	}
	for _, c := range Causes {
		if hints[c] == "" {
			t.Errorf("cause %s has no hint", c)
		}
	}
}

// bufLog is a logger into a buffer.
type bufLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *bufLog) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *bufLog) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Split(strings.TrimSpace(l.b.String()), "\n")
}

// A connection the broker answers with a refusing CONNACK is a failure
// with the CONNACK's cause; one it accepts is not, also when it closes
// later; nothing is reported once Run has stopped.
func TestWatchedConnReadsTheConnack(t *testing.T) {
	var buf bufLog
	clk := clock.NewFake(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	w := newConnWatch(clk, slog.New(slog.NewTextHandler(&buf, nil)), "tcp://b:1883", nil)
	attempt := func(answer []byte) {
		a, b := net.Pipe()
		c := &watchedConn{Conn: a, w: w}
		go func() { b.Write(answer); b.Close() }()
		// paho reads the fixed header byte by byte, then the rest.
		one := make([]byte, 1)
		for range 2 {
			c.Read(one)
		}
		c.Read(make([]byte, 2))
		c.Close()
	}
	attempt([]byte{0x20, 0x02, 0x00, 0x00}) // accepted
	if s := buf.b.String(); s != "" {
		t.Fatalf("an accepted connection reported: %s", s)
	}
	attempt([]byte{0x20, 0x02, 0x00, 0x05})
	lines := buf.lines()
	if len(lines) != 1 || !strings.Contains(lines[0], "cause=not_authorized") || !strings.Contains(lines[0], "attempts=1 ") {
		t.Fatalf("refused CONNACK: %q", lines)
	}
	attempt([]byte{0x20, 0x02, 0x00, 0x05})
	attempt([]byte{}) // closed before any answer: another cause, logged at once
	lines = buf.lines()
	if len(lines) != 2 || !strings.Contains(lines[1], "cause=closed") {
		t.Fatalf("lines %q", lines)
	}
	clk.Advance(FailureLogInterval)
	attempt([]byte{0x20, 0x02, 0x00, 0x05})
	lines = buf.lines()
	if len(lines) != 3 || !strings.Contains(lines[2], "attempts=2 ") || !strings.Contains(lines[2], "failed_attempts=4 ") {
		t.Fatalf("after the interval: %q", lines)
	}
	w.connected()
	lines = buf.lines()
	if len(lines) != 4 || !strings.Contains(lines[3], "again after failed attempts") || !strings.Contains(lines[3], "failed_attempts=4 ") {
		t.Fatalf("reconnection: %q", lines)
	}
	w.stopped.Store(true)
	attempt(nil)
	if n := len(buf.lines()); n != 4 {
		t.Fatalf("a failure reported after Run stopped: %q", buf.lines())
	}
}
