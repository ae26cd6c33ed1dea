package cardreader_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/cardreader"
	"github.com/kinline/kinline/appliance/cardreader/cardreadertest"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/wire"
)

// TestReplugAfterLongUnplugIsReadAtOnce is issue 10's item 5: after a long
// unplug the runner must not have backed off to tens of seconds. With the
// device path gone for 92 s (on the fake clock), the reader plugged back is
// opened within WatchInterval; before the fix the backoff had grown to
// 30 s and taps were lost until it elapsed.
func TestReplugAfterLongUnplugIsReadAtOnce(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	dev := filepath.Join(t.TempDir(), "reader")
	var opens atomic.Int32
	alarms := make(chan wire.Alarm, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- cardreader.Run(ctx, cardreader.Config{Name: "t1-reader", Terminal: "t1", Device: dev, Driver: cardreader.DriverEM4100},
			cardreader.Deps{Clock: clk, Log: testLog(t),
				Open: func(device string, _ int) (cardreader.Port, error) {
					opens.Add(1)
					if _, err := os.Stat(device); err != nil {
						return nil, err
					}
					port, _ := cardreadertest.Pipe()
					return port, nil
				},
				OnAlarm: func(a wire.Alarm) { alarms <- a }})
	}()
	defer func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v", err)
		}
	}()
	select {
	case a := <-alarms:
		if a.Cleared {
			t.Fatalf("alarm %+v, want reader_down", a)
		}
	case <-time.After(wait):
		t.Fatal("no reader_down alarm")
	}
	// advance moves the fake clock by step once the runner waits on it.
	advance := func(step time.Duration) {
		t.Helper()
		testkit.Eventually(t, wait, "the runner to wait on the clock", func() bool { return clk.Pending() >= 1 })
		clk.Advance(step)
	}
	for range 920 { // 92 s unplugged
		advance(100 * time.Millisecond)
	}
	if err := os.WriteFile(dev, nil, 0o600); err != nil { // plugged back
		t.Fatal(err)
	}
	plugged := clk.Now()
	for {
		select {
		case a := <-alarms:
			if !a.Cleared {
				t.Fatalf("alarm %+v, want reader_down cleared", a)
			}
			if d := clk.Now().Sub(plugged); d > time.Second {
				t.Fatalf("reader reopened %v after it was plugged back, want within 1 s", d)
			}
			return
		default:
		}
		if clk.Now().Sub(plugged) > 60*time.Second {
			t.Fatal("reader never reopened")
		}
		select {
		case a := <-alarms:
			alarms <- a
			continue
		case <-time.After(5 * time.Millisecond):
		}
		advance(100 * time.Millisecond)
	}
}
