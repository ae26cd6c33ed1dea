// Package importjob runs the console's batch imports in the background.
// A job belongs to the user who started it, reports its progress while it
// runs and ends with a state, a message and the import's report. A Runner
// keeps the latest jobs (at most MaxJobs, the oldest dropped first); jobs
// live in memory only, so a restart forgets them (an import either
// committed or not). Close cancels the running jobs and waits for them.
package importjob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"time"

	"github.com/kinline/kinline/central/store/tables"
)

// MaxJobs is how many jobs a Runner remembers.
const MaxJobs = 50

// A job's states.
const (
	StateRunning = "running"
	StateDone    = "done"
	StateRefused = "refused"
	StateFailed  = "failed"
)

// ErrClosed: the runner was closed and starts no job.
var ErrClosed = errors.New("importjob: closed")

// Spec describes a job to start.
type Spec struct {
	Actor, Kind, File string
	DryRun            bool
	// Total is the number of rows, shown until the job reports progress.
	Total int
}

// Result is how a job's work ended: StateDone, StateRefused or
// StateFailed, a message for the page, and the import's report.
type Result struct {
	State, Message string
	Report         *tables.ImportReport
}

// Work is a job's work: it reports progress and stops when ctx ends.
type Work func(ctx context.Context, progress func(done, total int)) Result

// View is what the import page and its progress endpoint show of a job.
type View struct {
	ID      string               `json:"id"`
	Kind    string               `json:"kind"`
	DryRun  bool                 `json:"dry_run"`
	File    string               `json:"file"`
	State   string               `json:"state"`
	Done    int                  `json:"done"`
	Total   int                  `json:"total"`
	Percent int                  `json:"percent"`
	Message string               `json:"message,omitempty"`
	Report  *tables.ImportReport `json:"report,omitempty"`
}

type job struct {
	mu   sync.Mutex
	spec Spec
	id   string
	done int
	res  Result
}

func (j *job) view() *View {
	j.mu.Lock()
	defer j.mu.Unlock()
	v := &View{ID: j.id, Kind: j.spec.Kind, DryRun: j.spec.DryRun, File: j.spec.File, State: j.res.State, Done: j.done,
		Total: j.spec.Total, Message: j.res.Message, Report: j.res.Report}
	if v.Total > 0 {
		v.Percent = min(100, v.Done*100/v.Total)
	}
	if v.State != StateRunning {
		v.Percent = 100
	}
	return v
}

// Runner runs jobs and remembers the latest.
type Runner struct {
	timeout time.Duration
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu     sync.Mutex
	closed bool
	byID   map[string]*job
	order  []string
}

// NewRunner makes a runner whose jobs each run at most timeout.
func NewRunner(timeout time.Duration) *Runner {
	ctx, cancel := context.WithCancel(context.Background())
	return &Runner{timeout: timeout, ctx: ctx, cancel: cancel, byID: map[string]*job{}}
}

// Start records a running job and does work in the background; it
// returns the job's id.
func (r *Runner) Start(spec Spec, work Work) (string, error) {
	j := &job{spec: spec, id: newID(), res: Result{State: StateRunning}}
	j.spec.Total = max(j.spec.Total, 1)
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return "", ErrClosed
	}
	r.byID[j.id] = j
	r.order = append(r.order, j.id)
	for len(r.order) > MaxJobs {
		delete(r.byID, r.order[0])
		r.order = r.order[1:]
	}
	r.wg.Add(1)
	r.mu.Unlock()
	go func() {
		defer r.wg.Done()
		ctx, cancel := context.WithTimeout(r.ctx, r.timeout)
		defer cancel()
		res := work(ctx, func(done, total int) {
			j.mu.Lock()
			j.done, j.spec.Total = done, max(total, 1)
			j.mu.Unlock()
		})
		j.mu.Lock()
		j.res = res
		j.mu.Unlock()
	}()
	return j.id, nil
}

// Find is the job id started by actor, nil when there is none (or it is
// another user's).
func (r *Runner) Find(id, actor string) *View {
	r.mu.Lock()
	j := r.byID[id]
	r.mu.Unlock()
	if j == nil || j.spec.Actor != actor {
		return nil
	}
	return j.view()
}

// Close cancels the running jobs and waits for them to end; the runner
// starts no job after it.
func (r *Runner) Close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
}

func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("importjob: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}
