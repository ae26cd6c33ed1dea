package diskwatch

import (
	"sync"

	"syscall"
)

// StatFS reads free space with statfs(2): Free counts the blocks available
// to unprivileged users (f_bavail), which is what the appliance's
// recorder, not running as root, can write.
type StatFS struct{}

// Usage implements Stater.
func (StatFS) Usage(path string) (Usage, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return Usage{}, err
	}
	bs := uint64(st.Bsize)
	return Usage{Total: st.Blocks * bs, Free: st.Bavail * bs}, nil
}

// Fake is a Stater for tests: it reports Set's usage, or Fail's error.
type Fake struct {
	mu  sync.Mutex
	u   Usage
	err error
}

// Set makes Usage report total and free bytes (and no error).
func (f *Fake) Set(total, free uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.u, f.err = Usage{Total: total, Free: free}, nil
}

// Fail makes Usage fail with err.
func (f *Fake) Fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// Usage implements Stater.
func (f *Fake) Usage(string) (Usage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.u, f.err
}
