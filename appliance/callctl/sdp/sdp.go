// Package sdp is the small subset of SDP (RFC 4566, offer/answer RFC 3264)
// the appliance needs to anchor a call: parse the first audio media
// description of an untrusted offer or answer (connection address, RTP port,
// payload formats with their rtpmap/fmtp, ptime), build offers and answers
// naming the appliance's own RTP address, and pick each leg's codec (PCMU,
// PCMA, opus/48000/2, telephone-event at 8000 or 48000 Hz; see negotiate.go).
//
// Parse never panics and bounds its input; it has a fuzz target.
package sdp

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// MaxSize is the largest SDP body Parse accepts.
const MaxSize = 16 << 10

// Errors returned by Parse.
var (
	ErrMalformed = errors.New("sdp: malformed")
	ErrNoAudio   = errors.New("sdp: no usable audio stream")
	ErrTooLarge  = errors.New("sdp: body too large")
)

// Format is one RTP payload format of a media description.
type Format struct {
	PT   uint8
	Name string // encoding name as written, e.g. "PCMU", "telephone-event"
	Rate int    // clock rate, e.g. 8000
	// Channels is the rtpmap's encoding parameter ("opus/48000/2"), 0 when
	// absent.
	Channels int
	Fmtp     string // format parameters ("0-16"), "" when none
}

// Is reports whether the format's encoding name is name (case-insensitive).
func (f Format) Is(name string) bool { return strings.EqualFold(f.Name, name) }

// Session is the audio part of an SDP body.
type Session struct {
	// Addr is the connection address for the audio stream (the media-level
	// c= line if any, else the session-level one) and the RTP port.
	Addr netip.AddrPort
	// Formats in the order of the m= line.
	Formats []Format
	// PTime in milliseconds, 0 when absent.
	PTime int
	// Direction is "sendrecv", "sendonly", "recvonly" or "inactive".
	Direction string
}

// Find returns the first format whose encoding name is name.
func (s *Session) Find(name string) (Format, bool) {
	for _, f := range s.Formats {
		if f.Is(name) {
			return f, true
		}
	}
	return Format{}, false
}

// staticFormats are the RFC 3551 static payload types Kinline knows.
var staticFormats = map[uint8]Format{
	0: {PT: 0, Name: "PCMU", Rate: 8000},
	8: {PT: 8, Name: "PCMA", Rate: 8000},
}

// Parse reads the first audio m= section of an SDP body. Port 0 (a
// rejected stream) and an unspecified address are reported as ErrNoAudio.
func Parse(b []byte) (*Session, error) {
	if len(b) > MaxSize {
		return nil, ErrTooLarge
	}
	p := &parser{port: -1, rtpmap: map[uint8]Format{}, fmtp: map[uint8]string{}, s: &Session{Direction: "sendrecv"}}
	for _, raw := range bytes.Split(b, []byte{'\n'}) {
		line := strings.TrimRight(string(raw), "\r")
		if line == "" {
			continue
		}
		if len(line) < 2 || line[1] != '=' {
			return nil, fmt.Errorf("%w: line %q", ErrMalformed, truncate(line))
		}
		if err := p.line(line[0], line[2:]); err != nil {
			return nil, err
		}
	}
	return p.session()
}

// parser is what Parse has read so far.
type parser struct {
	sessAddr, mediaAddr netip.Addr
	port                int
	pts                 []uint8
	inAudio, seenAudio  bool
	rtpmap              map[uint8]Format
	fmtp                map[uint8]string
	s                   *Session
	sawVersion          bool
}

// line takes one line of type typ and value val.
func (p *parser) line(typ byte, val string) error {
	switch typ {
	case 'v':
		p.sawVersion = true
	case 'm':
		return p.media(val)
	case 'c':
		addr, err := parseConn(val)
		if err != nil {
			return err
		}
		switch {
		case p.inAudio:
			p.mediaAddr = addr
		case !p.seenAudio:
			p.sessAddr = addr
		}
	case 'a':
		return p.attribute(val)
	}
	return nil
}

