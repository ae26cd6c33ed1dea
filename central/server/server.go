// Package server wires kinline-central together: the SQLite store, the
// embedded MQTT broker (or an external one), the ingest/policy service and
// the JSON API and the web console (composed into one handler by NewHTTP).
// It is the one place that builds every part from the config.
//
// Trust: with mqtt.tls the embedded broker adds its TLS listener
// (appliances known by their certificates, revoked ones refused); central's
// own ingest client stays on the plain loopback listener with the broker's
// random internal credentials. policy_key signs every policy published;
// appliance_keys_dir makes ingest require every batch to be signed with
// the appliance's event key (re-read when the file changes). A refused
// batch is logged as an error and raised as a central alarm
// (store.AlarmBatchRefused, one open alarm per appliance until an operator
// clears it in the console).
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/kinline/kinline/central/api"
	"github.com/kinline/kinline/central/broker"
	"github.com/kinline/kinline/central/config"
	"github.com/kinline/kinline/central/ingest"
	"github.com/kinline/kinline/central/ingest/policysnap"
	"github.com/kinline/kinline/central/recordings"
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/money"
	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/central/store/reports"
	"github.com/kinline/kinline/central/store/tables"
	"github.com/kinline/kinline/central/store/users"
	"github.com/kinline/kinline/central/watch"
	"github.com/kinline/kinline/shared/health"
)

// Server is a running central's parts.
type Server struct {
	Config *config.Config
	Log    *slog.Logger
	Store  *store.Store
	Broker *broker.Broker // nil with an external broker
	Ingest *ingest.Service
	// Handler is the JSON API and the console (NewHTTP); HTTP serves it.
	Handler *HTTP
	HTTP    *http.Server
	// Health is the process's metrics registry and readiness checks,
	// served on metrics_listen (metrics.go).
	Health      *health.Server
	metrics     *http.Server
	metricsLn   net.Listener
	metricsDone chan struct{}
	// Watch raises the unseen and certificate expiry alarms while Run
	// runs.
	Watch *watch.Watcher
	ln    net.Listener
	enrol enrolment
}

// New opens the store, starts the embedded broker (when configured) and
// binds the HTTP listener. Run serves.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger) (*Server, error) {
	s := &Server{Config: cfg, Log: log, Health: health.New()}
	if err := s.openStore(ctx); err != nil {
		return nil, err
	}
	st := s.Store
	fail := func(err error) (*Server, error) { s.close(); return nil, err }
	var err error
	if err := s.importAppliances(ctx); err != nil {
		return fail(err)
	}
	if err := users.New(st).EnsureAdminToken(ctx, cfg.AdminTokenFile, log.With("part", "store")); err != nil {
		return fail(fmt.Errorf("server: admin token: %w", err))
	}

	ic := ingest.Config{Broker: cfg.MQTT.Broker, Username: cfg.MQTT.Username, Password: cfg.MQTT.Password, ClientID: "kinline-central",
		ChunkDir: filepath.Join(cfg.DataDir, "chunks"), Registerer: s.Health.Registry}
	if err := s.connectIngest(&ic); err != nil {
		return fail(err)
	}
	if ic.PolicyKey, err = cfg.LoadPolicyKey(); err != nil {
		return fail(fmt.Errorf("server: %w", err))
	}
	for _, id := range cfg.RevokedAppliances() {
		log.Warn("appliance revoked: its batches are refused; provision a replacement under a new id, or with kinline-provision appliance -id ID -force, and retire the revoked one in the console (Appliances)",
			"appliance", id, "key", cfg.ApplianceKeyFile(id)+".revoked")
	}
	if cfg.ApplianceKeysDir != "" {
		ic.ApplianceKeys = newKeyring(cfg.ApplianceKeyFile, log.With("part", "keys")).lookup
	}
	ic.OnRefused = s.refused
	ic.OnAlarm = s.ingestAlarm
	s.ingestEnrolment(&ic)
	s.warnInsecure(ic)
	ppl := people.New(st)
	s.Ingest, err = ingest.New(ic, policysnap.NewIngestStore(st, ppl), log.With("part", "ingest"))
	if err != nil {
		return fail(fmt.Errorf("server: %w", err))
	}
	s.Handler, err = NewHTTP(api.Deps{Store: st, Users: users.New(st), People: ppl, Tables: tables.New(st), Reports: reports.New(st), Money: money.New(st), Notifier: s.Ingest, Log: log.With("part", "api"), Retired: s.retired,
		SecureCookie: cfg.Console.Secure(), SessionTTL: cfg.Console.SessionTTL, SessionIdle: cfg.Console.SessionIdle,
		SignInHint: cfg.Console.SignInHint})
	if err != nil {
		return fail(fmt.Errorf("server: %w", err))
	}
	hm, err := newHTTPMetrics(s.Health.Registry)
	if err != nil {
		return fail(fmt.Errorf("server: metrics: %w", err))
	}
	if err := s.setupHealth(); err != nil {
		return fail(err)
	}
	s.ln, err = net.Listen("tcp", cfg.HTTPListen)
	if err != nil {
		return fail(fmt.Errorf("server: http: %w", err))
	}
	s.HTTP = &http.Server{Handler: hm.wrap(s.Handler), ReadHeaderTimeout: 10 * time.Second}
	s.Watch = s.newWatcher()
	return s, nil
}

