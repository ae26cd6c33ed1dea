package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/kinline/kinline/central/store/totp"
)

// totpCmd is `kinline-demo totp SECRET`: it prints the current one-time
// code of a base32 TOTP secret (the ones the demo prints for the users
// whose role needs a second factor), as an authenticator app would show
// it, and how long it stays current.
func totpCmd(args []string, now time.Time, w io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: kinline-demo totp SECRET   (the base32 secret the demo printed)")
	}
	key, err := totp.DecodeSecret(args[0])
	if err != nil {
		return fmt.Errorf("not a base32 TOTP secret: %w", err)
	}
	left := totp.Period - now.Unix()%totp.Period
	_, err = fmt.Fprintf(w, "%s   (current for %d more seconds)\n", totp.Code(key, now), left)
	return err
}
