// Package ingest is central's side of the MQTT sync: it receives the
// appliances' event batches and recording uploads (one piece, or in chunks
// with resume: see chunks.go), hands them to the central store, and answers
// with application-level acknowledgements; and it publishes each
// appliance's policy (retained) on its down topic.
//
// It is a paho client of the broker, embedded or external (Mosquitto,
// EMQX): the same code either way. It subscribes with shared subscriptions
// (group "kinline-central") so that several central replicas can share the
// load. Received messages are handed to a queue per appliance, drained by one
// goroutine per appliance, so paho's router never waits on the store and each
// appliance's messages are handled in order.
//
// Trust: with Config.ApplianceKeys set, every batch must carry a valid
// ed25519 signature by the appliance's event key (shared/sign); an unsigned
// or forged batch, or one from an appliance without a key, is refused: not
// stored, not acknowledged, counted (RefusedBatches) and logged with the
// appliance id, and reported to Config.OnRefused. With Config.PolicyKey set,
// every policy published is signed with central's policy key, which is
// what appliances configured with the matching public key require.
// Production sets both; unset, ingest behaves as protocol 1 without
// signatures did.
//
// A called party's self-block (wire.EventNumberBlocked) is handed to the
// store as its batch arrives when the store is a SelfBlocker, and the
// person's block's policy republished, so the number leaves the block's
// appliances at once.
package ingest

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kinline/kinline/shared/mqttsub"
	"github.com/kinline/kinline/shared/sign"
	"github.com/kinline/kinline/shared/wire"
)

// Errors of the ingest layer.
var (
	ErrConfig         = errors.New("ingest: bad config")
	ErrRefused        = errors.New("ingest: message refused")
	ErrHashMismatch   = errors.New("ingest: recording SHA-256 mismatch")
	ErrNotConnected   = errors.New("ingest: not connected")
	ErrAlreadyRunning = errors.New("ingest: already running")
	// ErrSignature: a batch is unsigned, badly signed, or comes from an
	// appliance whose key is unknown. It always comes wrapped together with
	// ErrRefused.
	ErrSignature = errors.New("ingest: batch signature not valid")
)

// SharedGroup is the shared-subscription group of central replicas.
const SharedGroup = "kinline-central"

// Store is what ingest needs from central's store.
type Store interface {
	// StoreEvents upserts events on (appliance, seq) and returns the
	// highest seq up to which the appliance's stream is stored without gaps.
	StoreEvents(ctx context.Context, applianceID string, evs []wire.Event) (ackUpTo uint64, err error)
	// StoreRecording stores a recording whose SHA-256 ingest has verified.
	StoreRecording(ctx context.Context, applianceID string, up *wire.RecordingUpload) error
	// PolicyFor returns the appliance's current policy, nil if none.
	PolicyFor(ctx context.Context, applianceID string) (*wire.Policy, error)
	// AppliancesInBlock lists a block's appliances; block "" means every
	// appliance.
	AppliancesInBlock(ctx context.Context, block string) ([]string, error)
}

// BatchStore is implemented by a Store that takes whole batches and
// answers with the acknowledgement to send (central/store does): it keeps
// an appliance's event chains apart by epoch, tells the appliance where
// its events do not fit central's chain (wire.Ack.Conflict), and alarms
// replayed batches (wire.Batch.Acked). With a Store that is not one,
// ingest stores the events with StoreEvents and acknowledges UpTo alone.
type BatchStore interface {
	StoreBatch(ctx context.Context, applianceID string, b *wire.Batch) (wire.Ack, error)
}

// AlarmWrongTopic is the code of the alarm raised (Config.OnAlarm) for a
// batch that names another appliance than the one whose events topic it
// came on: another appliance's batch, published by the topic's appliance
// (the broker lets each publish on its own topics only) or by a client
// holding its identity.
const AlarmWrongTopic = "batch_wrong_topic"

// AlarmUnknownAppliance is the code of the alarm raised (Config.OnAlarm)
// for messages from an appliance that is not enrolled (Config.Enrolled);
// the same code as the embedded broker's refusal at connect
// (store.AlarmUnknownAppliance).
const AlarmUnknownAppliance = "unknown_appliance"

