package clock

import (
	"sort"
	"sync"
	"time"
)

// Fake is a Clock that only moves when Advance or Set is called.
// The zero value is not usable; use NewFake.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	waiters []*fakeTimer
}

type fakeTimer struct {
	c       *Fake
	at      time.Time
	f       func()
	ch      chan time.Time
	stopped bool
	fired   bool
}

// NewFake returns a fake clock set to t.
func NewFake(t time.Time) *Fake { return &Fake{now: t} }

// Now returns the fake's current time.
func (c *Fake) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// After returns a channel that receives the time once the fake has been
// advanced by at least d.
func (c *Fake) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.add(&fakeTimer{c: c, ch: ch}, d)
	return ch
}

// AfterFunc runs f (in its own goroutine) once the fake has been advanced
// by at least d.
func (c *Fake) AfterFunc(d time.Duration, f func()) Timer {
	t := &fakeTimer{c: c, f: f}
	c.add(t, d)
	return t
}

func (c *Fake) add(t *fakeTimer, d time.Duration) {
	c.mu.Lock()
	t.at = c.now.Add(d)
	c.waiters = append(c.waiters, t)
	c.mu.Unlock()
	if d <= 0 {
		c.Advance(0)
	}
}

// Pending reports how many timers are waiting to fire; tests use it to
// wait until the code under test has armed its timers.
func (c *Fake) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, w := range c.waiters {
		if !w.stopped && !w.fired {
			n++
		}
	}
	return n
}

// Advance moves the clock forward by d and fires every timer that is due,
// in time order.
func (c *Fake) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	now := c.now
	var due, rest []*fakeTimer
	for _, w := range c.waiters {
		switch {
		case w.stopped || w.fired:
		case !w.at.After(now):
			w.fired = true
			due = append(due, w)
		default:
			rest = append(rest, w)
		}
	}
	c.waiters = rest
	c.mu.Unlock()
	sort.SliceStable(due, func(i, j int) bool { return due[i].at.Before(due[j].at) })
	for _, w := range due {
		if w.ch != nil {
			w.ch <- now
		} else {
			go w.f()
		}
	}
}

// Set moves the clock to t (which must not be before Now) and fires due timers.
func (c *Fake) Set(t time.Time) { c.Advance(t.Sub(c.Now())) }

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.stopped || t.fired {
		return false
	}
	t.stopped = true
	return true
}
