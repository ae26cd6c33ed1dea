// Package clock is the injected source of time for everything in Kinline
// whose behaviour depends on time (debounce, tap windows, call timers,
// quotas, sync backoff). Production code takes a Clock; tests pass a *Fake
// and move time by hand, so they run in simulated time.
package clock

import "time"

// Clock is the subset of the time package Kinline uses.
type Clock interface {
	Now() time.Time
	// After waits for the duration to elapse and then sends the current time.
	After(d time.Duration) <-chan time.Time
	// AfterFunc calls f in its own goroutine after d. Stop cancels it.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a cancellable pending call made by AfterFunc.
type Timer interface {
	// Stop prevents the timer from firing. It reports whether the call
	// stopped the timer (false if it had already fired or been stopped).
	Stop() bool
}

// Real is the wall clock.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// After is time.After.
func (Real) After(d time.Duration) <-chan time.Time { return time.After(d) }

// AfterFunc is time.AfterFunc.
func (Real) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }
