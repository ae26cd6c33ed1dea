// Package tone generates and measures pure tones in 16-bit linear PCM, for
// tests and simulators that need to tell which audio went where (for
// example which channel of a call recording carries which party).
package tone

import "math"

// Sine fills dst with a sine of freq Hz at the given peak amplitude,
// sampled at rate Hz, starting at sample index offset (so consecutive
// calls continue the same wave).
func Sine(dst []int16, freq, rate, amplitude float64, offset int) {
	step := 2 * math.Pi * freq / rate
	for i := range dst {
		dst[i] = int16(amplitude * math.Sin(step*float64(offset+i)))
	}
}

// Power returns the power of the freq Hz component of samples (sampled at
// rate Hz) by the Goertzel algorithm, normalised so that a full-scale sine
// exactly at freq over the whole block gives about 0.25 and silence gives 0.
func Power(samples []int16, freq, rate float64) float64 {
	if len(samples) == 0 {
		return 0
	}
	coeff := 2 * math.Cos(2*math.Pi*freq/rate)
	var s1, s2 float64
	for _, x := range samples {
		s := float64(x)/32768 + coeff*s1 - s2
		s2, s1 = s1, s
	}
	p := s1*s1 + s2*s2 - coeff*s1*s2
	n := float64(len(samples))
	return p / (n * n)
}

// Dominant returns the candidate frequency with the most power in samples,
// and that power. It returns (0, 0) when there are no candidates.
func Dominant(samples []int16, rate float64, candidates ...float64) (freq, power float64) {
	for _, f := range candidates {
		if p := Power(samples, f, rate); p > power || freq == 0 {
			freq, power = f, p
		}
	}
	return freq, power
}

// RMS returns the root-mean-square level of samples relative to full scale
// (0 for silence, about 0.707 for a full-scale sine).
func RMS(samples []int16) float64 {
	if len(samples) == 0 {
		return 0
	}
	var sum float64
	for _, x := range samples {
		v := float64(x) / 32768
		sum += v * v
	}
	return math.Sqrt(sum / float64(len(samples)))
}
