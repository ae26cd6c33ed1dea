// Package daemon wires the block appliance together. It is the one place
// that builds every part from the config and connects them (after
// tailscale's tsd.System): the bbolt store, the authorizer, the card readers,
// the board's officer panel (dual authorization), the media relay, SIP call
// control and the sync client. Domain packages get only what they need and
// know nothing of each other.
//
// The sync client gets the TLS identity and keys the config names
// (sync.tls, sync.signing_key, sync.policy_key: the files
// kinline-provision writes); New fails when one is unusable.
//
// With recording.key_file set, recordings are encrypted at rest
// (shared/recstore): the media manager seals them with the key, and the
// sync client reads them through the same key, so central receives (and
// verifies the SHA-256 of) the plaintext the call record describes.
//
// A disk guard (appliance/diskwatch, recording.disk) watches the
// recordings directory: its alarms go to the outbox, and while the disk is
// full every call that would be recorded is refused with
// policy.ErrStorageFull; privileged calls, never recorded, are not
// (docs/decisions/0006-disk-full.md).
//
// Every part registers its metrics on one registry (shared/health); with
// metrics.listen set, Run serves it with /healthz and /readyz, and stops
// serving on shutdown (metrics.go, docs/decisions/0034).
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
	"github.com/kinline/kinline/appliance/diskwatch"
	"github.com/kinline/kinline/appliance/media"
	"github.com/kinline/kinline/appliance/panel"
	"github.com/kinline/kinline/appliance/store"
	"github.com/kinline/kinline/appliance/syncclient"
	"github.com/kinline/kinline/board"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/health"
	"github.com/kinline/kinline/shared/policy"
	"github.com/kinline/kinline/shared/recstore"
	"github.com/kinline/kinline/shared/wire"
)

// The media session is everything call control asks of one: among it,
// switching recording on once a hotline call is authorized as recorded
// (callctl fails such calls closed otherwise).
var _ callctl.MediaSession = (*media.Session)(nil)

// Version is the software version reported to central.
var Version = "dev"

// System is a running appliance's parts.
type System struct {
	Config *config.Config
	Log    *slog.Logger
	Clock  clock.Clock

	Store *store.Store
	Authz *authz.Authorizer
	Media *media.Manager
	Calls *callctl.Server
	Sync  *syncclient.Client
	// Disk guards the recordings directory's free space; nil (only in
	// tests that build a System by hand) refuses nothing.
	Disk *diskwatch.Guard
	// Board is the board definition named by the config; Panel its officer
	// panel, nil when it could not be opened (an alarm says why; calls that
	// need an officer's confirmation are then refused).
	Board *board.Board
	Panel *panel.Panel
	// Health holds the metrics registry and the readiness checks that
	// metrics.listen serves.
	Health  *health.Server
	metrics *callMetrics
	readers readerStates
	recDir  string
	ends    *officerEnds
	// priced holds the pricing of allowed calls until their records are
	// written.
	priced pricings
	// live holds the checkpoints of the calls in progress (livecalls.go).
	live liveCalls
	// refusals counts, rather than records, a terminal's refused attempts
	// while they come faster than sip.refusal_flood allows (refusals.go);
	// nil records every refusal.
	refusals *refusalFloods
	// endDialog ends a trunk dialog of a call closed at start-up (nil:
	// Calls.EndDialog; tests replace it).
	endDialog func(context.Context, callctl.Dialog) error
}

// New builds the appliance from cfg. Nothing runs until Run.
func New(cfg *config.Config, log *slog.Logger, clk clock.Clock) (*System, error) {
	return NewWith(cfg, log, clk, Deps{})
}

// Deps replaces parts of the machine New would use; the zero value is
// production's.
type Deps struct {
	// Stater reads the recordings disk's free space (nil: statfs).
	Stater diskwatch.Stater
}

