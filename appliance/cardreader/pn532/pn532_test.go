package pn532_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/cardreader/cardreadertest"
	"github.com/kinline/kinline/appliance/cardreader/pn532"
	"github.com/kinline/kinline/appliance/cardreader/pn532/frame"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/clock"
)

func TestParseTargets(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		uid  []byte
		ats  []byte
		err  bool
	}{
		{"none", []byte{0x00}, nil, nil, false},
		{"4-byte classic", []byte{0x01, 0x01, 0x00, 0x04, 0x08, 0x04, 0xA1, 0xB2, 0xC3, 0xD4}, []byte{0xA1, 0xB2, 0xC3, 0xD4}, nil, false},
		{"7-byte ultralight", []byte{0x01, 0x01, 0x00, 0x44, 0x00, 0x07, 1, 2, 3, 4, 5, 6, 7}, []byte{1, 2, 3, 4, 5, 6, 7}, nil, false},
		{"10-byte", []byte{0x01, 0x01, 0x00, 0x84, 0x00, 0x0A, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, nil, false},
		{"ISO14443-4 with ATS", []byte{0x01, 0x01, 0x03, 0x44, 0x20, 0x07, 1, 2, 3, 4, 5, 6, 7, 0x05, 0x78, 0x77, 0x81, 0x02}, []byte{1, 2, 3, 4, 5, 6, 7}, []byte{0x05, 0x78, 0x77, 0x81, 0x02}, false},
		{"empty", nil, nil, nil, true},
		{"bad UID length", []byte{0x01, 0x01, 0x00, 0x04, 0x08, 0x05, 1, 2, 3, 4, 5}, nil, nil, true},
		{"short UID", []byte{0x01, 0x01, 0x00, 0x04, 0x08, 0x04, 1, 2}, nil, nil, true},
		{"ATS too long", []byte{0x01, 0x01, 0x03, 0x44, 0x20, 0x04, 1, 2, 3, 4, 0x09, 0x78}, nil, nil, true},
		{"trailing bytes", []byte{0x01, 0x01, 0x00, 0x04, 0x08, 0x04, 1, 2, 3, 4, 9}, nil, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts, err := pn532.ParseTargets(tc.in)
			if tc.err {
				if !errors.Is(err, pn532.ErrResponse) {
					t.Fatalf("err %v, want ErrResponse", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.uid == nil {
				if len(ts) != 0 {
					t.Fatalf("targets %+v", ts)
				}
				return
			}
			if len(ts) != 1 || !bytes.Equal(ts[0].UID, tc.uid) || !bytes.Equal(ts[0].ATS, tc.ats) {
				t.Fatalf("targets %+v", ts)
			}
		})
	}
}

// FuzzParseTargets checks that the InListPassiveTarget parser never panics
// and only returns UIDs of a valid length.
func FuzzParseTargets(f *testing.F) {
	f.Add([]byte{0x01, 0x01, 0x00, 0x04, 0x08, 0x04, 0xA1, 0xB2, 0xC3, 0xD4})
	f.Add([]byte{0x01, 0x01, 0x03, 0x44, 0x20, 0x07, 1, 2, 3, 4, 5, 6, 7, 0x05, 0x78, 0x77, 0x81, 0x02})
	f.Add([]byte{0x02, 0x01, 0x00, 0x04, 0x08, 0x04, 1, 2, 3, 4, 0x02, 0x00, 0x44, 0x00, 0x07, 1, 2, 3, 4, 5, 6, 7})
	f.Fuzz(func(t *testing.T, b []byte) {
		ts, err := pn532.ParseTargets(b)
		if err != nil {
			if !errors.Is(err, pn532.ErrResponse) {
				t.Fatalf("undocumented error %v", err)
			}
			return
		}
		for _, tg := range ts {
			if n := len(tg.UID); n != 4 && n != 7 && n != 10 {
				t.Fatalf("UID length %d", n)
			}
		}
	})
}

// chip is a scripted PN532 on the device end of an in-memory line.
type chip struct {
	t   *testing.T
	dev *cardreadertest.End
	dec frame.Decoder
}

// expect reads until the next frame from the host and checks its kind and
// command code.
func (c *chip) expect(kind frame.Kind, cmd byte) frame.Frame {
	c.t.Helper()
	buf := make([]byte, 512)
	for {
		f, err := c.dec.Next()
		if err == nil {
			if f.Kind != kind || kind == frame.KindInfo && (f.TFI != frame.TFIHost || f.Data[0] != cmd) {
				c.t.Fatalf("host sent %v % X, want %v %02X", f.Kind, f.Data, kind, cmd)
			}
			return f
		}
		if !errors.Is(err, frame.ErrIncomplete) {
			continue
		}
		n, err := c.dev.Read(buf)
		if err != nil {
			c.t.Fatalf("read: %v", err)
		}
		c.dec.Write(buf[:n])
	}
}

func (c *chip) send(b []byte) {
	c.t.Helper()
	if _, err := c.dev.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *chip) respond(data ...byte) {
	c.t.Helper()
	f, err := frame.Encode(frame.TFIPN532, data)
	if err != nil {
		c.t.Fatal(err)
	}
	c.send(f)
}

// TestTimeoutsRunOnTheInjectedClock drives the driver with a fake clock:
// an unanswered poll is aborted (ACK) only when the fake clock passes
// PollTimeout, and a command without ACK fails with ErrNoAck only when it
// passes AckTimeout.
func TestTimeoutsRunOnTheInjectedClock(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	port, dev := cardreadertest.Pipe()
	defer port.Close()
	d := pn532.New(port, clk, slog.New(slog.NewTextHandler(t.Output(), nil)), pn532.Options{AckTimeout: 10 * time.Second, PollTimeout: 5 * time.Second})
	defer d.Close()
	c := &chip{t: t, dev: dev}

	type res struct {
		tg    pn532.Target
		found bool
		err   error
	}
	got := make(chan res, 1)
	go func() {
		tg, found, err := d.ReadTarget(context.Background())
		got <- res{tg, found, err}
	}()
	c.expect(frame.KindInfo, pn532.CmdInListPassiveTarget)
	c.send(frame.ACK)
	waitPending(t, clk, 2) // the ACK timer (stopped on return) and the response timer
	clk.Advance(4 * time.Second)
	select {
	case r := <-got:
		t.Fatalf("ReadTarget returned %+v before PollTimeout", r)
	default:
	}
	clk.Advance(time.Second)
	c.expect(frame.KindACK, 0) // the abort
	if r := <-got; r.found || r.err != nil {
		t.Fatalf("ReadTarget after timeout = %+v", r)
	}

	// A card, with one NACK for a corrupted response.
	go func() {
		tg, found, err := d.ReadTarget(context.Background())
		got <- res{tg, found, err}
	}()
	c.expect(frame.KindInfo, pn532.CmdInListPassiveTarget)
	c.send(frame.ACK)
	good, _ := frame.Encode(frame.TFIPN532, []byte{0x4B, 0x01, 0x01, 0x00, 0x44, 0x00, 0x07, 1, 2, 3, 4, 5, 6, 7})
	bad := bytes.Clone(good)
	bad[len(bad)-2]++
	c.send(append([]byte{0x13, 0x37}, bad...)) // with line noise
	c.expect(frame.KindNACK, 0)
	c.send(good)
	if r := <-got; !r.found || r.err != nil || !bytes.Equal(r.tg.UID, []byte{1, 2, 3, 4, 5, 6, 7}) {
		t.Fatalf("ReadTarget = %+v", r)
	}

	// No ACK: ErrNoAck after AckTimeout on the fake clock.
	errc := make(chan error, 1)
	go func() {
		_, err := d.Exchange(context.Background(), pn532.CmdGetFirmwareVersion, nil, 0)
		errc <- err
	}()
	c.expect(frame.KindInfo, pn532.CmdGetFirmwareVersion)
	waitPending(t, clk, 1)
	clk.Advance(10 * time.Second)
	if err := <-errc; !errors.Is(err, pn532.ErrNoAck) {
		t.Fatalf("Exchange = %v, want ErrNoAck", err)
	}

	// An error frame makes the driver send the command again.
	fw := make(chan error, 1)
	go func() {
		r, err := d.Exchange(context.Background(), pn532.CmdGetFirmwareVersion, nil, 0)
		if err == nil && !bytes.Equal(r, []byte{0x32, 1, 6, 7}) {
			err = errors.New("bad firmware")
		}
		fw <- err
	}()
	c.expect(frame.KindInfo, pn532.CmdGetFirmwareVersion)
	c.send(frame.ACK)
	c.send(frame.ErrorFrame)
	c.expect(frame.KindInfo, pn532.CmdGetFirmwareVersion)
	c.send(frame.ACK)
	c.respond(0x03, 0x32, 1, 6, 7)
	if err := <-fw; err != nil {
		t.Fatal(err)
	}

	// The port vanishing is ErrPort at once.
	go func() {
		_, err := d.Exchange(context.Background(), pn532.CmdGetFirmwareVersion, nil, 0)
		errc <- err
	}()
	c.expect(frame.KindInfo, pn532.CmdGetFirmwareVersion)
	dev.Close()
	if err := <-errc; !errors.Is(err, pn532.ErrPort) {
		t.Fatalf("Exchange on closed line = %v, want ErrPort", err)
	}
}

func waitPending(t *testing.T, clk *clock.Fake, n int) {
	t.Helper()
	testkit.Eventually(t, 10*time.Second, "the driver to arm its timer", func() bool { return clk.Pending() >= n })
}
