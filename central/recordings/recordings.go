// Package recordings serves stored call recordings over HTTP, for the JSON
// API and the web console alike, and writes every playback (one entry per
// listening, however many requests the player makes) and every refused one
// to the audit log with the actor before any byte is sent. A privileged call's recording is
// never served: there should never be one, and if one was stored anyway
// the refusal is what stands between it and a listener. Recordings are
// sealed at rest with central's recordings key (KeyFile; decision 0030)
// and decrypted as they are served.
package recordings

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/kinline/kinline/central/authz"
	"github.com/kinline/kinline/central/store"
)

// ErrPrivileged refuses a privileged call's recording.
var ErrPrivileged = errors.New("recordings: a privileged call is never recorded and never played")

// ListeningWindow makes one listening of the requests of one actor for one
// call's recording that follow each other by less than this (on the
// store's clock): a player's Range requests, its seeks and its HEAD are
// one playback, audited once (decision 0035).
const ListeningWindow = 10 * time.Minute

// Play serves call callID's stored WAV to c (audio/wav, Range supported
// through http.ServeContent; a recording sealed at rest is decrypted as it
// is read, store.OpenRecording). The first GET of a listening (see
// ListeningWindow) is audited before any byte is sent ("recording.play",
// target the call id, detail the SHA-256 and any Range); a HEAD sends no
// audio and is not a playback. A playback refused here is audited as
// "recording.refused" with the reason (Refused): a hidden call for a
// caller who may not see it (answered as not found), another block's call
// for a block officer (authz.ErrOutOfScope), a privileged call
// (ErrPrivileged). Play writes nothing on error; it returns an error
// wrapping one of those, store.ErrNotFound (unknown call) or
// store.ErrNoRecording (not uploaded yet) for the caller to render.
func Play(w http.ResponseWriter, r *http.Request, st *store.Store, c authz.Caller, callID string) error {
	call, err := st.Call(r.Context(), callID)
	if err != nil {
		return err
	}
	why, refusal := "", error(nil)
	switch {
	case call.Hidden && !c.SeesHidden():
		why, refusal = "hidden call", fmt.Errorf("%w: call %s", store.ErrNotFound, callID)
	case c.CheckBlock(call.Block) != nil:
		why, refusal = "outside the caller's blocks", c.CheckBlock(call.Block)
	case call.Privileged:
		why, refusal = "privileged call", fmt.Errorf("%w: call %s", ErrPrivileged, callID)
	}
	if refusal != nil {
		if err := audit(r, st, c.Actor, "recording.refused", callID, why); err != nil {
			return err
		}
		return refusal
	}
	rec, err := st.RecordingFor(r.Context(), callID)
	if err != nil {
		if errors.Is(err, store.ErrNoRecording) {
			return fmt.Errorf("%w: call %s has no recording uploaded yet", store.ErrNoRecording, callID)
		}
		return err
	}
	f, _, err := st.OpenRecording(rec)
	if err != nil {
		return fmt.Errorf("recordings: %w", err)
	}
	defer f.Close()
	if r.Method != http.MethodHead {
		detail := "sha256=" + rec.SHA256
		if rg := r.Header.Get("Range"); rg != "" {
			detail += " range=" + rg
		}
		if err := played(r, st, c.Actor, callID, detail); err != nil {
			return err
		}
	}
	w.Header().Set("Content-Type", "audio/wav")
	w.Header().Set("Cache-Control", "private, no-store")
	w.Header().Set("Content-Disposition", fmt.Sprintf("inline; filename=%q", callID+".wav"))
	http.ServeContent(w, r, "", time.Time{}, f)
	return nil
}

// Refused audits a playback of call callID refused before Play, by the
// access matrix (package authz: a role that may not play, a missing
// second factor): "recording.refused", target the call id, the reason in
// the detail.
func Refused(r *http.Request, st *store.Store, actor, callID string, why error) error {
	reason := "refused"
	switch {
	case errors.Is(why, authz.ErrTokenSecondFactor):
		reason = "token without a second factor"
	case errors.Is(why, authz.ErrSecondFactor):
		reason = "no second factor"
	case errors.Is(why, authz.ErrForbidden):
		reason = "role may not play recordings"
	}
	return audit(r, st, actor, "recording.refused", callID, reason)
}

func audit(r *http.Request, st *store.Store, actor, action, callID, detail string) error {
	return st.Audit(r.Context(), actor, action, callID, detail)
}

// listenings are the listenings in progress: the time of the last
// request of each (store, actor, call), for played.
var listenings = struct {
	sync.Mutex
	last map[listenKey]time.Time
}{last: map[listenKey]time.Time{}}

type listenKey struct {
	st            *store.Store
	actor, callID string
}

// played audits a playback unless the request continues a listening of
// actor's of callID (ListeningWindow). It holds the lock across the audit,
// so that no request continues a listening whose audit failed.
func played(r *http.Request, st *store.Store, actor, callID, detail string) error {
	now := st.Now()
	k := listenKey{st, actor, callID}
	listenings.Lock()
	defer listenings.Unlock()
	last, ok := listenings.last[k]
	if ok && !now.Before(last) && now.Sub(last) < ListeningWindow {
		listenings.last[k] = now
		return nil
	}
	if err := audit(r, st, actor, "recording.play", callID, detail); err != nil {
		return err
	}
	for o, t := range listenings.last {
		if o.st == st && now.Sub(t) >= ListeningWindow {
			delete(listenings.last, o)
		}
	}
	listenings.last[k] = now
	return nil
}
