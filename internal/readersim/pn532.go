package readersim

import (
	"errors"
	"time"

	"github.com/kinline/kinline/appliance/cardreader/pn532"
	"github.com/kinline/kinline/appliance/cardreader/pn532/frame"
)

// pn532Chip is the PN532's state. The zero value is a chip just powered:
// asleep, in LowVbat, with infinite passive-activation retries.
type pn532Chip struct {
	awake      bool
	configured bool // SAMConfiguration received
	finiteRty  bool
	mxRty      byte // MxRtyPassiveActivation when finiteRty
	pending    bool // InListPassiveTarget waiting for a card
	pendingGen int
	last       []byte // last response frame, for NACK
	dec        frame.Decoder
}

// Firmware the simulated chip reports: PN532, v1.6, ISO18092+ISO14443A/B.
var simFirmware = []byte{0x32, 0x01, 0x06, 0x07}

func (s *Sim) feedPN532Locked(b []byte) {
	c := &s.chip
	if !c.awake {
		i := -1
		for j, x := range b {
			if x == 0x55 {
				i = j
				break
			}
		}
		if i < 0 {
			return // asleep: the bytes are lost
		}
		c.awake = true
		s.stats.Wakeups++
		b = b[i+1:]
	}
	c.dec.Write(b)
	for {
		f, err := c.dec.Next()
		if errors.Is(err, frame.ErrIncomplete) {
			return
		}
		if err != nil {
			// Frames with bad checksums are ignored (no ACK); false start
			// codes are skipped.
			if f.Kind == frame.KindInfo {
				s.stats.BadFrames++
			}
			continue
		}
		s.handlePN532Locked(f)
	}
}

func (s *Sim) handlePN532Locked(f frame.Frame) {
	c := &s.chip
	switch f.Kind {
	case frame.KindACK:
		if c.pending {
			c.pending = false
			c.pendingGen++
			s.stats.Aborts++
		}
		return
	case frame.KindNACK:
		s.stats.NACKs++
		if c.last != nil {
			s.sendLocked(c.last)
		}
		return
	case frame.KindError:
		return
	}
	// A new command supersedes a pending one.
	c.pending = false
	c.pendingGen++
	s.writeLocked(frame.ACK)
	if f.TFI != frame.TFIHost || len(f.Data) == 0 {
		s.sendErrorLocked()
		return
	}
	cmd, p := f.Data[0], f.Data[1:]
	s.stats.Commands[cmd]++
	if s.errNext > 0 {
		s.errNext--
		s.sendErrorLocked()
		return
	}
	switch cmd {
	case pn532.CmdGetFirmwareVersion:
		s.respondLocked(append([]byte{cmd + 1}, simFirmware...))
	case pn532.CmdSAMConfiguration:
		if len(p) < 1 || p[0] < 1 || p[0] > 4 {
			s.sendErrorLocked()
			return
		}
		c.configured = true
		s.respondLocked([]byte{cmd + 1})
	case pn532.CmdRFConfiguration:
		if len(p) < 1 {
			s.sendErrorLocked()
			return
		}
		if p[0] == pn532.CfgItemMaxRetries {
			if len(p) != 4 {
				s.sendErrorLocked()
				return
			}
			c.finiteRty, c.mxRty = p[3] != 0xFF, p[3]
		}
		s.respondLocked([]byte{cmd + 1})
	case pn532.CmdInListPassiveTarget:
		if !c.configured || len(p) < 2 || p[0] < 1 || p[0] > 2 || p[1] > 0x04 {
			s.sendErrorLocked()
			return
		}
		if p[1] != pn532.BrTy106A {
			// Only type A cards are simulated: nothing else answers.
			s.respondLocked([]byte{cmd + 1, 0x00})
			return
		}
		c.pending = true
		c.pendingGen++
		if s.card != nil {
			s.answerPendingLocked()
			return
		}
		if s.faults.clone {
			c.pending = false
			s.respondLocked([]byte{cmd + 1, 0x00})
			return
		}
		if c.finiteRty {
			// Each activation attempt takes a few milliseconds.
			gen := c.pendingGen
			d := time.Duration(int(c.mxRty)+1) * 2 * time.Millisecond
			time.AfterFunc(d, func() {
				s.mu.Lock()
				defer s.mu.Unlock()
				if s.chip.pending && s.chip.pendingGen == gen && s.line != nil && !s.muted {
					s.chip.pending = false
					s.respondLocked([]byte{pn532.CmdInListPassiveTarget + 1, 0x00})
				}
			})
		}
	case pn532.CmdInRelease:
		s.respondLocked([]byte{cmd + 1, 0x00})
	default:
		s.sendErrorLocked()
	}
}

// answerPendingLocked answers a pending InListPassiveTarget with the card.
func (s *Sim) answerPendingLocked() {
	c := &s.chip
	if !c.pending || s.card == nil || s.muted {
		return
	}
	c.pending = false
	uid := s.card
	// ATQA encodes the UID size (single, double, triple); SAK 08 is a
	// MIFARE Classic 1K, 00 an Ultralight / NTAG.
	atqa, sak := byte(0x04), byte(0x08)
	switch len(uid) {
	case 7:
		atqa, sak = 0x44, 0x00
	case 10:
		atqa, sak = 0x84, 0x00
	}
	resp := []byte{pn532.CmdInListPassiveTarget + 1, 0x01, 0x01, 0x00, atqa, sak, byte(len(uid))}
	resp = append(resp, uid...)
	s.stats.Targets++
	s.respondLocked(resp)
}

func (s *Sim) respondLocked(data []byte) {
	encode := frame.Encode
	if s.extNext > 0 {
		s.extNext--
		s.stats.Extended++
		encode = frame.EncodeExtended
	}
	f, err := encode(frame.TFIPN532, data)
	if err != nil {
		s.sendErrorLocked()
		return
	}
	s.chip.last = f
	s.sendLocked(f)
}

// sendLocked writes a response frame, corrupting its length byte or its
// DCS if asked to.
func (s *Sim) sendLocked(f []byte) {
	f = s.corruptLengthLocked(f)
	if s.corrupt > 0 && len(f) > 8 {
		s.corrupt--
		bad := append([]byte(nil), f...)
		bad[len(bad)-2] ^= 0x5A // DCS
		s.writeLocked(bad)
		return
	}
	s.writeLocked(f)
}

func (s *Sim) sendErrorLocked() {
	s.stats.ErrorFrames++
	s.chip.last = frame.ErrorFrame
	s.writeLocked(frame.ErrorFrame)
}
