package readersim

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrCommand is returned for a control command that cannot be run.
var ErrCommand = errors.New("readersim: bad command")

// DefaultHold is how long "tap" holds the card without a hold argument.
const DefaultHold = 500 * time.Millisecond

// Exec runs one control command, as the control socket receives it:
//
//	tap UID [HOLD]     present the card for HOLD (Go duration, default 500ms)
//	present UID        present the card until "remove"
//	remove             take the card away
//	unplug | replug    make the device vanish / come back
//	reset              PN532 power glitch (needs wake-up and SAMConfiguration)
//	mute on|off        stop / resume answering
//	corrupt N          next N frames with a bad checksum
//	corruptlen N       next N PN532 responses with a corrupted length byte
//	clone on|off       PN532 answers a poll "no target" at once (a clone)
//	errorframe N       next N PN532 commands answered with the error frame
//	extended N         next N PN532 responses sent as extended frames
//	stats              counters
//
// UID is hex (separators ':' and '-' allowed). It returns the reply text.
func (s *Sim) Exec(cmdline string) (string, error) {
	f := strings.Fields(cmdline)
	if len(f) == 0 {
		return "", fmt.Errorf("%w: empty", ErrCommand)
	}
	arg := func(i int) string {
		if i < len(f) {
			return f[i]
		}
		return ""
	}
	count := func() (int, error) {
		n, err := strconv.Atoi(arg(1))
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%w: %s needs a count", ErrCommand, f[0])
		}
		return n, nil
	}
	verb := strings.ToLower(f[0])
	switch verb {
	case "tap", "present":
		uid, err := ParseUID(arg(1))
		if err != nil {
			return "", err
		}
		if verb == "present" {
			return "ok", s.Present(uid)
		}
		hold := DefaultHold
		if h := arg(2); h != "" {
			if hold, err = time.ParseDuration(h); err != nil || hold <= 0 {
				return "", fmt.Errorf("%w: hold %q", ErrCommand, h)
			}
		}
		return "ok", s.Tap(uid, hold)
	case "remove":
		s.Remove()
	case "unplug":
		return "ok", s.Unplug()
	case "replug":
		return "ok", s.Replug()
	case "reset":
		s.Reset()
	case "mute":
		switch arg(1) {
		case "on":
			s.Mute(true)
		case "off":
			s.Mute(false)
		default:
			return "", fmt.Errorf("%w: mute on|off", ErrCommand)
		}
	case "corrupt":
		n, err := count()
		if err != nil {
			return "", err
		}
		s.CorruptNext(n)
	case "corruptlen":
		n, err := count()
		if err != nil {
			return "", err
		}
		s.CorruptLengthNext(n)
	case "clone":
		switch arg(1) {
		case "on":
			s.Clone(true)
		case "off":
			s.Clone(false)
		default:
			return "", fmt.Errorf("%w: clone on|off", ErrCommand)
		}
	case "errorframe":
		n, err := count()
		if err != nil {
			return "", err
		}
		s.ErrorFrameNext(n)
	case "extended":
		n, err := count()
		if err != nil {
			return "", err
		}
		s.ExtendedNext(n)
	case "stats":
		st := s.Stats()
		return fmt.Sprintf("plugs=%d wakeups=%d commands=%v nacks=%d aborts=%d badframes=%d errorframes=%d targets=%d frames=%d",
			st.Plugs, st.Wakeups, st.Commands, st.NACKs, st.Aborts, st.BadFrames, st.ErrorFrames, st.Targets, st.Frames), nil
	default:
		return "", fmt.Errorf("%w: unknown %q", ErrCommand, f[0])
	}
	return "ok", nil
}

// ParseUID parses a hex UID, allowing ':' and '-' separators.
func ParseUID(s string) ([]byte, error) {
	s = strings.NewReplacer(":", "", "-", "").Replace(s)
	b, err := hex.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("%w: %q is not a hex UID", ErrUID, s)
	}
	return b, nil
}

// Serve answers control connections on ln until ctx is done: one command
// per line, answered by "ok[ text]" or "error: reason", one line each.
func (s *Sim) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("readersim: control: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			cstop := context.AfterFunc(ctx, func() { c.Close() })
			defer cstop()
			sc := bufio.NewScanner(c)
			for sc.Scan() {
				reply, err := s.Exec(sc.Text())
				if err != nil {
					reply = "error: " + err.Error()
				} else if reply != "ok" {
					reply = "ok " + reply
				}
				if _, err := fmt.Fprintln(c, reply); err != nil {
					return
				}
			}
		}()
	}
}

// Send sends one command to the control socket at sock and returns the
// reply (without "ok"); an "error:" reply is returned as an ErrCommand.
func Send(ctx context.Context, sock, cmdline string) (string, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", sock)
	if err != nil {
		return "", fmt.Errorf("readersim: control socket: %w", err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	if _, err := fmt.Fprintln(c, cmdline); err != nil {
		return "", fmt.Errorf("readersim: control socket: %w", err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("readersim: control socket: %w", err)
	}
	line = strings.TrimSpace(line)
	if rest, ok := strings.CutPrefix(line, "error: "); ok {
		return "", fmt.Errorf("%w: %s", ErrCommand, rest)
	}
	return strings.TrimSpace(strings.TrimPrefix(line, "ok")), nil
}
