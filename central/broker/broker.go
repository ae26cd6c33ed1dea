// Package broker is central's embedded MQTT broker (mochi-mqtt), used when no
// external Mosquitto or EMQX is configured.
//
// It lets an appliance in only as itself. Ids that are not valid appliance
// ids (wildcards, '/', empty) are refused. Once in, an appliance may publish
// only under TopicRoot/<id>/up/ and subscribe only under TopicRoot/<id>/down/.
// Central's own client uses InternalCredentials, which are random per Start
// and may do anything.
//
// Two listeners:
//
//   - TLS (Config.TLS, production): MQTT over TLS 1.3 with a client
//     certificate from the Kinline CA (shared/tlsconf, files made by
//     kinline-provision). The certificate is the identity: an appliance
//     certificate (OU kinline-appliance, CN = appliance id) must connect with
//     client id = username = that id, no password needed; a central
//     certificate (OU kinline-central) is admitted like the internal user.
//     Revoked certificates are refused in the handshake (the CRL file is
//     reread when it changes), and every Config.TLS.CRLCheckInterval the
//     broker rereads the CRL and drops live connections whose certificate is
//     now revoked (CheckRevocations does it at once).
//   - plain TCP (Config.Listen, 127.0.0.1:1883 by default): central's
//     internal user, and appliances listed in Config.Appliances with a
//     password (username = client id = appliance id). Keep Appliances empty
//     in production so that appliances can only come in over TLS.
//
// A password never admits anyone on the TLS listener, and a certificate is
// never asked for on the plain one.
//
// The same rules for an external Mosquitto are in mosquitto.conf.example
// beside this file (its dynamic-security plugin, with the rules
// kinline-provision writes; Mosquitto's acl_file does not check
// subscriptions).
package broker

import (
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/tlsconf"
	"github.com/kinline/kinline/shared/wire"
)

// Errors returned by the broker.
var (
	ErrConfig  = errors.New("broker: bad config")
	ErrStarted = errors.New("broker: already started")
)

// DefaultMaxPacketSize is the largest MQTT packet accepted when
// Config.MaxPacketSize is zero: room for a one-piece recording of about
// 48 MB once base64-encoded in its JSON envelope.
const DefaultMaxPacketSize = 64 << 20

// internalUser is the username of central's own client. The '$' makes it an
// invalid appliance id, so no appliance can ever share it.
const internalUser = "$kinline-central"

// Defaults of TLSConfig.
const (
	DefaultTLSListen        = ":8883"
	DefaultCRLCheckInterval = 10 * time.Second
)

// Config configures the broker. The zero value listens on 127.0.0.1:1883
// and admits no appliance.
type Config struct {
	// Listen is the plain TCP address, "127.0.0.1:1883" by default; port 0
	// picks a free port (see Addr). Central's internal client connects here.
	Listen string
	// Appliances maps appliance id to its password, for appliances that
	// connect over plain TCP (development, migration). Leave it empty in
	// production: appliances then come in over TLS only.
	Appliances map[string]string
	// MaxPacketSize bounds one MQTT packet in bytes; 0 means
	// DefaultMaxPacketSize.
	MaxPacketSize int
	// TLS, when set, adds the TLS listener where appliances are identified
	// by their certificates. nil keeps the broker plain-TCP only.
	TLS *TLSConfig
	// Clock drives the periodic revocation check; nil is the wall clock.
	Clock clock.Clock
	// Enrolled, when set, says whether an appliance id is enrolled at
	// central: an appliance whose credentials or certificate are good
	// but that is not enrolled (never added, or retired) is refused at
	// CONNECT and reported to OnUnknown. nil admits every appliance with
	// good credentials.
	Enrolled func(id string) bool
	// OnUnknown, when set, is told of every appliance refused because it
	// is not enrolled, with the remote address it came from (central
	// raises the unknown_appliance alarm). It runs in the connect path:
	// it must not block for long.
	OnUnknown func(id, remote string)
	// OnCertificate, when set, is told the expiry of the certificate an
	// appliance connected with on the TLS listener (central keeps it for
	// the certificate expiry alarm). It runs in the connect path.
	OnCertificate func(id string, notAfter time.Time)
}

// TLSConfig configures the TLS listener. The four files are the ones
// kinline-provision writes (see shared/tlsconf): pki/central/server.pem,
// pki/central/server.key, pki/ca.pem and pki/crl.pem.
type TLSConfig struct {
	// Listen is the address, DefaultTLSListen (":8883") when empty; port 0
	// picks a free port (see TLSAddr).
	Listen string
	// CertFile and KeyFile are central's server certificate and key.
	CertFile, KeyFile string
	// CAFile holds the CA certificate(s) client certificates must chain to.
	CAFile string
	// CRLFile is the CA's revocation list, reread when it changes.
	CRLFile string
	// CRLCheckInterval is how often live connections are checked against
	// the revocation list; 0 means DefaultCRLCheckInterval, below 0 never
	// (then only CheckRevocations does it).
	CRLCheckInterval time.Duration
}

