package sipvia

import (
	"os"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

func TestNormalize(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1", ""}, // canonical: untouched
		{"SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1", "SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1"},
		{"SIP  /   2.0 /UDP    192.0.2.2;branch=390skdjuw", "SIP/2.0/UDP 192.0.2.2;branch=390skdjuw"},
		{"SIP  / 2.0  / UDP     host.example.com   ;  branch  =   z9hG4bK9ikj8  , SIP  /    2.0   / UDP  192.168.255.111   ; branch= z9hG4bK30239",
			"SIP/2.0/UDP host.example.com;branch=z9hG4bK9ikj8,SIP/2.0/UDP 192.168.255.111;branch=z9hG4bK30239"},
		{"SIP/2.0/UDP\thost : 5060 ;received = 10.0.0.1", "SIP/2.0/UDP host:5060;received=10.0.0.1"},
		{`SIP/2.0/UDP h;x="a  ;  b"`, ""},
		{`SIP/2.0/UDP h ; x = "a  ;  b"`, `SIP/2.0/UDP h;x="a  ;  b"`},
		{"SIP/2.0/UDP [ ::1 ] ; branch=z", "SIP/2.0/UDP [ ::1 ];branch=z"},
		{`SIP/2.0/UDP h;x="unterminated  `, `SIP/2.0/UDP h;x="unterminated  `},
		{"  ", ""},
	} {
		got, orig := Normalize(tc.in)
		want := tc.want
		if want == "" {
			want = tc.in
			if strings.TrimSpace(tc.in) == "" {
				want = ""
			}
		}
		if got != want {
			t.Errorf("Normalize(%q) = %q, want %q", tc.in, got, want)
		}
		if tc.want == "" && orig != nil && strings.TrimSpace(tc.in) != "" {
			t.Errorf("Normalize(%q): rewrote a canonical value", tc.in)
		}
		checkOrig(t, tc.in, got, orig)
	}
}

// checkOrig checks the offsets Normalize gives back: increasing, and each
// pointing at the same byte (or, for an emitted space, at whitespace).
func checkOrig(t *testing.T, in, norm string, orig []int) {
	t.Helper()
	if orig == nil {
		return
	}
	if len(orig) != len(norm) {
		t.Fatalf("%q: %d offsets for %d bytes", in, len(orig), len(norm))
	}
	for i, o := range orig {
		if o < 0 || o >= len(in) || (i > 0 && o <= orig[i-1]) {
			t.Fatalf("%q: offset %d of byte %d out of order or range", in, o, i)
		}
		if in[o] != norm[i] && !(norm[i] == ' ' && isSpace(in[o])) {
			t.Fatalf("%q: byte %d %q maps to %q", in, i, norm[i], in[o])
		}
	}
}

func TestNormalizeNameAddr(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`"Bob" <sip:bob@example.com>;tag=a1`, `"Bob" <sip:bob@example.com>;tag=a1`},
		{`Bob  Smith   <sip:bob@example.com> ;  tag = a1 ; x`, `Bob  Smith   <sip:bob@example.com>;tag=a1;x`},
		{`"J Rosenberg \\\""       <sip:jdrosen@example.com> ; tag = 98asjd8`, `"J Rosenberg \\\""       <sip:jdrosen@example.com>;tag=98asjd8`},
		{`"a > b" <sip:x@y> ;tag = 1`, `"a > b" <sip:x@y>;tag=1`},
		{`sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n`, `sip:vivekg@chair-dnrc.example.com;tag=1918181833n`},
		{`<sip:x@y`, `<sip:x@y`},
	} {
		got, orig := NormalizeNameAddr(tc.in)
		if got != tc.want {
			t.Errorf("NormalizeNameAddr(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if got == tc.in && orig != nil {
			t.Errorf("NormalizeNameAddr(%q): offsets for an unchanged value", tc.in)
		}
		checkOrig(t, tc.in, got, orig)
	}
}

