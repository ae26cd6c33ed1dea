package dtmf

import "math"

// The DTMF frequencies (ITU-T Q.23): rows (low group) and columns (high
// group). Key rows*4+cols in "123A456B789C*0#D".
var (
	rowFreqs = [4]float64{697, 770, 852, 941}
	colFreqs = [4]float64{1209, 1336, 1477, 1633}
)

const keypad = "123A456B789C*0#D"

// BlockSize is the Goertzel block: 102 samples (12.75 ms at 8 kHz). At
// this length the neighbouring DTMF frequencies fall near the first null
// of each other's filter, so one tone hardly leaks into the next row's.
const BlockSize = 102

// SampleRate is the rate the Detector expects.
const SampleRate = 8000

// DetectorConfig tunes the in-band detector. The zero value gives the
// defaults, which follow common practice for telephone-grade detectors
// (Bellcore twist limits, ~-36 dBFS sensitivity).
type DetectorConfig struct {
	// MinLevel is the weakest tone accepted, as a peak amplitude relative
	// to full scale (default 0.015, about -36 dBFS per tone).
	MinLevel float64
	// NormalTwistDB is how much stronger the high-group tone may be than
	// the low-group one (default 8 dB); ReverseTwistDB the other way
	// round (default 4 dB).
	NormalTwistDB, ReverseTwistDB float64
	// PeakDB is how much the chosen tone of each group must exceed the
	// group's other three frequencies (default 8 dB).
	PeakDB float64
	// MinToneRatio is the share of the block's energy the two tones must
	// carry (default 0.6): speech and noise spread energy elsewhere.
	MinToneRatio float64
	// HitsToBegin is how many consecutive blocks must hold the same key
	// before it is reported (default 2). With 12.75 ms blocks, a press
	// of 40 ms always spans two whole blocks and is reported; a press of
	// 20 ms or less never is (see stableRatio).
	HitsToBegin int
	// MissesToEnd is how many consecutive blocks without the key end the
	// press (default 2, 25.5 ms): a one-block dropout inside a long
	// press does not report the key twice.
	MissesToEnd int
}

func (c DetectorConfig) withDefaults() DetectorConfig {
	if c.MinLevel <= 0 {
		c.MinLevel = 0.015
	}
	if c.NormalTwistDB <= 0 {
		c.NormalTwistDB = 8
	}
	if c.ReverseTwistDB <= 0 {
		c.ReverseTwistDB = 4
	}
	if c.PeakDB <= 0 {
		c.PeakDB = 8
	}
	if c.MinToneRatio <= 0 {
		c.MinToneRatio = 0.6
	}
	if c.HitsToBegin <= 0 {
		c.HitsToBegin = 2
	}
	if c.MissesToEnd <= 0 {
		c.MissesToEnd = 2
	}
	return c
}

// stableRatio is the least energy either half of a block may hold
// relative to the other for the block to count: a tone must cover most of
// a block, so its partly covered first and last blocks do not add up to a
// press. With HitsToBegin 2, presses of 20 ms or less are never reported
// and presses from 38.25 ms on always are (the tests check every
// alignment).
const stableRatio = 0.7

// Detector finds DTMF key presses in 8 kHz 16-bit linear PCM, block by
// block, and reports each press once, when it has lasted HitsToBegin
// blocks. Create it with NewDetector; it is not safe for concurrent use.
type Detector struct {
	cfg DetectorConfig

	coeff   [8]float64
	minTone float64 // energy of one tone at MinLevel over a block
	normal  float64 // linear power ratios
	reverse float64
	peak    float64
	block   [BlockSize]float64
	n       int
	cand    byte // key seen in the latest blocks
	run     int  // consecutive blocks with cand
	active  byte // key being pressed (reported), 0 if none
	misses  int
}

// NewDetector returns a Detector; a zero cfg gives the defaults.
func NewDetector(cfg DetectorConfig) *Detector {
	cfg = cfg.withDefaults()
	d := &Detector{cfg: cfg}
	for i, f := range append(rowFreqs[:], colFreqs[:]...) {
		d.coeff[i] = 2 * math.Cos(2*math.Pi*f/SampleRate)
	}
	d.minTone = cfg.MinLevel * cfg.MinLevel * BlockSize / 2
	d.normal = math.Pow(10, cfg.NormalTwistDB/10)
	d.reverse = math.Pow(10, cfg.ReverseTwistDB/10)
	d.peak = math.Pow(10, cfg.PeakDB/10)
	return d
}

// Reset forgets any partial block and press in progress.
func (d *Detector) Reset() {
	d.n, d.cand, d.run, d.active, d.misses = 0, 0, 0, 0, 0
}

// Detect consumes samples (any number, continuing the stream of earlier
// calls) and appends the keys of presses that began to dst, returning
// it. Allocation-free when dst has room.
func (d *Detector) Detect(dst []rune, samples []int16) []rune {
	for _, s := range samples {
		d.block[d.n] = float64(s) / 32768
		d.n++
		if d.n == BlockSize {
			d.n = 0
			if k := d.step(d.classify()); k != 0 {
				dst = append(dst, rune(k))
			}
		}
	}
	return dst
}

// step advances the press state machine by one block holding key k (0
// for none) and returns a key to report, or 0.
func (d *Detector) step(k byte) byte {
	if k != 0 && k == d.cand {
		d.run++
	} else {
		d.cand, d.run = k, 1
	}
	if d.active != 0 {
		if k == d.active {
			d.misses = 0
			return 0
		}
		d.misses++
		if d.misses >= d.cfg.MissesToEnd {
			d.active = 0
		} else if k == 0 || d.run < d.cfg.HitsToBegin {
			return 0
		}
	}
	if k != 0 && k != d.active && d.run >= d.cfg.HitsToBegin {
		d.active, d.misses = k, 0
		return k
	}
	return 0
}

// classify returns the key whose two tones dominate the current block, or
// 0.
func (d *Detector) classify() byte {
	var s1, s2 [8]float64
	var energy, h1, h2 float64
	for i, x := range d.block {
		if i < BlockSize/2 {
			h1 += x * x
		} else {
			h2 += x * x
		}
		for j := range 8 {
			s := x + d.coeff[j]*s1[j] - s2[j]
			s2[j], s1[j] = s1[j], s
		}
	}
	energy = h1 + h2
	if energy == 0 {
		return 0
	}
	var e [8]float64
	for j := range 8 {
		// Energy of the component: |X|^2 * 2 / N (a sine of amplitude A
		// over N samples gives A^2 N / 2, its share of sum x^2).
		p := s1[j]*s1[j] + s2[j]*s2[j] - d.coeff[j]*s1[j]*s2[j]
		e[j] = 2 * p / BlockSize
	}
	row, col := 0, 4
	for j := 1; j < 4; j++ {
		if e[j] > e[row] {
			row = j
		}
		if e[4+j] > e[col] {
			col = 4 + j
		}
	}
	er, ec := e[row], e[col]
	switch {
	case er < d.minTone || ec < d.minTone:
		return 0
	case ec > er*d.normal || er > ec*d.reverse:
		return 0 // twist out of range
	case er+ec < d.cfg.MinToneRatio*energy:
		return 0 // other sound dominates: speech, noise, music
	case min(h1, h2) < stableRatio*max(h1, h2):
		return 0 // the sound starts or stops inside the block
	}
	for j := range 4 {
		if j != row && e[j]*d.peak > er {
			return 0
		}
		if 4+j != col && e[4+j]*d.peak > ec {
			return 0
		}
	}
	return keypad[row*4+col-4]
}