// media takes an m= line: the first audio RTP one is read, the others
// skipped with their attributes.
func (p *parser) media(val string) error {
	if p.seenAudio {
		p.inAudio = false
		return nil
	}
	fields := strings.Fields(val)
	if len(fields) < 3 || fields[0] != "audio" {
		p.inAudio = false
		return nil
	}
	port, err := strconv.ParseUint(strings.SplitN(fields[1], "/", 2)[0], 10, 16)
	if err != nil {
		return fmt.Errorf("%w: media port %q", ErrMalformed, truncate(fields[1]))
	}
	if !strings.HasPrefix(fields[2], "RTP/") {
		p.inAudio = false
		return nil
	}
	p.port = int(port)
	for _, f := range fields[3:] {
		pt, err := strconv.ParseUint(f, 10, 7)
		if err != nil {
			return fmt.Errorf("%w: payload type %q", ErrMalformed, truncate(f))
		}
		p.pts = append(p.pts, uint8(pt))
	}
	p.inAudio, p.seenAudio = true, true
	return nil
}

// attribute takes an a= line of the session or of the audio section.
func (p *parser) attribute(val string) error {
	if p.seenAudio && !p.inAudio {
		return nil
	}
	name, arg, _ := strings.Cut(val, ":")
	switch name {
	case "rtpmap":
		if !p.inAudio {
			return nil
		}
		f, err := parseRtpmap(arg)
		if err != nil {
			return err
		}
		p.rtpmap[f.PT] = f
	case "fmtp":
		if !p.inAudio {
			return nil
		}
		ptStr, params, ok := strings.Cut(arg, " ")
		pt, err := strconv.ParseUint(ptStr, 10, 7)
		if !ok || err != nil {
			return fmt.Errorf("%w: fmtp %q", ErrMalformed, truncate(arg))
		}
		p.fmtp[uint8(pt)] = strings.TrimSpace(params)
	case "ptime":
		pt, err := strconv.ParseUint(strings.TrimSpace(arg), 10, 16)
		if err != nil {
			return fmt.Errorf("%w: ptime %q", ErrMalformed, truncate(arg))
		}
		p.s.PTime = int(pt)
	case "sendrecv", "sendonly", "recvonly", "inactive":
		p.s.Direction = name
	}
	return nil
}

// parseRtpmap reads an rtpmap attribute's value ("111 opus/48000/2").
func parseRtpmap(arg string) (Format, error) {
	ptStr, enc, ok := strings.Cut(arg, " ")
	pt, err := strconv.ParseUint(ptStr, 10, 7)
	if !ok || err != nil {
		return Format{}, fmt.Errorf("%w: rtpmap %q", ErrMalformed, truncate(arg))
	}
	parts := strings.Split(strings.TrimSpace(enc), "/")
	rate := 0
	if len(parts) > 1 {
		r, err := strconv.ParseUint(parts[1], 10, 31)
		if err != nil {
			return Format{}, fmt.Errorf("%w: rtpmap rate %q", ErrMalformed, truncate(arg))
		}
		rate = int(r)
	}
	ch := 0
	if len(parts) > 2 {
		c, err := strconv.ParseUint(parts[2], 10, 8)
		if err != nil {
			return Format{}, fmt.Errorf("%w: rtpmap channels %q", ErrMalformed, truncate(arg))
		}
		ch = int(c)
	}
	return Format{PT: uint8(pt), Name: parts[0], Rate: rate, Channels: ch}, nil
}

