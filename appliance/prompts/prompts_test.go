package prompts

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"strings"
	"testing"

	"github.com/kinline/kinline/shared/audio/g711"
	"github.com/kinline/kinline/shared/policy"
)

func TestEveryPromptExistsInEveryLanguage(t *testing.T) {
	all, err := load()
	if err != nil {
		t.Fatal(err)
	}
	if len(IDs()) < 40 {
		t.Fatalf("catalogue has only %d prompts", len(IDs()))
	}
	seen := map[ID]bool{}
	for _, e := range Catalogue() {
		if seen[e.ID] {
			t.Errorf("duplicate id %q", e.ID)
		}
		seen[e.ID] = true
		for _, lang := range Languages() {
			if strings.TrimSpace(e.Text[lang]) == "" {
				t.Errorf("%s has no %s text", e.ID, lang)
			}
			s, ok := all[lang][e.ID]
			if !ok {
				t.Errorf("%s: no asset", AssetPath(lang, e.ID))
				continue
			}
			checkSpeech(t, AssetPath(lang, e.ID), s)
		}
		if e.Text["en"] == e.Text["es"] {
			t.Errorf("%s: Spanish text is the English one", e.ID)
		}
	}
	if Languages()[0] != DefaultLang {
		t.Fatalf("default language %q is not first", DefaultLang)
	}
}

// checkSpeech asserts the samples are speech at a usable level: not
// silent, not clipped all the time, peak near the -3 dBFS normalisation,
// and of a plausible length.
func checkSpeech(t *testing.T, name string, s []byte) {
	t.Helper()
	if n := len(s); n < 2000 || n > 12*SampleRate {
		t.Errorf("%s: %d samples", name, n)
		return
	}
	var peak float64
	var sum float64
	for _, b := range s {
		v := math.Abs(float64(g711.DecodeUlaw(b))) / 32768
		peak = max(peak, v)
		sum += v * v
	}
	rms := math.Sqrt(sum / float64(len(s)))
	if peak < 0.5 || peak > 0.9 {
		t.Errorf("%s: peak %.2f of full scale, want about 0.7 (-3 dBFS)", name, peak)
	}
	if rms < 0.03 {
		t.Errorf("%s: rms %.3f: nearly silent", name, rms)
	}
	// Lead and tail silence are there (so Sequence joins cleanly).
	for _, b := range append(bytes.Clone(s[:300]), s[len(s)-800:]...) {
		if math.Abs(float64(g711.DecodeUlaw(b))) > 400 {
			t.Errorf("%s: no silent lead/tail", name)
			break
		}
	}
}

