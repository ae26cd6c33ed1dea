// Package tlsconf builds the TLS configurations of Kinline's MQTT link:
// the broker side (central's server certificate; every client must present
// a certificate from the Kinline CA that is not on the CA's revocation
// list) and the appliance side (its own client certificate; central's
// certificate checked against the same CA). It also reads who a verified
// peer is from its certificate.
//
// The files are the PEM files that tools/provision (kinline-provision)
// writes:
//
//	ca.pem                       the CA certificate (several may be concatenated)
//	crl.pem                      the CA's X.509 CRL ("X509 CRL" PEM; one per CA)
//	central/server.pem, server.key  central's certificate and key
//	appliances/<id>/client.pem   an appliance's certificate, CN = appliance id
//	appliances/<id>/client.key
//
// Identity: a certificate's Subject.OrganizationalUnit says what it is
// (OUAppliance or OUCentral) and its CommonName who (the appliance id, which
// must pass wire.ValidApplianceID, so it is usable as the MQTT client id and
// never holds a topic wildcard). Only the CA issues certificates, so the OU is
// as trustworthy as the CN.
//
// Revocation: the server reads crl.pem at start and again whenever the file
// changes (its content is compared on each handshake), so `kinline-provision
// revoke` takes effect on the next connection without a restart. The CRL's
// signature is checked against the CA. If the file is missing, unreadable,
// not signed by the CA or does not cover a client certificate's issuer,
// handshakes fail (fail closed): a damaged CRL must never un-revoke anyone.
// The CRL's NextUpdate is not enforced: the file is local and the operator
// replaces it; freshness comes from the reload.
//
// Both sides require TLS 1.3.
package tlsconf

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/kinline/kinline/shared/wire"
)

// Errors returned by this package. Callers test them with errors.Is.
var (
	// ErrConfig: a certificate, key or CA file is missing or unusable.
	ErrConfig = errors.New("tlsconf: bad TLS material")
	// ErrCRL: the revocation list is missing, malformed, not signed by the
	// CA, or does not cover the certificate's issuer.
	ErrCRL = errors.New("tlsconf: bad revocation list")
	// ErrRevoked: the peer's certificate is on the CA's revocation list.
	ErrRevoked = errors.New("tlsconf: certificate revoked")
	// ErrIdentity: the certificate does not name a valid Kinline peer.
	ErrIdentity = errors.New("tlsconf: certificate does not name a valid peer")
)

// Organizational units that mark what a certificate is for.
const (
	OUAppliance = "kinline-appliance"
	OUCentral   = "kinline-central"
)

// DefaultServerName is the DNS name every central server certificate
// carries, whatever its addresses; appliances verify central under this name
// unless told otherwise, so they may dial central by any address.
const DefaultServerName = "kinline-central"

// Role says what kind of peer a certificate identifies.
type Role string

// Roles.
const (
	RoleAppliance Role = "appliance"
	RoleCentral   Role = "central"
)

// Identity is who a verified certificate names.
type Identity struct {
	Role Role
	// ID is the appliance id for RoleAppliance, the certificate's
	// CommonName for RoleCentral.
	ID string
}

// IdentityOf returns who cert names. It does not verify the certificate's
// chain: call it on verified certificates only (VerifiedChains[i][0]).
func IdentityOf(cert *x509.Certificate) (Identity, error) {
	if cert == nil {
		return Identity{}, fmt.Errorf("%w: no certificate", ErrIdentity)
	}
	ou := cert.Subject.OrganizationalUnit
	switch {
	case len(ou) == 1 && ou[0] == OUAppliance:
		if err := wire.ValidApplianceID(cert.Subject.CommonName); err != nil {
			return Identity{}, fmt.Errorf("%w: %w", ErrIdentity, err)
		}
		if !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
			return Identity{}, fmt.Errorf("%w: appliance certificate %q lacks client-auth usage", ErrIdentity, cert.Subject.CommonName)
		}
		return Identity{Role: RoleAppliance, ID: cert.Subject.CommonName}, nil
	case len(ou) == 1 && ou[0] == OUCentral:
		if cert.Subject.CommonName == "" {
			return Identity{}, fmt.Errorf("%w: central certificate without CommonName", ErrIdentity)
		}
		return Identity{Role: RoleCentral, ID: cert.Subject.CommonName}, nil
	}
	return Identity{}, fmt.Errorf("%w: organizational unit %q is neither %q nor %q", ErrIdentity, ou, OUAppliance, OUCentral)
}

// ApplianceID returns the appliance id a verified client certificate names,
// or an error wrapping ErrIdentity if it is not an appliance certificate.
func ApplianceID(cert *x509.Certificate) (string, error) {
	id, err := IdentityOf(cert)
	if err != nil {
		return "", err
	}
	if id.Role != RoleAppliance {
		return "", fmt.Errorf("%w: %s certificate %q is not an appliance's", ErrIdentity, id.Role, id.ID)
	}
	return id.ID, nil
}

// PeerIdentity returns who the verified peer of a finished handshake is
// (the leaf of its first verified chain). It fails for a connection whose
// peer certificate was not verified.
func PeerIdentity(cs tls.ConnectionState) (Identity, error) {
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return Identity{}, fmt.Errorf("%w: peer certificate not verified", ErrIdentity)
	}
	return IdentityOf(cs.VerifiedChains[0][0])
}

// ParseCertificatesPEM decodes every "CERTIFICATE" block of data. It fails
// if there is none, or on any other block or junk between blocks.
func ParseCertificatesPEM(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("%w: PEM block %q, want CERTIFICATE", ErrConfig, block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		out = append(out, c)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("%w: data that is not PEM", ErrConfig)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no certificate found", ErrConfig)
	}
	return out, nil
}

// LoadCAs reads the CA certificates in path. Each must be a CA.
func LoadCAs(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: CA file: %w", ErrConfig, err)
	}
	cas, err := ParseCertificatesPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, ca := range cas {
		if !ca.IsCA || !ca.BasicConstraintsValid {
			return nil, fmt.Errorf("%w: %s: certificate %q is not a CA", ErrConfig, path, ca.Subject)
		}
	}
	return cas, nil
}

func pool(cas []*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range cas {
		p.AddCert(c)
	}
	return p
}

// loadKeyPair is tls.LoadX509KeyPair that also refuses a key file other
// users may read (like ssh does) or its group may write. Its group may
// read it (0640): central and an external Mosquitto share central's
// server key through a group of their own (tools/provision's permissions
// model), which must hold no other users.
// KeyModeForbidden are the permission bits a private key file may not
// have: any for others, and group write or execute.
const KeyModeForbidden = 0o037

func loadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	f, err := os.Open(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%w: key: %w", ErrConfig, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%w: key: %w", ErrConfig, err)
	}
	if perm := st.Mode().Perm(); perm&KeyModeForbidden != 0 {
		return tls.Certificate{}, fmt.Errorf("%w: %s has mode %#o, want 0600, or 0640 for a key a dedicated group shares (chmod 600 %s)", ErrConfig, keyFile, perm, keyFile)
	}
	keyPEM, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%w: key: %w", ErrConfig, err)
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%w: certificate: %w", ErrConfig, err)
	}
	kp, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%w: %s / %s: %w", ErrConfig, certFile, keyFile, err)
	}
	return kp, nil
}
