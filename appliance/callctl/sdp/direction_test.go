package sdp

import (
	"net/netip"
	"strings"
	"testing"
)

func TestAnswerDirection(t *testing.T) {
	for offer, want := range map[string]string{"sendonly": "recvonly", "recvonly": "sendonly", "inactive": "inactive", "sendrecv": "sendrecv", "": "sendrecv"} {
		if got := AnswerDirection(offer); got != want {
			t.Errorf("AnswerDirection(%q) = %q, want %q", offer, got, want)
		}
	}
}

// TestRedirect: hold (recvonly) and back (sendrecv), each a new o=
// version; the same direction again leaves the body as it was; every
// result still parses with the direction it says.
func TestRedirect(t *testing.T) {
	body := Build(Description{Addr: netip.MustParseAddrPort("192.0.2.1:4000"), Formats: []Format{PCMU, TelephoneEvent}, PTime: 20, SessionID: 7})
	if same, changed := Redirect(body, "sendrecv"); changed || string(same) != string(body) {
		t.Fatalf("sendrecv to sendrecv changed the body:\n%s", same)
	}
	held, changed := Redirect(body, "recvonly")
	if !changed || !strings.Contains(string(held), "o=kinline 7 8 IN IP4 192.0.2.1\r\n") || !strings.Contains(string(held), "a=recvonly\r\n") || strings.Contains(string(held), "a=sendrecv") {
		t.Fatalf("held:\n%s", held)
	}
	s, err := Parse(held)
	if err != nil || s.Direction != "recvonly" || len(s.Formats) != 2 {
		t.Fatalf("held body parses as %+v, %v", s, err)
	}
	back, changed := Redirect(held, "sendrecv")
	if !changed || !strings.Contains(string(back), "o=kinline 7 9 ") || !strings.Contains(string(back), "a=sendrecv\r\n") {
		t.Fatalf("resumed:\n%s", back)
	}
}
