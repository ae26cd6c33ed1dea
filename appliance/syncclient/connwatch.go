package syncclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/kinline/kinline/shared/clock"
)

// Cause is why one attempt to connect to the broker failed. The set is
// fixed (it labels kinline_appliance_mqtt_connection_failures_total).
type Cause string

// The causes of a failed connection attempt.
const (
	// CauseDNS: the broker's host name did not resolve.
	CauseDNS Cause = "dns"
	// CauseRefused: nothing listens on the broker's address and port.
	CauseRefused Cause = "refused"
	// CauseUnreachable: no route to the broker's network or host.
	CauseUnreachable Cause = "unreachable"
	// CauseTimeout: the connection or the MQTT handshake took longer
	// than Config.ConnectTimeout.
	CauseTimeout Cause = "timeout"
	// CauseBrokerTLS: the broker's certificate failed verification
	// against our CA (sync.tls.ca), or does not name the broker's host.
	CauseBrokerTLS Cause = "broker_certificate"
	// CauseCertRevoked: the broker refused our certificate as revoked.
	CauseCertRevoked Cause = "certificate_revoked"
	// CauseCertExpired: the broker refused our certificate as expired
	// (or not yet valid).
	CauseCertExpired Cause = "certificate_expired"
	// CauseCertRefused: the broker refused our certificate for another
	// reason (not signed by its CA, no certificate sent).
	CauseCertRefused Cause = "certificate_refused"
	// CauseTLS: another TLS failure (no common protocol or cipher).
	CauseTLS Cause = "tls"
	// CauseNotAuthorized: the broker answered CONNACK "not authorized"
	// or "bad user name or password".
	CauseNotAuthorized Cause = "not_authorized"
	// CauseBrokerRefused: another CONNACK refusal (client id rejected,
	// server unavailable, protocol version).
	CauseBrokerRefused Cause = "broker_refused"
	// CauseClosed: the broker closed the connection before answering.
	CauseClosed Cause = "closed"
	// CauseOther: anything else (the error is logged).
	CauseOther Cause = "other"
)

// Causes lists every Cause.
var Causes = []Cause{CauseDNS, CauseRefused, CauseUnreachable, CauseTimeout, CauseBrokerTLS,
	CauseCertRevoked, CauseCertExpired, CauseCertRefused, CauseTLS, CauseNotAuthorized,
	CauseBrokerRefused, CauseClosed, CauseOther}

// hints say what a deployer checks for each cause.
var hints = map[Cause]string{
	CauseDNS:           "check sync.broker's host name and the appliance's DNS",
	CauseRefused:       "nothing listens there: check sync.broker's port and that the broker runs",
	CauseUnreachable:   "check the network path (routes, VLAN, firewall) to the broker",
	CauseTimeout:       "the broker did not answer in time: check firewalls that drop packets, and the broker's load",
	CauseBrokerTLS:     "the broker's certificate does not verify against sync.tls.ca or does not name the broker's host: check both come from the same kinline-provision PKI and sync.broker's host name",
	CauseCertRevoked:   "the broker says this appliance's certificate is revoked: provision a new one (kinline-provision appliance -force)",
	CauseCertExpired:   "the broker says this appliance's certificate has expired (or the appliance's clock is wrong): renew it with kinline-provision",
	CauseCertRefused:   "the broker refused this appliance's certificate: check sync.tls.cert was signed by the broker's CA",
	CauseTLS:           "TLS failed: check the broker's TLS listener settings",
	CauseNotAuthorized: "the broker does not let this appliance in: check that central knows the appliance id and its credentials",
	CauseBrokerRefused: "the broker refused the connection: see err",
	CauseClosed:        "the broker closed the connection without answering: see the broker's log",
	CauseOther:         "see err",
}

