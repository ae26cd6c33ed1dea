package users

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/totp"
)

// TOTP self-enrolment. A signed-in user who has no second factor yet asks
// for one (BeginTOTPEnrolment): a new secret is kept as the user's pending
// secret and shown to them once, with its otpauth:// URI. It becomes the
// user's second factor only when they confirm a current code from it
// (ConfirmTOTPEnrolment), which also marks the session they confirmed in as
// second-factor verified, exactly as if they had signed in with the code.
// A user who already has a second factor cannot replace it this way (an
// administrator resets it first), so a stolen password cannot take over an
// enrolled account's second factor.

// ErrTOTPEnrolled: the user already has a second factor.
var ErrTOTPEnrolled = errors.New("store: a second factor is already enrolled (an administrator can reset it)")

// BeginTOTPEnrolment gives user id a new pending TOTP secret (replacing an
// earlier pending one) and returns it base32-encoded with its otpauth://
// URI. ErrTOTPEnrolled when the user already has a second factor,
// store.ErrNotFound for an unknown user. Audited as "user.totp_begin".
func (s *Store) BeginTOTPEnrolment(ctx context.Context, actor, id string) (secret, uri string, err error) {
	secret = totp.NewSecret()
	err = s.core.InTx(ctx, func(tx *sql.Tx) error {
		var username, current string
		err := tx.QueryRowContext(ctx, `SELECT username, totp_secret FROM users WHERE id = $1`, id).Scan(&username, &current)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: user %s", store.ErrNotFound, id)
		}
		if err != nil {
			return fmt.Errorf("store: begin totp enrolment: %w", err)
		}
		if current != "" {
			return ErrTOTPEnrolled
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET totp_pending = $1, updated_ns = $2 WHERE id = $3`, secret, store.NS(s.core.Clock().Now()), id); err != nil {
			return fmt.Errorf("store: begin totp enrolment: %w", err)
		}
		uri = totp.URI(TOTPIssuer, username, secret)
		return s.core.AuditTx(ctx, tx, actor, "user.totp_begin", id, "username="+username)
	})
	if err != nil {
		return "", "", err
	}
	return secret, uri, nil
}

// ConfirmTOTPEnrolment checks code against user id's pending secret
// (±TOTPSkew steps); when it matches, the pending secret becomes the user's
// second factor (the code's step counts as used) and the console session
// sessionID (which must be the user's; "" for none) is marked second-factor
// verified, in one transaction audited as "user.totp_enrol". A wrong code
// gives store.ErrUnauthorized (audited as "user.totp_failed") and changes
// nothing; no pending secret gives store.ErrInvalid, and a second factor already
// enrolled ErrTOTPEnrolled.
func (s *Store) ConfirmTOTPEnrolment(ctx context.Context, actor, id, sessionID, code string) error {
	var failed bool
	err := s.core.InTx(ctx, func(tx *sql.Tx) error {
		var username, current, pending string
		err := tx.QueryRowContext(ctx, `SELECT username, totp_secret, totp_pending FROM users WHERE id = $1`, id).Scan(&username, &current, &pending)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: user %s", store.ErrNotFound, id)
		}
		if err != nil {
			return fmt.Errorf("store: confirm totp enrolment: %w", err)
		}
		switch {
		case current != "":
			return ErrTOTPEnrolled
		case pending == "":
			return fmt.Errorf("%w: no enrolment started: ask for a new secret first", store.ErrInvalid)
		}
		key, err := totp.DecodeSecret(pending)
		if err != nil {
			return fmt.Errorf("store: user %s pending secret: %w", id, err)
		}
		step, ok := totp.Validate(key, code, s.core.Clock().Now(), TOTPSkew)
		if !ok {
			failed = true
			return s.core.AuditTx(ctx, tx, actor, "user.totp_failed", id, "username="+username+" wrong one-time code while enrolling")
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET totp_secret = totp_pending, totp_pending = '', totp_last_step = $1, updated_ns = $2 WHERE id = $3`,
			step, store.NS(s.core.Clock().Now()), id); err != nil {
			return fmt.Errorf("store: confirm totp enrolment: %w", err)
		}
		if sessionID != "" {
			if _, err := tx.ExecContext(ctx, `UPDATE sessions SET mfa = 1 WHERE sha256 = $1 AND user_id = $2`, store.TokenHash(sessionID), id); err != nil {
				return fmt.Errorf("store: confirm totp enrolment: %w", err)
			}
		}
		return s.core.AuditTx(ctx, tx, actor, "user.totp_enrol", id, "username="+username+" (self-enrolled, code confirmed)")
	})
	if err != nil {
		return err
	}
	if failed {
		return store.ErrUnauthorized
	}
	return nil
}
