package cardreader_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/cardreader"
	"github.com/kinline/kinline/appliance/cardreader/cardreadertest"
	"github.com/kinline/kinline/appliance/cardreader/em4100"
	"github.com/kinline/kinline/internal/readersim"
	"github.com/kinline/kinline/shared/clock"
)

// TestLastCardPresentedDecides is issue 10's "wrong person's call": a
// person taps (A), a second person taps (B), the first taps again (A), all
// within the dedup window. Each is a tap, so the last tap the runner
// delivers is A's; before the fix A's second tap was dropped as a repeat
// of its first and B's tap stayed in force.
func TestLastCardPresentedDecides(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	port, dev := cardreadertest.Pipe()
	taps := make(chan cardreader.Tap, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- cardreader.Run(ctx, cardreader.Config{Name: "t1-reader", Terminal: "t1", Device: "fake", Driver: cardreader.DriverEM4100},
			cardreader.Deps{Clock: clk, Log: testLog(t),
				Open:  func(string, int) (cardreader.Port, error) { return port, nil },
				OnTap: func(tp cardreader.Tap) { taps <- tp }})
	}()
	read := func(card string) {
		t.Helper()
		id, err := readersim.ParseUID(card)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := dev.Write(em4100.Encode([5]byte(id))); err != nil {
			t.Fatal(err)
		}
		if _, err := dev.Write(nil); err != nil { // processed
			t.Fatal(err)
		}
	}
	read("AA00000001")
	clk.Advance(250 * time.Millisecond)
	read("AA00000001") // A held: no new tap
	clk.Advance(400 * time.Millisecond)
	read("BB00000002")
	clk.Advance(250 * time.Millisecond)
	read("BB00000002") // B held
	clk.Advance(400 * time.Millisecond)
	read("AA00000001") // A again, 1.05 s after its first read
	cancel()
	dev.Close()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v", err)
	}
	close(taps)
	var got []string
	for tp := range taps {
		got = append(got, tp.UID)
	}
	want := []string{"AA00000001", "BB00000002", "AA00000001"}
	if len(got) != len(want) {
		t.Fatalf("taps %v, want %v: the last card presented must decide", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("taps %v, want %v", got, want)
		}
	}
}
