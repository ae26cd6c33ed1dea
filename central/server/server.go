// Package server wires kinline-central together: the SQLite store, the
// embedded MQTT broker (or an external one), the ingest/policy service and
// the web console with its JSON API. It is the one place that builds every
// part from the config.
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
	"github.com/kinline/kinline/central/store"
)

// Server is a running central's parts.
type Server struct {
	Config *config.Config
	Log    *slog.Logger
	Store  *store.Store
	Broker *broker.Broker // nil with an external broker
	Ingest *ingest.Service
	HTTP   *http.Server
	ln     net.Listener
}

// New opens the store, starts the embedded broker (when configured) and
// binds the HTTP listener. Run serves.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger) (*Server, error) {
	s := &Server{Config: cfg, Log: log}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("server: data dir: %w", err)
	}
	st, err := store.Open(ctx, filepath.Join(cfg.DataDir, "central.db"), filepath.Join(cfg.DataDir, "recordings"), log.With("part", "store"))
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	s.Store = st
	fail := func(err error) (*Server, error) { s.close(); return nil, err }
	for _, a := range cfg.Appliances {
		if err := st.UpsertAppliance(ctx, a.ID, a.Block); err != nil {
			return fail(fmt.Errorf("server: appliance %s: %w", a.ID, err))
		}
	}
	if err := st.EnsureAdminToken(ctx, cfg.AdminTokenFile); err != nil {
		return fail(fmt.Errorf("server: admin token: %w", err))
	}

	ic := ingest.Config{Broker: cfg.MQTT.Broker, Username: cfg.MQTT.Username, Password: cfg.MQTT.Password, ClientID: "kinline-central"}
	if cfg.MQTT.IsEmbedded() {
		creds := map[string]string{}
		for _, a := range cfg.Appliances {
			creds[a.ID] = a.Password
		}
		s.Broker, err = broker.New(broker.Config{Listen: cfg.MQTT.Listen, Appliances: creds}, log.With("part", "broker"))
		if err != nil {
			return fail(fmt.Errorf("server: %w", err))
		}
		if err := s.Broker.Start(); err != nil {
			return fail(fmt.Errorf("server: broker: %w", err))
		}
		ic.Broker = "tcp://" + s.Broker.Addr()
		ic.Username, ic.Password = s.Broker.InternalCredentials()
	}
	s.Ingest, err = ingest.New(ic, st, log.With("part", "ingest"))
	if err != nil {
		return fail(fmt.Errorf("server: %w", err))
	}
	handler, err := api.New(api.Deps{Store: st, Notifier: s.Ingest, Log: log.With("part", "api")})
	if err != nil {
		return fail(fmt.Errorf("server: %w", err))
	}
	s.ln, err = net.Listen("tcp", cfg.HTTPListen)
	if err != nil {
		return fail(fmt.Errorf("server: http: %w", err))
	}
	s.HTTP = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	return s, nil
}

// HTTPAddr is the bound console/API address.
func (s *Server) HTTPAddr() string { return s.ln.Addr().String() }

// Run serves until ctx is done.
func (s *Server) Run(ctx context.Context) error {
	defer s.close()
	errc := make(chan error, 2)
	ictx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { errc <- s.Ingest.Run(ictx) }()
	go func() { errc <- s.HTTP.Serve(s.ln) }()
	s.Log.Info("central running", "console", "http://"+s.HTTPAddr(), "mqtt", s.Config.MQTT.Listen)
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	s.HTTP.Shutdown(sctx)
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

func (s *Server) close() {
	if s.Broker != nil {
		s.Broker.Close()
	}
	if s.Store != nil {
		s.Store.Close()
	}
}
