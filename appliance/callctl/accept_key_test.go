package callctl_test

import (
	"encoding/binary"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/kinline/kinline/appliance/callctl"
)

// sipHeader returns the first value of header name in msg ("" if none).
func sipHeader(msg, name string) string {
	for _, l := range strings.Split(msg, "\r\n") {
		if n, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(strings.TrimSpace(n), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// rawAnswer is a response to req (a raw request) echoing its Vias, From,
// To (with toTag added if it has none), Call-ID and CSeq.
func rawAnswer(req, status, toTag, extra, body string) string {
	var b strings.Builder
	b.WriteString("SIP/2.0 " + status + "\r\n")
	for _, l := range strings.Split(req, "\r\n") {
		n, _, _ := strings.Cut(l, ":")
		switch strings.ToLower(strings.TrimSpace(n)) {
		case "via", "from", "call-id", "cseq":
			b.WriteString(l + "\r\n")
		case "to":
			if !strings.Contains(l, "tag=") {
				l += ";tag=" + toTag
			}
			b.WriteString(l + "\r\n")
		}
	}
	b.WriteString(extra)
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	return b.String()
}

// sdpMedia is the c= address and m=audio port of an SDP body.
func sdpMedia(body string) (*net.UDPAddr, error) {
	c := regexp.MustCompile(`c=IN IP4 ([0-9.]+)`).FindStringSubmatch(body)
	m := regexp.MustCompile(`m=audio ([0-9]+) `).FindStringSubmatch(body)
	if c == nil || m == nil {
		return nil, fmt.Errorf("no media address in %q", body)
	}
	port, _ := strconv.Atoi(m[1])
	return &net.UDPAddr{IP: net.ParseIP(c[1]), Port: port}, nil
}

// eventPacket is an RFC 4733 telephone-event packet for key 1.
func eventPacket(seq uint16, ts, ssrc uint32, end bool, duration uint16) []byte {
	p := []byte{1, 10, 0, 0}
	if end {
		p[1] |= 0x80
	}
	binary.BigEndian.PutUint16(p[2:], duration)
	b, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, SequenceNumber: seq, Timestamp: ts, SSRC: ssrc, Marker: duration == 160}, Payload: p}).Marshal()
	return b
}

