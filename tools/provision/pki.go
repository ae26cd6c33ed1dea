package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/recstore"
	"github.com/kinline/kinline/shared/sign"
	"github.com/kinline/kinline/shared/tlsconf"
	"github.com/kinline/kinline/shared/wire"
)

// Errors of the provisioning layer.
var (
	ErrExists       = errors.New("provision: already exists")
	ErrNotFound     = errors.New("provision: not found")
	ErrNoCA         = errors.New("provision: no CA in this directory")
	ErrBadID        = errors.New("provision: bad appliance id")
	ErrCorruptStore = errors.New("provision: PKI directory is inconsistent")
)

// Validity periods and the clock skew allowance.
const (
	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 2 * 365 * 24 * time.Hour
	backdate     = time.Hour // NotBefore = now - backdate, for peers whose clocks run a little late
)

// File layout under the PKI directory.
const (
	fileCA         = "ca.pem"
	fileCAKey      = "ca.key"
	fileCRL        = "crl.pem"
	dirCentral     = "central"
	fileServer     = "server.pem"
	fileServerKey  = "server.key"
	filePolicyKey  = "policy.key"
	filePolicyPub  = "policy.pub"
	dirAppliances  = "appliances"
	fileClient     = "client.pem"
	fileClientKey  = "client.key"
	fileEventKey   = "event.key"
	fileEventPub   = "event.pub"
	fileRecKey     = "recording.key"
	fileLock       = ".lock"
	centralCN      = "kinline-central"
	caOrganization = "Kinline"
)

// PKI is a provisioning directory.
type PKI struct {
	Dir   string
	Clock clock.Clock
	Rand  io.Reader // crypto/rand when nil
}

func (p *PKI) path(parts ...string) string {
	return filepath.Join(append([]string{p.Dir}, parts...)...)
}

func (p *PKI) rand() io.Reader {
	if p.Rand == nil {
		return rand.Reader
	}
	return p.Rand
}

func (p *PKI) now() time.Time { return p.Clock.Now() }

// lock takes an exclusive lock on the directory so that two runs cannot
// interleave their changes (a lost revocation would be silent).
func (p *PKI) lock() (func(), error) {
	f, err := os.OpenFile(p.path(fileLock), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("provision: lock %s: %w", p.Dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("provision: lock %s: %w", p.Dir, err)
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

// Init creates the CA, an empty CRL, central's server certificate and
// central's policy-signing key. It refuses a directory that already has a
// CA: a new CA would orphan every appliance certificate.
func (p *PKI) Init(hosts []string) error {
	if err := os.MkdirAll(p.Dir, dirModeShared); err != nil {
		return fmt.Errorf("provision: %w", err)
	}
	unlock, err := p.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := os.Stat(p.path(fileCA)); err == nil {
		return fmt.Errorf("%w: %s holds a CA; remove the directory to start over (every appliance must then be provisioned again)", ErrExists, p.path(fileCA))
	}
	sans, err := parseHosts(hosts)
	if err != nil {
		return err
	}
	now := p.now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), p.rand())
	if err != nil {
		return fmt.Errorf("provision: CA key: %w", err)
	}
	serial, err := p.serial()
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{caOrganization}, CommonName: "Kinline CA"},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(p.rand(), tmpl, tmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("provision: CA certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("provision: CA certificate: %w", err)
	}
	if err := os.MkdirAll(p.path(dirCentral), dirModeShared); err != nil {
		return fmt.Errorf("provision: %w", err)
	}
	if err := os.MkdirAll(p.path(dirAppliances), 0o700); err != nil {
		return fmt.Errorf("provision: %w", err)
	}
	if err := p.shareDirs(); err != nil {
		return err
	}
	// The CA key first, the certificate last: a directory with ca.pem is
	// complete enough to use.
	if err := writePrivateKey(p.path(fileCAKey), caKey, 0o600); err != nil {
		return err
	}
	if err := p.writeCRL(ca, caKey, big.NewInt(1), nil); err != nil {
		return err
	}
	pub, priv, err := sign.GenerateKey(p.rand())
	if err != nil {
		return err
	}
	if err := sign.SavePrivateKey(p.path(dirCentral, filePolicyKey), priv); err != nil {
		return err
	}
	if err := sign.SavePublicKey(p.path(dirCentral, filePolicyPub), pub); err != nil {
		return err
	}
	if err := p.issueServer(ca, caKey, sans); err != nil {
		return err
	}
	return writeFileAtomic(p.path(fileCA), pemCert(der), 0o644)
}

// ReissueServer replaces central's server certificate (new names, or
// renewal). The old one is left valid until it expires.
func (p *PKI) ReissueServer(hosts []string) error {
	unlock, err := p.lock()
	if err != nil {
		return err
	}
	defer unlock()
	ca, caKey, err := p.loadCA()
	if err != nil {
		return err
	}
	sans, err := parseHosts(hosts)
	if err != nil {
		return err
	}
	return p.issueServer(ca, caKey, sans)
}

type hostSANs struct {
	dns []string
	ips []net.IP
}

func parseHosts(hosts []string) (hostSANs, error) {
	s := hostSANs{dns: []string{tlsconf.DefaultServerName}}
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		switch {
		case h == "":
		case net.ParseIP(h) != nil:
			s.ips = append(s.ips, net.ParseIP(h))
		case validDNSName(h):
			if !slices.Contains(s.dns, strings.ToLower(h)) {
				s.dns = append(s.dns, strings.ToLower(h))
			}
		default:
			return s, fmt.Errorf("provision: -host %q is neither an IP address nor a DNS name", h)
		}
	}
	return s, nil
}

