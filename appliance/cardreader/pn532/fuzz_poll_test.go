package pn532_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/cardreader/cardreadertest"
	"github.com/kinline/kinline/appliance/cardreader/pn532"
	"github.com/kinline/kinline/appliance/cardreader/pn532/frame"
	"github.com/kinline/kinline/shared/clock"
)

// FuzzPollAnswer sends arbitrary bytes as the reader's answer to a card
// poll (after its ACK) and checks that ReadTarget always comes back, on
// the fake clock, with a card of a valid UID length, no card, or one of
// the command layer's documented errors: never a panic or a hang.
func FuzzPollAnswer(f *testing.F) {
	good, _ := frame.Encode(frame.TFIPN532, []byte{0x4B, 0x01, 0x01, 0x00, 0x44, 0x00, 0x07, 1, 2, 3, 4, 5, 6, 7})
	f.Add(good)
	badLen := append([]byte(nil), good...)
	badLen[3] ^= 0x5A
	f.Add(badLen)
	f.Add(good[:len(good)-3])
	f.Add([]byte{0x13, 0x37})
	f.Add(frame.ErrorFrame)
	f.Add([]byte{0x00, 0x00, 0xFF, 0xFF, 0xFF, 0x01, 0x00, 0xFF})
	f.Fuzz(func(t *testing.T, answer []byte) {
		clk := clock.NewFake(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
		port, dev := cardreadertest.Pipe()
		defer port.Close()
		d := pn532.New(port, clk, slog.New(slog.DiscardHandler), pn532.Options{})
		defer d.Close()
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
		var dec frame.Decoder
		buf := make([]byte, 512)
		for { // the poll
			fr, err := dec.Next()
			if err == nil && fr.Kind == frame.KindInfo {
				break
			}
			if errors.Is(err, frame.ErrIncomplete) {
				n, err := dev.Read(buf)
				if err != nil {
					t.Fatal(err)
				}
				dec.Write(buf[:n])
			}
		}
		go func() { // the reader: ACK, the answer, then it only listens
			dev.Write(frame.ACK)
			dev.Write(answer)
			io.Copy(io.Discard, dev)
		}()
		for range 1000 {
			select {
			case r := <-got:
				dev.Close()
				switch {
				case r.err == nil && r.found:
					if n := len(r.tg.UID); n != 4 && n != 7 && n != 10 {
						t.Fatalf("UID length %d", n)
					}
				case r.err == nil:
				case errors.Is(r.err, pn532.ErrChecksum), errors.Is(r.err, pn532.ErrApplication),
					errors.Is(r.err, pn532.ErrResponse), errors.Is(r.err, pn532.ErrNoAck):
				default:
					t.Fatalf("undocumented error %v", r.err)
				}
				return
			case <-time.After(time.Millisecond):
				clk.Advance(100 * time.Millisecond)
			}
		}
		t.Fatal("ReadTarget did not return after 100 s of fake time")
	})
}
