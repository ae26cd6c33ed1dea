package callctl

import (
	"errors"

	"github.com/emiago/sipgo/sip"
)

// MaxRequestSize bounds the requests callctl processes: a larger one is
// answered 513 Message Too Large (RFC 3261 section 21.5.11) and nothing
// else. It is what one datagram can bring through sipgo's 32 KiB UDP read
// buffer, so a request is accepted or refused alike over UDP and TCP;
// real IADs and trunks send a few KiB at most. An answer echoes a
// request's Via, From, To, Call-ID and CSeq, so this also bounds every
// answer (and what a forged source address can draw) to about the
// request's size.
const MaxRequestSize = 32 << 10

// maxUDPDatagram is the largest UDP payload over IPv4 (65,535 less the
// IP and UDP headers).
const maxUDPDatagram = 65507

// errTooLarge: a request is over MaxRequestSize.
var errTooLarge = errors.New("callctl: request over MaxRequestSize")

func init() {
	// sipgo refuses to write a UDP message over UDPMTUSize-200 bytes
	// (1,300 by default: RFC 3261 section 18.1.1's rule for *requests*,
	// which should then go over TCP) and reports that only to the
	// caller: an answer over 1,300 bytes, such as a 407 to an INVITE with
	// a long display name or a 200 to an OPTIONS with 70 Vias, was never
	// sent. Answers have no such limit (section 18.2.2): they go back on
	// the transport the request came in on, whatever their size. The
	// requests callctl itself sends stay far below 1,300 bytes. See
	// docs/decisions/0019-sip-cancel-answer-size-malformed.md.
	sip.UDPMTUSize = maxUDPDatagram + 200
}

// requestLineSize is the size of req's request line, blank line and
// body on the wire, near enough: checkRequest adds each header as
// "Name: value\r\n" to compare the whole with MaxRequestSize.
func requestLineSize(req *sip.Request) int {
	return len(req.Method) + len(req.Recipient.Host) + len(req.Recipient.User) + 32 + len(req.Body())
}