func TestManifestMatchesFilesAndCatalogue(t *testing.T) {
	m, err := LoadManifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.EspeakNG == "" || m.Sox == "" || m.Pipeline == "" || m.Format != "wav/pcmu-mono-8000" {
		t.Fatalf("manifest header incomplete: %+v", m)
	}
	want := map[string]bool{}
	for _, lang := range Languages() {
		for _, id := range IDs() {
			want[AssetPath(lang, id)] = true
		}
	}
	listed := map[string]bool{}
	for _, a := range m.Files {
		if listed[a.Path] {
			t.Errorf("%s listed twice", a.Path)
		}
		listed[a.Path] = true
		if !want[a.Path] || a.Path != AssetPath(a.Lang, a.ID) {
			t.Errorf("manifest lists %s (lang %s id %s), not in the catalogue", a.Path, a.Lang, a.ID)
			continue
		}
		b, err := AssetBytes(a.Path)
		if err != nil {
			t.Errorf("%s: %v", a.Path, err)
			continue
		}
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != a.SHA256 {
			t.Errorf("%s: sha256 %s, manifest says %s", a.Path, got, a.SHA256)
		}
		s, err := DecodeWAV(b)
		if err != nil || len(s) != a.Samples {
			t.Errorf("%s: %d samples (%v), manifest says %d", a.Path, len(s), err, a.Samples)
		}
		if text, _ := Text(a.Lang, a.ID); text != a.Text {
			t.Errorf("%s: catalogue says %q but the audio was made from %q: run go run ./appliance/prompts/gen", a.Path, text, a.Text)
		}
	}
	for p := range want {
		if !listed[p] {
			t.Errorf("%s missing from the manifest: run go run ./appliance/prompts/gen", p)
		}
	}
	// No stray files: everything embedded is in the manifest.
	err = fs.WalkDir(assets, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel := strings.TrimPrefix(p, "assets/")
		if rel != ManifestName && !listed[rel] {
			t.Errorf("stray asset %s", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestGetFallsBackToEnglish(t *testing.T) {
	en, err := Get("en", TapCard)
	if err != nil {
		t.Fatal(err)
	}
	es, err := Get("es", TapCard)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(en, es) {
		t.Fatal("English and Spanish prompts are the same audio")
	}
	for _, lang := range []string{"es-MX", "ES", "es_419", " es "} {
		if got, _ := Get(lang, TapCard); !bytes.Equal(got, es) {
			t.Errorf("Get(%q) is not the Spanish prompt", lang)
		}
	}
	for _, lang := range []string{"", "fr", "zz-ZZ", "english"} {
		if got, _ := Get(lang, TapCard); !bytes.Equal(got, en) {
			t.Errorf("Get(%q) did not fall back to English", lang)
		}
	}
	// A language that lacks one prompt gets the English one for it only.
	all, _ := load()
	saved := all["es"][Goodbye]
	delete(all["es"], Goodbye)
	t.Cleanup(func() { all["es"][Goodbye] = saved })
	enBye, _ := Get("en", Goodbye)
	if got, err := Get("es", Goodbye); err != nil || !bytes.Equal(got, enBye) {
		t.Errorf("missing Spanish prompt: got %d bytes, %v; want the English one", len(got), err)
	}
	if got, _ := Sequence("es", TapCard, Goodbye); !bytes.Equal(got, append(bytes.Clone(es), enBye...)) {
		t.Error("Sequence did not fall back per prompt")
	}

	// Get returns a copy: changing it does not change the next Get.
	en[0] ^= 0xFF
	if again, _ := Get("en", TapCard); again[0] == en[0] {
		t.Error("Get returned shared storage")
	}
	if _, err := Get("en", ID("no_such_prompt")); !errors.Is(err, ErrUnknownPrompt) {
		t.Errorf("unknown id: %v", err)
	}
}

func TestSequenceAndNumber(t *testing.T) {
	for _, lang := range Languages() {
		parts := [][]byte{}
		for _, id := range []ID{YouHave, Digit1, Digit2, Minutes} {
			b, err := Get(lang, id)
			if err != nil {
				t.Fatal(err)
			}
			parts = append(parts, b)
		}
		seq, err := Sequence(lang, YouHave, Digit1, Digit2, Minutes)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(seq, bytes.Join(parts, nil)) {
			t.Errorf("%s: Sequence is not the concatenation", lang)
		}
		num, err := Number(lang, "12")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(num, append(bytes.Clone(parts[1]), parts[2]...)) {
			t.Errorf("%s: Number(12) is not digit 1 then digit 2", lang)
		}
	}
	ids, err := DigitIDs("0123456789.5")
	if err != nil {
		t.Fatal(err)
	}
	want := []ID{Digit0, Digit1, Digit2, Digit3, Digit4, Digit5, Digit6, Digit7, Digit8, Digit9, Point, Digit5}
	if fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Errorf("DigitIDs = %v", ids)
	}
	for _, bad := range []string{"", "12a", "-1", "١٢"} {
		if _, err := Number("en", bad); !errors.Is(err, ErrNotDigits) {
			t.Errorf("Number(%q) = %v, want ErrNotDigits", bad, err)
		}
	}
	if _, err := Sequence("en", TapCard, ID("nope")); !errors.Is(err, ErrUnknownPrompt) {
		t.Errorf("Sequence with unknown id: %v", err)
	}
}

func TestForReason(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want ID
	}{
		{policy.ErrUnknownCard, RefusedUnknownCard},
		{policy.ErrNoTap, RefusedNoCard},
		{policy.ErrNotApproved, RefusedNotApproved},
		{policy.ErrInactive, RefusedInactive},
		{policy.ErrNoPolicy, RefusedNoPolicy},
		{policy.ErrInvalidNumber, RefusedInvalidNumber},
		{fmt.Errorf("authz: %w", policy.ErrUnknownTerminal), RefusedUnknownTerminal},
		{policy.ErrOfficerRefused, RefusedOfficer},
		{policy.ErrNotConfirmed, RefusedNotConfirmed},
		{policy.ErrPanelUnavailable, RefusedNotConfirmed},
		{policy.ErrLockdown, RefusedLockdown},
	} {
		got, ok := ForReason(tc.err)
		if !ok || got != tc.want {
			t.Errorf("ForReason(%v) = %q %v, want %q", tc.err, got, ok, tc.want)
		}
		if _, err := Get("es", got); err != nil {
			t.Error(err)
		}
	}
	if _, ok := ForReason(errors.New("something else")); ok {
		t.Error("unrelated error mapped to a prompt")
	}
}