// TestCanonicalViaNotAllocated checks the fast path real peers take.
func TestCanonicalViaNotAllocated(t *testing.T) {
	v := "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;rport"
	if n := testing.AllocsPerRun(100, func() { Normalize(v) }); n != 0 {
		t.Fatalf("%v allocations for a canonical Via", n)
	}
}

// TestWsinvVias parses RFC 4475's wsinv message (3.1.1.4) with the
// tolerant parser: both values of its compact "v:" header and its "Via"
// come out whole, where sipgo's default parser loses the transport and
// the second value.
func TestWsinvVias(t *testing.T) {
	raw, err := os.ReadFile("../testdata/torture/rfc4475-wsinv.sip")
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte(strings.ReplaceAll(string(raw), "{{LOCAL}}", "192.0.2.9:5060"))
	m, err := NewParser().ParseSIP(msg)
	if err != nil {
		t.Fatalf("tolerant parser: %v", err)
	}
	var got []string
	for _, h := range m.GetHeaders("Via") {
		v := h.(*sip.ViaHeader)
		got = append(got, v.ProtocolName+"/"+v.ProtocolVersion+"/"+v.Transport+" "+v.Host+" "+v.Params.String())
	}
	want := []string{
		"SIP/2.0/UDP 192.0.2.9 branch=390skdjuw",
		"SIP/2.0/UDP spindle.example.com branch=z9hG4bK9ikj8",
		"SIP/2.0/UDP 192.168.255.111 branch=z9hG4bK30239",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("Vias:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The tags the transaction layer keys RFC 2543-style requests on.
	if tag, _ := m.From().Params.Get("tag"); tag != "98asjd8" {
		t.Errorf("From tag %q, want 98asjd8 (From: %s)", tag, m.From().Value())
	}
	if tag, _ := m.To().Params.Get("tag"); tag != "1918181833n" {
		t.Errorf("To tag %q, want 1918181833n (To: %s)", tag, m.To().Value())
	}
	if m.From().DisplayName != `J Rosenberg \\\"` {
		t.Errorf("From display name %q", m.From().DisplayName)
	}
	// The default parser does not manage it (if a sipgo upgrade does,
	// this package can go).
	if d, err := sip.NewParser().ParseSIP(msg); err == nil && len(d.GetHeaders("Via")) == 3 && d.GetHeaders("Via")[1].(*sip.ViaHeader).Transport == "UDP" {
		t.Log("sipgo's own parser now reads wsinv's Vias: sipvia may no longer be needed")
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{
		"SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1",
		"SIP  / 2.0  / UDP     h   ;  branch  =   z  , SIP / 2.0 / UDP h2 ; branch= y",
		`SIP/2.0/UDP h ; x = "a \" ;  b"`,
		"SIP/2.0/UDP [ ::1 ]:5060",
		"\t,;=/: [\"",
	} {
		f.Add(s)
	}
	p, pf := Parsers()["via"], Parsers()["from"]
	f.Fuzz(func(t *testing.T, in string) {
		na, naOrig := NormalizeNameAddr(in)
		if naOrig == nil && na != in {
			t.Fatalf("nil offsets but %q rewritten to %q", in, na)
		}
		checkOrig(t, in, na, naOrig)
		_, _ = pf([]byte("from"), in)
		norm, orig := Normalize(in)
		if orig == nil && norm != in {
			t.Fatalf("nil offsets but %q rewritten to %q", in, norm)
		}
		checkOrig(t, in, norm, orig)
		if again, o2 := Normalize(norm); o2 != nil && again != norm {
			t.Fatalf("not idempotent: %q -> %q -> %q", in, norm, again)
		}
		// Through sipgo's header loop, as the parser runs it.
		var hs []sip.Header
		_, _ = sip.HeadersParser(Parsers()).ParseHeader(hs, []byte("Via: "+in))
		_, _ = p([]byte("via"), in)
	})
}
