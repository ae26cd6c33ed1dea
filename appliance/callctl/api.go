package callctl

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"time"

	"github.com/kinline/kinline/appliance/media"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/wire"
)

// Errors of the call-control layer.
var (
	ErrConfig      = errors.New("callctl: invalid config")
	ErrNoSuchCall  = errors.New("callctl: no such call")
	ErrAuth        = errors.New("callctl: authentication failed")
	ErrStaleNonce  = errors.New("callctl: stale nonce")
	ErrNoAuth      = errors.New("callctl: no credentials")
	ErrTrunk       = errors.New("callctl: trunk leg failed")
	ErrMediaFailed = errors.New("callctl: media session failed")
)

// AuthRequest asks whether a terminal may call a number now.
type AuthRequest struct {
	CallID   string
	Terminal string
	Number   string
	Time     time.Time
	// Waiting lets the authorizer say that its decision will take a while
	// (an officer must confirm the call): call control answers the port
	// with 180 Ringing, so the IAD plays ringback while the person waits.
	// It may be called any number of times, only before Authorize returns.
	Waiting func()
}

// AuthResult is the authorizer's decision.
type AuthResult struct {
	Allowed bool
	// Reason is the refusal text, sent as the 403 reason phrase.
	Reason       string
	PersonID     string
	PrisonNumber string
	CardUID      string
	// Record is false for privileged numbers: no audio byte is written.
	Record bool
	// OfficerID and ConfirmMethod name the officer who confirmed the call
	// and how, when it needed dual authorization; they go into the record.
	OfficerID     string
	ConfirmMethod string
}

// Authorizer decides calls. It must answer quickly; ctx is cancelled if the
// port gives up (CANCEL) or the server stops.
type Authorizer interface {
	Authorize(ctx context.Context, r AuthRequest) AuthResult
}

// AuthorizerFunc adapts a function to Authorizer.
type AuthorizerFunc func(ctx context.Context, r AuthRequest) AuthResult

// Authorize calls f.
func (f AuthorizerFunc) Authorize(ctx context.Context, r AuthRequest) AuthResult { return f(ctx, r) }

// MediaSession is one call's anchored media (implemented by
// *media.Session).
type MediaSession interface {
	// LocalAddr is where this leg's RTP must be sent.
	LocalAddr(leg media.Leg) netip.AddrPort
	// SetRemote sets where the leg's RTP goes and its payload type.
	SetRemote(leg media.Leg, addr netip.AddrPort, payloadType uint8) error
	// Start begins relaying (called once both remotes are known).
	Start() error
	// Close stops the session and finalizes the recording.
	Close() (media.Result, error)
}

// MediaFactory opens a media session for a call.
type MediaFactory func(callID string, record bool) (MediaSession, error)

// Deps are the Server's collaborators. Authorizer and Media are required.
type Deps struct {
	Logger     *slog.Logger // default: discard
	Clock      clock.Clock  // default: clock.Real{}
	Authorizer Authorizer
	Media      MediaFactory
	// OnCallEnd is called exactly once per call attempt that reached
	// authorization (refused, failed, cancelled or completed). It must not
	// block for long.
	OnCallEnd func(wire.CallRecord)
}

// ActiveCall describes a call in progress.
type ActiveCall struct {
	CallID   string
	Terminal string
	Number   string
	PersonID string
	Start    time.Time
	Answer   *time.Time // nil while ringing
}

// Binding is a registered port contact.
type Binding struct {
	Terminal string
	User     string
	Contact  string // the Contact URI the port registered
	Source   string // host:port the REGISTER came from
	Expires  time.Time
}
