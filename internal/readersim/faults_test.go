package readersim

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/kinline/kinline/appliance/cardreader/pn532/frame"
)

// TestPN532SimCorruptLengthAndClone: "corruptlen 1" sends the next
// response with a length byte that does not match its LCS and the resend
// on NACK intact; "clone on" answers a poll without a card at once.
func TestPN532SimCorruptLengthAndClone(t *testing.T) {
	s, err := New(Options{Driver: DriverPN532, Link: filepath.Join(t.TempDir(), "r")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f := openSlave(t, s.Path())
	sam, _ := frame.Command(0x14, 0x01)
	f.Write(append([]byte{0x55, 0x55, 0, 0, 0}, sam...))
	samResp, _ := frame.Encode(frame.TFIPN532, []byte{0x15})
	readUntil(t, f, samResp)

	if _, err := s.Exec("corruptlen 1"); err != nil {
		t.Fatal(err)
	}
	gfv, _ := frame.Command(0x02)
	f.Write(gfv)
	resp, _ := frame.Encode(frame.TFIPN532, []byte{0x03, 0x32, 0x01, 0x06, 0x07})
	bad := bytes.Clone(resp)
	bad[3] ^= 0x5A
	got := readUntil(t, f, bad)
	if bytes.Contains(got, resp) || bad[3]+bad[4] == 0 {
		t.Fatalf("got % X, want the response with a bad LEN", got)
	}
	f.Write(frame.NACK)
	readUntil(t, f, resp)

	if _, err := s.Exec("clone on"); err != nil {
		t.Fatal(err)
	}
	inlist, _ := frame.Command(0x4A, 0x01, 0x00)
	noTarget, _ := frame.Encode(frame.TFIPN532, []byte{0x4B, 0x00})
	f.Write(inlist)
	readUntil(t, f, noTarget)
	if _, err := s.Exec("clone maybe"); err == nil {
		t.Fatal("clone maybe accepted")
	}
}