// AlarmVersion is the code of the alarm raised (Config.OnAlarm) for a
// batch of a version this central does not accept (outside
// wire.MinBatchVersion..wire.BatchVersion): an appliance newer or older
// than docs/COMPATIBILITY.md allows, which would otherwise go silent.
const AlarmVersion = "batch_version_refused"

// Heard is implemented by a Store that records when an appliance was
// heard from (store.Store): ingest tells it of every valid heartbeat.
type Heard interface {
	ApplianceHeard(ctx context.Context, id string) error
}

// handleHeartbeat validates an appliance's heartbeat and records it as
// heard from now (wire.Heartbeat), when the store keeps that.
func (s *Service) handleHeartbeat(ctx context.Context, id string, payload []byte) error {
	if _, err := wire.DecodeHeartbeat(id, payload); err != nil {
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	h, ok := s.st.(Heard)
	if !ok {
		return nil
	}
	return h.ApplianceHeard(ctx, id)
}

// SelfBlocker is implemented by a Store that records a called party's
// self-block (they pressed 9: wire.EventNumberBlocked) as the batch
// arrives, returning the block whose policy must be republished so the
// number leaves it ("" when nothing is to change); policysnap.IngestStore
// does (central/store/people records it).
// With such a store, ingest calls it for each number_blocked event of a
// stored batch and publishes the blocks' policies, so the number leaves
// every appliance of the block at once rather than with the next policy
// change.
type SelfBlocker interface {
	SelfBlockReported(ctx context.Context, applianceID string, nb wire.NumberBlocked) (block string, err error)
}

// Config configures the MQTT client.
type Config struct {
	// Broker is the broker URL, e.g. tcp://127.0.0.1:1883 or ssl://host:8883.
	Broker string
	// Username and Password authenticate central (for the embedded broker:
	// broker.InternalCredentials).
	Username, Password string
	// ClientID must be stable per replica and unique among replicas, so
	// that the broker keeps its session across restarts. Default
	// "kinline-central".
	ClientID string
	// TLS, when set, is used for ssl:// and tls:// brokers: build it with
	// tlsconf.NewClient on central's certificate (pki/central/server.pem
	// and server.key, which carry client-auth usage) and pki/ca.pem.
	TLS *tls.Config
	// ApplianceKeys, when set, returns an appliance's ed25519 event public
	// key (pki/appliances/<id>/event.pub); every batch must then be signed
	// with it. nil accepts unsigned batches (protocol 1 behaviour; not for
	// production).
	ApplianceKeys func(applianceID string) (ed25519.PublicKey, bool)
	// PolicyKey, when set, is central's ed25519 policy-signing key
	// (pki/central/policy.key); every policy published is signed with it.
	PolicyKey ed25519.PrivateKey
	// OnRefused, when set, is called (from the appliance's queue goroutine;
	// it must not block for long) for every batch refused for its
	// signature, so that central can raise it in the console.
	OnRefused func(applianceID string, err error)
	// OnAlarm, when set, is called (from the appliance's queue goroutine;
	// it must not block for long) to raise an alarm about the appliance
	// whose topic a message came on: AlarmWrongTopic. Central raises it in
	// the console.
	OnAlarm func(applianceID, code, source, message string)
	// Enrolled, when set, says whether an appliance is enrolled at central
	// (the store's ApplianceEnrolled): every message of one that is not
	// (never enrolled, or retired) is dropped unhandled and unacknowledged,
	// logged and raised through OnAlarm as AlarmUnknownAppliance. With an
	// external Mosquitto this is where such an appliance is refused:
	// central cannot refuse its connection there. nil accepts every
	// appliance (tests; protocol 1 behaviour).
	Enrolled func(ctx context.Context, applianceID string) (bool, error)

	// ChunkDir holds the chunked recording uploads in progress, one
	// directory per appliance (see chunks.go). Default
	// os.TempDir()/kinline-chunks; production sets a persistent directory
	// so that uploads resume across restarts of central.
	ChunkDir string
	// ChunkMaxBytes bounds the bytes held in ChunkDir; 0 means
	// DefaultChunkMaxBytes.
	ChunkMaxBytes int64
	// MaxRecordingBytes bounds one chunked recording; 0 means
	// DefaultMaxRecordingBytes.
	MaxRecordingBytes int64
	// OnChunk, when set, is called (from the appliance's queue goroutine;
	// it must not block for long) after each recording chunk is written,
	// with the bytes now held of that recording: for metrics and tests.
	OnChunk func(applianceID, callID string, offset int64)
	// Registerer, when set, is where ingest registers its metrics
	// (kinline_central_ingest_*, recordings received, MQTT connection
	// state: metrics.go).
	Registerer prometheus.Registerer
}

// Service is central's ingest. Create it with New and run it with Run.
type Service struct {
	cfg Config
	st  Store
	log *slog.Logger

	mu      sync.Mutex
	client  mqtt.Client
	ctx     context.Context
	queues  map[string]*queue
	running bool
	// stopping: Run is waiting for wg; no goroutine may join it.
	stopping bool
	// wg counts every goroutine the service starts (the queues' drains,
	// the connect handlers, the command answers' writes): Run returns
	// only once all have returned.
	wg sync.WaitGroup

	ready     chan struct{}
	readyOnce sync.Once

	chunks *chunkStore

	statsMu sync.Mutex
	refused map[string]uint64 // appliance -> batches refused for their signature
	unknown map[string]uint64 // appliance -> rounds of messages refused: not enrolled

	polMu      sync.Mutex              // serializes policy publishing
	published  map[string]*wire.Policy // appliance -> policy last published (signed)
	answeredAt map[string]time.Time    // appliance -> last snapshot request answered
	polStats   PolicyStats

	m *metrics
}

// New validates cfg and returns a Service.
func New(cfg Config, st Store, log *slog.Logger) (*Service, error) {
	if cfg.Broker == "" {
		return nil, fmt.Errorf("%w: no broker URL", ErrConfig)
	}
	if st == nil {
		return nil, fmt.Errorf("%w: no store", ErrConfig)
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "kinline-central"
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.PolicyKey != nil && len(cfg.PolicyKey) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: policy key has %d bytes, want %d", ErrConfig, len(cfg.PolicyKey), ed25519.PrivateKeySize)
	}
	if cfg.ChunkDir == "" {
		cfg.ChunkDir = filepath.Join(os.TempDir(), "kinline-chunks")
	}
	if cfg.ChunkMaxBytes <= 0 {
		cfg.ChunkMaxBytes = DefaultChunkMaxBytes
	}
	if cfg.MaxRecordingBytes <= 0 {
		cfg.MaxRecordingBytes = DefaultMaxRecordingBytes
	}
	cs := &chunkStore{dir: cfg.ChunkDir, maxTotal: cfg.ChunkMaxBytes, maxFile: cfg.MaxRecordingBytes}
	s := &Service{cfg: cfg, st: st, log: log, queues: map[string]*queue{}, ready: make(chan struct{}), refused: map[string]uint64{}, unknown: map[string]uint64{}, chunks: cs,
		published: map[string]*wire.Policy{}, answeredAt: map[string]time.Time{}}
	m, err := newMetrics(cfg.Registerer, s)
	if err != nil {
		return nil, fmt.Errorf("ingest: metrics: %w", err)
	}
	s.m = m
	return s, nil
}

// RefusedBatches returns how many batches from the appliance were refused
// for their signature since New.
func (s *Service) RefusedBatches(applianceID string) uint64 {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	return s.refused[applianceID]
}

// Run connects (retrying until the broker answers), subscribes, publishes
// every appliance's policy once connected (and again after each reconnect),
// and handles messages until ctx is done. It returns nil when ctx ends.
func (s *Service) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return ErrAlreadyRunning
	}
	s.running = true
	s.ctx = ctx
	opts := mqtt.NewClientOptions().
		AddBroker(s.cfg.Broker).
		SetClientID(s.cfg.ClientID).
		SetUsername(s.cfg.Username).
		SetPassword(s.cfg.Password).
		SetCleanSession(false).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(10 * time.Second).
		SetKeepAlive(30 * time.Second).
		SetOrderMatters(true). // handlers only enqueue, they never block
		SetDefaultPublishHandler(s.onMessage).
		SetOnConnectHandler(func(c mqtt.Client) { s.goTracked(func(context.Context) { s.onConnect(c) }) }).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			s.m.lost.Inc()
			s.log.Warn("ingest: connection lost", "err", err)
		})
	if s.cfg.TLS != nil {
		opts.SetTLSConfig(s.cfg.TLS)
	}
	client := mqtt.NewClient(opts)
	s.client = client
	s.mu.Unlock()

	defer func() {
		s.mu.Lock()
		s.stopping = true
		s.mu.Unlock()
		client.Disconnect(250)
		s.wg.Wait()
		s.mu.Lock()
		s.running, s.stopping = false, false
		s.queues = map[string]*queue{}
		s.mu.Unlock()
	}()
	tok := client.Connect()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("ingest: connect: %w", err)
		}
	case <-ctx.Done():
		return nil
	}
	<-ctx.Done()
	return nil
}

