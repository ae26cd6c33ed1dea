package sdp

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

const iadOffer = "v=0\r\n" +
	"o=iad 123 456 IN IP4 10.0.0.5\r\n" +
	"s=call\r\n" +
	"c=IN IP4 10.0.0.5\r\n" +
	"t=0 0\r\n" +
	"m=audio 5004 RTP/AVP 8 0 18 101\r\n" +
	"a=rtpmap:8 PCMA/8000\r\n" +
	"a=rtpmap:18 G729/8000\r\n" +
	"a=rtpmap:101 telephone-event/8000\r\n" +
	"a=fmtp:101 0-15\r\n" +
	"a=ptime:20\r\n" +
	"a=sendrecv\r\n"

func TestParseIADOffer(t *testing.T) {
	s, err := Parse([]byte(iadOffer))
	if err != nil {
		t.Fatal(err)
	}
	if s.Addr != netip.MustParseAddrPort("10.0.0.5:5004") || s.PTime != 20 || s.Direction != "sendrecv" {
		t.Fatalf("session = %+v", s)
	}
	want := []Format{
		{PT: 8, Name: "PCMA", Rate: 8000},
		{PT: 0, Name: "PCMU", Rate: 8000}, // static, no rtpmap
		{PT: 18, Name: "G729", Rate: 8000},
		{PT: 101, Name: "telephone-event", Rate: 8000, Fmtp: "0-15"},
	}
	if len(s.Formats) != len(want) {
		t.Fatalf("formats = %+v", s.Formats)
	}
	for i := range want {
		if s.Formats[i] != want[i] {
			t.Errorf("format %d = %+v, want %+v", i, s.Formats[i], want[i])
		}
	}
	if te, ok := s.Find("TELEPHONE-EVENT"); !ok || te.PT != 101 {
		t.Errorf("Find telephone-event = %+v %v", te, ok)
	}
}

func TestMediaLevelConnectionWins(t *testing.T) {
	body := "v=0\no=- 1 1 IN IP4 1.1.1.1\ns=-\nc=IN IP4 1.1.1.1\nt=0 0\n" +
		"m=video 6000 RTP/AVP 96\nc=IN IP4 3.3.3.3\n" +
		"m=audio 7000 RTP/AVP 0\nc=IN IP4 2.2.2.2\na=recvonly\n"
	s, err := Parse([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if s.Addr != netip.MustParseAddrPort("2.2.2.2:7000") || s.Direction != "recvonly" {
		t.Fatalf("session = %+v", s)
	}
}

func TestParseErrors(t *testing.T) {
	cases := map[string]struct {
		body string
		want error
	}{
		"empty":        {"", ErrMalformed},
		"no audio":     {"v=0\r\nc=IN IP4 1.2.3.4\r\nm=video 5 RTP/AVP 96\r\n", ErrNoAudio},
		"port zero":    {"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 0 RTP/AVP 0\r\n", ErrNoAudio},
		"no conn":      {"v=0\r\nm=audio 5 RTP/AVP 0\r\n", ErrNoAudio},
		"zero addr":    {"v=0\r\nc=IN IP4 0.0.0.0\r\nm=audio 5 RTP/AVP 0\r\n", ErrNoAudio},
		"bad line":     {"v=0\r\nhello\r\n", ErrMalformed},
		"bad port":     {"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 99999 RTP/AVP 0\r\n", ErrMalformed},
		"bad pt":       {"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 5 RTP/AVP 300\r\n", ErrMalformed},
		"bad addr":     {"v=0\r\nc=IN IP4 host.example\r\nm=audio 5 RTP/AVP 0\r\n", ErrMalformed},
		"bad rtpmap":   {"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 5 RTP/AVP 0\r\na=rtpmap:x PCMU/8000\r\n", ErrMalformed},
		"too large":    {"v=0\r\n" + strings.Repeat("a=x\r\n", MaxSize/5+1), ErrTooLarge},
		"no version":   {"c=IN IP4 1.2.3.4\r\nm=audio 5 RTP/AVP 0\r\n", ErrMalformed},
		"rtp required": {"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 5 UDP/BFCP 0\r\n", ErrNoAudio},
	}
	for name, tc := range cases {
		if _, err := Parse([]byte(tc.body)); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", name, err, tc.want)
		}
	}
}

func TestBuildRoundTrip(t *testing.T) {
	d := Description{Addr: netip.MustParseAddrPort("192.0.2.7:20000"), Formats: []Format{PCMA, PCMU, TelephoneEvent}, PTime: 20, SessionID: 42}
	b := Build(d)
	if !bytes.HasPrefix(b, []byte("v=0\r\n")) || !bytes.Contains(b, []byte("m=audio 20000 RTP/AVP 8 0 101\r\n")) || !bytes.Contains(b, []byte("a=fmtp:101 0-16\r\n")) {
		t.Fatalf("built:\n%s", b)
	}
	s, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if s.Addr != d.Addr || s.PTime != 20 || len(s.Formats) != 3 || s.Formats[0] != PCMA || s.Formats[2] != TelephoneEvent {
		t.Fatalf("round trip = %+v", s)
	}
	d.Addr = netip.MustParseAddrPort("[2001:db8::1]:4000")
	if s, err := Parse(Build(d)); err != nil || s.Addr != d.Addr {
		t.Fatalf("IPv6 round trip = %+v, %v", s, err)
	}
}

// FuzzParse: Parse never panics, and whatever it accepts survives a
// Build/Parse round trip with the same address and formats.
func FuzzParse(f *testing.F) {
	f.Add([]byte(iadOffer))
	f.Add(Build(Description{Addr: netip.MustParseAddrPort("127.0.0.1:4000"), Formats: []Format{PCMU, TelephoneEvent}}))
	f.Add([]byte(opusOffer))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Parse(b)
		if err != nil {
			return
		}
		if !s.Addr.IsValid() || s.Addr.Port() == 0 {
			t.Fatalf("accepted without address: %+v", s)
		}
		formats := make([]Format, 0, len(s.Formats))
		for _, f := range s.Formats {
			if f.Name == "" || strings.ContainsAny(f.Name+f.Fmtp, "\r\n") || strings.ContainsAny(f.Name, " /") {
				continue
			}
			formats = append(formats, f)
		}
		checkNegotiation(t, s)
		s2, err := Parse(Build(Description{Addr: s.Addr, Formats: formats}))
		if err != nil {
			t.Fatalf("rebuilt body rejected: %v", err)
		}
		if s2.Addr != s.Addr || len(s2.Formats) != len(formats) {
			t.Fatalf("round trip changed %+v into %+v", s, s2)
		}
	})
}
