package stack

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ApplianceLogLines returns the lines of the appliance's log (both its
// runs, if it was restarted) that contain every one of parts.
func (s *Stack) ApplianceLogLines(parts ...string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(s.Opts.Dir, "kinline-appliance.log"))
	if err != nil {
		return nil, fmt.Errorf("stack: appliance log: %w", err)
	}
	var out []string
	for line := range strings.SplitSeq(string(b), "\n") {
		ok := line != ""
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			out = append(out, line)
		}
	}
	return out, nil
}

// WaitApplianceLog waits until the appliance has logged at least n lines
// that contain every one of parts, and returns them.
func (s *Stack) WaitApplianceLog(ctx context.Context, d time.Duration, n int, parts ...string) ([]string, error) {
	var lines []string
	err := waitFor(ctx, d, fmt.Sprintf("%d appliance log lines with %q", n, parts), func() error {
		var err error
		if lines, err = s.ApplianceLogLines(parts...); err != nil {
			return err
		}
		if len(lines) < n {
			return fmt.Errorf("%d lines so far", len(lines))
		}
		return nil
	})
	return lines, err
}

// AppliancePID is the running appliance's process id (0 when it is not
// running).
func (s *Stack) AppliancePID() int {
	if s.appliance == nil || s.appliance.cmd.Process == nil {
		return 0
	}
	select {
	case <-s.appliance.done:
		return 0
	default:
	}
	return s.appliance.cmd.Process.Pid
}