// NewWith is New with deps.
func NewWith(cfg *config.Config, log *slog.Logger, clk clock.Clock, deps Deps) (*System, error) {
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
	rf := cfg.SIP.RefusalFlood
	s.refusals = newRefusalFloods(clk, rf.Limit(), rf.Interval(), s.alarm)
	s.Authz = authz.New(clk, cfg.TapWindow)
	s.Authz.SetOwn(ownSource(st))
	if s.Board, err = board.Load(cfg.Board); err != nil {
		st.Close()
		return nil, fmt.Errorf("daemon: %w", err)
	}
	s.openPanel()
	if err := s.loadState(); err != nil {
		s.closeEarly()
		return nil, err
	}
	recKey, err := s.openMedia(deps)
	if err != nil {
		s.closeEarly()
		return nil, err
	}
	if err := s.newCalls(recKey); err != nil {
		s.closeEarly()
		return nil, err
	}
	if err := s.newHealth(); err != nil {
		s.closeEarly()
		return nil, err
	}
	if err := s.newSync(recKey); err != nil {
		s.closeEarly()
		return nil, err
	}
	return s, nil
}

// openPanel opens the officer panel on the board; without it (logged,
// alarmed) calls that need an officer are refused.
func (s *System) openPanel() {
	log, clk := s.Log, s.Clock
	var err error
	s.ends = newOfficerEnds(nil, s.Authz.RuleFor, s.officerAction, log.With("part", "officer"))
	s.Panel, err = panel.Open(s.Board, nil, panel.Config{
		Clock: clk, Logger: log.With("part", "panel"),
		OnAction:         s.officerAction,
		OnIdleOfficerTap: func(officerID string) { s.ends.tapped(officerID) },
	})
	if err != nil {
		s.Panel = nil
		log.Error("officer panel unavailable: calls that need an officer's confirmation will be refused", "board", s.Board.Name, "err", err)
		s.alarm(wire.Alarm{Code: "panel_down", Source: "panel", Message: err.Error()})
	}
}

// loadState restores the cached policy and the lockdown from the store.
func (s *System) loadState() error {
	st, log := s.Store, s.Log
	if p, err := st.Policy(); err != nil {
		return fmt.Errorf("daemon: cached policy: %w", err)
	} else if p != nil {
		s.applyPolicy(p)
		log.Info("cached policy loaded", "version", p.Version, "people", len(p.People))
	} else {
		log.Warn("no policy cached yet: every call is refused until central sends one")
	}
	if on, err := st.Lockdown(); err != nil {
		return fmt.Errorf("daemon: lockdown state: %w", err)
	} else if on {
		s.Authz.SetLockdown(true)
		log.Warn("block in lockdown (set by central): every call is refused until it is lifted")
	}
	return nil
}

// openMedia opens the media manager (with the recording key, returned)
// and the recordings disk's watch.
func (s *System) openMedia(deps Deps) (recstore.Key, error) {
	cfg, log, clk := s.Config, s.Log, s.Clock
	mediaIP, err := netip.ParseAddr(cfg.SIP.MediaIP)
	if err != nil {
		return recstore.Key{}, fmt.Errorf("daemon: sip.media_ip: %w", err)
	}
	recKey, err := cfg.Recording.LoadKey()
	if err != nil {
		return recstore.Key{}, fmt.Errorf("daemon: %w", err)
	}
	if recKey.IsZero() {
		log.Warn("recording.key_file not set: recordings are stored unencrypted (development only)")
	}
	s.Media, err = media.NewManager(media.Config{BindIP: mediaIP, PortMin: cfg.SIP.RTPPortMin, PortMax: cfg.SIP.RTPPortMax, RecordDir: s.recDir, RecordKey: recKey}, log.With("part", "media"))
	if err != nil {
		return recstore.Key{}, fmt.Errorf("daemon: %w", err)
	}
	dg := cfg.Recording.Disk
	s.Disk, err = diskwatch.New(diskwatch.Config{
		Dir: s.recDir, LowPercent: dg.LowPercent, FullBytes: dg.FullMiB << 20, Interval: dg.CheckInterval,
	}, diskwatch.Deps{Stater: deps.Stater, Clock: clk, Log: log.With("part", "disk"), OnAlarm: s.storeAlarm})
	if err != nil {
		return recstore.Key{}, fmt.Errorf("daemon: %w", err)
	}
	return recKey, nil
}

