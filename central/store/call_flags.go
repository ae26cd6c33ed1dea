package store

import (
	"github.com/kinline/kinline/shared/wire"
)

// Privileged and hidden calls.
//
// A call is privileged (never recorded, never played, no player in the
// console) when the appliance flagged it so, when its number is a
// privileged contact of the person, or when its number is on the
// prison-wide list as privileged (wire.NumberKindPrivileged, exact or a
// '*' prefix). A call is hidden (its record shown only to investigators and
// system administrators) when the appliance flagged it so or its number is
// on the list as hidden. The projection stores the flags the list gives
// when the call arrives (calls.privileged, calls.hidden), and reads add the
// list as it is now, so a number put on the list later covers its earlier
// calls too; taking a number off the list never clears a stored flag.

// onGlobalList is an SQL condition: calls row c's number is on the
// prison-wide list as the kind compared with g.kind before it, exactly or
// by a '*' prefix. It uses only LIKE, substr and length, which SQLite and
// PostgreSQL share.
const onGlobalList = ` AND (g.number = c.number
		OR g.number LIKE '%*' AND substr(c.number, 1, length(g.number) - 1) = substr(g.number, 1, length(g.number) - 1)))`

// globalPrivileged and globalHidden: c's number is on the list as
// privileged, or as hidden.
const (
	globalPrivileged = `EXISTS (SELECT 1 FROM global_numbers g WHERE g.kind = '` + wire.NumberKindPrivileged + `'` + onGlobalList
	globalHidden     = `EXISTS (SELECT 1 FROM global_numbers g WHERE g.kind = '` + wire.NumberKindHidden + `'` + onGlobalList
)

// hiddenCallTerm is the WHERE term that keeps hidden calls out of an
// ordinary role's search (CallFilter.ShowHidden false).
const hiddenCallTerm = `NOT (c.hidden = 1 OR ` + globalHidden + `)`