// session is what was read, once every line is.
func (p *parser) session() (*Session, error) {
	if !p.sawVersion {
		return nil, fmt.Errorf("%w: no v= line", ErrMalformed)
	}
	if !p.seenAudio || p.port <= 0 {
		return nil, ErrNoAudio
	}
	addr := p.mediaAddr
	if !addr.IsValid() {
		addr = p.sessAddr
	}
	if !addr.IsValid() || addr.IsUnspecified() {
		return nil, fmt.Errorf("%w: no connection address", ErrNoAudio)
	}
	s := p.s
	s.Addr = netip.AddrPortFrom(addr, uint16(p.port))
	for _, pt := range p.pts {
		f, ok := p.rtpmap[pt]
		if !ok {
			f, ok = staticFormats[pt]
		}
		if !ok {
			f = Format{PT: pt}
		}
		f.Fmtp = p.fmtp[pt]
		s.Formats = append(s.Formats, f)
	}
	return s, nil
}

func parseConn(val string) (netip.Addr, error) {
	fields := strings.Fields(val)
	if len(fields) < 3 || fields[0] != "IN" || (fields[1] != "IP4" && fields[1] != "IP6") {
		return netip.Addr{}, fmt.Errorf("%w: connection %q", ErrMalformed, truncate(val))
	}
	host, _, _ := strings.Cut(fields[2], "/") // drop multicast TTL
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w: connection address %q", ErrMalformed, truncate(host))
	}
	return addr.Unmap(), nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// Description is what Build writes: one audio stream at Addr.
type Description struct {
	Addr      netip.AddrPort
	Formats   []Format
	PTime     int    // 0: omitted
	SessionID uint64 // o= session id and version
	Username  string // o= username, "kinline" when empty
}

// Build returns an SDP body for d, with CRLF line ends.
func Build(d Description) []byte {
	var b strings.Builder
	ipver := "IP4"
	if d.Addr.Addr().Is6() {
		ipver = "IP6"
	}
	user := d.Username
	if user == "" {
		user = "kinline"
	}
	host := d.Addr.Addr().String()
	fmt.Fprintf(&b, "v=0\r\no=%s %d %d IN %s %s\r\ns=kinline\r\nc=IN %s %s\r\nt=0 0\r\n",
		user, d.SessionID, d.SessionID, ipver, host, ipver, host)
	b.WriteString("m=audio ")
	b.WriteString(strconv.Itoa(int(d.Addr.Port())))
	b.WriteString(" RTP/AVP")
	for _, f := range d.Formats {
		b.WriteString(" ")
		b.WriteString(strconv.Itoa(int(f.PT)))
	}
	b.WriteString("\r\n")
	for _, f := range d.Formats {
		rate := f.Rate
		if rate == 0 {
			rate = 8000
		}
		if f.Channels > 0 {
			fmt.Fprintf(&b, "a=rtpmap:%d %s/%d/%d\r\n", f.PT, f.Name, rate, f.Channels)
		} else {
			fmt.Fprintf(&b, "a=rtpmap:%d %s/%d\r\n", f.PT, f.Name, rate)
		}
		if f.Fmtp != "" {
			fmt.Fprintf(&b, "a=fmtp:%d %s\r\n", f.PT, f.Fmtp)
		}
	}
	if d.PTime > 0 {
		fmt.Fprintf(&b, "a=ptime:%d\r\n", d.PTime)
	}
	b.WriteString("a=sendrecv\r\n")
	return []byte(b.String())
}

// Standard formats Kinline offers.
var (
	PCMU           = Format{PT: 0, Name: "PCMU", Rate: 8000}
	PCMA           = Format{PT: 8, Name: "PCMA", Rate: 8000}
	TelephoneEvent = Format{PT: 101, Name: "telephone-event", Rate: 8000, Fmtp: "0-16"}
	// Opus is RFC 7587's opus/48000/2 (the "2" is fixed by the RFC; the
	// stream may be mono).
	Opus = Format{PT: 111, Name: "opus", Rate: 48000, Channels: 2, Fmtp: "minptime=10;useinbandfec=1"}
	// TelephoneEvent48k is telephone-event at Opus's clock rate (RFC 4733
	// events must use the clock rate of the audio codec they accompany).
	TelephoneEvent48k = Format{PT: 110, Name: "telephone-event", Rate: 48000, Fmtp: "0-16"}
)