// Broker is a running (after Start) embedded broker.
type Broker struct {
	cfg    Config
	log    *slog.Logger
	clk    clock.Clock
	mu     sync.Mutex
	srv    *mqtt.Server
	tcp    *listeners.TCP
	tlsL   *listeners.TCP
	rev    *tlsconf.Revocations
	timer  clock.Timer
	user   string
	pass   string
	passwd map[string][]byte
}

// tlsListenerID is the mochi listener id of the TLS listener.
const tlsListenerID = "tls"

// New validates cfg and returns a broker that is not started yet.
func New(cfg Config, log *slog.Logger) (*Broker, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:1883"
	}
	if cfg.MaxPacketSize == 0 {
		cfg.MaxPacketSize = DefaultMaxPacketSize
	}
	if cfg.MaxPacketSize < 1024 || cfg.MaxPacketSize > 256<<20 {
		return nil, fmt.Errorf("%w: MaxPacketSize %d not in [1 KiB, 256 MiB]", ErrConfig, cfg.MaxPacketSize)
	}
	passwd := make(map[string][]byte, len(cfg.Appliances))
	for id, pw := range cfg.Appliances {
		if err := wire.ValidApplianceID(id); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		if pw == "" {
			return nil, fmt.Errorf("%w: appliance %q has an empty password", ErrConfig, id)
		}
		passwd[id] = []byte(pw)
	}
	if t := cfg.TLS; t != nil {
		if t.CertFile == "" || t.KeyFile == "" || t.CAFile == "" || t.CRLFile == "" {
			return nil, fmt.Errorf("%w: TLS needs CertFile, KeyFile, CAFile and CRLFile", ErrConfig)
		}
		tc := *t
		if tc.Listen == "" {
			tc.Listen = DefaultTLSListen
		}
		if tc.CRLCheckInterval == 0 {
			tc.CRLCheckInterval = DefaultCRLCheckInterval
		}
		cfg.TLS = &tc
	}
	clk := cfg.Clock
	if clk == nil {
		clk = clock.Real{}
	}
	return &Broker{cfg: cfg, log: log, clk: clk, passwd: passwd}, nil
}

// Start opens the listener and serves in the background.
func (b *Broker) Start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.srv != nil {
		return ErrStarted
	}
	var rnd [24]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return fmt.Errorf("broker: internal password: %w", err)
	}
	b.user, b.pass = internalUser, hex.EncodeToString(rnd[:])

	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = uint32(b.cfg.MaxPacketSize)
	srv := mqtt.New(&mqtt.Options{
		Capabilities:             caps,
		Logger:                   b.log.With("component", "mqtt-broker"),
		ClientNetReadBufferSize:  64 << 10,
		ClientNetWriteBufferSize: 64 << 10,
	})
	if err := srv.AddHook(&authHook{b: b, internalPass: []byte(b.pass)}, nil); err != nil {
		return fmt.Errorf("broker: hook: %w", err)
	}
	var tlsL *listeners.TCP
	var rev *tlsconf.Revocations
	if t := b.cfg.TLS; t != nil {
		tc, r, err := tlsconf.NewServer(tlsconf.ServerOptions{
			CertFile: t.CertFile, KeyFile: t.KeyFile, CAFile: t.CAFile, CRLFile: t.CRLFile,
			Logger: b.log.With("component", "mqtt-tls"),
		})
		if err != nil {
			return fmt.Errorf("%w: %w", ErrConfig, err)
		}
		rev = r
		tlsL = listeners.NewTCP(listeners.Config{ID: tlsListenerID, Address: t.Listen, TLSConfig: tc})
		if err := srv.AddListener(tlsL); err != nil {
			return fmt.Errorf("broker: listen %s (TLS): %w", t.Listen, err)
		}
	}
	tcp := listeners.NewTCP(listeners.Config{ID: "tcp", Address: b.cfg.Listen})
	if err := srv.AddListener(tcp); err != nil {
		srv.Close()
		return fmt.Errorf("broker: listen %s: %w", b.cfg.Listen, err)
	}
	if err := srv.Serve(); err != nil {
		srv.Close()
		return fmt.Errorf("broker: serve: %w", err)
	}
	b.srv, b.tcp, b.tlsL, b.rev = srv, tcp, tlsL, rev
	b.log.Info("mqtt broker listening", "addr", tcp.Address())
	if tlsL != nil {
		b.log.Info("mqtt broker listening (TLS, client certificates)", "addr", tlsL.Address())
		b.armCRLCheckLocked()
	}
	return nil
}

