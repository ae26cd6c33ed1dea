package pin

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestHashVerify(t *testing.T) {
	h, err := Hash("4711")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=8192,t=2,p=1$") {
		t.Fatalf("hash format: %s", h)
	}
	if strings.Contains(h, "4711") {
		t.Fatalf("hash contains the PIN: %s", h)
	}
	ok, err := Verify(h, "4711")
	if err != nil || !ok {
		t.Fatalf("Verify(right) = %v, %v", ok, err)
	}
	ok, err = Verify(h, "4712")
	if err != nil || ok {
		t.Fatalf("Verify(wrong) = %v, %v", ok, err)
	}
	h2, _ := Hash("4711")
	if h2 == h {
		t.Fatal("two hashes of one PIN are equal: salt not random")
	}
}

func TestVerifyTime(t *testing.T) {
	h, _ := Hash("1234")
	start := time.Now()
	const n = 5
	for range n {
		if ok, _ := Verify(h, "1234"); !ok {
			t.Fatal("no match")
		}
	}
	t.Logf("Verify takes %v on this machine (target ~50 ms on ARM)", time.Since(start)/n)
}

func TestParseRejects(t *testing.T) {
	good, _ := Hash("0000")
	parts := strings.Split(good, "$")
	for name, enc := range map[string]string{
		"empty":       "",
		"bcrypt":      "$2a$10$abcdefghijklmnopqrstuv",
		"argon2i":     strings.Replace(good, "argon2id", "argon2i", 1),
		"version":     strings.Replace(good, "v=19", "v=16", 1),
		"huge memory": "$argon2id$v=19$m=4194304,t=2,p=1$" + parts[4] + "$" + parts[5],
		"many passes": "$argon2id$v=19$m=8192,t=1000,p=1$" + parts[4] + "$" + parts[5],
		"zero lanes":  "$argon2id$v=19$m=8192,t=2,p=0$" + parts[4] + "$" + parts[5],
		"bad salt":    "$argon2id$v=19$m=8192,t=2,p=1$!!!$" + parts[5],
		"short key":   "$argon2id$v=19$m=8192,t=2,p=1$" + parts[4] + "$AAAA",
		"extra part":  good + "$x",
	} {
		if _, err := Verify(enc, "0000"); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: err = %v, want ErrFormat", name, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("$argon2id$v=19$m=8192,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U")
	f.Add("$argon2id$v=19$m=,t=,p=$$")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error not ErrFormat: %v", err)
			}
			return
		}
		if p.Memory > maxMemory || p.Time > maxTime || p.Threads > maxThreads || p.Threads == 0 {
			t.Fatalf("accepted out-of-range parameters %+v", p)
		}
	})
}
