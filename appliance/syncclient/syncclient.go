// Package syncclient is the appliance's side of the MQTT sync with central.
//
// Up, it publishes the store's outbox as wire.Batch messages on the
// appliance's events topic: batches of up to Config.BatchSize events, with at
// most Config.MaxInFlight batches awaiting central's application-level
// wire.Ack. Events leave the outbox only on that Ack (a PUBACK only means the
// broker has the message). After a reconnect, or when no Ack made progress
// for Config.AckTimeout, it resends from the last acknowledged event;
// central upserts on (appliance, seq), so a resend is harmless.
//
// Down, it applies the block's policy (retained on the policy topic) when it
// names this appliance and is newer than the stored one, records a status
// event, and calls Deps.OnPolicy. Policy deltas, and the snapshot request
// an appliance sends when it cannot apply one, are in policydelta.go.
//
// # Recordings
//
// Recordings wait in the store until central confirms their SHA-256
// (wire.RecordingAck OK); only then is the local file deleted. They are
// uploaded one at a time in chunks (wire.RecordingChunk) of Config.ChunkSize
// bytes, read from the file one chunk at a time (a recording is never held
// in memory whole; every read goes through Config.OpenRecording, so an
// encrypted recording store can decrypt), with at most Config.ChunkWindow chunks awaiting central's
// wire.RecordingChunkAck. Every upload starts with a query, so that after a
// reconnect, a restart of either side or a timeout it resumes from the offset
// central holds rather than from zero; a chunk central refuses (a corrupted
// one, a gap) is sent again from the offset central names. A refused upload
// (chunk space full at central, SHA-256 mismatch of the whole file) or one
// without progress for Config.AckTimeout is retried with backoff.
//
// MQTT session: client id = appliance id, CleanSession false, QoS 1,
// AutoReconnect and ConnectRetry, subscriptions made in the OnConnect handler
// so they survive reconnects. paho's handlers only record what arrived and
// wake the sync loop; they never block paho's router.
//
// # Connection failures
//
// Every connection attempt goes through connwatch.go, which opens the
// connection for paho and watches it until the broker's CONNACK, because
// paho keeps the errors of its retries to itself. A failed attempt is
// classified (Cause: DNS, refused, unreachable, timeout, the broker's
// certificate, ours revoked, expired or refused, not authorized, ...),
// counted in kinline_appliance_mqtt_connection_failures_total{cause} and
// logged: the first of a cause at once, then at most one line per cause
// every FailureLogInterval, counting the attempts in between. Connecting
// after failures is logged with their number. With Deps.Metrics the
// client also exports kinline_appliance_mqtt_connected and
// kinline_appliance_sync_lag_seconds.
//
// # Trust
//
// Production runs with all three of these set (kinline-provision writes the
// files under pki/appliances/<id>/); each is optional only so that a
// development setup without a PKI keeps working:
//
//   - Config.TLS with an ssl:// broker URL: the appliance's client
//     certificate (client.pem, client.key) and the CA (ca.pem), built with
//     tlsconf.NewClient. The broker then knows the appliance by its
//     certificate; no password is needed.
//   - Config.SigningKey (event.key): every wire.Batch is signed with it
//     (shared/sign), and central refuses batches that are not. Unset,
//     batches go unsigned, which a central configured with appliance keys
//     refuses.
//   - Config.PolicyKey (policy.pub, central's policy public key): a policy
//     that is unsigned or does not verify under it is refused, logged, and
//     reported to central as a wire.Alarm with Code AlarmPolicyRejected (at
//     most one alarm per PolicyAlarmInterval, counting the rejections in
//     between). Unset, any policy from the broker is accepted.
//
// The same PolicyKey verifies central's commands (see commands.go).
//
// Whatever the keys, a policy older than (or as old as) the stored one is
// never applied: a replayed old policy, even genuinely signed, is refused.
package syncclient

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kinline/kinline/appliance/store"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/mqttsub"
	"github.com/kinline/kinline/shared/sign"
	"github.com/kinline/kinline/shared/wire"
)

// Errors of the sync client.
var (
	ErrConfig  = errors.New("syncclient: bad config")
	ErrRunning = errors.New("syncclient: already running")
	// ErrSign: an outbox batch could not be signed (an event not in the
	// form that crosses the wire unchanged); Run stops with it.
	ErrSign = errors.New("syncclient: cannot sign batch")
)

// AlarmPolicyRejected is the wire.Alarm code raised when a policy is refused
// for its signature.
const AlarmPolicyRejected = "policy_rejected"

// PolicyAlarmInterval is the least time between two AlarmPolicyRejected
// alarms; rejections in between are counted into the next one, so a flood
// of forged policies cannot flood the outbox.
const PolicyAlarmInterval = time.Minute

// Defaults for a zero Config field.
const (
	DefaultBatchSize   = 256
	DefaultMaxInFlight = 8
	DefaultAckTimeout  = 30 * time.Second
	// DefaultMaxProbeInterval: see Config.MaxProbeInterval.
	DefaultMaxProbeInterval = 5 * time.Minute
	// DefaultMaxReconnectInterval: see Config.MaxReconnectInterval.
	DefaultMaxReconnectInterval = 5 * time.Second
	DefaultRetryBackoff         = 5 * time.Second
	DefaultMaxRetryBackoff      = 10 * time.Minute
	DefaultChunkWindow          = 4
	// DefaultPolicyRequestInterval: see Config.PolicyRequestInterval.
	DefaultPolicyRequestInterval = 30 * time.Second
	// DefaultConnectTimeout: see Config.ConnectTimeout.
	DefaultConnectTimeout = 30 * time.Second
	maxQueuedRecAcks      = 1024
	// maxQueuedAcks bounds the event acks waiting for the loop (each ack
	// covers those before it of its chain, so dropping the oldest loses
	// nothing but a conflict the next ack repeats).
	maxQueuedAcks = 1024
)

