package panel

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/kinline/kinline/board"
)

// ErrControl is returned by Command when the panel answers with an error,
// and wraps the control protocol's parse errors.
var ErrControl = errors.New("panel control")

// Control protocol (one command per line on a unix socket, one reply line
// per command, "ok[ detail]" or "err <reason>"):
//
//	press confirm | press cancel   press a simulated button (real edges)
//	tap <uid>                      a card on the officer's reader
//	state                          "ok pending=on approved=off refused=off buzzer=off call=C1 terminal=T1 mode=both button=done card=wait queued=0"
//	help                           the list of commands
const controlHelp = "commands: press confirm | press cancel | tap <uid> | state | help"

// maxControlLine bounds a control command line.
const maxControlLine = 256

type cmdKind int

const (
	cmdPress cmdKind = iota + 1
	cmdTap
	cmdState
	cmdHelp
)

type command struct {
	kind cmdKind
	role board.Role // cmdPress
	uid  string     // cmdTap
}

// String renders the command in the protocol's canonical form.
func (c command) String() string {
	switch c.kind {
	case cmdPress:
		return "press " + string(c.role)
	case cmdTap:
		return "tap " + c.uid
	case cmdState:
		return "state"
	case cmdHelp:
		return "help"
	}
	return ""
}

// parseCommand parses one control line (untrusted bytes from the socket).
func parseCommand(line string) (command, error) {
	if len(line) > maxControlLine {
		return command{}, fmt.Errorf("%w: line longer than %d bytes", ErrControl, maxControlLine)
	}
	f := strings.Fields(line)
	if len(f) == 0 {
		return command{}, fmt.Errorf("%w: empty command", ErrControl)
	}
	verb := strings.ToLower(f[0])
	switch {
	case verb == "press" && len(f) == 2:
		switch board.Role(strings.ToLower(f[1])) {
		case board.RoleConfirm:
			return command{kind: cmdPress, role: board.RoleConfirm}, nil
		case board.RoleCancel:
			return command{kind: cmdPress, role: board.RoleCancel}, nil
		}
		return command{}, fmt.Errorf("%w: no button %q (confirm or cancel)", ErrControl, f[1])
	case verb == "tap" && len(f) == 2:
		uid := strings.ToUpper(f[1])
		if len(uid) > 64 {
			return command{}, fmt.Errorf("%w: uid longer than 64 characters", ErrControl)
		}
		for _, r := range uid {
			if !(r >= '0' && r <= '9' || r >= 'A' && r <= 'F') {
				return command{}, fmt.Errorf("%w: uid %q is not hex", ErrControl, f[1])
			}
		}
		return command{kind: cmdTap, uid: uid}, nil
	case verb == "state" && len(f) == 1:
		return command{kind: cmdState}, nil
	case verb == "help" && len(f) == 1:
		return command{kind: cmdHelp}, nil
	}
	return command{}, fmt.Errorf("%w: unknown command %q (%s)", ErrControl, line, controlHelp)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func doneWait(b bool) string {
	if b {
		return "done"
	}
	return "wait"
}

// String renders the state as the control protocol's "state" reply.
func (s State) String() string {
	out := fmt.Sprintf("pending=%s approved=%s refused=%s buzzer=%s", onOff(s.Pending), onOff(s.Approved), onOff(s.Refused), onOff(s.Buzzer))
	if s.CallID != "" {
		out += fmt.Sprintf(" call=%s terminal=%s mode=%s button=%s card=%s", s.CallID, s.Terminal, s.Mode, doneWait(s.ButtonDone), doneWait(s.CardDone))
	}
	return out + fmt.Sprintf(" queued=%d", s.Queued)
}

// pressTimeout bounds how long a control "press" waits for the panel.
const pressTimeout = 5 * time.Second

func (p *Panel) execute(ctx context.Context, line string) string {
	c, err := parseCommand(line)
	if err != nil {
		return "err " + strings.TrimPrefix(err.Error(), ErrControl.Error()+": ")
	}
	switch c.kind {
	case cmdPress:
		ctx, cancel := context.WithTimeout(ctx, pressTimeout)
		defer cancel()
		if err := p.Press(ctx, c.role); err != nil {
			return "err " + err.Error()
		}
		return "ok"
	case cmdTap:
		p.OfficerTap(c.uid)
		return "ok"
	case cmdState:
		return "ok " + p.State().String()
	default:
		return "ok " + controlHelp
	}
}

// ServeControl lets a person drive a simulated panel: it listens on a unix
// socket at socketPath (mode 0600, replacing a stale socket) and answers the
// line commands documented above until ctx ends, then removes the socket.
// "press" sends real edges to the simulated button's gpiotest pin. It
// returns ErrNotSimulated on a real board, where a socket able to fake
// officer taps would be a hole.
func (p *Panel) ServeControl(ctx context.Context, socketPath string) error {
	if p.board.GPIO != board.DriverSim {
		return fmt.Errorf("%w: board %q", ErrNotSimulated, p.board.Name)
	}
	if fi, err := os.Lstat(socketPath); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return fmt.Errorf("panel control: %s exists and is not a socket", socketPath)
		}
		if err := os.Remove(socketPath); err != nil {
			return fmt.Errorf("panel control: remove stale socket: %w", err)
		}
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "unix", socketPath)
	if err != nil {
		return fmt.Errorf("panel control: %w", err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(true)
	if err := os.Chmod(socketPath, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("panel control: %w", err)
	}
	p.log.Info("panel control socket listening", "path", socketPath)

	var (
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
		wg    sync.WaitGroup
	)
	stopped := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
		case <-p.stop:
		}
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		close(stopped)
	}()
	for {
		conn, err := ln.Accept()
		if err != nil {
			<-stopped
			wg.Wait()
			if ctx.Err() != nil {
				return nil
			}
			select {
			case <-p.stop:
				return ErrClosed
			default:
			}
			return fmt.Errorf("panel control: accept: %w", err)
		}
		mu.Lock()
		conns[conn] = struct{}{}
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				mu.Lock()
				delete(conns, conn)
				mu.Unlock()
				conn.Close()
			}()
			p.serveConn(ctx, conn)
		}()
	}
}

