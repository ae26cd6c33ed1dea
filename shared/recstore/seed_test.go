package recstore

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestWriteFuzzSeeds regenerates the FuzzReader seed files (valid files
// sealed with fuzzKey) when KINLINE_WRITE_SEEDS=1; otherwise it checks
// that the committed seeds still open.
func TestWriteFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzReader")
	sizes := map[string]int{"empty": 0, "small": 40, "two_segments": SegmentSize + 3}
	for name, n := range sizes {
		seed := filepath.Join(dir, name)
		if os.Getenv("KINLINE_WRITE_SEEDS") == "1" {
			path := filepath.Join(t.TempDir(), name)
			w, err := Create(path, fuzzKey())
			if err != nil {
				t.Fatal(err)
			}
			w.Write(payload(n, uint64(n)))
			if _, _, err := w.Close(); err != nil {
				t.Fatal(err)
			}
			raw, _ := os.ReadFile(path)
			os.WriteFile(seed, fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", raw), 0o644)
		}
		if _, err := os.Stat(seed); err != nil {
			t.Fatalf("seed %s missing (run with KINLINE_WRITE_SEEDS=1): %v", name, err)
		}
	}
}
