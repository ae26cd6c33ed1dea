package sign

import (
	"crypto/ed25519"
	"fmt"

	"github.com/kinline/kinline/shared/wire"
)

// domainCommand opens the canonical form of a wire.Command.
const domainCommand = "kinline/sign/v1/command"

// SignCommand signs c with central's policy key and stores the signature in
// c.Signature (replacing any previous one).
func SignCommand(priv ed25519.PrivateKey, c *wire.Command) error {
	if err := checkPrivate(priv); err != nil {
		return err
	}
	msg, err := encodeCommand(c, true)
	if err != nil {
		return err
	}
	c.Signature = ed25519.Sign(priv, msg)
	return nil
}

// VerifyCommand checks c.Signature against central's policy public key. It
// returns nil, or an error wrapping ErrUnsigned, ErrBadSignature or ErrKey.
// It does not modify c.
func VerifyCommand(pub ed25519.PublicKey, c *wire.Command) error {
	if err := checkPublic(pub); err != nil {
		return err
	}
	if len(c.Signature) == 0 {
		return fmt.Errorf("%w: command %q for %q", ErrUnsigned, c.ID, c.ApplianceID)
	}
	msg, _ := encodeCommand(c, false)
	if len(c.Signature) != ed25519.SignatureSize || !ed25519.Verify(pub, msg, c.Signature) {
		return fmt.Errorf("%w: command %q for %q", ErrBadSignature, c.ID, c.ApplianceID)
	}
	return nil
}

// CommandBytes returns the canonical form of c that its signature covers.
func CommandBytes(c *wire.Command) []byte {
	msg, _ := encodeCommand(c, false)
	return msg
}

func encodeCommand(c *wire.Command, strict bool) ([]byte, error) {
	e := &encoder{strict: strict, buf: make([]byte, 0, 128+len(c.ID)+len(c.ApplianceID)+len(c.Kind)+len(c.CallID))}
	e.str("domain", domainCommand)
	e.i64(int64(c.V))
	e.str("id", c.ID)
	e.str("appliance_id", c.ApplianceID)
	e.str("kind", c.Kind)
	e.str("call_id", c.CallID)
	e.time(c.Issued)
	e.time(c.Expires)
	return e.buf, e.err
}
