package wire

import (
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// TestCapabilityHistory: the history in capver.go has one dated line per
// capability, numbered 1 to CurrentCapabilityVersion in order, with dates
// that never go back.
func TestCapabilityHistory(t *testing.T) {
	src, err := os.ReadFile("capver.go")
	if err != nil {
		t.Fatal(err)
	}
	lines := regexp.MustCompile(`(?m)^//   - (\d+), (\d{4}-\d{2}-\d{2}): `).FindAllSubmatch(src, -1)
	if len(lines) != int(CurrentCapabilityVersion) {
		t.Fatalf("%d history lines, want %d (CurrentCapabilityVersion)", len(lines), CurrentCapabilityVersion)
	}
	var last time.Time
	for i, m := range lines {
		n, _ := strconv.Atoi(string(m[1]))
		if n != i+1 {
			t.Fatalf("history line %d numbers capability %d", i+1, n)
		}
		d, err := time.Parse(time.DateOnly, string(m[2]))
		if err != nil {
			t.Fatalf("capability %d: %v", n, err)
		}
		if d.Before(last) {
			t.Fatalf("capability %d dated %s, before the previous line", n, m[2])
		}
		last = d
	}
}
