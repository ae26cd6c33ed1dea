// Package daemon wires the block appliance together. It is the one place
// that builds every part from the config and connects them (after
// tailscale's tsd.System): the bbolt store, the authorizer, the card readers,
// the media relay, SIP call control and the sync client. Domain packages get
// only what they need and know nothing of each other.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sync"

	"github.com/kinline/kinline/appliance/authz"
	"github.com/kinline/kinline/appliance/callctl"
	"github.com/kinline/kinline/appliance/cardreader"
	"github.com/kinline/kinline/appliance/config"
	"github.com/kinline/kinline/appliance/media"
	"github.com/kinline/kinline/appliance/store"
	"github.com/kinline/kinline/appliance/syncclient"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/wire"
)

// Version is the software version reported to central.
var Version = "dev"

// System is a running appliance's parts.
type System struct {
	Config *config.Config
	Log    *slog.Logger
	Clock  clock.Clock

	Store  *store.Store
	Authz  *authz.Authorizer
	Media  *media.Manager
	Calls  *callctl.Server
	Sync   *syncclient.Client
	recDir string
}

// New builds the appliance from cfg. Nothing runs until Run.
func New(cfg *config.Config, log *slog.Logger, clk clock.Clock) (*System, error) {
	if clk == nil {
		clk = clock.Real{}
	}
	s := &System{Config: cfg, Log: log, Clock: clk, recDir: filepath.Join(cfg.DataDir, "recordings")}
	if err := os.MkdirAll(s.recDir, 0o750); err != nil {
		return nil, fmt.Errorf("daemon: data dir: %w", err)
	}
	st, err := store.Open(filepath.Join(cfg.DataDir, "state.db"), store.Options{ApplianceID: cfg.ApplianceID, Clock: clk})
	if err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	s.Store = st
	s.Authz = authz.New(clk, cfg.TapWindow)
	if p, err := st.Policy(); err != nil {
		st.Close()
		return nil, fmt.Errorf("daemon: cached policy: %w", err)
	} else if p != nil {
		s.Authz.SetPolicy(p)
		log.Info("cached policy loaded", "version", p.Version, "people", len(p.People))
	} else {
		log.Warn("no policy cached yet: every call is refused until central sends one")
	}

	mediaIP, err := netip.ParseAddr(cfg.SIP.MediaIP)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("daemon: sip.media_ip: %w", err)
	}
	s.Media, err = media.NewManager(media.Config{BindIP: mediaIP, PortMin: cfg.SIP.RTPPortMin, PortMax: cfg.SIP.RTPPortMax, RecordDir: s.recDir}, log.With("part", "media"))
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("daemon: %w", err)
	}

	cc := callctl.Config{
		Listen:  cfg.SIP.Listen,
		Realm:   cfg.SIP.Realm,
		MediaIP: cfg.SIP.MediaIP,
		Trunk:   callctl.Trunk{Address: cfg.SIP.Trunk.Address, Domain: cfg.SIP.Trunk.Domain},
	}
	for _, t := range cfg.SIP.Terminals {
		cc.Terminals = append(cc.Terminals, callctl.Terminal{ID: t.ID, SIPUser: t.SIPUser, Password: t.Password})
	}
	s.Calls, err = callctl.New(cc, callctl.Deps{
		Logger:     log.With("part", "sip"),
		Clock:      clk,
		Authorizer: callctl.AuthorizerFunc(s.authorize),
		Media: func(callID string, record bool) (callctl.MediaSession, error) {
			ms, err := s.Media.NewSession(callID, record)
			if err != nil {
				return nil, err // not ms: a nil *Session in the interface is not nil
			}
			return ms, nil
		},
		OnCallEnd: s.callEnded,
	})
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("daemon: %w", err)
	}

	s.Sync, err = syncclient.New(syncclient.Config{
		Broker:      cfg.Sync.Broker,
		ApplianceID: cfg.ApplianceID,
		Username:    cfg.Sync.Username,
		Password:    cfg.Sync.Password,
	}, syncclient.Deps{
		Store: st, Clock: clk, Log: log.With("part", "sync"),
		OnPolicy: func(p *wire.Policy) {
			s.Authz.SetPolicy(p)
			log.Info("policy applied", "version", p.Version, "people", len(p.People))
		},
	})
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("daemon: %w", err)
	}
	return s, nil
}