func validDNSName(h string) bool {
	if len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

func (p *PKI) issueServer(ca *x509.Certificate, caKey crypto.Signer, sans hostSANs) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), p.rand())
	if err != nil {
		return fmt.Errorf("provision: server key: %w", err)
	}
	serial, err := p.serial()
	if err != nil {
		return err
	}
	now := p.now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{Organization: []string{caOrganization}, OrganizationalUnit: []string{tlsconf.OUCentral}, CommonName: centralCN},
		NotBefore:    now.Add(-backdate),
		NotAfter:     clampTo(now.Add(leafValidity), ca.NotAfter),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		// Client auth too: central presents this certificate when it
		// connects to an external broker.
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:    sans.dns,
		IPAddresses: sans.ips,
	}
	der, err := x509.CreateCertificate(p.rand(), tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("provision: server certificate: %w", err)
	}
	if err := p.shareDirs(); err != nil {
		return err
	}
	if err := writePrivateKey(p.path(dirCentral, fileServerKey), key, serverKeyMode); err != nil {
		return err
	}
	return writeFileAtomic(p.path(dirCentral, fileServer), pemCert(der), 0o644)
}

func clampTo(t, limit time.Time) time.Time {
	if t.After(limit) {
		return limit
	}
	return t
}

// IssueAppliance creates an appliance's bundle under appliances/<id>/:
// client certificate and key, event-signing key pair, the recording key
// (32 random bytes, mode 0600: the appliance's recording.key_file), and
// copies of the CA certificate and central's policy public key. With force
// an existing appliance is replaced and its old certificate revoked first;
// its recording key is kept, so that recordings the appliance sealed with
// it and has not uploaded yet stay readable (a bundle whose recording key
// is unusable is refused rather than given a new one).
func (p *PKI) IssueAppliance(id string, force bool) (*x509.Certificate, error) {
	if err := wire.ValidApplianceID(id); err != nil {
		return nil, fmt.Errorf("%w: %w (use 1-64 characters of A-Z a-z 0-9 . _ -)", ErrBadID, err)
	}
	unlock, err := p.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	ca, caKey, err := p.loadCA()
	if err != nil {
		return nil, err
	}
	final := p.path(dirAppliances, id)
	var recKey []byte
	if _, err := os.Stat(final); err == nil {
		if !force {
			return nil, fmt.Errorf("%w: appliance %q (%s); use -force to replace it (its old certificate is then revoked)", ErrExists, id, final)
		}
		if recKey, err = oldRecordingKey(filepath.Join(final, fileRecKey)); err != nil {
			return nil, err
		}
		if old, err := readCert(filepath.Join(final, fileClient)); err == nil {
			if _, err := p.revokeLocked(ca, caKey, old); err != nil && !errors.Is(err, ErrExists) {
				return nil, err
			}
		}
	}
	policyPub, err := os.ReadFile(p.path(dirCentral, filePolicyPub))
	if err != nil {
		return nil, fmt.Errorf("%w: central's policy key: %w", ErrCorruptStore, err)
	}
	caPEM, err := os.ReadFile(p.path(fileCA))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoCA, err)
	}

	tmp, err := os.MkdirTemp(p.path(dirAppliances), "."+id+".new*")
	if err != nil {
		return nil, fmt.Errorf("provision: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("provision: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), p.rand())
	if err != nil {
		return nil, fmt.Errorf("provision: appliance key: %w", err)
	}
	serial, err := p.serial()
	if err != nil {
		return nil, err
	}
	now := p.now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{Organization: []string{caOrganization}, OrganizationalUnit: []string{tlsconf.OUAppliance}, CommonName: id},
		NotBefore:    now.Add(-backdate),
		NotAfter:     clampTo(now.Add(leafValidity), ca.NotAfter),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(p.rand(), tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("provision: appliance certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("provision: appliance certificate: %w", err)
	}
	evPub, evPriv, err := sign.GenerateKey(p.rand())
	if err != nil {
		return nil, err
	}
	if recKey == nil {
		recKey = make([]byte, recstore.KeySize)
		if _, err := io.ReadFull(p.rand(), recKey); err != nil {
			return nil, fmt.Errorf("provision: recording key: %w", err)
		}
	}
	steps := []error{
		writePrivateKey(filepath.Join(tmp, fileClientKey), key, 0o600),
		writeFileAtomic(filepath.Join(tmp, fileClient), pemCert(der), 0o644),
		sign.SavePrivateKey(filepath.Join(tmp, fileEventKey), evPriv),
		sign.SavePublicKey(filepath.Join(tmp, fileEventPub), evPub),
		writeFileAtomic(filepath.Join(tmp, fileRecKey), recKey, 0o600),
		writeFileAtomic(filepath.Join(tmp, fileCA), caPEM, 0o644),
		writeFileAtomic(filepath.Join(tmp, filePolicyPub), policyPub, 0o644),
	}
	if err := errors.Join(steps...); err != nil {
		return nil, err
	}
	if _, err := os.Stat(final); err == nil {
		old := tmp + ".old"
		if err := os.Rename(final, old); err != nil {
			return nil, fmt.Errorf("provision: replace %s: %w", final, err)
		}
		defer os.RemoveAll(old)
	}
	if err := os.Rename(tmp, final); err != nil {
		return nil, fmt.Errorf("provision: install %s: %w", final, err)
	}
	syncDir(p.path(dirAppliances))
	return cert, nil
}

