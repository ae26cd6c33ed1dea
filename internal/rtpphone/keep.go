package rtpphone

// WithAudioKeep makes the phone keep the latest samples of received audio
// (Audio) instead of the default two seconds, for tests that check a
// whole announcement.
func WithAudioKeep(samples int) Option {
	return func(p *Phone) {
		if samples > 0 {
			p.audio = make([]int16, samples)
		}
	}
}
