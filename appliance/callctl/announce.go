package callctl

// Who is calling: the called party's announcement names the caller (the
// name they recorded at the hotline, or their name from the policy
// spoken at run time) and the prison, and the hotline's menu option 3
// records that name.

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/kinline/kinline/appliance/media"
	"github.com/kinline/kinline/appliance/prompts"
	"github.com/kinline/kinline/shared/audio/g711"
	"github.com/kinline/kinline/shared/wire"
)

// NameDuration is how long the hotline records a name after the beep.
const NameDuration = 4 * time.Second

// speakTimeLimit bounds the run-time speech of one name (network-free,
// but espeak-ng may be slow on a small board).
const speakTimeLimit = 5 * time.Second

// whoIsCalling is the first sentence the called party hears: "You have a
// call from <name>, calling from <prison>." with whatever of the two can
// be said, or the generic "You have a call from a person in prison."
func (s *Server) whoIsCalling(ctx context.Context, personID, lang string, log logger) ([]byte, error) {
	var name, prison []byte
	if s.deps.Names != nil && personID != "" {
		rec, ok, err := s.deps.Names.RecordedName(personID)
		switch {
		case err != nil:
			log.Warn("recorded name unavailable", "person", personID, "err", err)
		case ok && len(rec) > 0:
			name = rec
		}
		pname, pprison := s.deps.Names.Identity(personID)
		if name == nil && pname != "" {
			name = s.speak(ctx, lang, pname, log)
		}
		if pprison != "" {
			prison = s.speak(ctx, lang, pprison, log)
		}
	}
	seq := func(ids ...prompts.ID) []byte {
		b, err := prompts.Sequence(lang, ids...)
		if err != nil {
			log.Warn("announcement prompt unavailable", "err", err)
		}
		return b
	}
	var out []byte
	switch {
	case name != nil && prison != nil:
		out = append(append(append(append(out, seq(prompts.FamilyCallFrom)...), name...), seq(prompts.FamilyCallingFrom)...), prison...)
	case name != nil:
		out = append(append(append(out, seq(prompts.FamilyCallFrom)...), name...), seq(prompts.FamilyFromAPrison)...)
	case prison != nil:
		out = append(append(out, seq(prompts.FamilyPersonCallingFrom)...), prison...)
	default:
		return prompts.Sequence(lang, prompts.FamilyAnnounce)
	}
	return out, nil
}

// speak says text with Deps.Speaker, or returns nil (logged; the lack of
// a synthesiser only once per server).
func (s *Server) speak(ctx context.Context, lang, text string, log logger) []byte {
	var err error
	var audio []byte
	if s.deps.Speaker == nil {
		err = prompts.ErrNoSpeech
	} else {
		ctx, cancel := context.WithTimeout(ctx, speakTimeLimit)
		audio, err = s.deps.Speaker.Speak(ctx, lang, text)
		cancel()
	}
	switch {
	case errors.Is(err, prompts.ErrNoSpeech):
		s.noSpeech.Do(func() {
			log.Warn("no speech synthesiser (install espeak-ng): names from the policy and the prison are not spoken to called parties", "err", err)
		})
		return nil
	case err != nil:
		log.Warn("name not spoken", "err", err)
		return nil
	}
	return audio
}

// prepareAnnouncement starts building the called party's announcement
// (speech takes a moment) while the trunk call is placed; the returned
// function waits for it. With ok false nothing could be built.
func (c *call) prepareAnnouncement(auth AuthResult, log logger) func() ([]byte, bool) {
	type built struct {
		audio []byte
		err   error
	}
	ch := make(chan built, 1)
	go func() {
		who, err := c.s.whoIsCalling(c.ctx, auth.PersonID, auth.Language, log)
		if err != nil {
			ch <- built{err: err}
			return
		}
		ids := []prompts.ID{}
		if auth.Record {
			ids = append(ids, prompts.CallRecorded)
		}
		ids = append(ids, prompts.FamilyOptions)
		rest, err := prompts.Sequence(auth.Language, ids...)
		ch <- built{audio: append(who, rest...), err: err}
	}()
	var res built
	var got bool
	return func() ([]byte, bool) {
		if !got {
			select {
			case res = <-ch:
			case <-c.ctx.Done():
				return nil, false
			}
			got = true
		}
		if res.err != nil {
			log.Warn("acceptance prompt unavailable", "err", res.err)
			return nil, false
		}
		return res.audio, true
	}
}

