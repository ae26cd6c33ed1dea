package poll_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kinline/kinline/internal/poll"
)

func TestUntil(t *testing.T) {
	ctx := context.Background()
	n := 0
	if err := poll.Until(ctx, 10*time.Second, time.Millisecond, func() bool { n++; return n == 3 }); err != nil || n != 3 {
		t.Fatalf("Until = %v after %d calls, want nil after 3", err, n)
	}
	if err := poll.Until(ctx, 20*time.Millisecond, time.Millisecond, func() bool { return false }); !errors.Is(err, poll.ErrTimeout) {
		t.Fatalf("Until on a condition that never holds = %v, want ErrTimeout", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := poll.Until(cctx, 10*time.Second, time.Millisecond, func() bool { return false }); !errors.Is(err, context.Canceled) {
		t.Fatalf("Until with an ended context = %v, want context.Canceled", err)
	}
}
