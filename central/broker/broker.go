// Package broker is central's embedded MQTT broker (mochi-mqtt), used when no
// external Mosquitto or EMQX is configured.
//
// It lets an appliance in only as itself: username = appliance id, the
// appliance's password, and client id = username. Ids that are not valid
// appliance ids (wildcards, '/', empty) are refused. Once in, an appliance may
// publish only under TopicRoot/<id>/up/ and subscribe only under
// TopicRoot/<id>/down/. Central's own client uses InternalCredentials, which
// are random per Start and may do anything.
package broker

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

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

// Config configures the broker. The zero value listens on 127.0.0.1:1883
// and admits no appliance.
type Config struct {
	// Listen is the TCP address, "127.0.0.1:1883" by default; port 0
	// picks a free port (see Addr).
	Listen string
	// Appliances maps appliance id to its password.
	Appliances map[string]string
	// MaxPacketSize bounds one MQTT packet in bytes; 0 means
	// DefaultMaxPacketSize.
	MaxPacketSize int
}

// Broker is a running (after Start) embedded broker.
type Broker struct {
	cfg    Config
	log    *slog.Logger
	mu     sync.Mutex
	srv    *mqtt.Server
	tcp    *listeners.TCP
	user   string
	pass   string
	passwd map[string][]byte
}

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
	return &Broker{cfg: cfg, log: log, passwd: passwd}, nil
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
	tcp := listeners.NewTCP(listeners.Config{ID: "tcp", Address: b.cfg.Listen})
	if err := srv.AddListener(tcp); err != nil {
		return fmt.Errorf("broker: listen %s: %w", b.cfg.Listen, err)
	}
	if err := srv.Serve(); err != nil {
		tcp.Close(func(string) {})
		return fmt.Errorf("broker: serve: %w", err)
	}
	b.srv, b.tcp = srv, tcp
	b.log.Info("mqtt broker listening", "addr", tcp.Address())
	return nil
}

// Close stops the broker and disconnects every client.
func (b *Broker) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.srv == nil {
		return nil
	}
	err := b.srv.Close()
	b.srv, b.tcp = nil, nil
	if err != nil {
		return fmt.Errorf("broker: close: %w", err)
	}
	return nil
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

// OnConnectAuthenticate admits the internal user, or an appliance whose
// username is its id, whose client id equals it, and whose password matches.
func (h *authHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	user := string(pk.Connect.Username)
	pass := pk.Connect.Password
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
	return true
}

// OnACLCheck confines an appliance to its own subtree: publish under up/,
// subscribe (and receive) under down/.
func (h *authHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	user := string(cl.Properties.Username)
	if user == internalUser {
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