// openStore opens central's store in the data directory, with the key
// that seals recordings at rest.
func (s *Server) openStore(ctx context.Context) error {
	cfg, log := s.Config, s.Log
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("server: data dir: %w", err)
	}
	recKey, err := recordings.KeyFile(cfg.RecordingsKey, filepath.Join(cfg.DataDir, "recordings"), log)
	if err != nil {
		return fmt.Errorf("server: recordings_key: %w", err)
	}
	db := store.Database{Driver: cfg.Database.Driver, Path: cfg.Database.Path, DSN: cfg.Database.DSN, RecordingKey: recKey, BackupDir: cfg.BackupDir}
	if db.Driver != store.DriverPostgres && db.Path == "" {
		db.Path = filepath.Join(cfg.DataDir, "central.db")
	}
	st, err := store.OpenDatabase(ctx, db, filepath.Join(cfg.DataDir, "recordings"), log.With("part", "store"), nil)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	s.Store = st
	return nil
}

// connectIngest points ingest's MQTT client at the broker: the embedded
// one, started here with its enrolment checks, or an external one over
// TLS.
func (s *Server) connectIngest(ic *ingest.Config) error {
	cfg, log := s.Config, s.Log
	var err error
	if cfg.MQTT.IsEmbedded() {
		creds := map[string]string{}
		for _, a := range cfg.Appliances {
			if a.Password != "" {
				creds[a.ID] = a.Password
			}
		}
		bc := broker.Config{Listen: cfg.MQTT.Listen, Appliances: creds}
		s.brokerEnrolment(&bc)
		if t := cfg.MQTT.TLS; t != nil {
			bc.TLS = &broker.TLSConfig{Listen: t.Listen, CertFile: t.Cert, KeyFile: t.Key, CAFile: t.CA, CRLFile: t.CRL, CRLCheckInterval: t.CRLCheckInterval}
			if !isLoopback(cfg.MQTT.Listen) {
				log.Warn("mqtt.tls is set but the plain listener is not on loopback: appliances with a password can bypass TLS there", "listen", cfg.MQTT.Listen)
			}
		}
		s.Broker, err = broker.New(bc, log.With("part", "broker"))
		if err != nil {
			return fmt.Errorf("server: %w", err)
		}
		if err := s.Broker.Start(); err != nil {
			return fmt.Errorf("server: broker: %w", err)
		}
		ic.Broker = "tcp://" + s.Broker.Addr()
		ic.Username, ic.Password = s.Broker.InternalCredentials()
	} else if t := cfg.MQTT.TLS; t != nil {
		if ic.TLS, err = t.ClientTLS(nil); err != nil {
			return fmt.Errorf("server: mqtt.tls: %w", err)
		}
	}
	return nil
}

// warnInsecure logs each development-only setting in use.
func (s *Server) warnInsecure(ic ingest.Config) {
	cfg, log := s.Config, s.Log
	if ic.PolicyKey == nil {
		log.Warn("policy_key not set: policies are published unsigned (development only)")
	}
	if ic.ApplianceKeys == nil {
		log.Warn("appliance_keys_dir not set: unsigned event batches are accepted (development only)")
	}
	if !cfg.Console.Secure() {
		log.Warn("console.secure_cookie is false: session cookies are sent over plain HTTP (demo and development only)")
	}
}

