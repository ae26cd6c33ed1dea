package tlsconf

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"sync"
	"time"
)

// PEMTypeCRL is the PEM block type of a revocation list.
const PEMTypeCRL = "X509 CRL"

// ParseCRLs decodes every "X509 CRL" block of data and checks that each is
// signed by one of cas (matched by issuer name, verified by signature).
// Anything else in data, a CRL from an unknown issuer or two CRLs from the
// same CA is refused with ErrCRL. An empty file (no block) yields no CRLs
// and no error.
func ParseCRLs(data []byte, cas []*x509.Certificate) ([]*x509.RevocationList, error) {
	var out []*x509.RevocationList
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != PEMTypeCRL {
			return nil, fmt.Errorf("%w: PEM block %q, want %q", ErrCRL, block.Type, PEMTypeCRL)
		}
		crl, err := x509.ParseRevocationList(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCRL, err)
		}
		if err := checkCRLIssuer(crl, cas); err != nil {
			return nil, err
		}
		for _, o := range out {
			if bytes.Equal(o.RawIssuer, crl.RawIssuer) {
				return nil, fmt.Errorf("%w: two revocation lists from %q", ErrCRL, crl.Issuer)
			}
		}
		out = append(out, crl)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("%w: data that is not PEM", ErrCRL)
	}
	return out, nil
}

func checkCRLIssuer(crl *x509.RevocationList, cas []*x509.Certificate) error {
	var lastErr error
	for _, ca := range cas {
		if !bytes.Equal(ca.RawSubject, crl.RawIssuer) {
			continue
		}
		if lastErr = crl.CheckSignatureFrom(ca); lastErr == nil {
			return nil
		}
	}
	if lastErr != nil {
		return fmt.Errorf("%w: signature of the list from %q: %w", ErrCRL, crl.Issuer, lastErr)
	}
	return fmt.Errorf("%w: list issued by %q, which is not a trusted CA", ErrCRL, crl.Issuer)
}

// Revocations answers whether a certificate is revoked, from a CRL file it
// rereads when the file changes. It is safe for concurrent use.
//
// A revocation refuses new connections only: whoever holds live
// connections (the broker) should call Check again for each of them after
// the list changes, and drop those that fail.
type Revocations struct {
	path string
	cas  []*x509.Certificate
	log  *slog.Logger

	mu      sync.Mutex
	raw     []byte                          // the file's content when last parsed (nil: not read)
	revoked map[string]map[string]time.Time // raw issuer -> serial (decimal) -> when
	numbers map[string]*big.Int             // raw issuer -> CRL number
	err     error                           // last load error: fail closed while set
}

// LoadRevocations reads the CRL file at path, whose lists must be signed by
// one of cas. It fails if the file cannot be read or checked; later changes
// are picked up by Check. log may be nil.
func LoadRevocations(path string, cas []*x509.Certificate, log *slog.Logger) (*Revocations, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Revocations{path: path, cas: cas, log: log}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.reloadLocked(true); err != nil {
		return nil, err
	}
	return r, nil
}

// reloadLocked rereads the file and parses it if its content changed since
// the last parse (or always, with force). The file is small and read on
// every handshake: comparing content, not timestamps, cannot miss a change
// made within one timestamp tick. On failure the error is kept, so that
// Check fails closed until a good file appears.
func (r *Revocations) reloadLocked(force bool) error {
	data, err := os.ReadFile(r.path)
	if err != nil {
		if r.raw != nil || r.err == nil || force {
			r.log.Error("revocation list unreadable: refusing every client", "path", r.path, "err", err)
		}
		r.raw, r.err = nil, fmt.Errorf("%w: %w", ErrCRL, err)
		return r.err
	}
	if !force && r.raw != nil && bytes.Equal(data, r.raw) {
		return r.err
	}
	r.raw = data
	crls, err := ParseCRLs(data, r.cas)
	if err != nil {
		r.err = fmt.Errorf("%s: %w", r.path, err)
		r.log.Error("revocation list refused: refusing every client", "path", r.path, "err", err)
		return r.err
	}
	revoked := make(map[string]map[string]time.Time, len(crls))
	numbers := make(map[string]*big.Int, len(crls))
	total := 0
	for _, crl := range crls {
		m := make(map[string]time.Time, len(crl.RevokedCertificateEntries))
		for _, e := range crl.RevokedCertificateEntries {
			m[e.SerialNumber.String()] = e.RevocationTime
		}
		revoked[string(crl.RawIssuer)] = m
		numbers[string(crl.RawIssuer)] = crl.Number
		total += len(m)
	}
	r.revoked, r.numbers, r.err = revoked, numbers, nil
	r.log.Info("revocation list loaded", "path", r.path, "lists", len(crls), "revoked", total)
	return nil
}

// Reload rereads the CRL file now, whether or not it changed.
func (r *Revocations) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reloadLocked(true)
}

// Check returns nil if cert is not revoked, an error wrapping ErrRevoked
// if it is, and an error wrapping ErrCRL if the list is unusable or does
// not cover cert's issuer. It rereads the file first if it changed.
func (r *Revocations) Check(cert *x509.Certificate) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.reloadLocked(false); err != nil {
		return err
	}
	serials, ok := r.revoked[string(cert.RawIssuer)]
	if !ok {
		return fmt.Errorf("%w: no revocation list from %q, the issuer of %q", ErrCRL, cert.Issuer, cert.Subject)
	}
	if at, ok := serials[cert.SerialNumber.String()]; ok {
		return fmt.Errorf("%w: %q serial %s since %s", ErrRevoked, cert.Subject.CommonName, cert.SerialNumber, at.UTC().Format(time.RFC3339))
	}
	return nil
}

// Number returns the CRL number of the list issued by issuer (nil if there
// is none), for logs and status pages.
func (r *Revocations) Number(issuer *x509.Certificate) *big.Int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := r.numbers[string(issuer.RawSubject)]; n != nil {
		return new(big.Int).Set(n)
	}
	return nil
}
