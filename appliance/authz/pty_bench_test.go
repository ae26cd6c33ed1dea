package authz_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/authz"
	"github.com/kinline/kinline/appliance/cardreader"
	"github.com/kinline/kinline/appliance/cardreader/pn532"
	"github.com/kinline/kinline/internal/readersim"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/wire"
)

type decision struct {
	uid string
	at  time.Time
	res authz.Result
}

// BenchmarkPtyTapToDecision measures the whole tap-to-decision path through
// a real pseudo-terminal: the PN532 simulator (tools/readersim) puts a card
// in its field and answers the driver's pending InListPassiveTarget with the
// real frame bytes; the pn532 driver under cardreader.Run reads and checks
// them from the pty, hands the UID over, and the authorizer decides the call
// against a block of 2,000 people with 10 numbers each. The time is from
// the simulator presenting the card to the decision; p50 and p99 are
// reported in microseconds.
func BenchmarkPtyTapToDecision(b *testing.B) {
	p := &wire.Policy{V: 1, Version: 1}
	uids := make([][]byte, 2000)
	number := map[string]string{}
	for i := range uids {
		uid := fmt.Sprintf("%08X", 0x04000000+i)
		uids[i], _ = readersim.ParseUID(uid)
		person := wire.Person{ID: fmt.Sprint("p", i), Status: wire.StatusActive, Cards: []string{uid}}
		for j := 0; j < 10; j++ {
			person.Numbers = append(person.Numbers, wire.ApprovedNumber{Number: fmt.Sprintf("+44207%07d", i*10+j)})
		}
		number[uid] = fmt.Sprintf("+44207%07d", i*10+3)
		p.People = append(p.People, person)
	}
	a := authz.New(clock.Real{}, time.Minute)
	a.SetPolicy(p)

	s, err := readersim.New(readersim.Options{Driver: readersim.DriverPN532, Link: filepath.Join(b.TempDir(), "reader")})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	decided := make(chan decision, 64)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		// A short PollInterval only shortens the pause after each read, so
		// the benchmark need not wait 150 ms between cards; the path from
		// card to decision is the production one.
		done <- cardreader.Run(ctx, cardreader.Config{Name: "r1", Terminal: "t1", Device: s.Path(), Driver: "pn532",
			DedupWindow: time.Millisecond, PN532: pn532.Options{PollInterval: time.Millisecond}},
			cardreader.Deps{Log: slog.New(slog.DiscardHandler), OnTap: func(t cardreader.Tap) {
				a.Tap(t.Terminal, t.UID)
				r := a.Authorize(t.Terminal, number[t.UID])
				decided <- decision{uid: t.UID, at: time.Now(), res: r}
			}})
	}()
	defer func() {
		cancel()
		<-done
	}()

	const inList = 0x4A // InListPassiveTarget
	// idle waits until the driver's next InListPassiveTarget, sent after
	// the card left the field, is pending: a person taps an idle reader.
	idle := func() {
		n := s.Stats().Commands[inList]
		if !testkit.Within(30*time.Second, 50*time.Microsecond, func() bool { return s.Stats().Commands[inList] > n }) {
			b.Fatal("the driver stopped polling")
		}
	}
	tap := func(i int) time.Duration {
		want := fmt.Sprintf("%X", uids[i])
		start := time.Now()
		if err := s.Present(uids[i]); err != nil {
			b.Fatal(err)
		}
		defer func() {
			s.Remove()
			b.StopTimer()
			idle()
			b.StartTimer()
		}()
		timeout := time.After(30 * time.Second)
		for {
			select {
			case d := <-decided:
				if d.uid != want { // a late re-read of an earlier card
					continue
				}
				if !d.res.Allowed {
					b.Fatalf("card %s refused: %+v", want, d.res)
				}
				return d.at.Sub(start)
			case <-timeout:
				b.Fatalf("card %s never decided (reader not polling?)", want)
			}
		}
	}
	tap(0) // the driver has initialised the chip and polls
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		lat = append(lat, tap(1+i%(len(uids)-1)))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
}
