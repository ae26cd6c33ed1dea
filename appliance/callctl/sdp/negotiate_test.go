package sdp

import (
	"errors"
	"net/netip"
	"testing"
)

const opusOffer = "v=0\r\n" +
	"o=phone 1 1 IN IP4 10.0.0.9\r\n" +
	"s=-\r\n" +
	"c=IN IP4 10.0.0.9\r\n" +
	"t=0 0\r\n" +
	"m=audio 7000 RTP/AVP 96 0 8 97 101\r\n" +
	"a=rtpmap:96 opus/48000/2\r\n" +
	"a=fmtp:96 useinbandfec=1\r\n" +
	"a=rtpmap:97 telephone-event/48000\r\n" +
	"a=rtpmap:101 telephone-event/8000\r\n" +
	"a=fmtp:101 0-16\r\n"

func session(formats ...Format) *Session {
	return &Session{Addr: netip.MustParseAddrPort("10.0.0.1:4000"), Formats: formats}
}

// checkNegotiation asserts the negotiation invariants on any parsed
// session (used by FuzzParse too).
func checkNegotiation(t *testing.T, s *Session) {
	t.Helper()
	if CheckOffer(s) != nil {
		if len(TrunkOffer(s)) != 0 {
			t.Fatalf("unusable offer but trunk offer %v", TrunkOffer(s))
		}
		return
	}
	offer := TrunkOffer(s)
	a, b, err := Bridge(s, session(offer...))
	if err != nil {
		t.Fatalf("trunk accepting our whole offer: %v", err)
	}
	for _, c := range []Choice{a, b} {
		if c.Codec.Kind() == KindNone || (c.HasEvent && (c.Event.Rate != c.Codec.Rate || !c.Event.Is("telephone-event"))) {
			t.Fatalf("bad choice %+v", c)
		}
	}
	if (a.Codec.Kind() == KindOpus) != (b.Codec.Kind() == KindOpus) {
		t.Fatalf("Opus bridged to G.711: %v / %v", a.Codec, b.Codec)
	}
	// Leg A answers with the port's own payload type.
	found := false
	for _, f := range s.Formats {
		found = found || f == a.Codec
	}
	if !found {
		t.Fatalf("leg A codec %v not from the port's offer", a.Codec)
	}
}

func TestOpusOfferParsed(t *testing.T) {
	s, err := Parse([]byte(opusOffer))
	if err != nil {
		t.Fatal(err)
	}
	if f := s.Formats[0]; f.Kind() != KindOpus || f.PT != 96 || f.Channels != 2 || f.Fmtp != "useinbandfec=1" {
		t.Fatalf("opus format %+v", f)
	}
	ev, ok := event(s.Formats, 48000)
	if !ok || ev.PT != 97 {
		t.Fatalf("48 kHz event %+v", ev)
	}
	// Build writes opus/48000/2 back.
	again, err := Parse(Build(Description{Addr: s.Addr, Formats: []Format{Opus, TelephoneEvent48k}}))
	if err != nil || again.Formats[0] != Opus || again.Formats[1] != TelephoneEvent48k {
		t.Fatalf("round trip %+v %v", again, err)
	}
}

