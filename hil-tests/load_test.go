package hiltests

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/kinline/kinline/hil-tests/load"
	"github.com/kinline/kinline/internal/sipprun"
)

// TestLoadSmall runs a small version of the media load (make load runs the
// full one): the real kinline-appliance with 20 terminals and 20 simulated
// PN532 readers on ptys, every reader tapped, sipp as the IAD placing 20
// concurrent digest-authenticated calls with PCMU RTP and sipp as the trunk
// echoing it, held for a few seconds; then a second round of short calls;
// then two hotline calls (the port hotlines to the appliance, keys the PIN,
// 1 and the number as RFC 4733 events, hears the number read back, the
// trunk rings). load.Run fails unless every call completes, every call
// record reaches central with a recording, every load-round call was up for
// the whole measuring window with its recording on the appliance's disk
// encrypted under the installation's key, and every recording fetched from
// central matches its SHA-256 and carries the port's 440 Hz tone on the
// left channel and the trunk's echo of it on the right for at least 80% of
// the talk time (RTP relayed both ways and recorded).
func TestLoadSmall(t *testing.T) {
	sipprun.Need(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	res, err := load.Run(ctx, load.Options{
		BinDir:      binDir,
		Dir:         dir,
		Calls:       20,
		Rate:        20,
		Window:      3 * time.Second,
		RingRounds:  1,
		Hotline:     2,
		HotlineRate: 2,
		HotlineTalk: time.Second,
		Log:         slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		b, _ := os.ReadFile(dir + "/kinline-appliance.log")
		if len(b) > 8000 {
			b = b[len(b)-8000:]
		}
		t.Fatalf("%v\n---- kinline-appliance.log (tail) ----\n%s", err, b)
	}
	t.Logf("\n%s", res.Markdown("this machine"))
	if res.Completed != 42 || res.Attempts != 42 || len(res.Ring) != 40 || len(res.HotlineRing) != 2 {
		t.Fatalf("completed %d of %d attempts, %d+%d ring samples; want 42, 40+2", res.Completed, res.Attempts, len(res.Ring), len(res.HotlineRing))
	}
	if res.Recordings != 20 || res.HotlineRecordings != 2 || res.AtRest != 20 {
		t.Fatalf("%d+%d recordings checked, %d encrypted at rest; want 20+2, 20", res.Recordings, res.HotlineRecordings, res.AtRest)
	}
	// 20 calls x (50 packets/s each way) over at least the window.
	if min(res.FramesA, res.FramesB) < 20*50*3 {
		t.Errorf("frames with audio A %d B %d, want >= %d each", res.FramesA, res.FramesB, 20*50*3)
	}
	if res.LoadCores <= res.IdleCores || res.RSS <= 0 || res.HWM < res.RSS {
		t.Errorf("implausible measurements: idle %.3f cores, load %.3f cores, RSS %d, HWM %d", res.IdleCores, res.LoadCores, res.RSS, res.HWM)
	}
	// DESIGN.md section 9: pickup to ringing under 3 s.
	if res.RingMax >= 3*time.Second {
		t.Errorf("pickup to ringing max %v, want < 3 s", res.RingMax)
	}
	// Through the hotline the person's keys come on top; the number is
	// read back while the trunk call rings (the read-back alone lasts
	// about 9 s), so what the appliance itself takes (answering the port,
	// then from the last key to the trunk ringing) stays under 3 s.
	for i, ring := range res.HotlineRing {
		own := res.HotlineAnswer[i] + res.HotlineSetup[i]
		// The setup is only good to about +-20 ms (the last key's stamp).
		if own >= 3*time.Second || res.HotlineSetup[i] < -100*time.Millisecond {
			t.Errorf("hotline call %d: ring %v = answer %v + keying %v + setup %v; want answer+setup < 3 s, setup >= -100 ms",
				i, ring, res.HotlineAnswer[i], res.HotlineKeying[i], res.HotlineSetup[i])
		}
	}
}