// TestAcceptKeyNotRelayedToPort: the called party (a raw UDP trunk)
// accepts with "1" as an RFC 4733 event whose packets go on after the
// appliance has taken the key and bridged the call (the event lasts as
// long as the key is held, then three end packets). None of those
// packets may reach the prisoner's phone (a raw UDP port): only what the
// family sends after the key does.
func TestAcceptKeyNotRelayedToPort(t *testing.T) {
	_, mf := realMedia(t)
	tSig, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer tSig.Close()
	tRTP, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer tRTP.Close()
	e := start(t, opts{media: mf, cfg: func(c *callctl.Config) {
		acceptCfg(c)
		c.Trunk.Address = tSig.LocalAddr().String()
	}})
	addr := e.srv.Addr().String()

	// The family: answer the INVITE, wait for the acceptance prompt,
	// press 1 (begin packet), and once the port is answered go on with
	// the same event (update, three end packets), then send audio.
	bridged := make(chan struct{})
	trunkErr := make(chan error, 1)
	go func() {
		trunkErr <- func() error {
			buf := make([]byte, 65536)
			_ = tSig.SetReadDeadline(time.Now().Add(waitLong))
			n, from, err := tSig.ReadFromUDP(buf)
			if err != nil {
				return fmt.Errorf("trunk: no INVITE: %w", err)
			}
			inv := string(buf[:n])
			_, invBody, _ := strings.Cut(inv, "\r\n\r\n")
			legB, err := sdpMedia(invBody)
			if err != nil {
				return fmt.Errorf("trunk: %w", err)
			}
			rtpPort := tRTP.LocalAddr().(*net.UDPAddr).Port
			body := fmt.Sprintf("v=0\r\no=fam 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n", rtpPort)
			ok := rawAnswer(inv, "200 OK", "fam", "Contact: <sip:family@"+tSig.LocalAddr().String()+">\r\nContent-Type: application/sdp\r\n", body)
			if _, err := tSig.WriteToUDP([]byte(ok), from); err != nil {
				return err
			}
			// Answer whatever else comes (ACK needs nothing, BYE a 200).
			go func() {
				b := make([]byte, 65536)
				for {
					n, from, err := tSig.ReadFromUDP(b)
					if err != nil {
						return
					}
					if req := string(b[:n]); strings.HasPrefix(req, "BYE ") {
						_, _ = tSig.WriteToUDP([]byte(rawAnswer(req, "200 OK", "fam", "", "")), from)
					}
				}
			}()
			// The prompt has started: the appliance listens for the key.
			_ = tRTP.SetReadDeadline(time.Now().Add(waitLong))
			if _, _, err := tRTP.ReadFromUDP(buf); err != nil {
				return fmt.Errorf("trunk: no acceptance prompt: %w", err)
			}
			const ssrc, ts = 0x1234, 8000
			if _, err := tRTP.WriteToUDP(eventPacket(1, ts, ssrc, false, 160), legB); err != nil {
				return err
			}
			select {
			case <-bridged:
			case <-time.After(waitLong):
				return fmt.Errorf("trunk: the port was never answered")
			}
			pkts := [][]byte{eventPacket(2, ts, ssrc, false, 320)}
			for i := range 3 {
				pkts = append(pkts, eventPacket(uint16(3+i), ts, ssrc, true, 480))
			}
			audio, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: 6, Timestamp: ts + 480, SSRC: ssrc}, Payload: make([]byte, 160)}).Marshal()
			for _, p := range append(pkts, audio) {
				if _, err := tRTP.WriteToUDP(p, legB); err != nil {
					return err
				}
			}
			return nil
		}()
	}()

	// The prisoner's phone.
	pSig, err := net.Dial("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer pSig.Close()
	pRTP, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer pRTP.Close()
	nonce := tortureNonce(t, addr)
	local := pSig.LocalAddr().String()
	offer := fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n", pRTP.LocalAddr().(*net.UDPAddr).Port)
	uri := "sip:0123456789@" + addr
	res, _, err := sendDatagram(pSig, []byte(rawInvite(local, addr, "accept-key", proxyAuth("INVITE", uri, nonce)+"\r\n", offer)), waitLong)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res, "SIP/2.0 200 ") {
		t.Fatalf("port: got %q, want 200 (trunk: %v)", firstLine(res), <-trunkErr)
	}
	close(bridged)
	contact := strings.Trim(sipHeader(res, "Contact"), "<>")
	to := sipHeader(res, "To")
	dialog := fmt.Sprintf("Via: SIP/2.0/UDP %s;branch=z9hG4bK-%%s\r\nMax-Forwards: 70\r\nFrom: <sip:%s@%s>;tag=abc\r\nTo: %s\r\nCall-ID: accept-key\r\n", local, portUser, addr, to)
	ack := fmt.Sprintf("ACK %s SIP/2.0\r\n"+dialog+"CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n", contact, "ack")
	if _, err := pSig.Write([]byte(ack)); err != nil {
		t.Fatal(err)
	}

	// What reaches the port: no telephone-event before the family's audio.
	var events int
	buf := make([]byte, 2048)
	for {
		_ = pRTP.SetReadDeadline(time.Now().Add(waitLong))
		n, err := pRTP.Read(buf)
		if err != nil {
			t.Fatalf("port: the family's audio never arrived (%d events before): %v", events, err)
		}
		var p rtp.Packet
		if p.Unmarshal(buf[:n]) != nil {
			continue
		}
		if p.PayloadType == 101 {
			events++
			continue
		}
		break
	}
	if err := <-trunkErr; err != nil {
		t.Fatal(err)
	}
	if events != 0 {
		t.Errorf("the port received %d telephone-event packets of the family's accepting key", events)
	}
	bye := fmt.Sprintf("BYE %s SIP/2.0\r\n"+dialog+"CSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n", contact, "bye")
	if res, _, err := sendDatagram(pSig, []byte(bye), waitLong); err != nil || !strings.HasPrefix(res, "SIP/2.0 200") {
		t.Fatalf("BYE: %q %v", firstLine(res), err)
	}
}