func (p *Panel) serveConn(ctx context.Context, conn net.Conn) {
	sc := bufio.NewScanner(conn)
	sc.Buffer(make([]byte, 0, 512), maxControlLine+2)
	w := bufio.NewWriter(conn)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		reply := p.execute(ctx, line)
		p.log.Debug("panel control", "command", line, "reply", reply)
		if _, err := w.WriteString(reply + "\n"); err != nil {
			return
		}
		if err := w.Flush(); err != nil {
			return
		}
	}
	if errors.Is(sc.Err(), bufio.ErrTooLong) {
		_, _ = w.WriteString(fmt.Sprintf("err line longer than %d bytes\n", maxControlLine))
		_ = w.Flush()
	}
}

// Command sends one control command to the panel listening at socketPath
// and returns the reply's detail (after "ok"), or an error wrapping
// ErrControl with the panel's reason.
func Command(ctx context.Context, socketPath, cmd string) (string, error) {
	if strings.ContainsAny(cmd, "\r\n") {
		return "", fmt.Errorf("%w: command holds a line break", ErrControl)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", socketPath)
	if err != nil {
		return "", fmt.Errorf("panel control: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := conn.Write([]byte(cmd + "\n")); err != nil {
		return "", fmt.Errorf("panel control: %w", err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("panel control: %w", ctx.Err())
		}
		return "", fmt.Errorf("panel control: reading reply: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if rest, ok := strings.CutPrefix(line, "ok"); ok && (rest == "" || rest[0] == ' ') {
		return strings.TrimPrefix(rest, " "), nil
	}
	if rest, ok := strings.CutPrefix(line, "err "); ok {
		return "", fmt.Errorf("%w: %s", ErrControl, rest)
	}
	return "", fmt.Errorf("%w: unexpected reply %q", ErrControl, line)
}