// nameLevel is the level under which a 20 ms frame of a recorded name is
// silence (-45 dBFS, as the prompts' trimming).
var nameLevel = math.Pow(10, -45.0/20) * 32768

// trimName cuts the silence before and after a recorded name, keeping
// 100 ms on each side; nil when nothing was said.
func trimName(audio []byte) []byte {
	const frame, margin = 160, 5
	loud := func(f []byte) bool {
		var sum float64
		for _, b := range f {
			v := float64(g711.DecodeUlaw(b))
			sum += v * v
		}
		return math.Sqrt(sum/float64(len(f))) >= nameLevel
	}
	first, last := -1, -1
	for i := 0; i*frame < len(audio); i++ {
		if loud(audio[i*frame : min(len(audio), (i+1)*frame)]) {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 {
		return nil
	}
	from := max(0, first-margin) * frame
	to := min(len(audio), (last+1+margin)*frame)
	return append([]byte(nil), audio[from:to]...)
}

// canRecordName reports whether the hotline offers menu option 3.
func (h *hotlineIVR) canRecordName() bool {
	return h.ivr.Features().Has(media.FeatureCapture) && h.c.s.deps.Names != nil
}

// recordName is menu option 3: "after the tone, say your name", a beep,
// NameDuration of the person's voice (leg A, before any number is
// dialled: no call, privileged or not, is involved), kept by Deps.Names,
// then played back. A silent recording keeps nothing; choosing 3 again
// records it anew.
func (h *hotlineIVR) recordName(caller Caller) error {
	c := h.c
	if err := h.inform(prompts.RecordNameAfterTone); err != nil {
		return err
	}
	if err := h.playAudio(false, prompts.Beep()); err != nil {
		return err
	}
	audio, err := h.ivr.Capture(c.ctx, media.LegA, NameDuration)
	if err != nil {
		if c.ctx.Err() != nil {
			return c.ctx.Err()
		}
		h.log.Warn("name not recorded", "err", err)
		return h.inform(prompts.TryAgain)
	}
	h.pending = nil // keys pressed while talking are not menu choices
	name := trimName(audio)
	if name == nil {
		h.log.Info("name recording silent: nothing kept", "person", caller.PersonID)
		return h.inform(prompts.NameNotHeard)
	}
	if err := c.s.deps.Names.SaveName(caller.PersonID, name); err != nil {
		h.log.Error("recorded name not saved", "person", caller.PersonID, "err", err)
		return h.inform(prompts.TryAgain)
	}
	h.log.Info("name recorded", "person", caller.PersonID, "ms", len(name)/8)
	lead, err := prompts.Sequence(h.language(), prompts.NameRecorded)
	if err != nil {
		return err
	}
	return h.playAudio(true, append(lead, name...))
}

// callLimit is the limit an authorized call runs under if bridged at
// now: Config.MaxDuration, shortened by the authorizer's MaxDuration and
// by what is left of the calling window, with what set it.
func (c *call) callLimit(auth AuthResult, now time.Time) (time.Duration, string) {
	d, by := c.s.cfg.MaxDuration, wire.LimitRule
	if auth.MaxDuration > 0 && auth.MaxDuration < d {
		d = auth.MaxDuration
		if auth.LimitedBy != "" {
			by = auth.LimitedBy
		}
	}
	end := auth.WindowEnd
	c.mu.Lock()
	decided := c.authAt
	c.mu.Unlock()
	if end.IsZero() && auth.LimitedBy == wire.LimitWindow && auth.MaxDuration > 0 && !decided.IsZero() {
		end = decided.Add(auth.MaxDuration)
	}
	if !end.IsZero() {
		if left := end.Sub(now); left < d {
			d, by = max(left, 0), wire.LimitWindow
		}
	}
	return d, by
}

// limited reports whether the call's limit is shorter than
// Config.MaxDuration (a rule, balance or window set it).
func (c *call) limited(d time.Duration) bool { return d < c.s.cfg.MaxDuration }