// Run runs every part until ctx is done, then closes the store.
func (s *System) Run(ctx context.Context) error {
	defer s.Store.Close()
	if _, err := s.Store.Append(wire.EventStatus, wire.Status{PolicyVersion: s.Authz.PolicyVersion(), Software: Version}); err != nil {
		return fmt.Errorf("daemon: status event: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 2+len(s.Config.Readers))
	run := func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil && !errors.Is(err, context.Canceled) {
				errc <- fmt.Errorf("%s: %w", name, err)
				cancel()
			}
		}()
	}
	run("sip", s.Calls.Run)
	run("sync", s.Sync.Run)
	for _, r := range s.Config.Readers {
		rc := cardreader.Config{Name: r.Name, Terminal: r.Terminal, Device: r.Device, Driver: r.Driver, Baud: r.Baud}
		run("reader "+r.Name, func(ctx context.Context) error {
			return cardreader.Run(ctx, rc, cardreader.Deps{
				Clock: s.Clock, Log: s.Log.With("part", "reader", "reader", r.Name),
				OnTap: s.tapped, OnAlarm: s.alarm,
			})
		})
	}
	s.Log.Info("appliance running", "id", s.Config.ApplianceID, "sip", s.Config.SIP.Listen, "readers", len(s.Config.Readers))
	wg.Wait()
	close(errc)
	return <-errc
}

// authorize adapts the authorizer to call control and logs every decision.
func (s *System) authorize(_ context.Context, r callctl.AuthRequest) callctl.AuthResult {
	res := s.Authz.Authorize(r.Terminal, r.Number)
	lg := s.Log.With("call", r.CallID, "terminal", r.Terminal, "number", r.Number, "person", res.PersonID)
	if res.Allowed {
		lg.Info("call allowed", "privileged", res.Privileged)
	} else {
		lg.Warn("call refused", "reason", res.Reason)
	}
	return callctl.AuthResult{
		Allowed: res.Allowed, Reason: res.Reason,
		PersonID: res.PersonID, PrisonNumber: res.PrisonNumber, CardUID: res.CardUID,
		Record: !res.Privileged,
	}
}

// callEnded writes the call record and its recording's upload entry to the
// outbox in one bbolt transaction.
func (s *System) callEnded(rec wire.CallRecord) {
	err := s.Store.Update(func(tx *store.Tx) error {
		if _, err := tx.Append(wire.EventCall, rec); err != nil {
			return err
		}
		if rec.Recording != nil {
			return tx.AddRecording(*rec.Recording, filepath.Join(s.recDir, rec.Recording.ID+".wav"))
		}
		return nil
	})
	if err != nil {
		s.Log.Error("call record NOT stored", "call", rec.CallID, "err", err)
		return
	}
	s.Log.Info("call recorded", "call", rec.CallID, "disposition", rec.Disposition, "reason", rec.Reason)
}

func (s *System) tapped(t cardreader.Tap) {
	known := s.Authz.Tap(t.Terminal, t.UID)
	s.Log.Info("card tap", "reader", t.Reader, "terminal", t.Terminal, "uid", t.UID, "known", known)
	if _, err := s.Store.Append(wire.EventCardTap, wire.CardTap{Reader: t.Reader, Terminal: t.Terminal, UID: t.UID, Known: known}); err != nil {
		s.Log.Error("card tap event not stored", "err", err)
	}
}

func (s *System) alarm(a wire.Alarm) {
	if a.Cleared {
		s.Log.Info("alarm cleared", "code", a.Code, "source", a.Source)
	} else {
		s.Log.Warn("alarm", "code", a.Code, "source", a.Source, "message", a.Message)
	}
	if _, err := s.Store.Append(wire.EventAlarm, a); err != nil {
		s.Log.Error("alarm event not stored", "err", err)
	}
}
