package server

import (
	"crypto/ed25519"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/kinline/kinline/shared/sign"
)

// keyring answers ingest's ApplianceKeys from the files kinline-provision
// writes (appliance_keys_dir/<id>/event.pub). Each lookup stats the file
// and parses it again only when its size or modification time changed, so
// that `kinline-provision appliance -id ID -force` (a new event key) takes
// effect without restarting central, while a batch costs one stat.
type keyring struct {
	path func(id string) string // "" for an id that has no key file
	log  *slog.Logger

	mu    sync.Mutex
	cache map[string]cachedKey
}

type cachedKey struct {
	size  int64
	mtime time.Time
	key   ed25519.PublicKey
}

func newKeyring(path func(id string) string, log *slog.Logger) *keyring {
	return &keyring{path: path, log: log, cache: map[string]cachedKey{}}
}

// lookup returns the appliance's event public key; false when it has none
// or the file is unusable (ingest then refuses its batches).
func (k *keyring) lookup(id string) (ed25519.PublicKey, bool) {
	p := k.path(id)
	if p == "" {
		return nil, false
	}
	st, err := os.Stat(p)
	if err != nil {
		k.log.Warn("no event key for appliance", "appliance", id, "err", err)
		k.forget(id)
		return nil, false
	}
	k.mu.Lock()
	c, ok := k.cache[id]
	k.mu.Unlock()
	if ok && c.size == st.Size() && c.mtime.Equal(st.ModTime()) {
		return c.key, true
	}
	pub, err := sign.LoadPublicKey(p)
	if err != nil {
		k.log.Error("event key unusable", "appliance", id, "err", err)
		k.forget(id)
		return nil, false
	}
	k.mu.Lock()
	k.cache[id] = cachedKey{size: st.Size(), mtime: st.ModTime(), key: pub}
	k.mu.Unlock()
	if ok {
		k.log.Info("event key reloaded", "appliance", id, "key", sign.KeyID(pub))
	}
	return pub, true
}

func (k *keyring) forget(id string) {
	k.mu.Lock()
	delete(k.cache, id)
	k.mu.Unlock()
}
