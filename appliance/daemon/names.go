package daemon

// The names called parties hear: a small file store of the names people
// record at the hotline (menu option 3), and the person's and prison's
// names from the policy for run-time speech.

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/kinline/kinline/appliance/authz"
	"github.com/kinline/kinline/appliance/callctl"
	"github.com/kinline/kinline/appliance/prompts"
	"github.com/kinline/kinline/shared/recstore"
)

// maxNameBytes bounds a recorded name (10 s of 8 kHz µ-law): a larger
// file is not one this store wrote.
const maxNameBytes = 10 * 8000

// ErrName: a recorded name cannot be kept or read.
var ErrName = errors.New("daemon: recorded name")

// nameStore implements callctl.Names. Names are kept as raw 8 kHz µ-law
// files <dir>/<sha256(person id)>.ulaw, written whole (temporary file,
// fsync, rename), so a reader never sees half a name; the person id is
// hashed so that any id makes a safe file name. With the appliance's
// recording key set, a name is a person's voice like any recording and is
// kept encrypted the same way (recstore, AES-256-GCM, "<...>.ulaw.enc").
type nameStore struct {
	dir string
	a   *authz.Authorizer
	key recstore.Key // zero: names kept in the clear (recordings are too)
}

var _ callctl.Names = (*nameStore)(nil)

// names is the name store under the data directory, for callctl.Deps.
func (s *System) names(key recstore.Key) *nameStore {
	return &nameStore{dir: filepath.Join(s.Config.DataDir, "names"), a: s.Authz, key: key}
}

// speaker is the run-time speech for callctl.Deps: espeak-ng when the
// appliance has it (else the called party hears the generic
// announcement, logged once by call control).
func (s *System) speaker() callctl.Speaker {
	e := prompts.NewEspeak(prompts.EspeakConfig{Logger: s.Log.With("part", "speech")})
	if !e.Available() {
		s.Log.Warn("espeak-ng not found: names and the prison are not spoken to called parties (recorded names still are)")
	}
	return e
}

func (n *nameStore) path(personID string) string {
	sum := sha256.Sum256([]byte(personID))
	p := filepath.Join(n.dir, hex.EncodeToString(sum[:])+".ulaw")
	if !n.key.IsZero() {
		p += ".enc"
	}
	return p
}

// read returns the stored bytes of a name file, decrypting it when the
// store has a key; at most maxNameBytes+1 bytes are read.
func (n *nameStore) read(path string) ([]byte, error) {
	if n.key.IsZero() {
		return os.ReadFile(path)
	}
	r, err := recstore.Open(path, n.key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(io.LimitReader(r, maxNameBytes+1))
}

// RecordedName returns personID's recorded name, if any.
func (n *nameStore) RecordedName(personID string) ([]byte, bool, error) {
	b, err := n.read(n.path(personID))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("%w: %w", ErrName, err)
	case len(b) == 0 || len(b) > maxNameBytes:
		return nil, false, fmt.Errorf("%w: %s has %d bytes", ErrName, n.path(personID), len(b))
	}
	return b, true, nil
}

// SaveName keeps audio as personID's name, replacing the earlier one.
func (n *nameStore) SaveName(personID string, audio []byte) error {
	if personID == "" || len(audio) == 0 || len(audio) > maxNameBytes {
		return fmt.Errorf("%w: %d bytes for person %q", ErrName, len(audio), personID)
	}
	if err := os.MkdirAll(n.dir, 0o750); err != nil {
		return fmt.Errorf("%w: %w", ErrName, err)
	}
	f, err := os.CreateTemp(n.dir, ".name-*")
	if err != nil {
		return fmt.Errorf("%w: %w", ErrName, err)
	}
	tmp := f.Name()
	if n.key.IsZero() {
		_, err = f.Write(audio)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	} else {
		// recstore.Create makes the file itself (it must not exist).
		f.Close()
		os.Remove(tmp)
		var w *recstore.Writer
		if w, err = recstore.Create(tmp, n.key); err == nil {
			_, err = w.Write(audio)
			if _, _, cerr := w.Close(); err == nil {
				err = cerr
			}
		}
	}
	if err == nil {
		err = os.Rename(tmp, n.path(personID))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("%w: %w", ErrName, err)
	}
	return nil
}

// Identity returns the person's and the prison's names from the policy.
func (n *nameStore) Identity(personID string) (name, prison string) {
	return n.a.Identity(personID)
}
