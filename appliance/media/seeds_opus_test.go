package media

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/pion/rtp"
)

// TestOpusFuzzSeeds writes the FuzzOpusRecorder seeds from the speech
// capture when KINLINE_WRITE_SEEDS=1, and otherwise checks they exist.
func TestOpusFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzOpusRecorder")
	packets := speechPackets(t)
	seeds := map[string][]byte{
		"speech_first":      packets[0],
		"speech_voiced":     packets[40],
		"truncated_voiced":  packets[40][:len(packets[40])/2],
		"toc_only":          {packets[40][0] &^ 3},
		"code3_zero_frames": {0x0b, 0x00},
		"celt_fb_20ms":      {0xfc, 0xff, 0x00, 0x11, 0x22, 0x33},
		"hybrid_code2_bad":  {0x6a, 0xfd, 0xff},
	}
	for name, payload := range seeds {
		path := filepath.Join(dir, name)
		if os.Getenv("KINLINE_WRITE_SEEDS") == "1" {
			b, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: 40, Timestamp: 40 * 960, SSRC: 0xA}, Payload: payload}).Marshal()
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(path, fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", b), 0o644)
		}
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("seed %s missing (KINLINE_WRITE_SEEDS=1 writes it): %v", name, err)
		}
	}
}