// Config configures the client. Zero fields take the defaults above.
type Config struct {
	// Broker is the broker URL, e.g. tcp://127.0.0.1:1883 or ssl://host:8883.
	Broker string
	// ApplianceID is this appliance's id, also the MQTT client id.
	ApplianceID string
	// Username defaults to ApplianceID; Password is the appliance's secret
	// (not needed over TLS, where the certificate identifies it).
	Username, Password string
	// TLS, when set, is used for ssl://, tls:// and mqtts:// brokers; build
	// it with tlsconf.NewClient on the appliance's client.pem, client.key
	// and ca.pem. Setting it with a tcp:// URL is a config error.
	TLS *tls.Config
	// SigningKey is the appliance's ed25519 event key (event.key); every
	// batch is signed with it. nil sends unsigned batches (protocol 1
	// behaviour): production requires it.
	SigningKey ed25519.PrivateKey
	// PolicyKey is central's ed25519 policy public key (policy.pub); when
	// set, only policies signed with it are applied. nil accepts unsigned
	// policies (protocol 1 behaviour): production requires it.
	PolicyKey ed25519.PublicKey
	// BatchSize is the most events in one wire.Batch.
	BatchSize int
	// MaxInFlight is the most batches published and not yet acknowledged.
	MaxInFlight int
	// AckTimeout: with batches in flight and no Ack progress for this
	// long, resend from the last acknowledged event. It also bounds the
	// wait for a RecordingAck.
	AckTimeout time.Duration
	// MaxProbeInterval bounds what an unanswered outbox costs the broker.
	// After an ack timeout the client no longer resends its whole window:
	// it probes with the first unacknowledged event alone, and waits twice
	// as long for each probe that goes unanswered (AckTimeout doubling up
	// to MaxProbeInterval). The first acknowledgement that makes progress
	// (or a wire.Ack with Resend) opens the window again. With central
	// down and the broker up, three days cost the broker's queue about a
	// thousand one-event batches instead of tens of thousands of full ones.
	MaxProbeInterval time.Duration
	// MaxReconnectInterval caps paho's reconnect backoff, so that after a
	// long outage the backlog starts to drain within this long of the
	// broker coming back.
	MaxReconnectInterval time.Duration
	// RetryBackoff is the first wait before re-uploading a recording
	// central refused or did not answer; it doubles up to MaxRetryBackoff.
	RetryBackoff, MaxRetryBackoff time.Duration
	// Software is reported in status events.
	Software string
	// ChunkSize is the size of recording chunks, at most
	// wire.MaxChunkSize; 0 means wire.DefaultChunkSize.
	ChunkSize int
	// ChunkWindow is the most recording chunks sent and not yet
	// acknowledged; 0 means DefaultChunkWindow.
	ChunkWindow int
	// OpenRecording opens a recording for upload and returns it with its
	// size in bytes (of the plain recording, as its RecordingRef counts
	// them); every read of a recording goes through it. nil means
	// os.Open and the file's size (unencrypted recordings).
	OpenRecording func(path string) (io.ReadSeekCloser, int64, error)
	// PolicyRequestInterval is the least time between two snapshot
	// requests (wire.PolicyRequest) for the same policy version; 0 means
	// DefaultPolicyRequestInterval.
	PolicyRequestInterval time.Duration
	// ConnectTimeout bounds one connection attempt (TCP, TLS and the
	// MQTT handshake); 0 means DefaultConnectTimeout.
	ConnectTimeout time.Duration
}

// Deps are the client's collaborators.
type Deps struct {
	// Store is the appliance's store; the client is the only reader of
	// its Notify channel.
	Store *store.Store
	// Clock drives ack timeouts and retry backoff; nil means the wall clock.
	Clock clock.Clock
	// Log receives the client's logs (the caller names the appliance in it, as
	// kinline-appliance does for every part); nil discards them.
	Log *slog.Logger
	// OnPolicy, if set, is called (from the sync loop) after a newer policy
	// has been saved.
	OnPolicy func(*wire.Policy)
	// OnCommand, if set, carries out a command from central that passed
	// every check (signature, appliance, expiry, not seen before): end_call,
	// lockdown and lift_lockdown (refresh is the client's own). It is
	// called from the sync loop and must not block for long; its error is
	// the command's answer. Unset, such commands are answered as not
	// supported. See commands.go.
	OnCommand func(*wire.Command) error
	// Metrics, if set, is where the client registers its metrics: the
	// connection state, failed connection attempts by Cause, sync lag.
	Metrics prometheus.Registerer
}

// Client syncs one appliance's store with central.
type Client struct {
	cfg  Config
	deps Deps
	clk  clock.Clock
	log  *slog.Logger
	wake chan struct{}

	watch    *connWatch    // every connection attempt, logged and counted
	metrics  *syncMetrics  // nil without Deps.Metrics
	progress progressClock // when acks last made progress

	mu        sync.Mutex
	running   bool
	connected bool
	connGen   uint64
	acks      []wire.Ack // central's acks not yet applied, oldest first
	policy    *wire.Policy
	rejected  int    // policies refused for their signature, not yet alarmed
	rejectWhy string // the last refusal
	recAcks   []wire.RecordingAck
	chunkAcks []wire.RecordingChunkAck
	commands  []inCommand
	deltas    []*wire.PolicyDelta
}

