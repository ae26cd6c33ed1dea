package policy

import "errors"

// ErrLockdown: central has put the block in lockdown (wire.CmdLockdown);
// every call is refused until the lockdown is lifted.
var ErrLockdown = errors.New("block in lockdown")
