package tlsconf

import (
	"crypto/tls"
	"fmt"
	"log/slog"

	"github.com/kinline/kinline/shared/clock"
)

// ServerOptions configures the broker / central side. CertFile, KeyFile,
// CAFile and CRLFile are required.
type ServerOptions struct {
	CertFile string // central's server certificate (PEM)
	KeyFile  string // its private key (PEM, mode 0600)
	CAFile   string // CA certificate(s) that client certificates must chain to
	CRLFile  string // the CA's revocation list (PEM "X509 CRL"), reread on change
	// Roles are the kinds of client accepted; empty means appliances and
	// central (central's own certificate also serves as its client
	// certificate towards an external broker).
	Roles []Role
	// Clock gives the time certificates are checked at; nil is the wall clock.
	Clock clock.Clock
	// Logger receives CRL reloads and refused handshakes; nil discards.
	Logger *slog.Logger
}

// NewServer returns the TLS configuration of the MQTT broker: TLS 1.3 only,
// a client certificate required and verified against the CA, and then
// (in VerifyConnection) refused if revoked or if it does not name an
// accepted Identity. Use PeerIdentity on the connection state afterwards to
// learn which appliance connected. The returned Revocations is the one the
// hook uses (to Reload it explicitly or read its number).
func NewServer(o ServerOptions) (*tls.Config, *Revocations, error) {
	if o.CertFile == "" || o.KeyFile == "" || o.CAFile == "" || o.CRLFile == "" {
		return nil, nil, fmt.Errorf("%w: server needs CertFile, KeyFile, CAFile and CRLFile", ErrConfig)
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	clk := o.Clock
	if clk == nil {
		clk = clock.Real{}
	}
	roles := o.Roles
	if len(roles) == 0 {
		roles = []Role{RoleAppliance, RoleCentral}
	}
	kp, err := loadKeyPair(o.CertFile, o.KeyFile)
	if err != nil {
		return nil, nil, err
	}
	cas, err := LoadCAs(o.CAFile)
	if err != nil {
		return nil, nil, err
	}
	rev, err := LoadRevocations(o.CRLFile, cas, log)
	if err != nil {
		return nil, nil, err
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{kp},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool(cas),
		Time:         clk.Now,
		VerifyConnection: func(cs tls.ConnectionState) error {
			err := verifyClient(cs, rev, roles)
			if err != nil {
				log.Warn("TLS client refused", "remote_cn", peerCN(cs), "err", err)
			}
			return err
		},
	}
	return cfg, rev, nil
}

func verifyClient(cs tls.ConnectionState, rev *Revocations, roles []Role) error {
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		// RequireAndVerifyClientCert makes this unreachable; stay closed
		// should the configuration be changed.
		return fmt.Errorf("%w: no verified client certificate", ErrIdentity)
	}
	leaf := cs.VerifiedChains[0][0]
	id, err := IdentityOf(leaf)
	if err != nil {
		return err
	}
	allowed := false
	for _, r := range roles {
		allowed = allowed || r == id.Role
	}
	if !allowed {
		return fmt.Errorf("%w: %s certificates may not connect here", ErrIdentity, id.Role)
	}
	return rev.Check(leaf)
}

func peerCN(cs tls.ConnectionState) string {
	if len(cs.PeerCertificates) == 0 {
		return ""
	}
	return cs.PeerCertificates[0].Subject.CommonName
}

// ClientOptions configures an appliance's (or central's) connection to the
// broker. CertFile, KeyFile and CAFile are required.
type ClientOptions struct {
	CertFile string // this peer's certificate (PEM)
	KeyFile  string // its private key (PEM, mode 0600)
	CAFile   string // CA certificate(s) the server's certificate must chain to
	// ServerName is the name central's certificate is checked against;
	// empty means DefaultServerName, which every central certificate made
	// by kinline-provision carries.
	ServerName string
	// Clock gives the time certificates are checked at; nil is the wall clock.
	Clock clock.Clock
}

// NewClient returns the TLS configuration an appliance dials the broker
// with: TLS 1.3 only, its own certificate, central's certificate verified
// against the CA under ServerName.
func NewClient(o ClientOptions) (*tls.Config, error) {
	if o.CertFile == "" || o.KeyFile == "" || o.CAFile == "" {
		return nil, fmt.Errorf("%w: client needs CertFile, KeyFile and CAFile", ErrConfig)
	}
	clk := o.Clock
	if clk == nil {
		clk = clock.Real{}
	}
	name := o.ServerName
	if name == "" {
		name = DefaultServerName
	}
	kp, err := loadKeyPair(o.CertFile, o.KeyFile)
	if err != nil {
		return nil, err
	}
	if _, err := IdentityOf(kp.Leaf); err != nil {
		return nil, fmt.Errorf("%w: own certificate %s: %w", ErrConfig, o.CertFile, err)
	}
	cas, err := LoadCAs(o.CAFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{kp},
		RootCAs:      pool(cas),
		ServerName:   name,
		Time:         clk.Now,
	}, nil
}