// New checks cfg and deps and returns a Client; Run starts it.
func New(cfg Config, deps Deps) (*Client, error) {
	if cfg.Broker == "" {
		return nil, fmt.Errorf("%w: no broker URL", ErrConfig)
	}
	if err := wire.ValidApplianceID(cfg.ApplianceID); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if deps.Store == nil {
		return nil, fmt.Errorf("%w: no store", ErrConfig)
	}
	if deps.Store.ApplianceID() != cfg.ApplianceID {
		return nil, fmt.Errorf("%w: store is %q's, config says %q", ErrConfig, deps.Store.ApplianceID(), cfg.ApplianceID)
	}
	if cfg.Username == "" {
		cfg.Username = cfg.ApplianceID
	}
	if cfg.TLS != nil {
		scheme, _, _ := strings.Cut(cfg.Broker, "://")
		switch strings.ToLower(scheme) {
		case "ssl", "tls", "mqtts", "mqtt+ssl", "tcps":
		default:
			return nil, fmt.Errorf("%w: TLS configured but broker URL %q is not ssl://, tls:// or mqtts://", ErrConfig, cfg.Broker)
		}
	}
	if cfg.SigningKey != nil && len(cfg.SigningKey) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: signing key has %d bytes, want %d", ErrConfig, len(cfg.SigningKey), ed25519.PrivateKeySize)
	}
	if cfg.PolicyKey != nil && len(cfg.PolicyKey) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: policy key has %d bytes, want %d", ErrConfig, len(cfg.PolicyKey), ed25519.PublicKeySize)
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = DefaultAckTimeout
	}
	if cfg.MaxProbeInterval <= 0 {
		cfg.MaxProbeInterval = DefaultMaxProbeInterval
	}
	cfg.MaxProbeInterval = max(cfg.MaxProbeInterval, cfg.AckTimeout)
	if cfg.MaxReconnectInterval <= 0 {
		cfg.MaxReconnectInterval = DefaultMaxReconnectInterval
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = DefaultRetryBackoff
	}
	if cfg.ChunkSize < 0 || cfg.ChunkSize > wire.MaxChunkSize {
		return nil, fmt.Errorf("%w: chunk size %d not in [1, %d]", ErrConfig, cfg.ChunkSize, wire.MaxChunkSize)
	}
	if cfg.ChunkSize == 0 {
		cfg.ChunkSize = wire.DefaultChunkSize
	}
	if cfg.ChunkWindow <= 0 {
		cfg.ChunkWindow = DefaultChunkWindow
	}
	if cfg.OpenRecording == nil {
		cfg.OpenRecording = openFile
	}
	if cfg.PolicyRequestInterval <= 0 {
		cfg.PolicyRequestInterval = DefaultPolicyRequestInterval
	}
	if cfg.MaxRetryBackoff < cfg.RetryBackoff {
		cfg.MaxRetryBackoff = max(DefaultMaxRetryBackoff, cfg.RetryBackoff)
	}
	c := &Client{cfg: cfg, deps: deps, clk: deps.Clock, log: deps.Log, wake: make(chan struct{}, 1)}
	if c.clk == nil {
		c.clk = clock.Real{}
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if cfg.ConnectTimeout <= 0 {
		c.cfg.ConnectTimeout = DefaultConnectTimeout
	}
	m, err := c.newMetrics(deps.Metrics)
	if err != nil {
		return nil, err
	}
	c.metrics = m
	c.watch = newConnWatch(c.clk, c.log, cfg.Broker, m)
	return c, nil
}

func (c *Client) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Run connects (retrying until the broker answers) and syncs until ctx is
// done; it then disconnects and returns nil. Events appended while the
// broker is unreachable wait in the store. Run returns an error only for a
// failure of the local store, or (ErrSign) an outbox event that cannot be
// signed.
func (c *Client) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.running {
		c.mu.Unlock()
		return ErrRunning
	}
	c.running = true
	c.connected = false
	c.mu.Unlock()
	c.progress.mark(c.clk.Now())
	defer func() {
		c.mu.Lock()
		c.running = false
		c.connected = false
		c.mu.Unlock()
		c.metrics.setConnected(false)
	}()

	opts := mqtt.NewClientOptions().
		AddBroker(c.cfg.Broker).
		SetClientID(c.cfg.ApplianceID).
		SetUsername(c.cfg.Username).
		SetPassword(c.cfg.Password).
		SetCleanSession(false).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(c.cfg.MaxReconnectInterval).
		SetKeepAlive(30 * time.Second).
		SetConnectTimeout(c.cfg.ConnectTimeout).
		// 3.1.1 only: paho's fallback to 3.1 would make a second attempt
		// of every failed one, with a less telling failure.
		SetProtocolVersion(4).
		// Every attempt goes through the watch, which logs and counts
		// failures by cause (paho keeps them to itself).
		SetCustomOpenConnectionFn(c.watch.open).
		SetOrderMatters(true). // the handler never blocks
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { c.handle(m.Topic(), m.Payload()) }).
		SetOnConnectHandler(c.onConnect).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			c.log.Warn("sync: connection lost", "err", err)
			c.mu.Lock()
			c.connected = false
			c.mu.Unlock()
			c.metrics.setConnected(false)
		})
	if c.cfg.TLS != nil {
		opts.SetTLSConfig(c.cfg.TLS)
	}
	client := mqtt.NewClient(opts)
	c.watch.stopped.Store(false)
	client.Connect() // with ConnectRetry it keeps trying; onConnect reports success
	defer func() {
		c.watch.stopped.Store(true)
		client.Disconnect(250)
	}()

	stopBeat := c.heartbeats(client)
	defer stopBeat()
	l := &loop{c: c, client: client, recs: map[string]*recState{}}
	return l.run(ctx)
}

// heartbeats publishes a wire.Heartbeat every wire.HeartbeatInterval (on
// the injected clock) while connected, until the returned stop; onConnect
// sends the first one at once.
func (c *Client) heartbeats(client mqtt.Client) (stop func()) {
	var mu sync.Mutex
	stopped := false
	var t clock.Timer
	var tick func()
	tick = func() {
		// The next one is armed first, so that it is due an interval
		// after this one however long the publish takes.
		mu.Lock()
		if !stopped {
			t = c.clk.AfterFunc(wire.HeartbeatInterval, tick)
		}
		mu.Unlock()
		c.mu.Lock()
		connected := c.connected
		c.mu.Unlock()
		if connected {
			c.heartbeat(client)
		}
	}
	mu.Lock()
	t = c.clk.AfterFunc(wire.HeartbeatInterval, tick)
	mu.Unlock()
	return func() {
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		t.Stop()
	}
}

