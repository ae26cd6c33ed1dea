// Package watch is central's watch over its estate: every Interval (on
// the injected clock) it raises a central alarm for each enrolled
// appliance not heard from for UnseenAfter (store.AlarmApplianceUnseen,
// cleared when it is heard from again) and for every certificate that
// expires within store.CertificateWarning (store.AlarmCertificateExpiring,
// cleared when a renewed one is seen): central's own TLS certificate and
// the CA's (raised on wire.CentralIdentity), and each appliance's, as the
// embedded broker saw it at connect and, when configured, as
// kinline-provision keeps it (pki/appliances/<id>/client.pem: with an
// external Mosquitto central never sees the appliances' certificates).
package watch

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/wire"
)

// Defaults of Config.
const (
	DefaultUnseenAfter = 15 * time.Minute
	DefaultInterval    = time.Minute
)

// Alarm sources of the watcher's alarms.
const (
	SourceWatch         = "watch"
	SourceCentralCert   = "central certificate"
	SourceCA            = "CA certificate"
	SourceApplianceCert = "appliance certificate"
)

// ErrCertificate: a certificate file could not be read or parsed.
var ErrCertificate = errors.New("watch: certificate not readable")

// Store is what the watcher needs of central's store.
type Store interface {
	EnrolledAppliances(ctx context.Context) ([]store.Enrolled, error)
	RaiseAlarm(ctx context.Context, applianceID, code, source, message string) (bool, error)
	ResolveAlarms(ctx context.Context, subject, code, source string) (int, error)
}

// Config configures the watcher; the zero value watches appliances'
// silence with the defaults and no certificate files.
type Config struct {
	// UnseenAfter is how long an enrolled appliance may go unheard
	// (since it was enrolled, if never) before its alarm; 0 means
	// DefaultUnseenAfter.
	UnseenAfter time.Duration
	// Interval is how often the watcher looks; 0 means DefaultInterval.
	Interval time.Duration
	// CentralCert and CACert are PEM files (pki/central/server.pem,
	// pki/ca.pem); "" skips them.
	CentralCert, CACert string
	// ApplianceCertsDir is kinline-provision's pki/appliances: the
	// certificate of appliance <id> is <dir>/<id>/client.pem. "" relies
	// on what the embedded broker saw at connect.
	ApplianceCertsDir string
	// Clock is the time the checks run on; nil is the wall clock.
	Clock clock.Clock
}

// Watcher raises and clears the estate's alarms.
type Watcher struct {
	cfg Config
	st  Store
	log *slog.Logger

	mu    sync.Mutex
	timer clock.Timer
	done  bool
}

// New returns a watcher; Start runs it.
func New(cfg Config, st Store, log *slog.Logger) *Watcher {
	if cfg.UnseenAfter <= 0 {
		cfg.UnseenAfter = DefaultUnseenAfter
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Watcher{cfg: cfg, st: st, log: log}
}

// Start checks at once and then every Interval until Stop.
func (w *Watcher) Start() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = false
	w.armLocked(0)
}

func (w *Watcher) armLocked(d time.Duration) {
	var t clock.Timer
	t = w.cfg.Clock.AfterFunc(d, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := w.Check(ctx); err != nil {
			w.log.Error("watch: check incomplete", "err", err)
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.timer == t && !w.done {
			w.armLocked(w.cfg.Interval)
		}
	})
	w.timer = t
}

// Stop ends the periodic checks (a check running finishes).
func (w *Watcher) Stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = true
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
}

// Check looks once: every enrolled appliance's silence and certificate,
// central's and the CA's certificates. It goes through everything and
// returns the failures joined.
func (w *Watcher) Check(ctx context.Context) error {
	now := w.cfg.Clock.Now()
	var errs []error
	for _, c := range []struct{ source, file string }{{SourceCentralCert, w.cfg.CentralCert}, {SourceCA, w.cfg.CACert}} {
		if c.file == "" {
			continue
		}
		notAfter, err := certNotAfter(c.file)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, w.expiry(ctx, now, wire.CentralIdentity, c.source, c.file, &notAfter))
	}
	as, err := w.st.EnrolledAppliances(ctx)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, a := range as {
		errs = append(errs, w.unseen(ctx, now, a), w.applianceCert(ctx, now, a))
	}
	return errors.Join(errs...)
}

// unseen raises or clears an appliance's silence alarm.
func (w *Watcher) unseen(ctx context.Context, now time.Time, a store.Enrolled) error {
	last, what := a.Enrolled, "enrolled"
	if a.LastSeen != nil {
		last, what = *a.LastSeen, "last heard from"
	}
	if now.Sub(last) <= w.cfg.UnseenAfter {
		_, err := w.st.ResolveAlarms(ctx, a.ID, store.AlarmApplianceUnseen, SourceWatch)
		return err
	}
	msg := fmt.Sprintf("not heard from for %s (%s %s UTC, block %s)", now.Sub(last).Round(time.Minute), what, last.UTC().Format("2006-01-02 15:04"), a.Block)
	_, err := w.st.RaiseAlarm(ctx, a.ID, store.AlarmApplianceUnseen, SourceWatch, msg)
	return err
}

// applianceCert checks the earliest expiry known of an appliance's
// certificate: seen at connect, or kept by kinline-provision.
func (w *Watcher) applianceCert(ctx context.Context, now time.Time, a store.Enrolled) error {
	notAfter, where := a.CertNotAfter, "seen at connect"
	if w.cfg.ApplianceCertsDir != "" && wire.ValidApplianceID(a.ID) == nil {
		file := filepath.Join(w.cfg.ApplianceCertsDir, a.ID, "client.pem")
		na, err := certNotAfter(file)
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			return err
		case notAfter == nil || na.Before(*notAfter):
			notAfter, where = &na, file
		}
	}
	return w.expiry(ctx, now, a.ID, SourceApplianceCert, where, notAfter)
}

// expiry raises or clears the expiry alarm of subject's certificate
// (nothing when its expiry is not known).
func (w *Watcher) expiry(ctx context.Context, now time.Time, subject, source, where string, notAfter *time.Time) error {
	if notAfter == nil {
		return nil
	}
	left := notAfter.Sub(now)
	if left > store.CertificateWarning {
		_, err := w.st.ResolveAlarms(ctx, subject, store.AlarmCertificateExpiring, source)
		return err
	}
	msg := fmt.Sprintf("%s (%s) expires %s UTC, in %d days: renew it (kinline-provision)", source, where, notAfter.UTC().Format("2006-01-02 15:04"), int(left.Hours()/24))
	if left <= 0 {
		msg = fmt.Sprintf("%s (%s) expired %s UTC: renew it (kinline-provision)", source, where, notAfter.UTC().Format("2006-01-02 15:04"))
	}
	added, err := w.st.RaiseAlarm(ctx, subject, store.AlarmCertificateExpiring, source, msg)
	if added {
		w.log.Warn("watch: certificate expiring", "subject", subject, "source", source, "not_after", notAfter.UTC())
	}
	return err
}

// certNotAfter reads the first certificate of a PEM file.
func certNotAfter(file string) (time.Time, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %w", ErrCertificate, err)
	}
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return time.Time{}, fmt.Errorf("%w: %s: no certificate", ErrCertificate, file)
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return time.Time{}, fmt.Errorf("%w: %s: %w", ErrCertificate, file, err)
		}
		return c.NotAfter, nil
	}
}
