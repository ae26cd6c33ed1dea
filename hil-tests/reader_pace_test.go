package hiltests

import (
	"testing"
	"time"

	"github.com/kinline/kinline/internal/readersim"
	"github.com/kinline/kinline/internal/testkit"
)

// inListPassiveTarget is the PN532 command the appliance polls cards with.
const inListPassiveTarget = 0x4A

// TestCloneReaderPolledAtAPace is issue 10's item 4 against the real
// appliance: a PN532 clone answers every poll "no card" at once. The
// appliance used to poll it 1,300 to 3,000 times a second; it now paces
// its polls (10 a second), and a card presented is still read. The bound
// checked is generous (50 a second): a busy machine only polls less.
func TestCloneReaderPolledAtAPace(t *testing.T) {
	e := newEnv(t, "127.0.0.1:9")
	e.Reader.Clone(true)
	polls := func() int { return e.Reader.Stats().Commands[inListPassiveTarget] }
	testkit.Eventually(t, 30*time.Second, "the appliance to poll the reader", func() bool { return polls() > 0 })
	start, n0 := time.Now(), polls()
	testkit.Eventually(t, 30*time.Second, "two seconds of polling", func() bool { return time.Since(start) >= 2*time.Second })
	n, elapsed := polls()-n0, time.Since(start)
	if rate := float64(n) / elapsed.Seconds(); rate > 50 {
		t.Fatalf("%d polls in %v (%.0f a second) of a reader that answers at once: want at most 50 a second", n, elapsed, rate)
	}
	uid, err := readersim.ParseUID(cardA)
	if err != nil {
		t.Fatal(err)
	}
	targets := e.Reader.Stats().Targets
	if err := e.Reader.Tap(uid, readersim.DefaultHold); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, "the card to be read", func() bool { return e.Reader.Stats().Targets > targets })
}