// heartbeat publishes one heartbeat, QoS 0, not waited for: a lost one
// is made good by the next.
func (c *Client) heartbeat(client mqtt.Client) {
	id := c.cfg.ApplianceID
	data, err := json.Marshal(wire.Heartbeat{V: wire.ProtocolVersion, ApplianceID: id})
	if err != nil {
		c.log.Error("sync: encode heartbeat", "err", err)
		return
	}
	client.Publish(wire.TopicHeartbeat(id), 0, false, data)
}

// onConnect subscribes to the down topics; paho calls it in its own
// goroutine after every (re)connect.
func (c *Client) onConnect(cl mqtt.Client) {
	id := c.cfg.ApplianceID
	filters := map[string]byte{wire.TopicPolicy(id): 1, wire.TopicAck(id): 1, wire.TopicRecordingAck(id): 1, wire.TopicRecordingChunkAck(id): 1, wire.TopicCommands(id): 1, wire.TopicPolicyDelta(id): 1}
	refused, err := mqttsub.Subscribe(cl, filters, 30*time.Second)
	if err != nil {
		c.log.Error("sync: subscribe failed", "err", err)
		return
	}
	for _, f := range refused {
		c.log.Error("sync: subscription refused", "filter", f)
	}
	c.mu.Lock()
	c.connected = true
	c.connGen++
	c.mu.Unlock()
	c.watch.connected()
	c.metrics.setConnected(true)
	c.heartbeat(cl)
	c.log.Info("sync: connected", "broker", c.cfg.Broker)
	c.signal()
}

// handle records a message from central for the loop. It runs on paho's
// router and must not block.
func (c *Client) handle(topic string, payload []byte) {
	id := c.cfg.ApplianceID
	switch topic {
	case wire.TopicAck(id):
		a, err := wire.Decode[wire.Ack](payload, id)
		if err != nil {
			c.log.Warn("sync: ack refused", "err", err)
			return
		}
		c.mu.Lock()
		if len(c.acks) >= maxQueuedAcks {
			c.acks = c.acks[1:]
		}
		c.acks = append(c.acks, *a)
		c.mu.Unlock()
	case wire.TopicPolicy(id):
		if len(payload) == 0 {
			return // a cleared retained message
		}
		p, err := wire.Decode[wire.Policy](payload, id)
		if err != nil {
			c.log.Warn("sync: policy refused", "err", err)
			return
		}
		if c.cfg.PolicyKey != nil {
			if err := sign.VerifyPolicy(c.cfg.PolicyKey, p); err != nil {
				c.log.Error("sync: policy refused: signature", "version", p.Version, "err", err)
				c.mu.Lock()
				c.rejected++
				c.rejectWhy = fmt.Sprintf("policy version %d refused: %v", p.Version, err)
				c.mu.Unlock()
				c.signal()
				return
			}
		}
		c.mu.Lock()
		if c.policy == nil || p.Version > c.policy.Version {
			c.policy = p
		}
		c.mu.Unlock()
	case wire.TopicRecordingAck(id):
		a, err := wire.Decode[wire.RecordingAck](payload, id)
		if err != nil {
			c.log.Warn("sync: recording ack refused", "err", err)
			return
		}
		c.mu.Lock()
		if len(c.recAcks) >= maxQueuedRecAcks {
			c.recAcks = c.recAcks[1:]
		}
		c.recAcks = append(c.recAcks, *a)
		c.mu.Unlock()
	case wire.TopicRecordingChunkAck(id):
		a, err := wire.DecodeRecordingChunkAck(payload, id)
		if err != nil {
			c.log.Warn("sync: recording chunk ack refused", "err", err)
			return
		}
		c.mu.Lock()
		if len(c.chunkAcks) >= maxQueuedRecAcks {
			c.chunkAcks = c.chunkAcks[1:]
		}
		c.chunkAcks = append(c.chunkAcks, *a)
		c.mu.Unlock()
	case wire.TopicCommands(id):
		if !c.takeCommand(payload) {
			return
		}
	case wire.TopicPolicyDelta(id):
		if !c.takeDelta(payload) {
			return
		}
	default:
		c.log.Warn("sync: message on unexpected topic", "topic", topic)
		return
	}
	c.signal()
}

// recState is the retry state of one recording.
type recState struct {
	attempts int
	nextTry  time.Time
}

// loop is the state of one Run, owned by its goroutine.
type loop struct {
	c      *Client
	client mqtt.Client

	acked    uint64   // highest seq central acknowledged
	sent     uint64   // highest seq published since the last rewind
	inflight []uint64 // last seq of each unacknowledged batch, ascending
	seenGen  uint64   // connection generation already handled

	ackTimer timeout // no batch acknowledged in time
	// probeWait, when not zero, says the client is probing: the last ack
	// timeout found no progress, so only the first unacknowledged event is
	// (re)sent, and the next timeout is probeWait (doubling up to
	// Config.MaxProbeInterval).
	probeWait time.Duration

	recs     map[string]*recState
	up       *upload // the recording being uploaded, nil if none
	attempt  uint32  // last wire.RecordingChunk.Attempt used
	chunkBuf []byte  // one chunk, reused
	recTimer timeout // no recording progress in time

	policyVersion uint64    // version of the stored policy (0: none)
	requestedAt   time.Time // when the last snapshot request was published
	requestedHave uint64    // the version it said the appliance had
	requestTimer  clock.Timer
	// behind is the newest policy version a delta announced that could
	// not be applied for want of its base (0: none): retrySnapshot asks
	// again until the stored policy reaches it.
	behind uint64

	rejected   int       // policy rejections waiting for their alarm
	rejectWhy  string    // the last one
	lastAlarm  time.Time // when the last AlarmPolicyRejected was appended
	alarmTimer clock.Timer
}

