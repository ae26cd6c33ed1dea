package readersim

import (
	"fmt"
	"time"

	"github.com/kinline/kinline/appliance/cardreader/em4100"
)

// repeatLoop sends the presented card every RepeatEvery while plugged in.
func (s *Sim) repeatLoop(l *line) {
	defer l.wg.Done()
	t := time.NewTicker(s.opt.RepeatEvery)
	defer t.Stop()
	for {
		select {
		case <-l.done:
			return
		case <-t.C:
			s.mu.Lock()
			if s.line == l {
				s.sendEM4100Locked()
			}
			s.mu.Unlock()
		}
	}
}

func (s *Sim) sendEM4100Locked() {
	if s.card == nil || s.muted {
		return
	}
	f := em4100.Encode([5]byte(s.card))
	if s.corrupt > 0 {
		s.corrupt--
		var sum byte
		for _, b := range s.card {
			sum ^= b
		}
		copy(f[11:13], fmt.Sprintf("%02X", sum^0xFF))
	}
	s.stats.Frames++
	s.writeLocked(f)
}
