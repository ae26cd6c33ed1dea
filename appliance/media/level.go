package media

import (
	"fmt"
	"log/slog"
	"math"

	"github.com/pion/opus"

	"github.com/kinline/kinline/shared/audio/g711"
)

// silenceSumSq is the per-sample mean square under which a frame is
// silent (SilenceDBFS of a full-scale 16-bit signal).
var silenceMeanSq = math.Pow(10, SilenceDBFS/10) * 32768 * 32768

// levelMeter accumulates a leg's level metadata, one frame (packet) at a
// time, without allocating.
type levelMeter struct {
	frames, silent, undecodable uint64
	speechSumSq                 float64
	speechSamples               uint64
}

// pcm measures one frame of 16-bit samples.
func (m *levelMeter) pcm(s []int16) {
	if len(s) == 0 {
		return
	}
	var sum float64
	for _, v := range s {
		f := float64(v)
		sum += f * f
	}
	m.add(sum, len(s))
}

// g711 measures one frame of G.711 code words.
func (m *levelMeter) g711(law g711.Law, p []byte) {
	if len(p) == 0 {
		return
	}
	var sum float64
	for _, b := range p {
		f := float64(law.Decode(b))
		sum += f * f
	}
	m.add(sum, len(p))
}

func (m *levelMeter) add(sumSq float64, n int) {
	m.frames++
	if sumSq/float64(n) < silenceMeanSq {
		m.silent++
		return
	}
	m.speechSumSq += sumSq
	m.speechSamples += uint64(n)
}

func (m *levelMeter) stats() AudioStats {
	st := AudioStats{Frames: m.frames, Silent: m.silent, Undecodable: m.undecodable, LevelDBFS: MinDBFS, SilenceRatio: 1}
	if m.frames > 0 {
		st.SilenceRatio = float64(m.silent) / float64(m.frames)
	}
	if m.speechSamples > 0 {
		ms := m.speechSumSq / float64(m.speechSamples) / (32768 * 32768)
		st.LevelDBFS = max(MinDBFS, 10*math.Log10(ms))
	}
	return st
}

// opusRate is the rate Opus legs are decoded at for measuring: SILK's
// wideband rate, enough for speech levels and cheaper than 48 kHz.
const opusRate = 16000

// opusMeter decodes an Opus leg with pion/opus to measure it. pion/opus
// decodes SILK frames (and some others); packets it refuses, and any
// panic inside it, are counted in undecodable and the decoder is reset.
type opusMeter struct {
	dec   opus.Decoder
	ready bool
	out   []int16
	log   *slog.Logger
	level levelMeter
}

// packet decodes and measures one Opus packet.
func (m *opusMeter) packet(p []byte) {
	if !m.ready {
		d, err := opus.NewDecoderWithOutput(opusRate, 1)
		if err != nil {
			m.level.undecodable++
			return
		}
		m.dec, m.ready = d, true
		m.out = make([]int16, opusRate*120/1000) // the longest packet: 120 ms
	}
	n, err := m.decode(p)
	if err != nil {
		m.level.undecodable++
		if m.level.undecodable == 1 && m.log != nil {
			m.log.Debug("media: opus packet not decodable (counted)", "err", err)
		}
		return
	}
	m.level.pcm(m.out[:n])
}

func (m *opusMeter) decode(p []byte) (n int, err error) {
	defer func() {
		if r := recover(); r != nil {
			m.ready = false // start afresh with the next packet
			n, err = 0, fmt.Errorf("pion/opus panicked: %v", r)
		}
	}()
	return m.dec.DecodeToInt16(p, m.out)
}
