package number

import "testing"

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"+44 (20) 7946-0001":                 "+442079460001",
		"0044 20":                            "+4420",
		"5550100":                            "5550100",
		" 5550100 ":                          "5550100",
		"":                                   "",
		"+":                                  "",
		"12+3":                               "",
		"sip:123":                            "",
		"++1":                                "",
		"+123456789012345678901234567890123": "",
	} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
		if got := Normalize(in); got != "" && !IsNormalized(got) {
			t.Errorf("IsNormalized(%q) false", got)
		}
	}
	if IsNormalized("0044") || IsNormalized("+") || IsNormalized("1 2") {
		t.Error("IsNormalized accepts a number Normalize would change")
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"+44 20 7946 0001", "0044", "(555) 010-0", "", "+", "\x00", "00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := Normalize(s)
		if IsNormalized(s) && n != s {
			t.Fatalf("normalized %q changed to %q", s, n)
		}
		if n == "" {
			return
		}
		if !IsNormalized(n) || Normalize(n) != n {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, n, Normalize(n))
		}
	})
}
