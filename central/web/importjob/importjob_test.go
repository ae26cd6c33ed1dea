package importjob

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kinline/kinline/internal/testkit"
)

func TestJobProgressAndOwner(t *testing.T) {
	r := NewRunner(time.Minute)
	defer r.Close()
	step, finish := make(chan struct{}), make(chan struct{})
	id, err := r.Start(Spec{Actor: "user:ada", Kind: "people", File: "p.csv", Total: 100}, func(ctx context.Context, progress func(int, int)) Result {
		progress(25, 100)
		close(step)
		<-finish
		return Result{State: StateDone}
	})
	if err != nil {
		t.Fatal(err)
	}
	<-step
	if v := r.Find(id, "user:ada"); v == nil || v.State != StateRunning || v.Percent != 25 || v.File != "p.csv" {
		t.Fatalf("running %+v", v)
	}
	if r.Find(id, "user:bob") != nil || r.Find("nope", "user:ada") != nil {
		t.Fatal("another user's or an unknown job found")
	}
	close(finish)
	testkit.Eventually(t, 10*time.Second, "the job to end", func() bool { return r.Find(id, "user:ada").State != StateRunning })
	if v := r.Find(id, "user:ada"); v.Percent != 100 || v.State != StateDone {
		t.Fatalf("done %+v", v)
	}
}

func TestCloseStopsRunningJobs(t *testing.T) {
	r := NewRunner(time.Hour)
	started, stopped := make(chan struct{}), make(chan error, 1)
	id, err := r.Start(Spec{Actor: "a"}, func(ctx context.Context, _ func(int, int)) Result {
		close(started)
		<-ctx.Done()
		stopped <- ctx.Err()
		return Result{State: StateFailed, Message: "stopped"}
	})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	r.Close() // returns only once the job has ended
	select {
	case err := <-stopped:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("job ended with %v", err)
		}
	default:
		t.Fatal("Close returned before the job ended")
	}
	if v := r.Find(id, "a"); v.State != StateFailed {
		t.Fatalf("after Close %+v", v)
	}
	if _, err := r.Start(Spec{Actor: "a"}, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("start after Close: %v", err)
	}
}

func TestRunnerForgetsOldestJobs(t *testing.T) {
	r := NewRunner(time.Minute)
	defer r.Close()
	var first string
	for i := 0; i <= MaxJobs; i++ {
		id, err := r.Start(Spec{Actor: "a"}, func(context.Context, func(int, int)) Result { return Result{State: StateDone} })
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = id
		}
	}
	if r.Find(first, "a") != nil {
		t.Fatal("the oldest job is still kept")
	}
}