func (l *loop) run(ctx context.Context) error {
	st := l.c.deps.Store
	acked, err := st.Acked()
	if err != nil {
		return fmt.Errorf("syncclient: %w", err)
	}
	l.acked, l.sent = acked, acked
	if err := l.releaseRecordings(); err != nil {
		return err
	}
	if p, err := st.Policy(); err != nil {
		return fmt.Errorf("syncclient: %w", err)
	} else if p != nil {
		l.policyVersion = p.Version
	}
	defer func() {
		if l.alarmTimer != nil {
			l.alarmTimer.Stop()
		}
		if l.requestTimer != nil {
			l.requestTimer.Stop()
		}
	}()
	defer l.ackTimer.stop()
	defer l.closeUpload()
	// Attempts grow across restarts too (seconds of the clock), so that a
	// stale answer to an earlier run is not taken for the current pass.
	l.attempt = uint32(l.c.clk.Now().Unix())
	for {
		if err := l.step(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-l.c.wake:
		case <-st.Notify():
		}
	}
}

// step does everything that is due: take in what central sent, rewind after
// a reconnect or ack timeout, publish within the window, upload recordings.
func (l *loop) step() error {
	in := l.take()
	if err := l.applyPolicies(in); err != nil {
		return err
	}
	for _, cmd := range in.cmds {
		if err := l.command(cmd); err != nil {
			return err
		}
	}
	if err := l.applyAcks(in); err != nil {
		return err
	}
	l.timersFired(in.ackFired, in.recFired)
	if !in.connected {
		return nil
	}
	if in.gen != l.seenGen {
		l.seenGen = in.gen
		l.rewind()
		// Resume the upload from central's offset: ask again.
		l.closeUpload()
	}
	if err := l.retrySnapshot(); err != nil {
		return err
	}
	if err := l.publishEvents(); err != nil {
		return err
	}
	return l.uploadRecording()
}

// inbox is what step takes from the client at once: what central sent
// since the last step, the connection and which timers fired.
type inbox struct {
	acks      []wire.Ack
	pol       *wire.Policy
	recAcks   []wire.RecordingAck
	chunkAcks []wire.RecordingChunkAck
	cmds      []inCommand
	deltas    []*wire.PolicyDelta
	connected bool
	gen       uint64
	ackFired  bool
	recFired  bool
}

// take empties the client's queues into an inbox.
func (l *loop) take() inbox {
	c := l.c
	c.mu.Lock()
	defer c.mu.Unlock()
	in := inbox{acks: c.acks, pol: c.policy, recAcks: c.recAcks, chunkAcks: c.chunkAcks, cmds: c.commands, deltas: c.deltas}
	c.acks, c.policy, c.recAcks, c.chunkAcks, c.commands, c.deltas = nil, nil, nil, nil, nil, nil
	if c.rejected > 0 {
		l.rejected += c.rejected
		l.rejectWhy = c.rejectWhy
		c.rejected = 0
	}
	in.connected, in.gen = c.connected, c.connGen
	in.ackFired = l.ackTimer.firedLocked()
	in.recFired = l.recTimer.firedLocked()
	return in
}

// applyPolicies applies the snapshot and deltas central sent, then
// raises or clears the policy alarm.
func (l *loop) applyPolicies(in inbox) error {
	if pol := in.pol; pol != nil {
		if err := l.applyPolicy(pol); err != nil {
			return err
		}
		if pol.Version >= l.policyVersion {
			// A snapshot as new as the stored policy is central's
			// word on its current version: what a delta announced
			// beyond it (a replay, a forgery) is not waited for.
			l.behind = 0
		}
	}
	for _, d := range in.deltas {
		if err := l.applyDelta(d); err != nil {
			return err
		}
	}
	return l.policyAlarm()
}

// applyAcks applies central's event acks (rewinding when it asked for a
// resend), then its recording chunk and recording acks.
func (l *loop) applyAcks(in inbox) error {
	c := l.c
	resend := false
	for _, a := range in.acks {
		if err := l.applyAck(a); err != nil {
			return err
		}
		resend = resend || a.Resend
	}
	if resend {
		// Central's ingest has just subscribed: what it was sent before
		// may be lost. Send it all again now, the whole window.
		if l.sent > l.acked || l.probeWait != 0 {
			c.log.Info("sync: central asked for a resend", "from", l.acked+1, "sent", l.sent)
		}
		l.probeWait = 0
		l.rewind()
	}
	for _, a := range in.chunkAcks {
		l.applyChunkAck(a)
	}
	for _, a := range in.recAcks {
		if err := l.applyRecordingAck(a); err != nil {
			return err
		}
	}
	return nil
}

// timersFired handles the ack timer (probe with the first
// unacknowledged event, waiting longer each time) and the recording
// upload timer (the upload failed).
func (l *loop) timersFired(ackFired, recFired bool) {
	c := l.c
	if ackFired {
		l.ackTimer.t = nil
		if len(l.inflight) > 0 {
			// No progress: probe with the first unacknowledged event,
			// waiting longer each time, instead of filling the broker's
			// queue with the whole window again and again.
			if l.probeWait == 0 {
				l.probeWait = c.cfg.AckTimeout
			} else {
				l.probeWait = min(2*l.probeWait, c.cfg.MaxProbeInterval)
			}
			c.log.Warn("sync: no ack in time, probing", "from", l.acked+1, "sent", l.sent, "next_wait", l.probeWait)
			l.rewind()
		}
	}
	if recFired {
		l.recTimer.t = nil
		if l.up != nil {
			c.log.Warn("sync: no recording progress in time", "call", l.up.rec.CallID, "central_offset", l.up.acked)
			l.recordingFailed(l.up.rec.CallID)
		}
	}
}

// rewind makes the next publish start again after the last acked event.
func (l *loop) rewind() {
	l.sent = l.acked
	l.inflight = l.inflight[:0]
	l.ackTimer.stop()
}

