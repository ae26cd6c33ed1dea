package cardreader_test

import (
	"testing"
	"time"

	"github.com/kinline/kinline/internal/readersim"
	"github.com/kinline/kinline/shared/clock"
)

// TestPN532CorruptLengthThroughPTY is issue 10's item 3 over a real pty:
// the simulated PN532 answers the poll for a tapped card with a corrupted
// length byte. The driver polls again once the line is quiet and reads the
// card while it is still on the reader; before the fix it waited out the
// 5 s poll timeout and the tap was lost.
func TestPN532CorruptLengthThroughPTY(t *testing.T) {
	s := newSim(t, readersim.DriverPN532)
	cfg := pn532Config(s)
	cfg.PN532.PollTimeout = 5 * time.Second // the default: what the fix must not wait for
	r := start(t, cfg, clock.Real{})
	polling(t, s, 1)
	s.CorruptLengthNext(1)
	if err := s.Tap(uid(t, "04A1B2C3"), 2*time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case tp := <-r.taps:
		if tp.UID != "04A1B2C3" {
			t.Fatalf("tap %+v", tp)
		}
	case <-time.After(4 * time.Second): // the card left the reader at 2 s
		t.Fatal("the tap of a card whose poll answer had a corrupted length byte was lost")
	}
	r.noAlarm(t)
}
