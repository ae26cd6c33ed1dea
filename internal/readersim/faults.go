package readersim

// faults are the Sim's extra fault modes, guarded by Sim.mu.
type faults struct {
	corruptLen int  // next responses with a corrupted length byte
	clone      bool // answer polls "no target" at once
}

// CorruptLengthNext makes the next n PN532 response frames the reader
// sends carry a corrupted length byte (LEN, so that LEN + LCS is not 0),
// as line noise on the length would: the host cannot tell where the frame
// ends and must ask for it again (NACK) or abort and poll again. A resend
// on NACK is sent intact unless the count covers it too.
func (s *Sim) CorruptLengthNext(n int) {
	s.mu.Lock()
	s.faults.corruptLen = n
	s.mu.Unlock()
}

// Clone makes the PN532 answer InListPassiveTarget at once with "no
// target" when no card is presented, whatever MxRtyPassiveActivation says,
// as PN532 clones and other readers that do not hold the poll do (on), or
// behave as the NXP chip again (off).
func (s *Sim) Clone(on bool) {
	s.mu.Lock()
	s.faults.clone = on
	s.mu.Unlock()
}

// corruptLengthLocked returns f with its length byte corrupted when a
// CorruptLengthNext count is pending (and counts it down), else f.
func (s *Sim) corruptLengthLocked(f []byte) []byte {
	if s.faults.corruptLen <= 0 || len(f) <= 8 {
		return f
	}
	s.faults.corruptLen--
	bad := append([]byte(nil), f...)
	bad[3] ^= 0x5A // LEN of a normal frame, LENM's marker of an extended one
	return bad
}