// oldRecordingKey returns the recording key of a bundle being replaced:
// nil when it has none (a bundle from before recording keys), an error
// when it is there but unusable.
func oldRecordingKey(path string) ([]byte, error) {
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if _, err := recstore.LoadKey(path); err != nil {
		return nil, fmt.Errorf("%w: the appliance's %s: %w; the appliance's recordings are sealed with it, so it is kept on -force: repair it (32 bytes, chmod 600) or, if no recording sealed with it remains, remove it", ErrCorruptStore, fileRecKey, err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("provision: %s: %w", path, err)
	}
	return raw, nil
}

// Revoke puts the appliance's current certificate on the CRL and retires
// its event key: event.pub is renamed event.pub.revoked, so central (which
// reads appliance_keys_dir/<id>/event.pub for every batch) refuses batches
// signed with the old key, which may have left with the stolen appliance.
// It returns the revoked serial; ErrExists if it was already revoked.
func (p *PKI) Revoke(id string) (*big.Int, error) {
	if err := wire.ValidApplianceID(id); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadID, err)
	}
	unlock, err := p.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	ca, caKey, err := p.loadCA()
	if err != nil {
		return nil, err
	}
	cert, err := readCert(p.path(dirAppliances, id, fileClient))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: appliance %q (see kinline-provision list)", ErrNotFound, id)
	}
	if err != nil {
		return nil, err
	}
	serial, err := p.revokeLocked(ca, caKey, cert)
	if err != nil && !errors.Is(err, ErrExists) {
		return serial, err
	}
	pub := p.path(dirAppliances, id, fileEventPub)
	if rerr := os.Rename(pub, pub+".revoked"); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
		return serial, fmt.Errorf("provision: retire the event key of %q: %w", id, rerr)
	}
	return serial, err
}

