// Package recordings serves stored call recordings over HTTP, for the JSON
// API and the web console alike, and writes every playback to the audit log
// with the actor before any byte is sent. A privileged call's recording is
// never served: there should never be one, and if one was stored anyway
// the refusal is what stands between it and a listener. Recordings are
// sealed at rest with central's recordings key (KeyFile; decision 0030)
// and decrypted as they are served.
package recordings

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/kinline/kinline/central/store"
)

// ErrPrivileged refuses a privileged call's recording.
var ErrPrivileged = errors.New("recordings: a privileged call is never recorded and never played")

// Serve serves a call's stored WAV (audio/wav, Range supported through
// http.ServeContent; a recording sealed at rest is decrypted as it is
// read, store.OpenRecording) after auditing the playback ("recording.play", target
// the call id, detail the SHA-256 and any Range). It writes nothing and
// returns an error wrapping store.ErrNotFound (unknown call),
// store.ErrNoRecording (not uploaded yet) or ErrPrivileged (a privileged
// call: the attempt is audited as "recording.refused") for the caller to
// render.
func Serve(w http.ResponseWriter, r *http.Request, st *store.Store, actor, callID string) error {
	call, err := st.Call(r.Context(), callID)
	if err != nil {
		return err
	}
	if call.Privileged {
		if err := st.Audit(r.Context(), actor, "recording.refused", callID, "privileged call"); err != nil {
			return err
		}
		return fmt.Errorf("%w: call %s", ErrPrivileged, callID)
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
	detail := "sha256=" + rec.SHA256
	if rg := r.Header.Get("Range"); rg != "" {
		detail += " range=" + rg
	}
	if err := st.Audit(r.Context(), actor, "recording.play", callID, detail); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "audio/wav")
	w.Header().Set("Cache-Control", "private, no-store")
	w.Header().Set("Content-Disposition", fmt.Sprintf("inline; filename=%q", callID+".wav"))
	http.ServeContent(w, r, "", time.Time{}, f)
	return nil
}
