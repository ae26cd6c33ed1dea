package callctl

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// ErrDialog is wrapped by EndDialog's failures.
var ErrDialog = errors.New("callctl: ending a dialog failed")

// Dialog is what it takes to send a request within a confirmed dialog
// (RFC 3261 12.2.1.1), kept outside the process: after a crash the
// appliance ends the legs of a call it died with from this alone
// (EndDialog). It describes the trunk leg, which the appliance placed as
// UAC, and the port leg, which it answered as UAS, alike: From is always
// the appliance's side.
type Dialog struct {
	CallID string `json:"call_id"`
	// From is the dialog's local address with the local tag (our From),
	// To the remote one with the remote tag (the 2xx's To), as header
	// values.
	From string `json:"from"`
	To   string `json:"to"`
	// RemoteTarget is the Contact URI of the 2xx (the INVITE's
	// Request-URI when it had none).
	RemoteTarget string `json:"remote_target"`
	// RouteSet is the dialog's Route set, in the order to send: the 2xx's
	// Record-Route reversed.
	RouteSet []string `json:"route_set,omitempty"`
	// CSeq is the highest CSeq number the appliance used in the dialog.
	CSeq uint32 `json:"cseq"`
	// Transport is the transport of the dialog ("UDP", "TCP").
	Transport string `json:"transport"`
}

// AnsweredCall describes a call once it is bridged and both legs are
// confirmed, with what closing it after a crash needs that only call
// control knows.
type AnsweredCall struct {
	CallID string
	Answer time.Time
	// Trunk is the trunk leg's dialog, Port the port leg's (zero when it
	// could not be captured).
	Trunk Dialog
	Port  Dialog
	// MaxDuration and LimitedBy are the limit the call runs under.
	MaxDuration time.Duration
	LimitedBy   string
}

// dialogOf captures a confirmed client dialog.
func dialogOf(d *sipgo.DialogClientSession) (Dialog, error) {
	req, res := d.InviteRequest, d.InviteResponse
	if req == nil || res == nil || req.From() == nil || res.To() == nil || req.CallID() == nil || req.CSeq() == nil {
		return Dialog{}, fmt.Errorf("%w: dialog not established", ErrDialog)
	}
	dl := Dialog{
		CallID:       req.CallID().Value(),
		From:         req.From().Value(),
		To:           res.To().Value(),
		RemoteTarget: req.Recipient.String(),
		CSeq:         req.CSeq().SeqNo,
		Transport:    req.Transport(),
	}
	if c := res.Contact(); c != nil {
		dl.RemoteTarget = c.Address.String()
	}
	rr := res.GetHeaders("Record-Route")
	for i := len(rr) - 1; i >= 0; i-- {
		dl.RouteSet = append(dl.RouteSet, rr[i].Value())
	}
	return dl, nil
}

// portDialogOf captures a confirmed server dialog (the port leg): the
// appliance's side is the To of its 2xx, the remote target the INVITE's
// Contact, the route set the INVITE's Record-Route in order.
func portDialogOf(d *sipgo.DialogServerSession) (Dialog, error) {
	req, res := d.InviteRequest, d.InviteResponse
	if req == nil || res == nil || !res.IsSuccess() || res.To() == nil || req.From() == nil || req.CallID() == nil ||
		req.CSeq() == nil || req.Contact() == nil {
		return Dialog{}, fmt.Errorf("%w: port dialog not established", ErrDialog)
	}
	dl := Dialog{
		CallID:       req.CallID().Value(),
		From:         res.To().Value(),
		To:           req.From().Value(),
		RemoteTarget: req.Contact().Address.String(),
		CSeq:         req.CSeq().SeqNo,
		Transport:    req.Transport(),
	}
	for _, h := range req.GetHeaders("Record-Route") {
		dl.RouteSet = append(dl.RouteSet, h.Value())
	}
	return dl, nil
}

// byeCSeqGap is added to a stored dialog's CSeq for the BYE that ends it
// after a restart: in-dialog requests (session refreshes) may have
// followed the last checkpoint, and a UAS refuses a CSeq lower than one it
// has seen (RFC 3261 12.2.2); gaps are allowed.
const byeCSeqGap = 100

// EndDialog sends a BYE within d (the trunk leg of a call the appliance
// died with) and waits for its final answer, up to ctx. A 2xx, or a
// 481 (the far end no longer knows the dialog), ends it; any other answer
// or none is an error wrapping ErrDialog. It waits for Run to serve the
// SIP socket first, so that the BYE leaves from the appliance's address.
func (s *Server) EndDialog(ctx context.Context, d Dialog) error {
	select {
	case <-s.serving:
	case <-ctx.Done():
		return fmt.Errorf("%w: SIP not serving: %w", ErrDialog, ctx.Err())
	}
	var target sip.Uri
	if err := sip.ParseUri(d.RemoteTarget, &target); err != nil {
		return fmt.Errorf("%w: remote target %q: %w", ErrDialog, d.RemoteTarget, err)
	}
	if d.CallID == "" || d.From == "" || d.To == "" {
		return fmt.Errorf("%w: dialog without Call-ID, From or To", ErrDialog)
	}
	req := sip.NewRequest(sip.BYE, target)
	maxFwd := sip.MaxForwardsHeader(70)
	req.AppendHeader(&maxFwd)
	req.AppendHeader(sip.NewHeader("From", d.From))
	req.AppendHeader(sip.NewHeader("To", d.To))
	cid := sip.CallIDHeader(d.CallID)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: d.CSeq + byeCSeqGap, MethodName: sip.BYE})
	for _, r := range d.RouteSet {
		req.AppendHeader(sip.NewHeader("Route", r))
	}
	if len(d.RouteSet) > 0 {
		if rh := req.Route(); rh != nil && !rh.Address.UriParams.Has("lr") {
			req.Recipient = rh.Address // strict routing
		}
	}
	req.AppendHeader(sip.NewHeader("Reason", `SIP;cause=500;text="appliance restarted"`))
	req.SetTransport(d.Transport)
	req.SetBody(nil)
	tx, err := s.dialogUA(d.Transport).Client.TransactionRequest(ctx, req, sipgo.ClientRequestAddVia)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrDialog, err)
	}
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			switch {
			case res.IsProvisional():
				continue
			case res.IsSuccess(), res.StatusCode == sip.StatusCallTransactionDoesNotExists:
				return nil
			default:
				return fmt.Errorf("%w: BYE answered %d %s", ErrDialog, res.StatusCode, res.Reason)
			}
		case <-tx.Done():
			return fmt.Errorf("%w: BYE: %w", ErrDialog, tx.Err())
		case <-ctx.Done():
			return fmt.Errorf("%w: BYE: %w", ErrDialog, ctx.Err())
		}
	}
}