func (p *PKI) revokeLocked(ca *x509.Certificate, caKey crypto.Signer, cert *x509.Certificate) (*big.Int, error) {
	crl, err := p.loadCRL(ca)
	if err != nil {
		return nil, err
	}
	for _, e := range crl.RevokedCertificateEntries {
		if e.SerialNumber.Cmp(cert.SerialNumber) == 0 {
			return cert.SerialNumber, fmt.Errorf("%w: %q serial %s is already revoked", ErrExists, cert.Subject.CommonName, serialHex(cert.SerialNumber))
		}
	}
	entries := append(slices.Clone(crl.RevokedCertificateEntries), x509.RevocationListEntry{
		SerialNumber:   cert.SerialNumber,
		RevocationTime: p.now().UTC().Truncate(time.Second),
	})
	next := new(big.Int).Add(crl.Number, big.NewInt(1))
	if err := p.writeCRL(ca, caKey, next, entries); err != nil {
		return nil, err
	}
	return cert.SerialNumber, nil
}

// writeCRL signs and writes crl.pem. NextUpdate is the CA's expiry: the
// list is a local file that is replaced, not fetched, and peers such as
// Mosquitto (OpenSSL) refuse every client once a CRL's NextUpdate passes.
func (p *PKI) writeCRL(ca *x509.Certificate, caKey crypto.Signer, number *big.Int, entries []x509.RevocationListEntry) error {
	now := p.now()
	der, err := x509.CreateRevocationList(p.rand(), &x509.RevocationList{
		Number:                    number,
		ThisUpdate:                now.Add(-backdate),
		NextUpdate:                ca.NotAfter,
		RevokedCertificateEntries: entries,
	}, ca, caKey)
	if err != nil {
		return fmt.Errorf("provision: sign CRL: %w", err)
	}
	return writeFileAtomic(p.path(fileCRL), pem.EncodeToMemory(&pem.Block{Type: tlsconf.PEMTypeCRL, Bytes: der}), 0o644)
}

func (p *PKI) loadCRL(ca *x509.Certificate) (*x509.RevocationList, error) {
	data, err := os.ReadFile(p.path(fileCRL))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorruptStore, err)
	}
	crls, err := tlsconf.ParseCRLs(data, []*x509.Certificate{ca})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorruptStore, err)
	}
	if len(crls) != 1 {
		return nil, fmt.Errorf("%w: %s holds %d revocation lists, want 1", ErrCorruptStore, p.path(fileCRL), len(crls))
	}
	return crls[0], nil
}

func (p *PKI) loadCA() (*x509.Certificate, crypto.Signer, error) {
	ca, err := readCert(p.path(fileCA))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("%w: %s (run kinline-provision init first, or pass -dir)", ErrNoCA, p.Dir)
	}
	if err != nil {
		return nil, nil, err
	}
	data, err := os.ReadFile(p.path(fileCAKey))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: CA key: %w", ErrCorruptStore, err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, nil, fmt.Errorf("%w: %s is not a PEM private key", ErrCorruptStore, p.path(fileCAKey))
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: CA key: %w", ErrCorruptStore, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("%w: CA key is %T", ErrCorruptStore, k)
	}
	type pubEq interface{ Equal(crypto.PublicKey) bool }
	if eq, ok := signer.Public().(pubEq); !ok || !eq.Equal(ca.PublicKey) {
		return nil, nil, fmt.Errorf("%w: %s does not belong to %s", ErrCorruptStore, p.path(fileCAKey), p.path(fileCA))
	}
	return ca, signer, nil
}

