package callctl_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/callctl"
	"github.com/kinline/kinline/appliance/media"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/wire"
)

// TestCallThroughRealMedia bridges a call through appliance/media's real
// relay and recorder: RTP must flow both ways and the record must name a
// WAV file whose SHA-256 matches.
func TestCallThroughRealMedia(t *testing.T) {
	dir := t.TempDir()
	mgr, err := media.NewManager(media.Config{RecordDir: dir, Clock: clock.Real{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mf := func(id string, record bool) (callctl.MediaSession, error) {
		s, err := mgr.NewSession(id, record)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	e := start(t, opts{media: mf})
	res, err := e.port(t, portUser, portPass).Call(ctxT(t), "0611223344", 1200*time.Millisecond)
	if err != nil || !res.Answered {
		t.Fatalf("call: %+v %v", res, err)
	}
	if res.RTP.Received < 20 || res.RTP.Sent < 20 {
		t.Fatalf("port RTP = %+v, want >= 20 both ways", res.RTP)
	}
	rec := e.record(t)
	if rec.Disposition != wire.DispCompleted || rec.Recording == nil {
		t.Fatalf("record = %+v", rec)
	}
	b, err := os.ReadFile(filepath.Join(dir, rec.CallID+".wav"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if hex.EncodeToString(sum[:]) != rec.Recording.SHA256 || int64(len(b)) != rec.Recording.Bytes || rec.Recording.Bytes <= 44 {
		t.Fatalf("recording ref %+v does not match the %d-byte file", rec.Recording, len(b))
	}
	fc := <-e.family.Results()
	if fc.RTP.Received < 20 {
		t.Fatalf("family received %d RTP packets", fc.RTP.Received)
	}
	if mgr.Active() != 0 {
		t.Fatalf("%d media sessions left open", mgr.Active())
	}
}