// newCalls makes call control, its media sessions from the manager.
func (s *System) newCalls(recKey recstore.Key) error {
	cfg, log := s.Config, s.Log
	var err error
	cc := callctl.Config{
		Listen:  cfg.SIP.Listen,
		Realm:   cfg.SIP.Realm,
		MediaIP: cfg.SIP.MediaIP,
		TCP:     cfg.SIP.TCP,

		FamilyAccept:   cfg.SIP.FamilyAcceptOn(),
		AcceptTimeout:  cfg.SIP.AcceptTimeout,
		SessionExpires: cfg.SIP.SessionExpires,
		SpokenRefusals: cfg.SIP.SpokenRefusalsOn(),
		HotlineNumber:  cfg.SIP.HotlineNumber,
	}
	for _, t := range cfg.SIP.Terminals {
		cc.Terminals = append(cc.Terminals, callctl.Terminal{ID: t.ID, SIPUser: t.SIPUser, Password: t.Password})
	}
	tc := cfg.SIP.TrunkConfig() // the single trunk is "trunk" with a catch-all route
	cc.Trunks, cc.Routes = tc.Trunks, tc.Routes
	s.Calls, err = callctl.New(cc, callctl.Deps{
		Logger:     log.With("part", "sip"),
		Clock:      s.Clock,
		Authorizer: callctl.AuthorizerFunc(s.authorize),
		Media: func(callID string, record bool) (callctl.MediaSession, error) {
			ms, err := s.Media.NewSession(callID, record)
			if err != nil {
				return nil, err // not ms: a nil *Session in the interface is not nil
			}
			return ms, nil
		},
		OnCallEnd:       s.callEnded,
		OnCallAnswered:  s.callAnswered,
		OnNumberBlocked: s.numberBlocked,
		Names:           s.names(recKey),
		Speaker:         s.speaker(),
		Hotline:         hotline{s.Authz},
	})
	s.ends.calls = s.Calls
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	return nil
}

// newSync makes the sync client: TLS, the signing and policy keys, and
// recordings read with recKey for upload.
func (s *System) newSync(recKey recstore.Key) error {
	cfg, log, clk := s.Config, s.Log, s.Clock
	var err error
	sc := syncclient.Config{
		Broker:      cfg.Sync.Broker,
		ApplianceID: cfg.ApplianceID,
		Username:    cfg.Sync.Username,
		Password:    cfg.Sync.Password,
		Software:    Version,
	}
	if !recKey.IsZero() {
		// Uploads read the plaintext: its SHA-256 and size are the call
		// record's, which central verifies.
		sc.OpenRecording = recstore.Opener(recKey)
	}
	if sc.TLS, err = cfg.Sync.ClientTLS(clk); err == nil {
		if sc.SigningKey, err = cfg.Sync.LoadSigningKey(); err == nil {
			sc.PolicyKey, err = cfg.Sync.LoadPolicyKey()
		}
	}
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	if sc.SigningKey == nil {
		log.Warn("sync.signing_key not set: batches go unsigned and a central that requires signatures refuses them")
	}
	if sc.PolicyKey == nil {
		log.Warn("sync.policy_key not set: any policy from the broker is applied (development only)")
	}
	s.Sync, err = syncclient.New(sc, syncclient.Deps{
		Store: s.Store, Clock: clk, Log: log.With("part", "sync"),
		OnPolicy: func(p *wire.Policy) {
			s.applyPolicy(p)
			log.Info("policy applied", "version", p.Version, "people", len(p.People), "rules", len(p.Rules), "charging", charging(p))
		},
		OnCommand: s.command,
		Metrics:   s.Health.Registry,
	})
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	return nil
}

// closeEarly releases what New opened when New fails.
func (s *System) closeEarly() {
	if s.Panel != nil {
		s.Panel.Close()
	}
	s.Store.Close()
}

// applyPolicy gives a policy to the authorizer and the panel's officer
// list, and drops the own debits and calls its money already includes.
func (s *System) applyPolicy(p *wire.Policy) {
	s.Authz.SetPolicy(p)
	if s.Panel != nil {
		s.Panel.SetOfficers(panel.OfficersFromPolicy(p))
	}
	if p.Money != nil && p.Money.IncludedSeq > 0 {
		if n, err := s.Store.PruneOwn(p.Money.IncludedSeq); err != nil {
			s.Log.Error("own ledger not pruned", "included_seq", p.Money.IncludedSeq, "err", err)
		} else if n > 0 {
			s.Log.Info("own ledger pruned: the policy includes these", "included_seq", p.Money.IncludedSeq, "entries", n)
		}
	}
}