// ApplianceInfo is one row of List.
type ApplianceInfo struct {
	ID       string
	Serial   *big.Int
	NotAfter time.Time
	Revoked  bool
	Expired  bool
	EventKey string // sign.KeyID of the event-signing public key
	Err      error  // set when the appliance's files cannot be read
}

// List returns every appliance in the directory, sorted by id, and the CRL
// number.
func (p *PKI) List() ([]ApplianceInfo, *big.Int, error) {
	ca, err := readCert(p.path(fileCA))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("%w: %s (run kinline-provision init first, or pass -dir)", ErrNoCA, p.Dir)
	}
	if err != nil {
		return nil, nil, err
	}
	crl, err := p.loadCRL(ca)
	if err != nil {
		return nil, nil, err
	}
	revoked := map[string]bool{}
	for _, e := range crl.RevokedCertificateEntries {
		revoked[e.SerialNumber.String()] = true
	}
	ents, err := os.ReadDir(p.path(dirAppliances))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrCorruptStore, err)
	}
	var out []ApplianceInfo
	now := p.now()
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		info := ApplianceInfo{ID: e.Name()}
		cert, err := readCert(p.path(dirAppliances, e.Name(), fileClient))
		if err != nil {
			info.Err = err
			out = append(out, info)
			continue
		}
		info.Serial, info.NotAfter = cert.SerialNumber, cert.NotAfter
		info.Revoked = revoked[cert.SerialNumber.String()]
		info.Expired = now.After(cert.NotAfter)
		pubPath := p.path(dirAppliances, e.Name(), fileEventPub)
		if info.Revoked {
			pubPath += ".revoked" // retired by Revoke
		}
		if pub, err := sign.LoadPublicKey(pubPath); err == nil {
			info.EventKey = sign.KeyID(pub)
		} else {
			info.Err = err
		}
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, crl.Number, nil
}

func (p *PKI) serial() (*big.Int, error) {
	// 127 random bits: positive, unique with overwhelming probability,
	// within RFC 5280's 20 bytes.
	n, err := rand.Int(p.rand(), new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("provision: serial: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

func serialHex(n *big.Int) string { return strings.ToUpper(n.Text(16)) }

func readCert(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	certs, err := tlsconf.ParseCertificatesPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCorruptStore, path, err)
	}
	return certs[0], nil
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func writePrivateKey(path string, key *ecdsa.PrivateKey, perm os.FileMode) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("provision: %w", err)
	}
	return writeFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), perm)
}

// The permissions model (see the usage text): the PKI directory is owned
// by the user that runs central and its group is the broker's (chown -R
// kinline:mosquitto pki). The broker reads, through the group, what it
// needs and nothing else: it enters DIR and DIR/central (0750) and reads
// ca.pem, crl.pem, central/server.pem (0644) and central/server.key
// (0640). The CA key, central's policy key and everything under
// DIR/appliances (0700) stay the owner's.
const (
	dirModeShared = 0o750
	serverKeyMode = 0o640
)

// shareDirs sets DIR and DIR/central to dirModeShared whatever the umask,
// and on a PKI made before this model (0700) too.
func (p *PKI) shareDirs() error {
	for _, d := range []string{p.Dir, p.path(dirCentral)} {
		if err := os.Chmod(d, dirModeShared); err != nil {
			return fmt.Errorf("provision: %w", err)
		}
	}
	return nil
}

// writeFileAtomic replaces path with data: a temporary file in the same
// directory, synced, renamed over path, and the directory synced.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("provision: write %s: %w", path, err)
	}
	name := tmp.Name()
	err = tmp.Chmod(perm)
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(name, path)
	}
	if err != nil {
		os.Remove(name)
		return fmt.Errorf("provision: write %s: %w", path, err)
	}
	syncDir(dir)
	return nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