// refused is ingest's OnRefused: a batch from applianceID was refused for
// its signature. It is logged as an error and raised as a central alarm
// row for the console; while that alarm is open, further refusals of the
// appliance (it retries the same batch) add no rows. Ingest also counts
// them: Ingest.RefusedBatches.
func (s *Server) refused(applianceID string, err error) {
	s.Log.Error("event batch refused: signature not valid; the appliance keeps it and retries", "appliance", applianceID, "err", err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, aerr := s.Store.RaiseAlarm(ctx, applianceID, store.AlarmBatchRefused, "signature", err.Error()); aerr != nil {
		s.Log.Error("refused batch not raised as an alarm", "appliance", applianceID, "err", aerr)
	}
}

// ingestAlarm is ingest's OnAlarm: raised as a central alarm row for the
// console (once while it is open, as refused batches are).
func (s *Server) ingestAlarm(applianceID, code, source, message string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.Store.RaiseAlarm(ctx, applianceID, code, source, message); err != nil {
		s.Log.Error("ingest alarm not raised", "appliance", applianceID, "code", code, "err", err)
	}
}

func isLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// MQTTTLSAddr is the embedded broker's bound TLS address ("" without TLS
// or with an external broker).
func (s *Server) MQTTTLSAddr() string {
	if s.Broker == nil || s.Config.MQTT.TLS == nil {
		return ""
	}
	return s.Broker.TLSAddr()
}

// mqttLogAttrs says where MQTT is: the embedded broker's listeners, or the
// external broker central connects to (it listens on nothing then).
func (s *Server) mqttLogAttrs() []any {
	if s.Broker == nil {
		return []any{"mqtt_broker", s.Config.MQTT.Broker}
	}
	return []any{"mqtt", s.Broker.Addr(), "mqtt_tls", s.MQTTTLSAddr()}
}

// HTTPAddr is the bound console/API address.
func (s *Server) HTTPAddr() string { return s.ln.Addr().String() }

// Run serves until ctx is done (or the HTTP server or ingest fails), then
// stops every part, each before what it uses: the metrics listener (its
// collectors read the store), the HTTP server (no request
// runs after Shutdown), ingest (its Run returns once its workers have
// stopped writing), then close: the HTTP side's background work, the
// broker, the store. Run returns only when all of them have stopped.
func (s *Server) Run(ctx context.Context) error {
	ictx, cancel := context.WithCancel(ctx)
	defer cancel()
	ingestDone := make(chan error, 1)
	httpDone := make(chan error, 1)
	go func() { ingestDone <- s.Ingest.Run(ictx) }()
	go func() { httpDone <- s.HTTP.Serve(s.ln) }()
	s.serveMetrics()
	s.Watch.Start()
	defer s.Watch.Stop()
	s.Log.Info("central running", append(s.mqttLogAttrs(), "console", "http://"+s.HTTPAddr(), "metrics", s.MetricsAddr(),
		"signed_policies", s.Config.PolicyKey != "", "signed_batches_required", s.Config.ApplianceKeysDir != "")...)
	var err error
	ingestRunning, httpRunning := true, true
	select {
	case <-ctx.Done():
	case err = <-ingestDone:
		ingestRunning = false
	case err = <-httpDone:
		httpRunning = false
	}
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	s.stopMetrics(sctx)
	if serr := s.HTTP.Shutdown(sctx); serr != nil {
		s.Log.Warn("http: shutdown incomplete, closing the connections left", "err", serr)
		s.HTTP.Close()
	}
	if httpRunning {
		<-httpDone
	}
	cancel()
	if ingestRunning {
		<-ingestDone
	}
	s.close()
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// close releases what New opened, in reverse order: the HTTP side's
// background work, the broker, the store. Run calls it once everything
// that uses them has stopped; New calls it when a later part fails.
func (s *Server) close() {
	if s.metricsLn != nil && s.metricsDone == nil {
		s.metricsLn.Close() // bound by New, never served
	}
	// The one place the HTTP side's background work stops (the console's
	// import jobs, once package web has a Close: see (*HTTP).Close).
	if s.Handler != nil {
		s.Handler.Close()
	}
	if s.Broker != nil {
		s.Broker.Close()
	}
	if s.Store != nil {
		s.Store.Close()
	}
}