// confirmer is the authorizer's way to the officer (nil without a panel).
func (s *System) confirmer() authz.Confirmer {
	if s.Panel == nil {
		return nil
	}
	return panelConfirmer{s.Panel}
}

// Run runs every part until ctx is done, then closes the panel and the store.
func (s *System) Run(ctx context.Context) error {
	defer s.Store.Close()
	// After the last call's end, before the store closes: the counts of
	// floods in progress are written.
	defer s.refusals.flush()
	defer s.ends.wait()
	if s.Panel != nil {
		defer s.Panel.Close()
	}
	// Calls the previous run died with get their records first.
	deadDialogs := s.closeDeadCalls()
	err := s.Store.Update(func(tx *store.Tx) error {
		if _, err := tx.Append(wire.EventStatus, wire.Status{PolicyVersion: s.Authz.PolicyVersion(), Software: Version, Capability: wire.CurrentCapabilityVersion}); err != nil {
			return err
		}
		// No call of an earlier run is in progress: those that ended
		// with it have records, those the appliance died with never will.
		_, err := tx.Append(wire.EventCallsCleared, wire.CallsCleared{At: s.Clock.Now().UTC()})
		return err
	})
	if err != nil {
		return fmt.Errorf("daemon: status event: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Know the disk's level before the first call can arrive.
	if err := s.Disk.Check(ctx); err != nil {
		s.Log.Error("recordings disk free space unreadable", "err", err)
	}
	var wg sync.WaitGroup
	errc := make(chan error, 3+len(s.Config.Readers))
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
	wg.Go(func() { s.runCheckpoints(ctx) })
	if len(deadDialogs) > 0 {
		wg.Go(func() { s.endDeadDialogs(ctx, deadDialogs) })
	}
	run("sync", s.Sync.Run)
	run("diskwatch", s.Disk.Run)
	wg.Go(func() { s.serveHealth(ctx) })
	if path := s.Config.PanelControl; path != "" {
		if s.Panel == nil {
			s.Log.Warn("panel_control set but the officer panel is unavailable: no control socket")
		} else {
			// The control socket is a convenience of the simulated board:
			// when it cannot be served the appliance still runs.
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := s.Panel.ServeControl(ctx, path); err != nil && !errors.Is(err, panel.ErrClosed) {
					s.Log.Error("panel control socket not served", "path", path, "err", err)
				}
			}()
		}
	}
	for _, r := range s.Config.Readers {
		rc := cardreader.Config{Name: r.Name, Terminal: r.Terminal, Device: r.Device, Driver: r.Driver, Baud: r.Baud}
		onTap := s.tapped
		if r.Role == config.RoleOfficer {
			onTap = s.officerTapped
		}
		run("reader "+r.Name, func(ctx context.Context) error {
			return cardreader.Run(ctx, rc, cardreader.Deps{
				Clock: s.Clock, Log: s.Log.With("part", "reader"), // the runner adds reader= and driver=
				OnTap: onTap, OnAlarm: s.readerAlarm,
			})
		})
	}
	s.Log.Info("appliance running", "id", s.Config.ApplianceID, "sip", s.Config.SIP.Listen, "readers", len(s.Config.Readers))
	wg.Wait()
	close(errc)
	return <-errc
}

// authorize adapts the authorizer to call control and logs every decision.
func (s *System) authorize(ctx context.Context, r callctl.AuthRequest) callctl.AuthResult {
	res := s.Authz.Check(ctx, authz.Request{CallID: r.CallID, Terminal: r.Terminal, Number: r.Number, Waiting: r.Waiting}, s.confirmer())
	if res.Allowed && !res.Privileged && s.Disk != nil && !s.Disk.CanRecord() {
		// The call would be recorded and its recording has no room
		// (docs/decisions/0006-disk-full.md); privileged calls never
		// write a byte, so they are not refused for the disk.
		u := s.Disk.State().Usage
		res.Allowed, res.Reason = false, policy.ErrStorageFull.Error()
		res.Err = fmt.Errorf("%w: %d of %d bytes free under %s", policy.ErrStorageFull, u.Free, u.Total, s.recDir)
	}
	lg := s.Log.With("call", r.CallID, "terminal", r.Terminal, "number", r.Number, "person", res.PersonID)
	if res.Allowed {
		lg.Info("call allowed", "privileged", res.Privileged, "free", res.Free, "hidden", res.Hidden,
			"max_duration", res.MaxDuration, "limited_by", res.LimitedBy, "officer", res.OfficerID, "confirmed", res.ConfirmMethod)
		pr := pricingOf(res)
		pr.started = make(chan struct{})
		s.priced.put(r.CallID, pr)
		start := r.Time
		if start.IsZero() {
			start = s.Clock.Now()
		}
		s.callLive(r, res, pr, start)
		// Off the call's path (a bbolt commit): callEnded waits for it.
		go s.callStarted(pr.started, wire.CallStarted{CallID: r.CallID, Terminal: r.Terminal, PersonID: res.PersonID, PrisonNumber: res.PrisonNumber,
			Number: r.Number, Start: start.UTC(), Privileged: res.Privileged, Hidden: res.Hidden})
	} else {
		lg.Warn("call refused", "reason", res.Reason)
	}
	s.metrics.countDecision(res.Allowed, res.Err)
	return authResult(res)
}

// callStarted stores a call's EventCallStarted (central lists it as in
// progress until its record arrives) with its first checkpoint, and
// closes done.
func (s *System) callStarted(done chan struct{}, c wire.CallStarted) {
	defer close(done)
	err := s.Store.Update(func(tx *store.Tx) error {
		if _, err := tx.Append(wire.EventCallStarted, c); err != nil {
			return err
		}
		return s.live.putIn(tx, c.CallID)
	})
	if err != nil {
		s.Log.Error("call start event not stored (central will not list the call as in progress)", "call", c.CallID, "err", err)
	}
}

// authResult maps the authorizer's decision into call control's.
func authResult(res authz.Result) callctl.AuthResult {
	return callctl.AuthResult{
		Allowed: res.Allowed, Reason: res.Reason,
		PersonID: res.PersonID, PrisonNumber: res.PrisonNumber, CardUID: res.CardUID,
		Record:    !res.Privileged,
		OfficerID: res.OfficerID, ConfirmMethod: res.ConfirmMethod,
		Language: res.Language, RefusalErr: res.Err,
		MaxDuration: res.MaxDuration, LimitedBy: res.LimitedBy,
		Hidden: res.Hidden, Free: res.Free,
		WindowEnd:       res.WindowEnd,
		DestinationType: destinationType(res),
	}
}

// destinationType is the destination type of the rate an allowed call is
// priced at, which trunk routes may choose by ("" when calls are not
// rated).
func destinationType(res authz.Result) string {
	if !res.Allowed || !res.Rated {
		return ""
	}
	return string(res.Rate.DestinationType)
}

// numberBlocked stores the called party's block (9 at the acceptance
// prompt) as an event for central.
func (s *System) numberBlocked(b wire.NumberBlocked) {
	s.Log.Warn("called party blocked calls from this person", "call", b.CallID, "person", b.PersonID, "number", b.Number)
	err := s.Store.Update(func(tx *store.Tx) error {
		_, err := tx.Append(wire.EventNumberBlocked, b)
		return err
	})
	if err != nil {
		s.Log.Error("number block NOT stored", "call", b.CallID, "err", err)
	}
}

// callEnded prices the call (an answered, rated, not free call gets a
// debit) and writes the call record, its debit and its recording's upload
// entry to the outbox in one bbolt transaction. A refused attempt (never
// allowed) of a terminal in a refusal flood is only counted for the
// flood's summary alarm (refusals.go).
func (s *System) callEnded(rec wire.CallRecord) {
	// The handset is on hook: the tap the call used serves no other call.
	s.Authz.EndCall(rec.Terminal, rec.CallID)
	s.ends.annotate(&rec)
	pr, ok := s.priced.take(rec.CallID)
	if ok && pr.started != nil {
		<-pr.started // the start event first, then the record that ends it
	}
	debit, charge := annotateMoney(&rec, pr, ok)
	defer s.live.forget(rec.CallID)
	s.metrics.countEnded(rec.Disposition)
	// An allowed call (priced) is always recorded: it has a start event
	// and a checkpoint its record ends.
	if !ok && !s.refusals.record(rec) {
		return
	}
	// Batched with the other calls ending now (one fsync for all of them
	// under a flood of refused attempts), durable when Batch returns.
	err := s.Store.Batch(func(tx *store.Tx) error {
		if _, err := tx.AppendCall(rec); err != nil {
			return err
		}
		// The record ends the call: its checkpoint goes with it.
		if err := s.live.dropIn(tx, rec.CallID); err != nil {
			return err
		}
		if charge {
			if _, _, err := tx.AppendDebit(debit); err != nil {
				return err
			}
		}
		if rec.Recording != nil {
			return tx.AddRecording(*rec.Recording, s.Media.RecordingPath(rec.Recording.ID, rec.Recording.Format))
		}
		return nil
	})
	if err != nil {
		s.Log.Error("call record NOT stored", "call", rec.CallID, "err", err)
		return
	}
	s.Log.Info("call recorded", "call", rec.CallID, "disposition", rec.Disposition, "reason", rec.Reason,
		"cost", rec.Cost, "currency", rec.Currency)
}

func (s *System) tapped(t cardreader.Tap) {
	known := s.Authz.Tap(t.Terminal, t.UID)
	s.Log.Info("card tap", "reader", t.Reader, "terminal", t.Terminal, "uid", t.UID, "known", known)
	if _, err := s.Store.Append(wire.EventCardTap, wire.CardTap{Reader: t.Reader, Terminal: t.Terminal, UID: t.UID, Known: known}); err != nil {
		s.Log.Error("card tap event not stored", "err", err)
	}
}

// officerTapped hands a card read on the officer panel's reader to the
// panel and logs it as a card tap (with no terminal). A card that is not
// an active officer's is also raised as an AlarmNotOfficerCard: the panel
// ignores it, and central sees that someone tried.
func (s *System) officerTapped(t cardreader.Tap) {
	known := false
	p := s.Authz.Person(t.UID)
	if p != nil && p.Officer && p.Status == wire.StatusActive {
		known = true
	}
	s.Log.Info("officer reader tap", "reader", t.Reader, "uid", t.UID, "officer", known)
	if _, err := s.Store.Append(wire.EventCardTap, wire.CardTap{Reader: t.Reader, UID: t.UID, Known: known}); err != nil {
		s.Log.Error("card tap event not stored", "err", err)
	}
	if s.Panel == nil {
		s.Log.Warn("officer card read but the officer panel is unavailable", "uid", t.UID)
	} else {
		s.Panel.OfficerTap(t.UID)
	}
	if !known {
		// After the panel has had the card: the alarm reports what it did.
		s.alarm(notOfficerAlarm(t, p))
	}
}

// officerAction stores a panel action as an event for central.
func (s *System) officerAction(a wire.OfficerAction) {
	if _, err := s.Store.Append(wire.EventOfficer, a); err != nil {
		s.Log.Error("officer action event not stored", "action", a.Action, "err", err)
	}
}

// readerAlarm is alarm for a card reader's alarms, which also tell
// readiness whether the reader answers.
func (s *System) readerAlarm(a wire.Alarm) {
	s.readers.alarm(a)
	s.alarm(a)
}

// alarm logs an alarm and appends it to the outbox.
func (s *System) alarm(a wire.Alarm) {
	if err := s.storeAlarm(a); err != nil {
		s.Log.Error("alarm event not stored", "code", a.Code, "err", err)
	}
}

// storeAlarm is alarm that returns the store's error (the disk guard
// retries an alarm that was not stored).
func (s *System) storeAlarm(a wire.Alarm) error {
	if a.Cleared {
		s.Log.Info("alarm cleared", "code", a.Code, "source", a.Source)
	} else {
		s.Log.Warn("alarm", "code", a.Code, "source", a.Source, "message", a.Message)
	}
	if _, err := s.Store.Append(wire.EventAlarm, a); err != nil {
		return fmt.Errorf("daemon: alarm event: %w", err)
	}
	return nil
}

// charging is how a policy charges calls, for the log: "on" with a money
// part (wire.MoneyPolicy.Charging says so from capability 19; before, a
// money part meant the same) and "off" without one.
func charging(p *wire.Policy) string {
	if p.Money == nil {
		return "off"
	}
	return wire.ChargingOn
}
