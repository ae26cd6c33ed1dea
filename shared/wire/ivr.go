package wire

import "time"

// The called party's side of a call (CapabilityVersion 6, additive,
// protocol version 1 unchanged): before a call is bridged the called
// party hears who is calling and presses 1 to accept or 9 to block
// further calls from this person. A block is reported to central as an EventNumberBlocked event;
// peers that do not know the type store it as an opaque event.

// EventNumberBlocked is the event type whose payload is a NumberBlocked.
const EventNumberBlocked EventType = "number_blocked"

// NumberBlocked says that the called party of a call asked (by pressing 9
// at the acceptance prompt) not to be called again by this person.
type NumberBlocked struct {
	CallID       string    `json:"call_id"`
	PersonID     string    `json:"person_id"`
	PrisonNumber string    `json:"prison_number,omitempty"`
	Terminal     string    `json:"terminal"`
	Number       string    `json:"number"`
	At           time.Time `json:"at"`
}
