package callctl_test

import (
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/kinline/kinline/appliance/callctl"
	"github.com/kinline/kinline/appliance/callctl/callctltest"
	"github.com/kinline/kinline/appliance/media"
)

// TestHoldStopsMediaToPort: while the port (raw UDP) holds the call
// (re-INVITE a=sendonly, answered a=recvonly) nothing the family (a raw
// UDP trunk) sends is relayed to it; after it resumes (a=sendrecv) the
// family is heard again.
func TestHoldStopsMediaToPort(t *testing.T) {
	mgr, err := media.NewManager(media.Config{RecordDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var sess atomic.Pointer[media.Session]
	mf := func(id string, record bool) (callctl.MediaSession, error) {
		s, err := mgr.NewSession(id, record)
		if err == nil {
			sess.Store(s)
		}
		return s, err
	}
	listen := func() *net.UDPConn {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	tSig, tRTP, pRTP := listen(), listen(), listen()
	e := start(t, opts{media: mf, cfg: func(c *callctl.Config) { c.Trunk.Address = tSig.LocalAddr().String() }})
	addr := e.srv.Addr().String()

	// The family answers at once and answers any BYE.
	legB := make(chan *net.UDPAddr, 1)
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := tSig.ReadFromUDP(buf)
			if err != nil {
				return
			}
			req := string(buf[:n])
			switch {
			case strings.HasPrefix(req, "INVITE "):
				_, body, _ := strings.Cut(req, "\r\n\r\n")
				if a, err := sdpMedia(body); err == nil {
					legB <- a
				}
				sdpBody := fmt.Sprintf("v=0\r\no=fam 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n", tRTP.LocalAddr().(*net.UDPAddr).Port)
				_, _ = tSig.WriteToUDP([]byte(rawAnswer(req, "200 OK", "fam", "Contact: <sip:family@"+tSig.LocalAddr().String()+">\r\nContent-Type: application/sdp\r\n", sdpBody)), from)
			case strings.HasPrefix(req, "BYE "):
				_, _ = tSig.WriteToUDP([]byte(rawAnswer(req, "200 OK", "fam", "", "")), from)
			}
		}
	}()

	pSig, err := net.Dial("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer pSig.Close()
	local := pSig.LocalAddr().String()
	nonce := tortureNonce(t, addr)
	offer := func(dir string, version int) string {
		return fmt.Sprintf("v=0\r\no=- 1 %d IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\na=%s\r\n", version, pRTP.LocalAddr().(*net.UDPAddr).Port, dir)
	}
	res, _, err := sendDatagram(pSig, []byte(rawInvite(local, addr, "hold-media", proxyAuth("INVITE", "sip:0123456789@"+addr, nonce)+"\r\n", offer("sendrecv", 1))), waitLong)
	if err != nil || !strings.HasPrefix(res, "SIP/2.0 200 ") {
		t.Fatalf("call: %q %v", firstLine(res), err)
	}
	contact := strings.Trim(sipHeader(res, "Contact"), "<>")
	to := sipHeader(res, "To")
	inDialog := func(method string, cseq int, body string) string {
		ct := ""
		if body != "" {
			ct = "Contact: <sip:" + portUser + "@" + local + ">\r\nContent-Type: application/sdp\r\n"
		}
		return fmt.Sprintf("%s %s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-hold-%s-%d\r\nMax-Forwards: 70\r\nFrom: <sip:%s@%s>;tag=abc\r\nTo: %s\r\nCall-ID: hold-media\r\nCSeq: %d %s\r\n%sContent-Length: %d\r\n\r\n%s",
			method, contact, local, method, cseq, portUser, addr, to, cseq, method, ct, len(body), body)
	}
	send := func(msg string) {
		if _, err := pSig.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	send(inDialog("ACK", 1, ""))
	reinvite := func(cseq int, dir, want string) {
		t.Helper()
		res, _, err := sendDatagram(pSig, []byte(inDialog("INVITE", cseq, offer(dir, cseq))), waitLong)
		if err != nil || !strings.HasPrefix(res, "SIP/2.0 200 ") || !strings.Contains(res, "a="+want+"\r\n") {
			t.Fatalf("re-INVITE %s: %q %v, want 200 with a=%s", dir, firstLine(res), err, want)
		}
		send(inDialog("ACK", cseq, ""))
	}

	var b *net.UDPAddr
	select {
	case b = <-legB:
	case <-time.After(waitLong):
		t.Fatal("the trunk got no INVITE")
	}
	family := func(seq uint16) {
		p, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: 0xfa}, Payload: make([]byte, 160)}).Marshal()
		if _, err := tRTP.WriteToUDP(p, b); err != nil {
			t.Fatal(err)
		}
	}
	// heard reads the port's RTP until seq arrives, returning every
	// sequence number received on the way.
	heard := func(seq uint16) []uint16 {
		t.Helper()
		var got []uint16
		buf := make([]byte, 2048)
		for {
			_ = pRTP.SetReadDeadline(time.Now().Add(waitLong))
			n, err := pRTP.Read(buf)
			if err != nil {
				t.Fatalf("the port never heard packet %d (heard %v): %v", seq, got, err)
			}
			var p rtp.Packet
			if p.Unmarshal(buf[:n]) != nil {
				continue
			}
			got = append(got, p.SequenceNumber)
			if p.SequenceNumber == seq {
				return got
			}
		}
	}

	family(1)
	heard(1) // bridged: the family is heard

	reinvite(2, "sendonly", "recvonly")
	for seq := uint16(10); seq < 20; seq++ {
		family(seq)
	}
	// Every held packet has reached the appliance before the resume.
	if !callctltest.WaitFor(waitLong, func() bool { s := sess.Load(); return s != nil && s.Stats(media.LegB).Packets >= 11 }) {
		t.Fatal("the family's packets never reached the appliance")
	}
	reinvite(3, "sendrecv", "sendrecv")
	family(30)
	for _, seq := range heard(30) {
		if seq >= 10 && seq < 20 {
			t.Errorf("packet %d, sent while the port held the call, was relayed to it", seq)
		}
	}
	if res, _, err := sendDatagram(pSig, []byte(inDialog("BYE", 4, "")), waitLong); err != nil || !strings.HasPrefix(res, "SIP/2.0 200") {
		t.Fatalf("BYE: %q %v", firstLine(res), err)
	}
}