// Ready is closed once the service has connected and subscribed for the
// first time, so that from then on the broker keeps the appliances' messages
// for it (its session is persistent).
func (s *Service) Ready() <-chan struct{} { return s.ready }

// onConnect subscribes (again: the broker may have lost our session) and
// republishes every policy. paho calls it in its own goroutine.
func (s *Service) onConnect(c mqtt.Client) {
	s.log.Info("ingest: connected", "broker", s.cfg.Broker)
	c.AddRoute(wire.TopicAllCommandAnswers, s.onCommandAnswer)
	filters := map[string]byte{
		"$share/" + SharedGroup + "/" + wire.TopicAllEvents:          1,
		"$share/" + SharedGroup + "/" + wire.TopicAllRecordings:      1,
		"$share/" + SharedGroup + "/" + wire.TopicAllRecordingChunks: 1,
		"$share/" + SharedGroup + "/" + wire.TopicAllCommandAnswers:  1,
		"$share/" + SharedGroup + "/" + wire.TopicAllPolicyRequests:  1,
		"$share/" + SharedGroup + "/" + wire.TopicAllHeartbeats:      0,
	}
	refused, err := mqttsub.Subscribe(c, filters, 30*time.Second)
	if err != nil {
		s.log.Error("ingest: subscribe failed", "err", err)
		return
	}
	for _, f := range refused {
		s.log.Error("ingest: subscription refused", "filter", f)
	}
	s.readyOnce.Do(func() { close(s.ready) })
	s.mu.Lock()
	ctx := s.ctx
	s.mu.Unlock()
	s.askResend(ctx, c)
	s.publishPolicies(ctx, "", true)
}