func TestTrunkOffer(t *testing.T) {
	s, _ := Parse([]byte(opusOffer))
	got := TrunkOffer(s)
	want := []Format{Opus, PCMU, PCMA, TelephoneEvent, TelephoneEvent48k}
	if len(got) != len(want) {
		t.Fatalf("TrunkOffer = %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("TrunkOffer[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	got = TrunkOffer(session(PCMA, Format{PT: 96, Name: "telephone-event", Rate: 8000}))
	if len(got) != 3 || got[0] != PCMA || got[1] != PCMU || got[2] != TelephoneEvent {
		t.Fatalf("G.711-only port: %v", got)
	}
	// No events from the port: none offered to the trunk either.
	if got = TrunkOffer(session(PCMU)); len(got) != 2 || got[0] != PCMU || got[1] != PCMA {
		t.Fatalf("port without telephone-event: %v", got)
	}
}

func TestBridge(t *testing.T) {
	portOpus := Format{PT: 96, Name: "opus", Rate: 48000, Channels: 2}
	portEv48 := Format{PT: 97, Name: "telephone-event", Rate: 48000}
	portPCMA := Format{PT: 8, Name: "PCMA", Rate: 8000}
	cases := []struct {
		name         string
		port, trunk  []Format
		wantA, wantB Kind
		err          bool
	}{
		{"same law", []Format{PCMU}, []Format{PCMU}, KindPCMU, KindPCMU, false},
		{"laws differ: converted", []Format{portPCMA}, []Format{PCMU, TelephoneEvent}, KindPCMA, KindPCMU, false},
		{"opus both", []Format{portOpus, portEv48, PCMU}, []Format{Opus, TelephoneEvent48k}, KindOpus, KindOpus, false},
		{"trunk opus, port G.711 only, trunk also lists G.711", []Format{PCMU}, []Format{Opus, PCMA}, KindPCMU, KindPCMA, false},
		{"trunk opus only, port G.711 only", []Format{PCMU}, []Format{Opus}, 0, 0, true},
		{"trunk G.711, port opus only", []Format{portOpus}, []Format{PCMU}, 0, 0, true},
		{"trunk G.711, port opus first but can G.711", []Format{portOpus, portPCMA}, []Format{PCMU}, KindPCMA, KindPCMU, false},
		{"trunk answers nothing usable", []Format{PCMU}, []Format{{PT: 18, Name: "G729", Rate: 8000}}, 0, 0, true},
	}
	for _, c := range cases {
		a, b, err := Bridge(session(c.port...), session(c.trunk...))
		if c.err {
			if !errors.Is(err, ErrIncompatible) {
				t.Errorf("%s: err %v, want ErrIncompatible", c.name, err)
			}
			continue
		}
		if err != nil || a.Codec.Kind() != c.wantA || b.Codec.Kind() != c.wantB {
			t.Errorf("%s: A=%v B=%v err=%v", c.name, a.Codec, b.Codec, err)
		}
	}
	// Events follow the codec's clock rate on each leg.
	a, b, _ := Bridge(session(portOpus, portEv48, PCMU, TelephoneEvent), session(Opus, TelephoneEvent48k, TelephoneEvent))
	if !a.HasEvent || a.Event != portEv48 || !b.HasEvent || b.Event != TelephoneEvent48k {
		t.Fatalf("events: A %+v B %+v", a, b)
	}
	if f := a.Formats(); len(f) != 2 || f[0] != portOpus {
		t.Fatalf("answer formats %v", f)
	}
}

func TestAnswerAndCheck(t *testing.T) {
	s, _ := Parse([]byte(opusOffer))
	c, err := Answer(s, Format.IsG711)
	if err != nil || c.Codec.Kind() != KindPCMU || c.Event.PT != 101 {
		t.Fatalf("G.711 answer %+v %v", c, err)
	}
	if c, err := Answer(s, nil); err != nil || c.Codec.Kind() != KindOpus || c.Event.PT != 97 {
		t.Fatalf("any answer %+v %v", c, err)
	}
	if err := CheckOffer(session(Format{PT: 18, Name: "G729", Rate: 8000})); !errors.Is(err, ErrIncompatible) {
		t.Fatalf("G729-only: %v", err)
	}
	if _, err := Answer(session(Opus), Format.IsG711); !errors.Is(err, ErrIncompatible) {
		t.Fatalf("opus-only for a G.711 prompt: %v", err)
	}
	if (Format{Name: "opus", Rate: 48000, Channels: 1}).Kind() != KindNone {
		t.Fatal("opus/48000/1 violates RFC 7587 and must not be used")
	}
}