// applyAck applies one of central's acks (see store.AckChain): events it
// acknowledges leave the outbox, recordings whose call records it
// acknowledges are released, and an ack that shows central holds other
// events under this appliance's chain starts a new chain (restartChain).
func (l *loop) applyAck(a wire.Ack) error {
	if a.Conflict == 0 && a.UpTo <= l.acked {
		return nil
	}
	if _, err := l.c.deps.Store.AckChain(a); err != nil {
		switch {
		case errors.Is(err, store.ErrFork):
			return l.restartChain(a, err)
		case errors.Is(err, store.ErrAckAhead):
			// Central (from before epochs) claims events this store never
			// appended. Nothing is deleted; later, valid acks still count.
			l.c.log.Error("sync: central acknowledged events never appended", "up_to", a.UpTo, "err", err)
			return nil
		}
		return fmt.Errorf("syncclient: %w", err)
	}
	upTo, err := l.c.deps.Store.Acked()
	if err != nil {
		return fmt.Errorf("syncclient: %w", err)
	}
	if upTo <= l.acked {
		return nil
	}
	l.acked = upTo
	l.c.progress.mark(l.c.clk.Now())
	if l.sent < upTo {
		l.sent = upTo
	}
	if l.probeWait != 0 {
		l.c.log.Info("sync: central acknowledges again", "up_to", upTo)
		l.probeWait = 0
	}
	i := 0
	for i < len(l.inflight) && l.inflight[i] <= upTo {
		i++
	}
	l.inflight = append(l.inflight[:0], l.inflight[i:]...)
	l.ackTimer.stop()
	if len(l.inflight) > 0 {
		l.armAck()
	}
	return l.releaseRecordings()
}

// restartChain starts a new event chain with the outbox (store.Restart)
// after central showed that it holds other events under this appliance's
// chain: a data directory put back from a backup. Everything still in
// the outbox is sent again in the new chain.
func (l *loop) restartChain(a wire.Ack, why error) error {
	epoch, moved, err := l.c.deps.Store.Restart()
	if err != nil {
		return fmt.Errorf("syncclient: %w", err)
	}
	l.c.log.Error("sync: central holds other events under this appliance's event chain (a data directory put back from a backup?): the outbox starts a new chain",
		"chain", a.Epoch, "central_up_to", a.UpTo, "conflict", a.Conflict, "new_chain", epoch, "events", moved, "why", why)
	l.rewind()
	return nil
}

// releaseRecordings deletes the local copies of recordings central has
// verified whose call records it has now acknowledged.
func (l *loop) releaseRecordings() error {
	recs, err := l.c.deps.Store.ReleaseRecordings()
	if err != nil {
		return fmt.Errorf("syncclient: %w", err)
	}
	for _, rec := range recs {
		if err := os.Remove(rec.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
			l.c.log.Error("sync: verified recording not deleted", "call", rec.CallID, "path", rec.Path, "err", err)
			continue
		}
		l.c.log.Info("sync: recording verified and its call record acknowledged by central, local copy deleted", "call", rec.CallID, "bytes", rec.Ref.Bytes)
	}
	return nil
}

// armAck starts the ack timeout: AckTimeout, or the probe's longer wait.
func (l *loop) armAck() {
	l.armFor(&l.ackTimer, max(l.c.cfg.AckTimeout, l.probeWait))
}

func (l *loop) publishEvents() error {
	c := l.c
	window, size := c.cfg.MaxInFlight, c.cfg.BatchSize
	if l.probeWait != 0 {
		window, size = 1, 1 // probing: one event, until central answers
	}
	for len(l.inflight) < window {
		evs, err := c.deps.Store.Pending(l.sent, size)
		if err != nil {
			return fmt.Errorf("syncclient: %w", err)
		}
		if len(evs) == 0 {
			return nil
		}
		batch := wire.Batch{V: wire.BatchVersion, ApplianceID: c.cfg.ApplianceID, Events: evs, Acked: l.acked}
		if c.cfg.SigningKey != nil {
			if err := sign.SignBatch(c.cfg.SigningKey, &batch); err != nil {
				return fmt.Errorf("%w: events %d..%d: %w", ErrSign, evs[0].Seq, evs[len(evs)-1].Seq, err)
			}
		}
		data, err := json.Marshal(&batch)
		if err != nil {
			return fmt.Errorf("syncclient: encode batch: %w", err)
		}
		last := evs[len(evs)-1].Seq
		tok := l.client.Publish(wire.TopicEvents(c.cfg.ApplianceID), 1, false, data)
		l.watch(tok, "batch", last)
		l.sent = last
		l.inflight = append(l.inflight, last)
		if !l.ackTimer.armed() {
			l.armAck()
		}
	}
	return nil
}

// watch logs a publish failure without waiting for it; the ack timeout
// takes care of resending.
func (l *loop) watch(tok mqtt.Token, what string, ref any) {
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			l.c.log.Warn("sync: publish failed", "what", what, "ref", ref, "err", err)
		}
		return
	default:
	}
	log := l.c.log
	go func() {
		<-tok.Done()
		if err := tok.Error(); err != nil {
			log.Warn("sync: publish failed", "what", what, "ref", ref, "err", err)
		}
	}()
}

func (l *loop) applyPolicy(p *wire.Policy) error {
	c := l.c
	err := c.deps.Store.Update(func(tx *store.Tx) error {
		if err := tx.SavePolicy(p); err != nil {
			return err
		}
		_, err := tx.Append(wire.EventStatus, wire.Status{PolicyVersion: p.Version, Software: c.cfg.Software, Capability: wire.CurrentCapabilityVersion})
		return err
	})
	switch {
	case errors.Is(err, store.ErrStalePolicy):
		if p.Version < l.policyVersion {
			// Central never goes back: an older policy is a replay.
			c.log.Warn("sync: older policy refused (replayed?)", "version", p.Version, "stored", l.policyVersion)
		} else {
			c.log.Debug("sync: policy not newer, ignored", "version", p.Version, "err", err)
		}
		return nil
	case errors.Is(err, store.ErrWrongAppliance):
		c.log.Warn("sync: policy for another appliance refused", "err", err)
		return nil
	case err != nil:
		return fmt.Errorf("syncclient: save policy: %w", err)
	}
	l.policyVersion = p.Version
	c.log.Info("sync: policy applied", "version", p.Version, "block", p.Block, "people", len(p.People))
	if c.deps.OnPolicy != nil {
		c.deps.OnPolicy(p)
	}
	return nil
}