// askResend tells every appliance that ingest has just subscribed
// (wire.Ack with Resend): batches published while no ingest listened (a
// restarted embedded broker keeps no session for central) are sent again
// at once instead of after each appliance's ack timeout.
func (s *Service) askResend(ctx context.Context, c mqtt.Client) {
	ids, err := s.st.AppliancesInBlock(ctx, "")
	if err != nil {
		s.log.Error("ingest: list appliances to ask for a resend", "err", err)
		return
	}
	for _, id := range ids {
		data, err := json.Marshal(wire.Ack{V: wire.ProtocolVersion, ApplianceID: id, Resend: true})
		if err != nil {
			s.log.Error("ingest: encode resend request", "appliance", id, "err", err)
			continue
		}
		// Not waited for: a lost request costs only the appliance's
		// ack timeout, as before.
		c.Publish(wire.TopicAck(id), 1, false, data)
	}
}

// PolicyChanged publishes the current policy, retained, to each appliance of
// the block ("" for every appliance): as a delta from the policy last
// published to the appliance when that is smaller, else as a snapshot (see
// policy.go). Failures are logged; snapshots are published again after
// every reconnect.
func (s *Service) PolicyChanged(ctx context.Context, block string) {
	s.publishPolicies(ctx, block, false)
}

// kind of a queued message.
type kind int

