package load

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/shared/recstore"
)

func TestParseSippLog(t *testing.T) {
	// What sipp 3.6.1 writes with -trace_logs: the scenarios' stamps
	// ("[timestamp]" is date, time and epoch.us) and its own error lines.
	in := "pickup port1 2026-12-01\t22:33:54.704194\t1796164434.704194\n" +
		"2026-12-01\t22:33:49.841617\t1796164429.841617: Aborting call on unexpected message\n" +
		"\n" +
		"ring sip:00442079461000@127.0.0.1:5060 2026-12-01\t22:33:55.000001\t1796164435.000001\n"
	got, err := parseSippLog(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []logLine{
		{"pickup", "port1", time.Unix(1796164434, 704194000)},
		{"ring", "sip:00442079461000@127.0.0.1:5060", time.Unix(1796164435, 1000)},
	}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i].what != want[i].what || got[i].who != want[i].who || !got[i].at.Equal(want[i].at) {
			t.Fatalf("line %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	for _, bad := range []string{
		"pickup port1 1796164434.704194\n",                     // fields missing
		"keys port1 2026-12-01 22:33:54.704194 1796164434.7\n", // not microseconds
		"keys port1 2026-12-01 22:33:54.704194 -1.000000\n",
		"keys port1 2026-12-01 22:33:54.704194 1e9.000000\n",
		"answered port1 2026-12-01 22:33:54.704194 99999999999999999999.000000\n",
	} {
		if _, err := parseSippLog(strings.NewReader(bad)); !errors.Is(err, ErrSipp) {
			t.Errorf("parseSippLog(%q) err = %v, want ErrSipp", bad, err)
		}
	}
}

func FuzzParseSippLog(f *testing.F) {
	f.Add([]byte("pickup port1 2026-12-01\t22:33:54.704194\t1796164434.704194\n"))
	f.Add([]byte("ring sip:1@h 2026-12-01 22:33:54.704194 0.000000\nkeys a b c 1.1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		lines, err := parseSippLog(bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, ErrSipp) {
				t.Fatalf("error %v does not wrap ErrSipp", err)
			}
			return
		}
		for _, l := range lines {
			if l.who == "" || l.at.Before(time.Unix(0, 0)) {
				t.Fatalf("line %+v", l)
			}
			if !strings.Contains("pickup answered keys ring", l.what) {
				t.Fatalf("stamp %q kept", l.what)
			}
		}
	})
}

func TestHotlineKeys(t *testing.T) {
	// +442079461000 keyed with 00 for +; PIN, #, 1 for a call, #.
	if got := hotlineKeys(0); got != "4321#100442079461000#" {
		t.Fatalf("hotlineKeys(0) = %q", got)
	}
	// sipp 3.6.1 play_dtmf with 200 ms tones: the first key 800 ms after
	// the action, the next 400 ms later (measured with a UDP listener).
	if got := lastKeyAt(1, 200*time.Millisecond); got != 800*time.Millisecond {
		t.Fatalf("lastKeyAt(1, 200ms) = %v", got)
	}
	if got := lastKeyAt(21, 50*time.Millisecond); got != 2500*time.Millisecond {
		t.Fatalf("lastKeyAt(21, 50ms) = %v", got)
	}
	if keysLength(21, 50*time.Millisecond) <= lastKeyAt(21, 50*time.Millisecond) {
		t.Fatal("keys end before the last key starts")
	}
}

func TestReadBack(t *testing.T) {
	short, err := readBack("1")
	if err != nil {
		t.Fatal(err)
	}
	long, err := readBack(keyed(0))
	if err != nil {
		t.Fatal(err)
	}
	// "calling" and one digit is some hundreds of ms; 13 more digits add
	// at least a fifth of a second each.
	if short < 300*time.Millisecond || long < short+13*200*time.Millisecond {
		t.Fatalf("read-back of 1 digit %v, of 14 digits %v", short, long)
	}
	if _, err := readBack("12a"); !errors.Is(err, ErrSetup) {
		t.Fatalf("read-back of a non-number: %v", err)
	}
}

func TestMatchHotline(t *testing.T) {
	t0 := time.Unix(1796164434, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	users := []string{"port1", "port2"}
	iad := []logLine{
		{"pickup", "port1", at(0)}, {"answered", "port1", at(5)}, {"keys", "port1", at(6)},
		{"pickup", "port2", at(1000)}, {"answered", "port2", at(1004)}, {"keys", "port2", at(1005)},
	}
	trunk := []logLine{
		{"ring", "sip:+442079461000@127.0.0.1:5060", at(-5000)},   // the load round, direct-dialled
		{"ring", "sip:+442079461000@127.0.0.1:5060", at(-4000)},   // before the round
		{"ring", "sip:+442079461001@127.0.0.1:5060", at(13000)},   // port2 (keyed 0044...)
		{"ring", "sip:+442079461000@127.0.0.1:5060;x", at(12000)}, // port1
	}
	calls, err := matchHotline(iad, trunk, users, t0)
	if err != nil {
		t.Fatal(err)
	}
	if !calls[0].ring.Equal(at(12000)) || !calls[1].ring.Equal(at(13000)) || !calls[1].pickup.Equal(at(1000)) {
		t.Fatalf("calls %+v", calls)
	}
	var res Result
	calls[0].readBack, calls[1].readBack = 9*time.Second, 9*time.Second
	res.hotline(calls, 21, 50*time.Millisecond)
	if res.HotlineRing[0] != 12*time.Second || res.HotlineAnswer[1] != 4*time.Millisecond ||
		res.HotlineKeying[0] != 2501*time.Millisecond || res.HotlineSetup[0] != 12000*time.Millisecond-2506*time.Millisecond {
		t.Fatalf("measures %+v", res)
	}

	if _, err := matchHotline(iad[:5], trunk, users, t0); !errors.Is(err, ErrCalls) {
		t.Fatalf("a call without its keys stamp: %v", err)
	}
	if _, err := matchHotline(iad, trunk[:3], users, t0); !errors.Is(err, ErrCalls) {
		t.Fatalf("a call that never rang: %v", err)
	}
	if _, err := matchHotline(append(iad, iad[0]), trunk, users, t0); !errors.Is(err, ErrCalls) {
		t.Fatalf("two pickups on one port: %v", err)
	}
	late := append([]logLine(nil), iad...)
	late[1].at = at(-1) // answered before the pickup
	if _, err := matchHotline(late, trunk, users, t0); !errors.Is(err, ErrCalls) {
		t.Fatalf("stamps out of order: %v", err)
	}
}

func TestCheckHeader(t *testing.T) {
	raw := bytes.Repeat([]byte{7}, recstore.KeySize)
	key, err := recstore.NewKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	other, err := recstore.NewKey(bytes.Repeat([]byte{8}, recstore.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	// A file being written, as the appliance's recorder leaves it mid-call.
	path := filepath.Join(t.TempDir(), "c.wav.enc.part")
	w, err := recstore.Create(path, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(bytes.Repeat([]byte("RIFF"), 10000)); err != nil {
		t.Fatal(err)
	}
	head := make([]byte, recstore.HeaderSize)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Read(head); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := checkHeader(head, key); err != nil {
		t.Fatalf("the appliance's own format: %v", err)
	}
	if err := checkHeader(head, other); err == nil {
		t.Fatal("a file sealed with another key passed")
	}
	plain := append([]byte("RIFF\x24\x00\x00\x00WAVEfmt "), make([]byte, 16)...)
	if err := checkHeader(plain, key); err == nil {
		t.Fatal("a plain WAV passed")
	}
	w.Close()
}