// policyAlarm appends an AlarmPolicyRejected event for the policies refused
// since the last one, at most once per PolicyAlarmInterval; until then a
// timer wakes the loop to report them.
func (l *loop) policyAlarm() error {
	c := l.c
	if l.rejected == 0 {
		return nil
	}
	now := c.clk.Now()
	if !l.lastAlarm.IsZero() {
		if wait := l.lastAlarm.Add(PolicyAlarmInterval).Sub(now); wait > 0 {
			if l.alarmTimer == nil {
				l.alarmTimer = c.clk.AfterFunc(wait, c.signal)
			}
			return nil
		}
	}
	msg := l.rejectWhy
	if l.rejected > 1 {
		msg = fmt.Sprintf("%d policies refused for their signature; last: %s", l.rejected, l.rejectWhy)
	}
	_, err := c.deps.Store.Append(wire.EventAlarm, wire.Alarm{Code: AlarmPolicyRejected, Source: "syncclient", Message: msg})
	if err != nil {
		return fmt.Errorf("syncclient: policy alarm: %w", err)
	}
	l.rejected, l.rejectWhy, l.lastAlarm = 0, "", now
	if l.alarmTimer != nil {
		l.alarmTimer.Stop()
		l.alarmTimer = nil
	}
	return nil
}

func (l *loop) applyRecordingAck(a wire.RecordingAck) error {
	c := l.c
	recs, err := c.deps.Store.PendingRecordings()
	if err != nil {
		return fmt.Errorf("syncclient: %w", err)
	}
	var rec *store.Recording
	for i := range recs {
		if recs[i].CallID == a.CallID {
			rec = &recs[i]
		}
	}
	if rec == nil {
		c.log.Debug("sync: recording ack for no pending recording", "call", a.CallID)
		return nil
	}
	if l.up != nil && l.up.rec.CallID == a.CallID {
		l.closeUpload()
	}
	if !a.OK || !strings.EqualFold(a.SHA256, rec.Ref.SHA256) {
		c.log.Warn("sync: central refused recording, keeping it", "call", a.CallID, "err", a.Error, "sha256", a.SHA256, "want", rec.Ref.SHA256)
		l.recordingFailed(a.CallID)
		return nil
	}
	delete(l.recs, a.CallID)
	if done, err := c.deps.Store.RecordAcked(*rec); err != nil {
		return fmt.Errorf("syncclient: %w", err)
	} else if !done {
		// The copy stays until central acknowledges the call's record
		// (releaseRecordings): a record central did not keep must not
		// leave the recording orphaned there and gone here.
		if err := c.deps.Store.RecordingUploaded(a.CallID); err != nil {
			return fmt.Errorf("syncclient: %w", err)
		}
		c.log.Info("sync: recording verified by central, kept until its call record is acknowledged", "call", a.CallID, "record_seq", rec.RecordSeq)
		return nil
	}
	if err := c.deps.Store.RecordingVerified(a.CallID); err != nil {
		return fmt.Errorf("syncclient: %w", err)
	}
	if err := os.Remove(rec.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
		c.log.Error("sync: verified recording not deleted", "call", a.CallID, "path", rec.Path, "err", err)
	}
	c.log.Info("sync: recording verified by central, local copy deleted", "call", a.CallID, "bytes", rec.Ref.Bytes)
	return nil
}

// recordingFailed schedules the next attempt with exponential backoff.
func (l *loop) recordingFailed(callID string) {
	c := l.c
	if l.up != nil && l.up.rec.CallID == callID {
		l.closeUpload()
	}
	rs := l.recs[callID]
	if rs == nil {
		rs = &recState{}
		l.recs[callID] = rs
	}
	rs.attempts++
	d := c.cfg.RetryBackoff
	for i := 1; i < rs.attempts && d < c.cfg.MaxRetryBackoff; i++ {
		d *= 2
	}
	d = min(d, c.cfg.MaxRetryBackoff)
	rs.nextTry = c.clk.Now().Add(d)
	c.clk.AfterFunc(d, c.signal)
}

func (l *loop) uploadRecording() error {
	c := l.c
	if l.up == nil {
		return l.startUpload()
	}
	up := l.up
	if up.querying {
		return nil
	}
	total := up.rec.Ref.Bytes
	window := int64(c.cfg.ChunkWindow) * int64(c.cfg.ChunkSize)
	for up.next < total && up.next-up.acked < window {
		n := min(int64(c.cfg.ChunkSize), total-up.next)
		buf := l.chunkBuf[:n]
		if err := up.readAt(buf, up.next); err != nil {
			c.log.Error("sync: recording file unreadable", "call", up.rec.CallID, "path", up.rec.Path, "offset", up.next, "err", err)
			l.recordingFailed(up.rec.CallID)
			return nil
		}
		sum := sha256.Sum256(buf)
		ch := wire.RecordingChunk{V: wire.ProtocolVersion, ApplianceID: c.cfg.ApplianceID, CallID: up.rec.CallID, Ref: up.rec.Ref,
			Attempt: up.attempt, Offset: up.next, ChunkSHA256: hex.EncodeToString(sum[:]), Data: buf}
		if err := l.publishChunk(&ch); err != nil {
			return err
		}
		up.next += n
	}
	return nil
}

// upload is the state of the recording being uploaded.
type upload struct {
	rec      store.Recording
	f        io.ReadSeekCloser
	pos      int64  // offset f is at (-1: unknown)
	attempt  uint32 // the current pass; answers to older passes do not rewind
	querying bool   // waiting for central's answer to the query
	acked    int64  // bytes central holds
	next     int64  // next offset to send
}