const (
	kindEvents kind = iota
	kindRecording
	kindChunk
	kindPolicyRequest
	kindHeartbeat
)

type item struct {
	kind    kind
	payload []byte
}

// queue is one appliance's unbounded FIFO, drained by one goroutine.
type queue struct {
	mu     sync.Mutex
	items  []item
	wake   chan struct{}
	closed bool
}

// onMessage runs on paho's router: it only finds the appliance's queue and
// appends to it.
func (s *Service) onMessage(_ mqtt.Client, m mqtt.Message) {
	topic := m.Topic()
	id, ok := wire.ApplianceFromTopic(topic)
	if !ok {
		s.log.Warn("ingest: message on unexpected topic", "topic", topic)
		return
	}
	var k kind
	switch {
	case topic == wire.TopicEvents(id):
		k = kindEvents
	case topic == wire.TopicRecordings(id):
		k = kindRecording
	case topic == wire.TopicRecordingChunks(id):
		k = kindChunk
	case topic == wire.TopicPolicyRequest(id):
		k = kindPolicyRequest
	case topic == wire.TopicHeartbeat(id):
		k = kindHeartbeat
	default:
		s.log.Warn("ingest: message on unexpected topic", "topic", topic)
		return
	}
	q := s.queueFor(id)
	if q == nil {
		return
	}
	q.mu.Lock()
	q.items = append(q.items, item{k, m.Payload()})
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// goTracked runs f with Run's context in a goroutine Run waits for; not
// at all when Run is not running or is stopping. paho calls its handlers
// in goroutines of its own that nobody waits for: those that use the store
// go through here, so none of them outlives Run.
func (s *Service) goTracked(f func(ctx context.Context)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running || s.stopping || s.ctx.Err() != nil {
		return
	}
	s.wg.Add(1)
	go func(ctx context.Context) {
		defer s.wg.Done()
		f(ctx)
	}(s.ctx)
}

func (s *Service) queueFor(id string) *queue {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running || s.stopping || s.ctx.Err() != nil {
		return nil
	}
	q := s.queues[id]
	if q == nil {
		q = &queue{wake: make(chan struct{}, 1)}
		s.queues[id] = q
		s.wg.Add(1)
		go s.drain(s.ctx, id, q)
	}
	return q
}

func (s *Service) drain(ctx context.Context, id string, q *queue) {
	defer s.wg.Done()
	for {
		q.mu.Lock()
		items := q.items
		q.items = nil
		q.mu.Unlock()
		if len(items) > 0 && !s.enrolled(ctx, id, len(items)) {
			items = nil
		}
		for _, it := range items {
			if ctx.Err() != nil {
				return
			}
			var err error
			switch it.kind {
			case kindEvents:
				err = s.handleBatch(ctx, id, it.payload)
			case kindRecording:
				err = s.handleRecording(ctx, id, it.payload)
			case kindChunk:
				err = s.handleChunk(ctx, id, it.payload)
			case kindPolicyRequest:
				err = s.handlePolicyRequest(ctx, id, it.payload)
			case kindHeartbeat:
				err = s.handleHeartbeat(ctx, id, it.payload)
			}
			if err != nil {
				s.log.Warn("ingest: message not handled", "appliance", id, "err", err)
			}
		}
		select {
		case <-q.wake:
		case <-ctx.Done():
			return
		}
	}
}

// enrolled reports whether the appliance's n queued messages may be
// handled (Config.Enrolled). Those of an appliance that is not enrolled
// are dropped: the first refusal and every 100th after it are logged (an
// appliance retries what stays unacknowledged), and each raises the alarm
// (the store keeps one open per appliance). A failed check handles them:
// the store's own checks still apply, and refusing on a database hiccup
// would stall every appliance.
func (s *Service) enrolled(ctx context.Context, id string, n int) bool {
	if s.cfg.Enrolled == nil {
		return true
	}
	ok, err := s.cfg.Enrolled(ctx, id)
	if err != nil {
		s.log.Error("ingest: enrolment not checked; messages handled", "appliance", id, "err", err)
		return true
	}
	if ok {
		return true
	}
	s.statsMu.Lock()
	s.unknown[id]++
	total := s.unknown[id]
	s.statsMu.Unlock()
	if total%100 == 1 {
		s.log.Error("ingest: messages refused: appliance not enrolled (enrol it in the console, or with an external Mosquitto remove its rules: kinline-provision revoke)",
			"appliance", id, "messages", n, "refused_rounds", total)
	}
	if s.cfg.OnAlarm != nil {
		s.cfg.OnAlarm(id, AlarmUnknownAppliance, "enrolment", "refused at ingest: messages from an appliance that is not enrolled (never added, or retired) were refused")
	}
	return false
}

// ParseBatch decodes an untrusted batch received on the appliance's events
// topic: it must name that appliance (batch and every event), hold events
// and every event must carry its own correct hash (wire.Batch.Validate).
func ParseBatch(applianceID string, payload []byte) (*wire.Batch, error) {
	b, err := wire.Decode[wire.Batch](payload, applianceID)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	return b, nil
}

// ParseSignedBatch is ParseBatch followed by the check of the batch's
// signature against the appliance's event public key. ok false (no key
// known for the appliance) refuses the batch. Failures wrap ErrRefused and,
// for the signature, ErrSignature and the shared/sign error.
func ParseSignedBatch(applianceID string, payload []byte, pub ed25519.PublicKey, ok bool) (*wire.Batch, error) {
	b, err := ParseBatch(applianceID, payload)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: %w: no event key known for appliance %q", ErrRefused, ErrSignature, applianceID)
	}
	if err := sign.VerifyBatch(pub, b); err != nil {
		return nil, fmt.Errorf("%w: %w: seq %d..%d: %w", ErrRefused, ErrSignature, b.Events[0].Seq, b.Events[len(b.Events)-1].Seq, err)
	}
	return b, nil
}

