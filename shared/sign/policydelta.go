package sign

import (
	"crypto/ed25519"
	"fmt"

	"github.com/kinline/kinline/shared/wire"
)

// A wire.PolicyDelta carries no canonical form of its own: its Signature
// is central's policy signature (SignPolicy) of the policy it produces from
// its base. Whoever applies it gets a policy that verifies exactly like a
// snapshot of the same version, and a delta altered in any signed field, or
// applied to another base, produces a policy its signature does not match.

// SignPolicyDelta applies d to base (its BaseVersion policy), signs the
// result with central's policy key and stores that signature in
// d.Signature. It fails when d does not apply to base.
func SignPolicyDelta(priv ed25519.PrivateKey, base *wire.Policy, d *wire.PolicyDelta) error {
	if err := checkPrivate(priv); err != nil {
		return err
	}
	res, err := d.Apply(base)
	if err != nil {
		return fmt.Errorf("sign: policy delta: %w", err)
	}
	if err := SignPolicy(priv, res); err != nil {
		return err
	}
	d.Signature = res.Signature
	return nil
}

// ApplyPolicyDelta applies d to base and checks d.Signature against
// central's policy public key over the result, which it returns. It fails
// with an error wrapping ErrUnsigned, ErrBadSignature or ErrKey, or
// wire.ErrDeltaBase when d does not apply to base. base is not modified.
func ApplyPolicyDelta(pub ed25519.PublicKey, base *wire.Policy, d *wire.PolicyDelta) (*wire.Policy, error) {
	if err := checkPublic(pub); err != nil {
		return nil, err
	}
	if len(d.Signature) == 0 {
		return nil, fmt.Errorf("%w: policy delta %d->%d for %q", ErrUnsigned, d.BaseVersion, d.Version, d.ApplianceID)
	}
	res, err := d.Apply(base)
	if err != nil {
		return nil, fmt.Errorf("sign: policy delta: %w", err)
	}
	if err := VerifyPolicy(pub, res); err != nil {
		return nil, err
	}
	return res, nil
}
