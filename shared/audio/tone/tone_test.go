package tone

import (
	"math"
	"testing"
)

func TestPowerSeparatesTones(t *testing.T) {
	buf := make([]int16, 8000)
	Sine(buf, 440, 8000, 16000, 0)
	p440 := Power(buf, 440, 8000)
	p1000 := Power(buf, 1000, 8000)
	// amplitude 16000/32768 ~ 0.488 -> power ~ 0.488^2/4 ~ 0.0596
	if math.Abs(p440-0.0596) > 0.005 {
		t.Fatalf("power at 440 = %v, want ~0.0596", p440)
	}
	if p1000 > p440/1000 {
		t.Fatalf("power at 1000 = %v, too close to %v", p1000, p440)
	}
	f, _ := Dominant(buf, 8000, 1000, 440, 2000)
	if f != 440 {
		t.Fatalf("dominant = %v, want 440", f)
	}
	if r := RMS(buf); math.Abs(r-0.488/math.Sqrt2) > 0.01 {
		t.Fatalf("rms = %v", r)
	}
	if Power(make([]int16, 100), 440, 8000) != 0 || RMS(nil) != 0 || Power(nil, 1, 1) != 0 {
		t.Fatal("silence has power")
	}
	if f, p := Dominant(buf, 8000); f != 0 || p != 0 {
		t.Fatal("no candidates must give zero")
	}
}

func TestSineContinues(t *testing.T) {
	whole := make([]int16, 320)
	Sine(whole, 300, 8000, 10000, 0)
	a, b := make([]int16, 160), make([]int16, 160)
	Sine(a, 300, 8000, 10000, 0)
	Sine(b, 300, 8000, 10000, 160)
	for i := range 160 {
		if a[i] != whole[i] || b[i] != whole[160+i] {
			t.Fatalf("sample %d differs", i)
		}
	}
}