// startUpload opens the next recording due and asks central where it
// stands with it.
func (l *loop) startUpload() error {
	c := l.c
	recs, err := c.deps.Store.PendingRecordings()
	if err != nil {
		return fmt.Errorf("syncclient: %w", err)
	}
	now := c.clk.Now()
	for _, rec := range recs {
		if rec.Uploaded {
			continue // verified; waits for its call record's ack
		}
		if rs := l.recs[rec.CallID]; rs != nil && now.Before(rs.nextTry) {
			continue
		}
		if err := wire.ValidCallID(rec.CallID); err != nil || rec.Ref.Bytes < 0 {
			c.log.Error("sync: recording cannot be uploaded, kept", "call", rec.CallID, "bytes", rec.Ref.Bytes, "err", err)
			l.recordingFailed(rec.CallID)
			continue
		}
		f, size, err := c.cfg.OpenRecording(rec.Path)
		if err != nil {
			c.log.Error("sync: recording file unreadable", "call", rec.CallID, "path", rec.Path, "err", err)
			l.recordingFailed(rec.CallID)
			continue
		}
		if size < rec.Ref.Bytes {
			// Central could never complete it; keep it and try later.
			c.log.Error("sync: recording file shorter than its reference, kept", "call", rec.CallID, "path", rec.Path, "want", rec.Ref.Bytes, "size", size)
			f.Close()
			l.recordingFailed(rec.CallID)
			continue
		}
		if cap(l.chunkBuf) < c.cfg.ChunkSize {
			l.chunkBuf = make([]byte, c.cfg.ChunkSize)
		}
		l.attempt++
		l.up = &upload{rec: rec, f: f, pos: -1, attempt: l.attempt, querying: true}
		q := wire.RecordingChunk{V: wire.ProtocolVersion, ApplianceID: c.cfg.ApplianceID, CallID: rec.CallID, Ref: rec.Ref, Attempt: l.attempt, Query: true}
		return l.publishChunk(&q)
	}
	return nil
}

func (l *loop) publishChunk(ch *wire.RecordingChunk) error {
	c := l.c
	payload, err := encodeChunk(ch)
	if err != nil {
		return fmt.Errorf("syncclient: encode recording chunk: %w", err)
	}
	tok := l.client.Publish(wire.TopicRecordingChunks(c.cfg.ApplianceID), 1, false, payload)
	l.watch(tok, "recording chunk", ch.CallID)
	if !l.recTimer.armed() {
		l.arm(&l.recTimer)
	}
	return nil
}

// encodeChunk is json.Marshal(ch) in one allocation of the payload's size:
// the fields but Data are marshalled, then Data is appended in base64, as
// encoding/json would write it.
func encodeChunk(ch *wire.RecordingChunk) ([]byte, error) {
	data := ch.Data
	head := *ch
	head.Data = nil // omitempty: no "data" field
	h, err := json.Marshal(&head)
	if err != nil {
		return nil, err
	}
	if len(data) == 0 {
		return h, nil
	}
	const field = `,"data":"`
	out := make([]byte, 0, len(h)-1+len(field)+base64.StdEncoding.EncodedLen(len(data))+2)
	out = append(out, h[:len(h)-1]...) // without the closing brace
	out = append(out, field...)
	out = base64.StdEncoding.AppendEncode(out, data)
	return append(out, '"', '}'), nil
}

// applyChunkAck takes central's answer about the upload in progress.
func (l *loop) applyChunkAck(a wire.RecordingChunkAck) {
	c := l.c
	up := l.up
	if up == nil || a.CallID != up.rec.CallID || !strings.EqualFold(a.SHA256, up.rec.Ref.SHA256) {
		return // about an upload given up since
	}
	total := up.rec.Ref.Bytes
	switch {
	case a.Offset > total:
		c.log.Warn("sync: central claims more of a recording than it has", "call", a.CallID, "offset", a.Offset, "bytes", total)
		return
	case a.Resend && a.Attempt == up.attempt:
		if a.Error != "" {
			c.log.Warn("sync: central asks for recording chunks again", "call", a.CallID, "from", a.Offset, "err", a.Error)
		} else if up.querying {
			c.log.Info("sync: uploading recording", "call", a.CallID, "from", a.Offset, "bytes", total)
		}
		// Continue from central's offset; answers to the chunks
		// already sent in this pass carry the old attempt and are
		// not taken as requests to go back again.
		up.querying = false
		up.acked, up.next = a.Offset, a.Offset
		l.attempt++
		up.attempt = l.attempt
	case a.Error != "" && !a.Resend:
		c.log.Warn("sync: central refused recording chunk, retrying later", "call", a.CallID, "err", a.Error)
		l.recordingFailed(a.CallID)
		return
	case up.querying || a.Offset <= up.acked:
		return
	default:
		up.acked = a.Offset
		up.next = max(up.next, up.acked)
	}
	// Progress: the timeout counts from now.
	l.recTimer.stop()
	l.arm(&l.recTimer)
}

// closeUpload drops the upload in progress (not the recording).
func (l *loop) closeUpload() {
	if l.up != nil {
		l.up.f.Close()
		l.up = nil
	}
	l.recTimer.stop()
}

// timeout is a restartable AckTimeout on the injected clock, owned by the
// sync loop. Each arming gets a new generation; the timer records the
// generation that fired (under c.mu) and wakes the loop, so a firing that
// races a stop or a re-arm is recognised as stale and ignored.
type timeout struct {
	t     clock.Timer
	gen   uint64 // generation of the current arming (written under c.mu)
	fired uint64 // generation that fired (written under c.mu)
}

// arm starts to for AckTimeout; it must not be running (stop it first to
// restart).
func (l *loop) arm(to *timeout) { l.armFor(to, l.c.cfg.AckTimeout) }

// armFor starts to for d; it must not be running.
func (l *loop) armFor(to *timeout, d time.Duration) {
	c := l.c
	c.mu.Lock()
	to.gen++
	gen := to.gen
	c.mu.Unlock()
	to.t = c.clk.AfterFunc(d, func() {
		c.mu.Lock()
		to.fired = gen
		c.mu.Unlock()
		c.signal()
	})
}

// armed reports whether to is running (or fired and not yet handled).
func (to *timeout) armed() bool { return to.t != nil }

// stop cancels to.
func (to *timeout) stop() {
	if to.t != nil {
		to.t.Stop()
		to.t = nil
	}
}

// firedLocked reports, with c.mu held, whether the current arming fired.
func (to *timeout) firedLocked() bool { return to.t != nil && to.fired == to.gen }