// armCRLCheckLocked schedules the next periodic revocation check.
func (b *Broker) armCRLCheckLocked() {
	d := b.cfg.TLS.CRLCheckInterval
	if d <= 0 {
		return
	}
	var t clock.Timer
	t = b.clk.AfterFunc(d, func() {
		b.CheckRevocations()
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.timer == t && b.srv != nil {
			b.armCRLCheckLocked()
		}
	})
	b.timer = t
}

// Close stops the broker and disconnects every client.
func (b *Broker) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.srv == nil {
		return nil
	}
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	err := b.srv.Close()
	b.srv, b.tcp, b.tlsL, b.rev = nil, nil, nil, nil
	if err != nil {
		return fmt.Errorf("broker: close: %w", err)
	}
	return nil
}

// TLSAddr returns the address of the TLS listener (host:port), or "" when
// there is none or the broker is not started.
func (b *Broker) TLSAddr() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tlsL == nil {
		return ""
	}
	return b.tlsL.Address()
}

// CheckRevocations rereads the revocation list (if it changed) and drops
// every live TLS connection whose certificate is now revoked. It returns
// the ids of the clients dropped. The broker calls it every
// TLSConfig.CRLCheckInterval; call it directly to act at once (say, after
// kinline-provision revoke). A list that cannot be read or checked drops
// nobody (new handshakes fail closed meanwhile) and is logged.
func (b *Broker) CheckRevocations() []string {
	b.mu.Lock()
	srv, rev := b.srv, b.rev
	b.mu.Unlock()
	if srv == nil || rev == nil {
		return nil
	}
	var dropped []string
	for _, cl := range srv.Clients.GetAll() {
		if cl.Net.Listener != tlsListenerID || cl.Closed() {
			continue
		}
		leaf := peerLeaf(cl)
		if leaf == nil {
			continue
		}
		err := rev.Check(leaf)
		switch {
		case err == nil:
		case errors.Is(err, tlsconf.ErrRevoked):
			b.log.Warn("mqtt: dropping client whose certificate was revoked", "client", cl.ID, "remote", cl.Net.Remote, "err", err)
			if cl.Properties.ProtocolVersion == 5 {
				srv.DisconnectClient(cl, packets.ErrNotAuthorized)
			} else {
				cl.Stop(packets.ErrNotAuthorized)
			}
			dropped = append(dropped, cl.ID)
		default:
			b.log.Error("mqtt: revocation list unusable: live connections kept, new ones refused", "client", cl.ID, "err", err)
		}
	}
	return dropped
}

// Disconnect drops the live connections of appliance id (on either
// listener) and reports how many it dropped: central calls it when an
// appliance is retired, whose reconnection Config.Enrolled then refuses.
func (b *Broker) Disconnect(id string) int {
	b.mu.Lock()
	srv := b.srv
	b.mu.Unlock()
	if srv == nil {
		return 0
	}
	n := 0
	for _, cl := range srv.Clients.GetAll() {
		if cl.ID != id || cl.Closed() {
			continue
		}
		b.log.Warn("mqtt: dropping retired appliance", "client", cl.ID, "remote", cl.Net.Remote)
		if cl.Properties.ProtocolVersion == 5 {
			srv.DisconnectClient(cl, packets.ErrNotAuthorized)
		} else {
			cl.Stop(packets.ErrNotAuthorized)
		}
		n++
	}
	return n
}

// Addr returns the address the broker listens on (host:port), or "" when
// it is not started.
func (b *Broker) Addr() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tcp == nil {
		return ""
	}
	return b.tcp.Address()
}

// InternalCredentials returns the username and password of central's own
// client, random per Start.
func (b *Broker) InternalCredentials() (username, password string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.user, b.pass
}

// authHook is the authentication and ACL hook.
type authHook struct {
	mqtt.HookBase
	b            *Broker
	internalPass []byte
}

func (h *authHook) ID() string { return "kinline-auth" }

func (h *authHook) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

// peerLeaf returns the verified certificate of a client connected over TLS,
// nil for any other client.
func peerLeaf(cl *mqtt.Client) *x509.Certificate {
	tc, ok := cl.Net.Conn.(*tls.Conn)
	if !ok {
		return nil
	}
	cs := tc.ConnectionState()
	if !cs.HandshakeComplete || len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return nil
	}
	return cs.VerifiedChains[0][0]
}

// tlsIdentity returns who a client on the TLS listener is, from its
// verified certificate.
func tlsIdentity(cl *mqtt.Client) (tlsconf.Identity, error) {
	tc, ok := cl.Net.Conn.(*tls.Conn)
	if !ok {
		return tlsconf.Identity{}, fmt.Errorf("%w: not a TLS connection", tlsconf.ErrIdentity)
	}
	return tlsconf.PeerIdentity(tc.ConnectionState())
}

