package media

// SetHold stops (on) or resumes relaying the other party's packets
// (audio and telephone-events) to leg l: its party has put the call on
// hold, and the appliance answered its offer recvonly or inactive (RFC
// 3264 section 6.1), so nothing may be sent to it. What the other party
// says is still recorded, and prompts (time warnings) still play to l.
func (s *Session) SetHold(l Leg, on bool) {
	s.mu.Lock()
	s.legs[l&1].onHold = on
	s.mu.Unlock()
}
