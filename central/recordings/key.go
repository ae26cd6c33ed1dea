package recordings

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/kinline/kinline/shared/recstore"
)

// ErrKeyMissing: the recordings key file is missing while sealed
// recordings exist, so a new key would leave them unplayable.
var ErrKeyMissing = errors.New("recordings: the recordings key is missing but sealed recordings exist; put the key file back (it is not in backups)")

// KeyFile loads the recordings key at path (32 raw bytes, mode 0600,
// shared/recstore.LoadKey). When the file does not exist it writes a new
// random key there (mode 0600) at first start, unless recordingsDir
// already holds sealed recordings (*.klrec): then it refuses with
// ErrKeyMissing rather than make a key that opens none of them.
func KeyFile(path, recordingsDir string, log *slog.Logger) (recstore.Key, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	k, err := recstore.LoadKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	if sealedExist(recordingsDir) {
		return recstore.Key{}, fmt.Errorf("%w: %s", ErrKeyMissing, path)
	}
	raw := make([]byte, recstore.KeySize)
	if _, err := rand.Read(raw); err != nil {
		return recstore.Key{}, fmt.Errorf("recordings: new key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return recstore.Key{}, fmt.Errorf("recordings: key directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return recstore.Key{}, fmt.Errorf("recordings: create key file: %w", err)
	}
	_, err = f.Write(raw)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return recstore.Key{}, fmt.Errorf("recordings: write key file: %w", err)
	}
	log.Warn("recordings: new recordings key written; keep a copy outside this machine and its backups, without it no recording plays", "path", path)
	return recstore.NewKey(raw)
}

// sealedExist reports whether dir holds a sealed recording.
func sealedExist(dir string) bool {
	found := false
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".klrec") {
			found = true
			return fs.SkipAll
		}
		return nil
	})
	return found
}
