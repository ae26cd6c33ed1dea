package callctl_test

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/callctl/callctltest"
)

// malformedCase is one request that must be refused before anything else
// happens: headers are the lines between the request line and the
// Content-Length (with {{AUTH}} standing for valid credentials, so that
// only the defect can stop the request).
type malformedCase struct {
	name    string
	method  string
	headers string
	want    int
	reason  string // in the answer's reason phrase
}

var malformedCases = []malformedCase{
	{"two From", "INVITE", "From: <sip:port1@x>;tag=a\r\nFrom: <sip:port2@x>;tag=b\r\nTo: <sip:N@x>\r\nCall-ID: CID\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n", 400, "2 From headers"},
	{"two From, compact", "INVITE", "From: <sip:port1@x>;tag=a\r\nf: <sip:port2@x>;tag=b\r\nTo: <sip:N@x>\r\nCall-ID: CID\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n", 400, "2 From headers"},
	{"two To", "INVITE", "From: <sip:port1@x>;tag=a\r\nTo: <sip:N@x>\r\nTo: <sip:0999@x>\r\nCall-ID: CID\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n", 400, "2 To headers"},
	{"two Call-IDs", "INVITE", "From: <sip:port1@x>;tag=a\r\nTo: <sip:N@x>\r\nCall-ID: CID\r\nCall-ID: CID-other\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n", 400, "2 Call-ID headers"},
	{"CSeq method differs", "INVITE", "From: <sip:port1@x>;tag=a\r\nTo: <sip:N@x>\r\nCall-ID: CID\r\nCSeq: 1 BYE\r\nMax-Forwards: 70\r\n", 400, "CSeq method BYE"},
	{"Max-Forwards 0", "INVITE", "From: <sip:port1@x>;tag=a\r\nTo: <sip:N@x>\r\nCall-ID: CID\r\nCSeq: 1 INVITE\r\nMax-Forwards: 0\r\n", 483, "Too Many Hops"},
	{"OPTIONS two CSeqs", "OPTIONS", "From: <sip:port1@x>;tag=a\r\nTo: <sip:N@x>\r\nCall-ID: CID\r\nCSeq: 1 OPTIONS\r\nCSeq: 2 OPTIONS\r\nMax-Forwards: 70\r\n", 400, "2 CSeq headers"},
	{"OPTIONS NUL in a value", "OPTIONS", "From: <sip:port1@x>;tag=a\r\nTo: <sip:N@x>\r\nCall-ID: CID\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nSubject: a\x00b\r\n", 400, "control character in Subject"},
	{"REGISTER two Call-IDs", "REGISTER", "From: <sip:port1@x>;tag=a\r\nTo: <sip:port1@x>\r\nCall-ID: CID\r\nCall-ID: CID-2\r\nCSeq: 1 REGISTER\r\nMax-Forwards: 70\r\nContact: <sip:port1@LOCAL>\r\n", 400, "2 Call-ID headers"},
}

// TestMalformedRequestsRefused sends each malformed request over raw UDP,
// with valid credentials and the number the authorizer allows: each gets
// exactly 400 (483 for Max-Forwards 0) naming its defect, and no call is
// placed (no record, no call in progress, nothing reaches the trunk).
// Today's sipgo reads the first of two headers and goes on, so without
// the check the INVITEs are placed on the trunk and the OPTIONS get 200.
func TestMalformedRequestsRefused(t *testing.T) {
	e := start(t, opts{auth: tortureAuthorizer()})
	addr := e.srv.Addr().String()
	nonce := tortureNonce(t, addr)
	for i, tc := range malformedCases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("udp4", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			local := c.LocalAddr().String()
			uri := fmt.Sprintf("sip:%s@%s", tortureNumber, addr)
			if tc.method == "REGISTER" {
				uri = "sip:" + addr
			}
			h := strings.NewReplacer("N@x", tortureNumber+"@"+addr, "@x", "@"+addr, "CID", fmt.Sprintf("malformed-%d", i), "LOCAL", local).Replace(tc.headers)
			auth := proxyAuth(tc.method, uri, nonce)
			if tc.method == "REGISTER" {
				auth = strings.Replace(auth, "Proxy-Authorization", "Authorization", 1)
			}
			body := ""
			if tc.method == "INVITE" {
				body = offerSDP
				h += "Contact: <sip:port1@" + local + ">\r\nContent-Type: application/sdp\r\n"
			}
			msg := fmt.Sprintf("%s %s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-malformed-%d\r\n%s%s\r\nContent-Length: %d\r\n\r\n%s",
				tc.method, uri, local, i, h, auth, len(body), body)
			res, prov, err := sendDatagram(c, []byte(msg), 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if code := callctltest.StatusCode(res); code != tc.want || !strings.Contains(firstLine(res), tc.reason) {
				t.Fatalf("got %q (provisional %v), want %d naming %q", firstLine(res), prov, tc.want, tc.reason)
			}
		})
	}
	if n := e.records.Pending(); n != 0 {
		t.Errorf("%d call records: a malformed INVITE was processed as a call", n)
	}
	if calls := e.srv.ActiveCalls(); len(calls) != 0 {
		t.Errorf("calls in progress after malformed INVITEs: %+v", calls)
	}
	// A well-formed call still goes through.
	res, err := e.port(t, portUser, portPass).Call(ctxT(t), tortureNumber, 100*time.Millisecond)
	if err != nil || !res.Answered {
		t.Fatalf("call after malformed requests: %+v %v", res, err)
	}
}
