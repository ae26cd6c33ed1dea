// Package poll is the polling loop for code that a binary links (the
// tools' stack and demo, the simulators of internal/phone): those cannot
// use internal/testkit, which imports "testing". Tests use testkit's
// Eventually, Within and EventuallyNil.
package poll

import (
	"context"
	"errors"
	"time"
)

// ErrTimeout is Until's error when the condition did not come true in time.
var ErrTimeout = errors.New("poll: timed out")

// Until calls cond every interval until it returns true, and then returns
// nil; it returns ErrTimeout once timeout has passed without, or ctx's
// error if ctx ends first.
func Until(ctx context.Context, timeout, interval time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	t := time.NewTicker(interval)
	defer t.Stop()
	for !cond() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return ErrTimeout
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}
