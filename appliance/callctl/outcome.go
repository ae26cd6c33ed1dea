package callctl

// How a call ends before it is bridged. The call flow runs in phases (the
// outgoing leg in outgoing.go, the hotline dialogue in hotline.go); each
// phase returns an outcome: go on, or end the call with a disposition,
// reason and final answer to the port. end applies an ending in one
// place: the trunk leg hung up, the port answered (on the hotline: the
// ending spoken, then BYE), the record's disposition set. The record
// itself, and with it the ledger and the release of the tap, follows in
// finish.

import (
	"fmt"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/kinline/kinline/shared/wire"
)

// outcome is how a phase leaves the call: the zero value (proceed) goes
// on to the next phase; any other ends the call before the bridge.
type outcome struct {
	// disp and reason are the record's disposition and reason; an empty
	// disp goes on.
	disp, reason string
	// status is the final SIP answer to the port, with its reason phrase
	// and extra headers; 0 sends none (the transaction layer answered the
	// CANCEL already, or the port hung up). On the hotline, whose port
	// was answered, it picks what is spoken before goodbye and BYE
	// instead (hotlineIVR.end).
	status int
	phrase string
	hdrs   []sip.Header
	// trunk, when set, is the trunk leg hung up first.
	trunk *sipgo.DialogClientSession
	// byePort hangs up the port leg, answered but not to be bridged.
	byePort bool
	// note, when set, is logged (Info) once the ending is applied.
	note     string
	noteArgs []any
}

// proceed is the outcome of a phase after which the call goes on.
var proceed outcome

// ends reports whether o ends the call.
func (o outcome) ends() bool { return o.disp != "" }

// endWith is an ending answering the port status and phrase.
func endWith(disp, reason string, status int, phrase string) outcome {
	return outcome{disp: disp, reason: reason, status: status, phrase: phrase}
}

// failed is the ending of a call that cannot go on for a fault of its
// own (media, trunk): 503 to the port, disposition "failed".
func failed(reason string) outcome {
	return endWith(wire.DispFailed, reason, sip.StatusServiceUnavailable, "Service Unavailable")
}

// hangingUp is o with the trunk leg d hung up first.
func (o outcome) hangingUp(d *sipgo.DialogClientSession) outcome {
	o.trunk = d
	return o
}

// end applies an ending: the trunk leg hung up (when set), the port
// answered (or, on the hotline, spoken to and hung up) and hung up when
// asked, the disposition set for finish, then the note logged.
func (c *call) end(dlgA *sipgo.DialogServerSession, o outcome, log logger) {
	if o.trunk != nil {
		c.hangupTrunk(o.trunk, log)
	}
	if o.status != 0 {
		c.reject(dlgA, o.status, o.phrase, o.hdrs...)
	}
	if o.byePort {
		c.hangupPort(dlgA, log)
	}
	c.setEnd(o.disp, o.reason)
	if o.note != "" {
		log.Info(o.note, o.noteArgs...)
	}
}

// beforeAnswer is the ending of a call stopped (cause: the call's context
// cause) before the trunk answered.
func beforeAnswer(cause error) outcome {
	var o outcome
	switch cause {
	case errPortCancel:
		// The transaction layer already answered 487.
		o = outcome{disp: wire.DispCancelled, reason: cause.Error()}
	case errPortBye:
		// A hotline caller hung up before the called party answered.
		o = outcome{disp: wire.DispCancelled, reason: cause.Error()}
	case errRingTimeout:
		o = endWith(wire.DispNoAnswer, cause.Error(), sip.StatusTemporarilyUnavailable, "No Answer")
	case errEnded:
		o = endWith(wire.DispEnded, cause.Error(), sip.StatusRequestTerminated, "Request Terminated")
	default:
		o = failed(fmt.Sprint(cause))
	}
	o.note, o.noteArgs = "call ended before answer", []any{"cause", cause}
	return o
}

// trunkRefusal is the ending of a call the trunk refused with res: its
// final error relayed to the port.
func trunkRefusal(res *sip.Response) outcome {
	code, reason := res.StatusCode, sanitizeReason(res.Reason, "Failed")
	disp := wire.DispFailed
	switch code {
	case 486, 600:
		disp = wire.DispBusy
	case 408, 480:
		disp = wire.DispNoAnswer
	case 603:
		disp = wire.DispRejected
	}
	if code < 400 || code == 401 || code == 407 {
		// Redirects and the trunk's own challenges mean nothing to the port.
		code, reason = sip.StatusServiceUnavailable, "Service Unavailable"
	}
	o := endWith(disp, fmt.Sprintf("trunk: %d %s", res.StatusCode, sanitizeReason(res.Reason, "")), code, reason)
	o.note, o.noteArgs = "trunk refused the call", []any{"status", res.StatusCode, "disposition", disp}
	return o
}

// notAcceptedBy is the ending of a call the called party (trunk leg d)
// did not accept: d is hung up (unless it hung up itself), the port gets
// 603 and the record says "rejected" with why.
func notAcceptedBy(d *sipgo.DialogClientSession, reason string) outcome {
	o := endWith(wire.DispRejected, reason, sip.StatusGlobalDecline, "Decline")
	if reason != ReasonHungUp {
		o.trunk = d
	}
	return o
}

// portUnconfirmed is the ending of a call whose port did not take its
// 200 (it cancelled as the answer crossed, or never ACKed), after the
// call was stopped with cause (nil: still running).
func portUnconfirmed(cause error) outcome {
	if cause == errPortCancel {
		return outcome{disp: wire.DispCancelled, reason: errPortCancel.Error()}
	}
	return outcome{disp: wire.DispFailed, reason: "port did not confirm the answer", byePort: true}
}
