package readersim

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/cardreader/em4100"
	"github.com/kinline/kinline/appliance/cardreader/pn532/frame"
	"github.com/kinline/kinline/internal/testkit"
)

// readUntil reads the pty slave until want has been seen.
func readUntil(t *testing.T, f *os.File, want []byte) []byte {
	t.Helper()
	var got []byte
	buf := make([]byte, 256)
	f.SetReadDeadline(time.Now().Add(10 * time.Second))
	for !bytes.Contains(got, want) {
		n, err := f.Read(buf)
		if err != nil {
			t.Fatalf("read: %v (got % X, want % X)", err, got, want)
		}
		got = append(got, buf[:n]...)
	}
	return got
}

func openSlave(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|0x800 /* O_NONBLOCK: pollable */, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestPN532SimProtocol(t *testing.T) {
	link := filepath.Join(t.TempDir(), "r")
	s, err := New(Options{Driver: DriverPN532, Link: link})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if target, err := os.Readlink(link); err != nil || !strings.HasPrefix(target, "/dev/pts/") {
		t.Fatalf("link -> %q, %v", target, err)
	}
	f := openSlave(t, s.Path())
	gfv, _ := frame.Command(0x02)
	// Asleep: a frame without wake-up is lost; with it, ACK then response.
	f.Write(gfv)
	f.Write(append([]byte{0x55, 0x55, 0, 0, 0}, gfv...))
	resp, _ := frame.Encode(frame.TFIPN532, []byte{0x03, 0x32, 0x01, 0x06, 0x07})
	got := readUntil(t, f, resp)
	if !bytes.Equal(got, append(bytes.Clone(frame.ACK), resp...)) {
		t.Fatalf("got % X", got)
	}
	if st := s.Stats(); st.Commands[0x02] != 1 || st.Wakeups != 1 {
		t.Fatalf("stats %+v", st)
	}
	// InListPassiveTarget before SAMConfiguration: error frame.
	inlist, _ := frame.Command(0x4A, 0x01, 0x00)
	f.Write(inlist)
	readUntil(t, f, frame.ErrorFrame)
	sam, _ := frame.Command(0x14, 0x01)
	f.Write(sam)
	samResp, _ := frame.Encode(frame.TFIPN532, []byte{0x15})
	readUntil(t, f, samResp)
	// Pending until a card comes; NACK resends.
	f.Write(inlist)
	readUntil(t, f, frame.ACK)
	s.Present([]byte{0x04, 0xA1, 0xB2, 0xC3})
	card, _ := frame.Encode(frame.TFIPN532, []byte{0x4B, 0x01, 0x01, 0x00, 0x04, 0x08, 0x04, 0x04, 0xA1, 0xB2, 0xC3})
	readUntil(t, f, card)
	f.Write(frame.NACK)
	readUntil(t, f, card)
	// Abort: an ACK drops the pending command.
	s.Remove()
	f.Write(inlist)
	readUntil(t, f, frame.ACK)
	f.Write(frame.ACK)
	testkit.Eventually(t, 10*time.Second, "the abort", func() bool { return s.Stats().Aborts == 1 })
	if err := s.Present([]byte{1, 2, 3}); !errors.Is(err, ErrUID) {
		t.Fatalf("Present(3 bytes) = %v", err)
	}
}

func TestEM4100SimRepeatsAndReplug(t *testing.T) {
	link := filepath.Join(t.TempDir(), "r")
	s, err := New(Options{Driver: DriverEM4100, Link: link, RepeatEvery: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f := openSlave(t, s.Path())
	fr := em4100.Encode([5]byte{1, 2, 3, 4, 5})
	s.Present([]byte{1, 2, 3, 4, 5})
	got := readUntil(t, f, append(bytes.Clone(fr), fr...))
	if bytes.Count(got, fr) < 2 {
		t.Fatalf("got %q", got)
	}
	old, _ := os.Readlink(link)
	s.Unplug()
	if _, err := os.Lstat(link); !os.IsNotExist(err) {
		t.Fatalf("link still there after unplug: %v", err)
	}
	buf := make([]byte, 64)
	f.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, err := f.Read(buf); err != nil {
			break // hung up
		}
	}
	if err := s.Replug(); err != nil {
		t.Fatal(err)
	}
	if now, err := os.Readlink(link); err != nil || now == "" {
		t.Fatalf("link after replug %q (was %q): %v", now, old, err)
	}
	f2 := openSlave(t, s.Path())
	readUntil(t, f2, fr)
}

func TestControlSocket(t *testing.T) {
	dir := t.TempDir()
	s, err := New(Options{Driver: DriverPN532, Link: filepath.Join(dir, "r")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sock := filepath.Join(dir, "c.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
	defer ccancel()
	for _, cmd := range []string{"tap 04:A1:B2:C3 1s", "present 04112233445566", "remove", "corrupt 2", "errorframe 1", "extended 1", "mute on", "mute off", "reset", "unplug", "replug"} {
		if _, err := Send(cctx, sock, cmd); err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
	}
	if st := s.Stats(); st.Plugs != 2 {
		t.Fatalf("plugs %d after replug", st.Plugs)
	}
	reply, err := Send(cctx, sock, "stats")
	if err != nil || !strings.Contains(reply, "plugs=2") {
		t.Fatalf("stats: %q %v", reply, err)
	}
	for _, bad := range []string{"tap 0102", "tap zz", "fly", "corrupt x", "mute maybe"} {
		if _, err := Send(cctx, sock, bad); !errors.Is(err, ErrCommand) {
			t.Fatalf("%q: %v, want ErrCommand", bad, err)
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Serve = %v", err)
	}
}
