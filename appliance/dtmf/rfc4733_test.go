package dtmf

import (
	"errors"
	"testing"
	"time"
)

func ev(code uint8, end bool, dur uint16) []byte {
	return Event{Code: code, End: end, Volume: 10, Duration: dur}.Marshal()
}

func TestParseEvent(t *testing.T) {
	e, err := ParseEvent([]byte{11, 0x80 | 0x40 | 7, 0x03, 0x20})
	if err != nil {
		t.Fatal(err)
	}
	if e != (Event{Code: 11, End: true, Volume: 7, Duration: 800}) {
		t.Fatalf("parsed %+v (the R bit must be ignored, volume is 6 bits)", e)
	}
	// Packed blocks: the first one is returned.
	if e, err := ParseEvent(append(ev(3, true, 160), ev(4, true, 160)...)); err != nil || e.Code != 3 {
		t.Fatalf("packed: %+v %v", e, err)
	}
	for _, bad := range [][]byte{nil, {1, 2, 3}, {1, 2, 3, 4, 5}} {
		if _, err := ParseEvent(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseEvent(%v) = %v", bad, err)
		}
	}
	for code := range uint8(16) {
		k, ok := KeyOf(code)
		c, ok2 := CodeOf(k)
		if !ok || !ok2 || c != code || rune(Keys[code]) != k {
			t.Errorf("code %d <-> key %q broken", code, k)
		}
	}
	if c, ok := CodeOf('d'); !ok || c != 15 {
		t.Error("lower-case d")
	}
	if _, ok := KeyOf(16); ok {
		t.Error("event 16 (flash) is not a key")
	}
}

// feed runs packets through a decoder and returns the keys begun and the
// number of ends.
type pkt struct {
	ssrc, ts uint32
	payload  []byte
}

func run(t *testing.T, d *Decoder, pkts []pkt) (begun string, ends int, durs []time.Duration) {
	t.Helper()
	for _, p := range pkts {
		u, err := d.Feed(p.ssrc, p.ts, p.payload)
		if err != nil {
			t.Fatalf("Feed(%d, %v): %v", p.ts, p.payload, err)
		}
		if u.Begin {
			begun += string(u.Key)
		}
		if u.End {
			ends++
			durs = append(durs, u.Duration)
		}
	}
	return begun, ends, durs
}

// press returns the packets a typical sender emits for one 100 ms press
// starting at ts: updates every 20 ms, then three end packets.
func press(ssrc, ts uint32, code uint8) []pkt {
	var out []pkt
	for i := 1; i <= 4; i++ {
		out = append(out, pkt{ssrc, ts, ev(code, false, uint16(i*160))})
	}
	for range 3 {
		out = append(out, pkt{ssrc, ts, ev(code, true, 800)})
	}
	return out
}

func TestDecoderOncePerPress(t *testing.T) {
	var d Decoder
	var all []pkt
	ts := uint32(4000)
	for code := range uint8(16) {
		all = append(all, press(7, ts, code)...)
		ts += 1600
	}
	begun, ends, durs := run(t, &d, all)
	if begun != Keys || ends != 16 {
		t.Fatalf("begun %q, %d ends; want %q and 16", begun, ends, Keys)
	}
	for _, du := range durs {
		if du != 100*time.Millisecond {
			t.Fatalf("end duration %v, want 100ms", du)
		}
	}
}

func TestDecoderLossDuplicatesAndReordering(t *testing.T) {
	var d Decoder
	p1 := press(7, 1000, 5)
	p2 := press(7, 3000, 5) // the same key pressed again
	var pkts []pkt
	pkts = append(pkts, p1[2:]...)     // the first two updates lost: still one '5'
	pkts = append(pkts, p1[0])         // a late start packet of the same press
	pkts = append(pkts, p2[len(p2)-1]) // only one end packet of the next press survives
	pkts = append(pkts, p1[4])         // a retransmit of the old press after the new one
	pkts = append(pkts, p2[0])         // a reordered update of the second press
	begun, ends, _ := run(t, &d, pkts)
	if begun != "55" || ends != 2 {
		t.Fatalf("begun %q ends %d; want \"55\" and 2", begun, ends)
	}
	// A stale packet older than the current press that was never seen is
	// dropped rather than reported out of order.
	if u, _ := d.Feed(7, 500, ev(9, true, 800)); u.Begin {
		t.Fatal("stale event reported")
	}
	// A new SSRC (the gateway restarted the stream) starts afresh, even
	// with a timestamp that was used before.
	begun, _, _ = run(t, &d, press(8, 1000, 1))
	if begun != "1" {
		t.Fatalf("new SSRC: begun %q", begun)
	}
}

func TestDecoderLongEventSegments(t *testing.T) {
	var d Decoder
	// A press longer than 8.19 s is sent as segments whose timestamps
	// advance by the previous segment's duration (RFC 4733 §2.5.2.1).
	pkts := []pkt{
		{1, 100, ev(0, false, 160)},
		{1, 100, ev(0, false, 0xFFFF)},
		{1, 100 + 0xFFFF, ev(0, false, 160)},
		{1, 100 + 0xFFFF, ev(0, true, 8000)},
		{1, 100 + 0xFFFF, ev(0, true, 8000)},
	}
	begun, ends, durs := run(t, &d, pkts)
	if begun != "0" || ends != 1 {
		t.Fatalf("begun %q ends %d", begun, ends)
	}
	if want := time.Duration(0xFFFF+8000) * time.Second / 8000; durs[0] != want {
		t.Fatalf("duration %v, want %v", durs[0], want)
	}
}

func TestDecoderRejects(t *testing.T) {
	var d Decoder
	if _, err := d.Feed(1, 1, ev(16, false, 160)); !errors.Is(err, ErrUnsupported) {
		t.Errorf("flash: %v", err)
	}
	if _, err := d.Feed(1, 1, []byte{1, 2}); !errors.Is(err, ErrMalformed) {
		t.Errorf("short: %v", err)
	}
	// Rejected packets leave no state behind.
	if u, err := d.Feed(1, 1, ev(2, false, 160)); err != nil || !u.Begin || u.Key != '2' {
		t.Errorf("after rejects: %+v %v", u, err)
	}
}
