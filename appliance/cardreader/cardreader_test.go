package cardreader_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/cardreader"
	"github.com/kinline/kinline/appliance/cardreader/cardreadertest"
	"github.com/kinline/kinline/appliance/cardreader/em4100"
	"github.com/kinline/kinline/appliance/cardreader/pn532"
	"github.com/kinline/kinline/internal/readersim"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/wire"
)

// wait is the generous bound for anything that should happen in
// milliseconds, so that a loaded 2-core machine does not fail the tests.
const wait = 10 * time.Second

type recorder struct {
	taps   chan cardreader.Tap
	alarms chan wire.Alarm
}

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func newSim(t *testing.T, driver string) *readersim.Sim {
	t.Helper()
	s, err := readersim.New(readersim.Options{Driver: driver, Link: filepath.Join(t.TempDir(), "reader"), RepeatEvery: 30 * time.Millisecond, Log: testLog(t).With("side", "sim")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// start runs the reader until the test ends and checks that Run returns
// ctx.Err().
func start(t *testing.T, cfg cardreader.Config, clk clock.Clock) *recorder {
	t.Helper()
	r := &recorder{taps: make(chan cardreader.Tap, 100), alarms: make(chan wire.Alarm, 100)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- cardreader.Run(ctx, cfg, cardreader.Deps{
			Clock: clk, Log: testLog(t).With("side", "driver"),
			OnTap:   func(tp cardreader.Tap) { r.taps <- tp },
			OnAlarm: func(a wire.Alarm) { r.alarms <- a },
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Run returned %v, want context.Canceled", err)
			}
		case <-time.After(wait):
			t.Errorf("Run did not return after cancel")
		}
	})
	return r
}

func (r *recorder) tap(t *testing.T) cardreader.Tap {
	t.Helper()
	select {
	case tp := <-r.taps:
		return tp
	case <-time.After(wait):
		t.Fatal("no tap")
	}
	return cardreader.Tap{}
}

func (r *recorder) alarm(t *testing.T) wire.Alarm {
	t.Helper()
	select {
	case a := <-r.alarms:
		return a
	case <-time.After(wait):
		t.Fatal("no alarm")
	}
	return wire.Alarm{}
}

func (r *recorder) noAlarm(t *testing.T) {
	t.Helper()
	select {
	case a := <-r.alarms:
		t.Fatalf("unexpected alarm %+v", a)
	default:
	}
}

// polling waits until the PN532 driver has sent InListPassiveTarget n times.
func polling(t *testing.T, s *readersim.Sim, n int) {
	t.Helper()
	testkit.Eventually(t, wait, "InListPassiveTarget", func() bool { return s.Stats().Commands[pn532.CmdInListPassiveTarget] >= n })
}

func pn532Config(s *readersim.Sim) cardreader.Config {
	return cardreader.Config{
		Name: "t1-reader", Terminal: "t1", Device: s.Path(), Driver: cardreader.DriverPN532,
		RetryMin: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond,
		PN532: pn532.Options{AckTimeout: 500 * time.Millisecond, ResponseTimeout: time.Second, PollTimeout: 400 * time.Millisecond, PollInterval: 20 * time.Millisecond},
	}
}

func uid(t *testing.T, s string) []byte {
	t.Helper()
	b, err := readersim.ParseUID(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPN532TapsThroughPTY(t *testing.T) {
	s := newSim(t, readersim.DriverPN532)
	r := start(t, pn532Config(s), clock.Real{})
	polling(t, s, 1)
	for _, u := range []string{"04A1B2C3", "04112233445566", "0411223344556677889A"} {
		if err := s.Present(uid(t, u)); err != nil {
			t.Fatal(err)
		}
		tp := r.tap(t)
		if tp.UID != u || tp.Reader != "t1-reader" || tp.Terminal != "t1" || tp.Time.IsZero() {
			t.Fatalf("tap %+v, want UID %s on t1-reader/t1", tp, u)
		}
		s.Remove()
	}
	st := s.Stats()
	if st.Wakeups != 1 || st.Commands[pn532.CmdSAMConfiguration] != 1 || st.Commands[pn532.CmdGetFirmwareVersion] != 1 || st.Commands[pn532.CmdRFConfiguration] != 1 {
		t.Errorf("initialisation: %+v", st)
	}
	r.noAlarm(t)
}

func TestEM4100TapThroughPTY(t *testing.T) {
	s := newSim(t, readersim.DriverEM4100)
	r := start(t, cardreader.Config{Name: "t2-reader", Terminal: "t2", Device: s.Path(), Driver: cardreader.DriverEM4100}, clock.Real{})
	// The port may not be open yet when the first frames go out; the held
	// card repeats until it is.
	if err := s.Present(uid(t, "0A1B2C3D4E")); err != nil {
		t.Fatal(err)
	}
	tp := r.tap(t)
	if tp.UID != "0A1B2C3D4E" || tp.Terminal != "t2" {
		t.Fatalf("tap %+v", tp)
	}
	// Repeated frames of the held card are one tap: the next tap is B's.
	n := s.Stats().Frames
	testkit.Eventually(t, wait, "repeats", func() bool { return s.Stats().Frames >= n+3 })
	if err := s.Present(uid(t, "0000ABCDEF")); err != nil {
		t.Fatal(err)
	}
	if tp := r.tap(t); tp.UID != "0000ABCDEF" {
		t.Fatalf("second tap %+v, want 0000ABCDEF (repeats of the first card must be deduplicated)", tp)
	}
	// A corrupted frame is dropped, the following good ones are read.
	s.Remove()
	s.CorruptNext(1)
	if err := s.Present(uid(t, "1122334455")); err != nil {
		t.Fatal(err)
	}
	if tp := r.tap(t); tp.UID != "1122334455" {
		t.Fatalf("tap after corrupted frame %+v", tp)
	}
	r.noAlarm(t)
}

func TestDedupWindowFakeClock(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	port, dev := cardreadertest.Pipe()
	cfg := cardreader.Config{Name: "t3-reader", Terminal: "t3", Device: "fake", Driver: cardreader.DriverEM4100, DedupWindow: 2 * time.Second}
	var taps []cardreader.Tap
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- cardreader.Run(ctx, cfg, cardreader.Deps{Clock: clk, Log: testLog(t),
			Open:  func(string, int) (cardreader.Port, error) { return port, nil },
			OnTap: func(tp cardreader.Tap) { taps = append(taps, tp) }})
	}()
	// read sends one frame and returns once the runner has processed it.
	read := func(card string) {
		t.Helper()
		id, _ := readersim.ParseUID(card)
		if _, err := dev.Write(em4100.Encode([5]byte(id))); err != nil {
			t.Fatal(err)
		}
		if _, err := dev.Write(nil); err != nil {
			t.Fatal(err)
		}
	}
	read("AA00000001") // t0: tap
	for range 4 {      // held 2 s, read every 500 ms: one tap
		clk.Advance(500 * time.Millisecond)
		read("AA00000001")
	}
	read("BB00000002")                  // t0+2s: another card is a tap
	clk.Advance(100 * time.Millisecond) // t0+2.1s: A again after B is a new tap
	read("AA00000001")
	clk.Advance(500 * time.Millisecond) // held: the same presentation
	read("AA00000001")
	clk.Advance(2 * time.Second)
	read("AA00000001") // t0+4.6s: 2 s after the last read, a new tap
	read("BB00000002") // another card
	cancel()
	dev.Close()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v", err)
	}
	want := []struct {
		uid string
		at  time.Duration
	}{{"AA00000001", 0}, {"BB00000002", 2 * time.Second}, {"AA00000001", 2100 * time.Millisecond},
		{"AA00000001", 4600 * time.Millisecond}, {"BB00000002", 4600 * time.Millisecond}}
	if len(taps) != len(want) {
		t.Fatalf("taps %+v, want %v", taps, want)
	}
	for i, w := range want {
		if taps[i].UID != w.uid || !taps[i].Time.Equal(t0.Add(w.at)) || taps[i].Terminal != "t3" {
			t.Errorf("tap %d = %+v, want %s at t0+%v", i, taps[i], w.uid, w.at)
		}
	}
}

func TestPN532NACKResend(t *testing.T) {
	s := newSim(t, readersim.DriverPN532)
	r := start(t, pn532Config(s), clock.Real{})
	polling(t, s, 1)
	s.CorruptNext(1)
	s.Present(uid(t, "04A1B2C3"))
	if tp := r.tap(t); tp.UID != "04A1B2C3" {
		t.Fatalf("tap %+v", tp)
	}
	if st := s.Stats(); st.NACKs != 1 {
		t.Errorf("NACKs = %d, want 1", st.NACKs)
	}
	r.noAlarm(t)
}

func TestPN532PersistentBadChecksumRecovers(t *testing.T) {
	s := newSim(t, readersim.DriverPN532)
	r := start(t, pn532Config(s), clock.Real{})
	polling(t, s, 1)
	// More corrupted frames than the driver's NACK budget (3) for the card
	// and for the re-initialisation: the reader is declared down, then it
	// recovers when the frames are good again.
	s.CorruptNext(12)
	s.Present(uid(t, "04A1B2C3"))
	if a := r.alarm(t); a.Code != cardreader.AlarmReaderDown || a.Cleared || a.Source != "t1-reader" {
		t.Fatalf("alarm %+v, want reader_down", a)
	}
	if a := r.alarm(t); a.Code != cardreader.AlarmReaderDown || !a.Cleared {
		t.Fatalf("alarm %+v, want reader_down cleared", a)
	}
	if tp := r.tap(t); tp.UID != "04A1B2C3" {
		t.Fatalf("tap %+v", tp)
	}
	if st := s.Stats(); st.NACKs < 4 {
		t.Errorf("NACKs = %d, want at least 4", st.NACKs)
	}
}

func TestPN532ErrorFrameRetransmits(t *testing.T) {
	s := newSim(t, readersim.DriverPN532)
	r := start(t, pn532Config(s), clock.Real{})
	polling(t, s, 1)
	before := s.Stats()
	s.ErrorFrameNext(1)
	// The pending poll times out, is aborted and sent again: that command
	// gets the error frame and is retransmitted.
	testkit.Eventually(t, wait, "error frame", func() bool { return s.Stats().ErrorFrames == before.ErrorFrames+1 })
	polling(t, s, before.Commands[pn532.CmdInListPassiveTarget]+2)
	s.Present(uid(t, "04A1B2C3"))
	if tp := r.tap(t); tp.UID != "04A1B2C3" {
		t.Fatalf("tap %+v", tp)
	}
	r.noAlarm(t)
}

// TestPN532ExtendedFrames: the chip answers the wake-up, configuration
// and the card poll in the extended frame layout (as it does for long
// payloads); the driver over a real pty decodes them and reports the tap.
func TestPN532ExtendedFrames(t *testing.T) {
	s := newSim(t, readersim.DriverPN532)
	s.ExtendedNext(1 << 20)
	r := start(t, pn532Config(s), clock.Real{})
	polling(t, s, 1)
	s.Present(uid(t, "04112233445566"))
	if tp := r.tap(t); tp.UID != "04112233445566" {
		t.Fatalf("tap %+v", tp)
	}
	if st := s.Stats(); st.Extended < 3 || st.NACKs != 0 {
		t.Errorf("extended responses %d (want the firmware, SAM and poll answers), NACKs %d", st.Extended, st.NACKs)
	}
	r.noAlarm(t)
}

func TestPN532GarbageResync(t *testing.T) {
	s := newSim(t, readersim.DriverPN532)
	r := start(t, pn532Config(s), clock.Real{})
	polling(t, s, 1)
	// Noise, a false start code with a bad LCS, half an ACK.
	if err := s.WriteRaw([]byte{0xFF, 0x13, 0x00, 0xFF, 0x05, 0x07, 0xAA, 0x00, 0x00, 0xFF}); err != nil {
		t.Fatal(err)
	}
	s.Present(uid(t, "04A1B2C3"))
	if tp := r.tap(t); tp.UID != "04A1B2C3" {
		t.Fatalf("tap %+v", tp)
	}
	r.noAlarm(t)
}

func TestPN532ResetReinitialises(t *testing.T) {
	s := newSim(t, readersim.DriverPN532)
	r := start(t, pn532Config(s), clock.Real{})
	polling(t, s, 1)
	s.Reset()
	// The pending poll is lost; the next one is not acknowledged by the
	// sleeping chip; the driver wakes it and configures it again.
	testkit.Eventually(t, wait, "second SAMConfiguration", func() bool { return s.Stats().Commands[pn532.CmdSAMConfiguration] >= 2 })
	s.Present(uid(t, "04A1B2C3"))
	if tp := r.tap(t); tp.UID != "04A1B2C3" {
		t.Fatalf("tap %+v", tp)
	}
	if st := s.Stats(); st.Wakeups != 2 {
		t.Errorf("wakeups = %d, want 2", st.Wakeups)
	}
	r.noAlarm(t)
}

func TestPN532SilentReaderAlarm(t *testing.T) {
	s := newSim(t, readersim.DriverPN532)
	r := start(t, pn532Config(s), clock.Real{})
	polling(t, s, 1)
	s.Mute(true)
	if a := r.alarm(t); a.Code != cardreader.AlarmReaderDown || a.Cleared {
		t.Fatalf("alarm %+v, want reader_down", a)
	}
	s.Mute(false)
	if a := r.alarm(t); !a.Cleared {
		t.Fatalf("alarm %+v, want cleared", a)
	}
	s.Present(uid(t, "04A1B2C3"))
	if tp := r.tap(t); tp.UID != "04A1B2C3" {
		t.Fatalf("tap %+v", tp)
	}
}

func TestUnplugReplug(t *testing.T) {
	for _, driver := range []string{readersim.DriverPN532, readersim.DriverEM4100} {
		t.Run(driver, func(t *testing.T) {
			s := newSim(t, driver)
			cfg := pn532Config(s)
			card := "04A1B2C3"
			if driver == readersim.DriverEM4100 {
				cfg.Driver, card = cardreader.DriverEM4100, "0A1B2C3D4E"
			}
			r := start(t, cfg, clock.Real{})
			s.Present(uid(t, card))
			r.tap(t)
			s.Remove()
			if err := s.Unplug(); err != nil {
				t.Fatal(err)
			}
			a := r.alarm(t)
			if a.Code != cardreader.AlarmReaderDown || a.Cleared || a.Source != "t1-reader" || a.Message == "" {
				t.Fatalf("alarm %+v, want reader_down", a)
			}
			if err := s.Replug(); err != nil {
				t.Fatal(err)
			}
			if a := r.alarm(t); a.Code != cardreader.AlarmReaderDown || !a.Cleared {
				t.Fatalf("alarm %+v, want reader_down cleared", a)
			}
			card2 := map[string]string{readersim.DriverPN532: "04112233445566", readersim.DriverEM4100: "1122334455"}[driver]
			s.Present(uid(t, card2))
			if tp := r.tap(t); tp.UID != card2 {
				t.Fatalf("tap after replug %+v", tp)
			}
			r.noAlarm(t)
		})
	}
}

func TestFailingDeviceAlarmsAndBacksOff(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	opens := make(chan time.Time, 100)
	// A device that is there but is no serial port (a plain file): the
	// reader fails, and is retried with backoff.
	dev := filepath.Join(t.TempDir(), "not-a-tty")
	if err := os.WriteFile(dev, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := cardreader.Config{Name: "r", Terminal: "t", Device: dev, Driver: cardreader.DriverEM4100, RetryMin: time.Second, RetryMax: 4 * time.Second}
	r := &recorder{taps: make(chan cardreader.Tap, 10), alarms: make(chan wire.Alarm, 10)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- cardreader.Run(ctx, cfg, cardreader.Deps{Clock: clk, Log: testLog(t),
			Open: func(dev string, baud int) (cardreader.Port, error) {
				opens <- clk.Now()
				if baud != 9600 {
					t.Errorf("baud %d, want em4100 default 9600", baud)
				}
				return cardreader.OpenSerial(dev, baud)
			},
			OnAlarm: func(a wire.Alarm) { r.alarms <- a }})
	}()
	if a := r.alarm(t); a.Cleared || a.Code != cardreader.AlarmReaderDown {
		t.Fatalf("alarm %+v", a)
	}
	t0 := <-opens
	// Backoff 1 s, 2 s, 4 s, 4 s (capped), one alarm only.
	var got []time.Duration
	prev := t0
	for range 4 {
		testkit.Eventually(t, wait, "backoff timer", func() bool { return clk.Pending() == 1 })
		select {
		case <-opens:
			t.Fatal("reopened before the backoff elapsed")
		default:
		}
		clk.Advance(500 * time.Millisecond)
		for {
			select {
			case at := <-opens:
				got = append(got, at.Sub(prev))
				prev = at
			case <-time.After(20 * time.Millisecond):
				clk.Advance(500 * time.Millisecond)
				continue
			}
			break
		}
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("backoff %v, want %v", got, want)
		}
	}
	r.noAlarm(t)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v", err)
	}
}

func TestBadConfig(t *testing.T) {
	err := cardreader.Run(context.Background(), cardreader.Config{Name: "r", Device: "/dev/null", Driver: "acr122"}, cardreader.Deps{})
	if !errors.Is(err, cardreader.ErrConfig) {
		t.Fatalf("Run = %v, want ErrConfig", err)
	}
}
