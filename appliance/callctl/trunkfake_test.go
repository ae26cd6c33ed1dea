package callctl_test

import (
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// rawTrunk is a scripted SIP trunk on a UDP socket: it answers nothing by
// itself; the test reads what arrives (Next) and sends what it chooses
// (Reply, Send). It stands for a trunk that is dead, stalls, or answers
// in an order a real UA would not choose on its own.
type rawTrunk struct {
	t     *testing.T
	conn  net.PacketConn
	media net.PacketConn // where its SDP answers point; drained
	msgs  chan rawMsg

	mu   sync.Mutex
	from net.Addr // where the appliance sends from
}

type rawMsg struct {
	req *sip.Request
	at  time.Time
}

func newRawTrunk(t *testing.T) *rawTrunk {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	media, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &rawTrunk{t: t, conn: conn, media: media, msgs: make(chan rawMsg, 256)}
	t.Cleanup(func() { conn.Close(); media.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := media.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	go func() {
		buf := make([]byte, 65535)
		parser := sip.NewParser()
		for {
			n, addr, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			msg, err := parser.ParseSIP(append([]byte(nil), buf[:n]...))
			if err != nil {
				continue
			}
			req, ok := msg.(*sip.Request)
			if !ok {
				continue
			}
			r.mu.Lock()
			r.from = addr
			r.mu.Unlock()
			select {
			case r.msgs <- rawMsg{req: req, at: time.Now()}:
			default:
			}
		}
	}()
	return r
}

func (r *rawTrunk) Addr() string { return r.conn.LocalAddr().String() }

// Next waits (generously) for the next request with method m, skipping
// others (OPTIONS keep-alives, retransmissions of other methods).
func (r *rawTrunk) Next(m sip.RequestMethod) rawMsg {
	r.t.Helper()
	deadline := time.After(waitLong)
	for {
		select {
		case msg := <-r.msgs:
			if msg.req.Method == m {
				return msg
			}
		case <-deadline:
			r.t.Fatalf("raw trunk: no %s arrived", m)
			return rawMsg{}
		}
	}
}

// Drain returns the requests received so far, without waiting.
func (r *rawTrunk) Drain() []*sip.Request {
	var out []*sip.Request
	for {
		select {
		case msg := <-r.msgs:
			out = append(out, msg.req)
		default:
			return out
		}
	}
}

// Reply answers req with code (a To-tag for every answer but 100).
func (r *rawTrunk) Reply(req *sip.Request, code int, reason string, body []byte) {
	r.t.Helper()
	res := sip.NewResponseFromRequest(req, code, reason, body)
	if code != 100 {
		if to := res.To(); to != nil && !to.Params.Has("tag") {
			to.Params.Add("tag", "rawtrunk"+strings.ReplaceAll(req.CallID().Value(), "-", "")[:8])
		}
		res.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "family", Host: "127.0.0.1", Port: r.conn.LocalAddr().(*net.UDPAddr).Port}})
	}
	if body != nil {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	r.send(res.String())
}

func (r *rawTrunk) send(s string) {
	r.t.Helper()
	r.mu.Lock()
	to := r.from
	r.mu.Unlock()
	if _, err := r.conn.WriteTo([]byte(s), to); err != nil {
		r.t.Fatalf("raw trunk: send: %v", err)
	}
}

// SDP is an answer with PCMU on the trunk's media socket (drained:
// signalling is what these tests look at).
func (r *rawTrunk) SDP() []byte {
	port := r.media.LocalAddr().(*net.UDPAddr).Port
	return []byte("v=0\r\no=raw 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio " + strconv.Itoa(port) + " RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n")
}