// OnConnectAuthenticate admits, on the TLS listener, the holder of a
// verified certificate (an appliance only as itself: client id = username =
// the certificate's appliance id); on the plain listener, the internal user
// or an appliance whose username is its id, whose client id equals it, and
// whose password matches.
func (h *authHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	user := string(pk.Connect.Username)
	pass := pk.Connect.Password
	if cl.Net.Listener == tlsListenerID {
		return h.authenticateTLS(cl, user)
	}
	if user == internalUser {
		ok := subtle.ConstantTimeCompare(pass, h.internalPass) == 1
		if !ok {
			h.b.log.Warn("mqtt: internal user refused: bad password", "client", cl.ID, "remote", cl.Net.Remote)
		}
		return ok
	}
	if err := wire.ValidApplianceID(user); err != nil {
		h.b.log.Warn("mqtt: connection refused: bad appliance id", "user", user, "remote", cl.Net.Remote)
		return false
	}
	if cl.ID != user {
		h.b.log.Warn("mqtt: connection refused: client id is not the appliance id", "user", user, "client", cl.ID, "remote", cl.Net.Remote)
		return false
	}
	want, known := h.b.passwd[user]
	if !known {
		// Compare anyway so that unknown and known ids take the same time.
		want = h.internalPass
	}
	if subtle.ConstantTimeCompare(pass, want) != 1 || !known {
		h.b.log.Warn("mqtt: connection refused: bad credentials", "user", user, "remote", cl.Net.Remote)
		return false
	}
	return h.enrolled(cl, user)
}

// enrolled admits an appliance whose identity is proven only if central
// has it enrolled (Config.Enrolled); a refusal is logged and reported to
// Config.OnUnknown.
func (h *authHook) enrolled(cl *mqtt.Client, id string) bool {
	if h.b.cfg.Enrolled == nil || h.b.cfg.Enrolled(id) {
		return true
	}
	h.b.log.Warn("mqtt: connection refused: appliance not enrolled (enrol it in the console, or it was retired)", "appliance", id, "remote", cl.Net.Remote)
	if h.b.cfg.OnUnknown != nil {
		h.b.cfg.OnUnknown(id, cl.Net.Remote)
	}
	return false
}

// authenticateTLS admits a TLS client by its certificate. The handshake has
// already verified the chain and refused revoked certificates.
func (h *authHook) authenticateTLS(cl *mqtt.Client, user string) bool {
	id, err := tlsIdentity(cl)
	if err != nil {
		h.b.log.Warn("mqtt: TLS connection refused: no usable certificate", "client", cl.ID, "remote", cl.Net.Remote, "err", err)
		return false
	}
	switch id.Role {
	case tlsconf.RoleCentral:
		return true
	case tlsconf.RoleAppliance:
		if wire.ValidApplianceID(cl.ID) != nil || cl.ID != id.ID || user != id.ID {
			h.b.log.Warn("mqtt: TLS connection refused: client id and username must be the certificate's appliance id",
				"certificate", id.ID, "client", cl.ID, "user", user, "remote", cl.Net.Remote)
			return false
		}
		if !h.enrolled(cl, id.ID) {
			return false
		}
		if leaf := peerLeaf(cl); leaf != nil && h.b.cfg.OnCertificate != nil {
			h.b.cfg.OnCertificate(id.ID, leaf.NotAfter)
		}
		return true
	}
	return false
}

// OnACLCheck confines an appliance to its own subtree: publish under up/,
// subscribe (and receive) under down/.
func (h *authHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	user := string(cl.Properties.Username)
	if cl.Net.Listener == tlsListenerID {
		id, err := tlsIdentity(cl)
		if err != nil {
			return false
		}
		if id.Role == tlsconf.RoleCentral {
			return true
		}
		if id.Role != tlsconf.RoleAppliance || cl.ID != id.ID {
			return false
		}
		user = id.ID
	} else if user == internalUser {
		return true
	}
	if wire.ValidApplianceID(user) != nil || cl.ID != user {
		return false
	}
	dir := "/down/"
	if write {
		dir = "/up/"
	}
	ok := strings.HasPrefix(topic, wire.TopicRoot+"/"+user+dir)
	if !ok {
		h.b.log.Warn("mqtt: acl refused", "appliance", user, "topic", topic, "write", write)
	}
	return ok
}

// AppliancesConnected is the number of clients connected now other than
// central's own (kinline_central_appliances_connected); 0 when the broker
// is not started.
func (b *Broker) AppliancesConnected() int {
	b.mu.Lock()
	srv, user := b.srv, b.user
	b.mu.Unlock()
	if srv == nil {
		return 0
	}
	n := 0
	for _, cl := range srv.Clients.GetAll() {
		if !cl.Closed() && string(cl.Properties.Username) != user {
			n++
		}
	}
	return n
}
