package load

import (
	"strings"
	"testing"
)

func TestParseCounts(t *testing.T) {
	in := "CurrentTime;ElapsedTime;0_INVITE_Sent;2_503_Recv;7_503_Recv;8_403_Recv;\n" +
		"2026-12-08\t00:59:13.933482\t1796691553.933482;00:00:00:001000;0;0;0;0;\n" +
		"2026-12-08\t00:59:16.934579\t1796691556.934579;00:00:03:001000;600;20;12;568;\n"
	c, err := parseCounts(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if c["0_INVITE_Sent"] != 600 || c["2_503_Recv"] != 20 || c["7_503_Recv"] != 12 || c["8_403_Recv"] != 568 {
		t.Fatalf("counts = %v", c)
	}
	if _, ok := c["CurrentTime"]; ok {
		t.Errorf("a time column taken for a count: %v", c)
	}
	for _, bad := range []string{"", "only;a;header\n", "\n\n"} {
		if _, err := parseCounts(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// FuzzParseCounts: any bytes in a counts file give counts or an error,
// never a panic.
func FuzzParseCounts(f *testing.F) {
	f.Add("a;b;\n1;2;\n")
	f.Add("CurrentTime;4_INVITE_Sent;\nx;;;;;\n")
	f.Add(";;;\n;;;\n")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseCounts(strings.NewReader(s))
		if err == nil && c == nil {
			t.Fatal("nil counts without an error")
		}
	})
}