// Classify returns the Cause of a failed connection attempt's error.
func Classify(err error) Cause {
	var (
		dnsErr   *net.DNSError
		unknown  x509.UnknownAuthorityError
		invalid  x509.CertificateInvalidError
		hostname x509.HostnameError
		verify   *tls.CertificateVerificationError
		refused  *connackError
		opErr    *net.OpError
	)
	switch {
	case err == nil:
		return ""
	case errors.As(err, &refused):
		return refused.cause()
	case errors.As(err, &dnsErr):
		return CauseDNS
	case errors.As(err, &verify), errors.As(err, &unknown), errors.As(err, &invalid), errors.As(err, &hostname):
		return CauseBrokerTLS
	case errors.As(err, &opErr) && opErr.Op == "remote error":
		return alertCause(opErr.Err.Error())
	case errors.Is(err, syscall.ECONNREFUSED):
		return CauseRefused
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return CauseUnreachable
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return CauseTimeout
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return CauseClosed
	case strings.Contains(err.Error(), "tls:"):
		return CauseTLS
	}
	return CauseOther
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// alertCause classifies a TLS alert the broker sent ("tls: revoked
// certificate", as crypto/tls words them).
func alertCause(alert string) Cause {
	switch {
	case strings.Contains(alert, "revoked"):
		return CauseCertRevoked
	case strings.Contains(alert, "expired"):
		return CauseCertExpired
	case strings.Contains(alert, "certificate"), strings.Contains(alert, "access denied"):
		return CauseCertRefused
	}
	return CauseTLS
}

// connackError is a CONNACK with a refusal code.
type connackError struct{ code byte }

func (e *connackError) Error() string {
	switch e.code {
	case 1:
		return "broker refused the connection: unacceptable protocol version"
	case 2:
		return "broker refused the connection: client identifier rejected"
	case 3:
		return "broker refused the connection: server unavailable"
	case 4:
		return "broker refused the connection: bad user name or password"
	case 5:
		return "broker refused the connection: not authorized"
	}
	return fmt.Sprintf("broker refused the connection: CONNACK code %d", e.code)
}

func (e *connackError) cause() Cause {
	if e.code == 4 || e.code == 5 {
		return CauseNotAuthorized
	}
	return CauseBrokerRefused
}

// FailureLogInterval is the least time between two log lines for the same
// Cause of failed connection attempts; the attempts in between are
// counted into the next line.
const FailureLogInterval = time.Minute

// connWatch sees every connection attempt (it opens the connections for
// paho), classifies and counts the failures and logs them, rate-limited.
type connWatch struct {
	clk     clock.Clock
	log     *slog.Logger
	broker  string
	metrics *syncMetrics

	// stopped is set when Run ends: the attempt paho abandons then is
	// no failure.
	stopped atomic.Bool

	mu     sync.Mutex
	causes map[Cause]*causeLog
	failed int       // attempts failed since the last connection
	since  time.Time // first of them
}

// causeLog is when a cause was last logged and the failures since.
type causeLog struct {
	last       time.Time
	suppressed int
}

func newConnWatch(clk clock.Clock, log *slog.Logger, broker string, m *syncMetrics) *connWatch {
	return &connWatch{clk: clk, log: log, broker: broker, metrics: m, causes: map[Cause]*causeLog{}}
}

// failure records one failed attempt and logs it unless its cause was
// logged less than FailureLogInterval ago.
func (w *connWatch) failure(err error) {
	if w.stopped.Load() {
		return
	}
	cause := Classify(err)
	w.metrics.failure(cause)
	now := w.clk.Now()
	w.mu.Lock()
	if w.failed == 0 {
		w.since = now
	}
	w.failed++
	cl := w.causes[cause]
	if cl == nil {
		cl = &causeLog{}
		w.causes[cause] = cl
	}
	if !cl.last.IsZero() && now.Sub(cl.last) < FailureLogInterval {
		cl.suppressed++
		w.mu.Unlock()
		return
	}
	attempts := cl.suppressed + 1
	cl.last, cl.suppressed = now, 0
	total, since := w.failed, w.since
	w.mu.Unlock()
	level := slog.LevelWarn
	switch cause {
	case CauseBrokerTLS, CauseCertRevoked, CauseCertExpired, CauseCertRefused, CauseNotAuthorized:
		level = slog.LevelError // will not mend by itself
	}
	w.log.Log(context.Background(), level, "sync: cannot connect to the broker", "broker", w.broker, "cause", string(cause),
		"attempts", attempts, "failed_since", since, "failed_attempts", total, "hint", hints[cause], "err", err)
}

// connected records a connection; after failures it logs how many.
func (w *connWatch) connected() {
	w.mu.Lock()
	n, since := w.failed, w.since
	w.failed, w.since = 0, time.Time{}
	clear(w.causes)
	w.mu.Unlock()
	if n > 0 {
		w.log.Info("sync: connected to the broker again after failed attempts", "broker", w.broker,
			"failed_attempts", n, "down_for", w.clk.Now().Sub(since).Round(time.Millisecond))
	}
}

// open is paho's OpenConnectionFunc: it dials the broker as paho would
// (tcp:// and mqtt:// plain, ssl://, tls://, mqtts://, mqtt+ssl:// and
// tcps:// over TLS) and watches the connection until the broker's CONNACK,
// so that every failure, also one the broker reports after the TLS
// handshake (a revoked client certificate under TLS 1.3) or in its
// CONNACK, is seen with its cause.
func (w *connWatch) open(uri *url.URL, opts mqtt.ClientOptions) (net.Conn, error) {
	d := opts.Dialer
	if d == nil {
		d = &net.Dialer{Timeout: opts.ConnectTimeout}
	}
	var (
		conn net.Conn
		err  error
	)
	switch strings.ToLower(uri.Scheme) {
	case "tcp", "mqtt":
		conn, err = d.Dial("tcp", uri.Host)
	case "ssl", "tls", "mqtts", "mqtt+ssl", "tcps":
		conn, err = tls.DialWithDialer(d, "tcp", uri.Host, opts.TLSConfig)
	default:
		err = fmt.Errorf("%w: broker URL scheme %q not supported", ErrConfig, uri.Scheme)
	}
	if err != nil {
		w.failure(err)
		return nil, err
	}
	return &watchedConn{Conn: conn, w: w}, nil
}

// watchedConn reports the failure of the attempt it belongs to when paho
// closes it before an accepting CONNACK.
type watchedConn struct {
	net.Conn
	w *connWatch

	mu       sync.Mutex
	head     []byte // the first bytes read: the CONNACK
	err      error  // the first read or write error
	accepted bool
	done     bool // accepted or reported
}

func (c *watchedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	if !c.done {
		if len(c.head) < 4 {
			c.head = append(c.head, p[:min(n, 4-len(c.head))]...)
		}
		if len(c.head) == 4 && c.head[0]>>4 == 2 && c.head[3] == 0 {
			c.accepted, c.done = true, true
		}
		if err != nil && c.err == nil {
			c.err = err
		}
	}
	c.mu.Unlock()
	return n, err
}

func (c *watchedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if err != nil {
		c.mu.Lock()
		if !c.done && c.err == nil {
			c.err = err
		}
		c.mu.Unlock()
	}
	return n, err
}

// Close reports the attempt failed unless the broker accepted it.
func (c *watchedConn) Close() error {
	c.mu.Lock()
	report := !c.done
	c.done = true
	head, err := c.head, c.err
	c.mu.Unlock()
	if report {
		switch {
		case len(head) == 4 && head[0]>>4 == 2:
			err = &connackError{code: head[3]}
		case err == nil:
			err = fmt.Errorf("broker closed the connection before its CONNACK: %w", io.EOF)
		}
		c.w.failure(err)
	}
	return c.Conn.Close()
}