func (s *Service) handleBatch(ctx context.Context, id string, payload []byte) error {
	var b *wire.Batch
	var err error
	s.m.batches.Inc()
	if s.cfg.ApplianceKeys != nil {
		pub, ok := s.cfg.ApplianceKeys(id)
		b, err = ParseSignedBatch(id, payload, pub, ok)
		if errors.Is(err, ErrSignature) {
			s.m.refused.WithLabelValues(refusedSignature).Inc()
			s.statsMu.Lock()
			s.refused[id]++
			n := s.refused[id]
			s.statsMu.Unlock()
			s.log.Error("ingest: batch refused: signature", "appliance", id, "refused_total", n, "err", err)
			if s.cfg.OnRefused != nil {
				s.cfg.OnRefused(id, err)
			}
			return nil // logged here; never stored nor acknowledged
		}
	} else {
		b, err = ParseBatch(id, payload)
	}
	if errors.Is(err, wire.ErrOtherAppliance) {
		s.m.refused.WithLabelValues(refusedWrongTopic).Inc()
		s.log.Error("ingest: batch refused: it names another appliance than its topic's", "appliance", id, "err", err)
		if s.cfg.OnAlarm != nil {
			s.cfg.OnAlarm(id, AlarmWrongTopic, "events topic", err.Error())
		}
		return nil // logged here; never stored nor acknowledged
	}
	if errors.Is(err, wire.ErrVersion) {
		s.log.Error("ingest: batch refused: a version this central does not accept (docs/COMPATIBILITY.md)", "appliance", id, "err", err)
		if s.cfg.OnAlarm != nil {
			s.cfg.OnAlarm(id, AlarmVersion, "events topic", err.Error())
		}
		return nil // logged here; never stored nor acknowledged
	}
	if err != nil {
		s.m.refused.WithLabelValues(refusedInvalid).Inc()
		return err
	}
	s.m.events.Add(float64(len(b.Events)))
	var ack wire.Ack
	if bs, ok := s.st.(BatchStore); ok {
		ack, err = bs.StoreBatch(ctx, id, b)
	} else {
		ack = wire.Ack{V: wire.ProtocolVersion, ApplianceID: id}
		ack.UpTo, err = s.st.StoreEvents(ctx, id, b.Events)
	}
	if err != nil {
		s.m.refused.WithLabelValues(refusedStore).Inc()
		return fmt.Errorf("ingest: store events of %s: %w", id, err)
	}
	if ack.UpTo != 0 || ack.Conflict != 0 {
		err = s.publish(wire.TopicAck(id), ack)
	}
	s.selfBlocks(ctx, id, b.Events)
	return err
}

// selfBlocks records the stored batch's number_blocked events (decoded and
// validated by wire.DecodePayload) through the store's SelfBlocker and
// republishes the policies they change. A failure is logged: the event is
// stored, and its projection marks the contact all the same (only the
// republishing then waits for the block's next policy change).
func (s *Service) selfBlocks(ctx context.Context, id string, evs []wire.Event) {
	sb, ok := s.st.(SelfBlocker)
	if !ok {
		return
	}
	var blocks []string
	for _, ev := range evs {
		if ev.Type != wire.EventNumberBlocked {
			continue
		}
		pl, err := wire.DecodePayload(&ev)
		nb, ok := pl.(*wire.NumberBlocked)
		if err != nil || !ok {
			s.log.Warn("ingest: number_blocked event not readable", "appliance", id, "seq", ev.Seq, "err", err)
			continue
		}
		block, err := sb.SelfBlockReported(ctx, id, *nb)
		if err != nil {
			s.log.Warn("ingest: self-block not recorded", "appliance", id, "seq", ev.Seq, "err", err)
			continue
		}
		if block != "" && !slices.Contains(blocks, block) {
			blocks = append(blocks, block)
		}
	}
	for _, b := range blocks {
		s.log.Info("ingest: called party blocked a person: republishing the block's policy", "appliance", id, "block", b)
		s.PolicyChanged(ctx, b)
	}
}

// ParseRecording decodes an untrusted recording upload and checks its bytes
// against the reference it carries. It returns the upload and the hex
// SHA-256 of its data; with ErrHashMismatch the upload is returned too, so
// that the appliance can be told.
func ParseRecording(applianceID string, payload []byte) (*wire.RecordingUpload, string, error) {
	up, err := wire.Decode[wire.RecordingUpload](payload, applianceID)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrRefused, err)
	}
	sum := sha256.Sum256(up.Data)
	got := hex.EncodeToString(sum[:])
	if !strings.EqualFold(got, up.Ref.SHA256) || int64(len(up.Data)) != up.Ref.Bytes {
		return up, got, fmt.Errorf("%w: call %s: got %s (%d bytes), ref %s (%d bytes)", ErrHashMismatch, up.CallID, got, len(up.Data), up.Ref.SHA256, up.Ref.Bytes)
	}
	return up, got, nil
}

func (s *Service) handleRecording(ctx context.Context, id string, payload []byte) error {
	up, sum, err := ParseRecording(id, payload)
	if up == nil {
		return err
	}
	ack := wire.RecordingAck{V: wire.ProtocolVersion, ApplianceID: id, CallID: up.CallID, SHA256: sum}
	if err != nil {
		ack.Error = "sha256 mismatch"
	} else if err = s.st.StoreRecording(ctx, id, up); err != nil {
		err = fmt.Errorf("ingest: store recording %s of %s: %w", up.CallID, id, err)
		ack.Error = "not stored"
	} else {
		ack.OK = true
		s.m.recordings.Inc()
		s.m.recordingBytes.Add(float64(len(up.Data)))
	}
	if perr := s.publish(wire.TopicRecordingAck(id), ack); perr != nil {
		return errors.Join(err, perr)
	}
	return err
}

// publish sends a QoS 1 message without waiting for its PUBACK; a failure is
// only logged, since the appliance resends what stays unacknowledged.
func (s *Service) publish(topic string, msg any) error {
	data, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("ingest: encode: %w", err)
	}
	s.mu.Lock()
	client := s.client
	s.mu.Unlock()
	if client == nil || !client.IsConnected() {
		return ErrNotConnected
	}
	tok := client.Publish(topic, 1, false, data)
	go func() {
		<-tok.Done()
		if err := tok.Error(); err != nil {
			s.log.Warn("ingest: publish failed", "topic", topic, "err", err)
		}
	}()
	return nil
}
