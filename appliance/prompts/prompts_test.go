package prompts

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"math"
	"path/filepath"
	"slices"
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
		{policy.ErrPanelUnavailable, RefusedPanelUnavailable},
		{policy.ErrLockdown, RefusedLockdown},
		{fmt.Errorf("authz: %w", policy.ErrStorageFull), RefusedStorageFull},
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

// TestOfficerWaitEndingsSpokenApart: the three ways a wait for the
// officer ends without a confirmation (the cancel button, the window
// running out, the panel unavailable) are each spoken with a prompt of
// their own, different audio in every language.
func TestOfficerWaitEndingsSpokenApart(t *testing.T) {
	ends := []error{policy.ErrOfficerRefused, policy.ErrNotConfirmed, fmt.Errorf("%w: panel: busy", policy.ErrPanelUnavailable)}
	for _, lang := range Languages() {
		seen := map[string]error{}
		ids := map[ID]error{}
		for _, e := range ends {
			id, ok := ForReason(e)
			if !ok {
				t.Fatalf("%v: no prompt", e)
			}
			if other, dup := ids[id]; dup {
				t.Fatalf("%v and %v are both spoken as %s", e, other, id)
			}
			ids[id] = e
			audio, err := Get(lang, id)
			if err != nil {
				t.Fatal(err)
			}
			if other, dup := seen[string(audio)]; dup {
				t.Fatalf("%s: %v sounds the same as %v", lang, e, other)
			}
			seen[string(audio)] = e
		}
	}
}

// TestEveryPolicyErrorHasAPrompt lists the Err* variables declared in
// shared/policy from its source, so a sentinel added there without a
// prompt (or without an entry here) fails this test, and checks that
// ForReason gives each one a prompt that exists in every language.
func TestEveryPolicyErrorHasAPrompt(t *testing.T) {
	known := map[string]error{
		"ErrLockdown": policy.ErrLockdown, "ErrUnknownCard": policy.ErrUnknownCard, "ErrNoTap": policy.ErrNoTap,
		"ErrNotApproved": policy.ErrNotApproved, "ErrInactive": policy.ErrInactive, "ErrNoPolicy": policy.ErrNoPolicy,
		"ErrInvalidNumber": policy.ErrInvalidNumber, "ErrUnknownTerminal": policy.ErrUnknownTerminal,
		"ErrNotConfirmed": policy.ErrNotConfirmed, "ErrOfficerRefused": policy.ErrOfficerRefused,
		"ErrPanelUnavailable": policy.ErrPanelUnavailable, "ErrOutsideSchedule": policy.ErrOutsideSchedule,
		"ErrQuotaExceeded": policy.ErrQuotaExceeded, "ErrInsufficientBalance": policy.ErrInsufficientBalance,
		"ErrNumberBlocked": policy.ErrNumberBlocked, "ErrNoRate": policy.ErrNoRate, "ErrBadPIN": policy.ErrBadPIN,
		"ErrPINLocked": policy.ErrPINLocked, "ErrStorageFull": policy.ErrStorageFull,
	}
	files, err := filepath.Glob("../../shared/policy/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("policy sources not found: %v", err)
	}
	fset := token.NewFileSet()
	declared := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range af.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, sp := range gd.Specs {
				for _, n := range sp.(*ast.ValueSpec).Names {
					if !strings.HasPrefix(n.Name, "Err") || !n.IsExported() {
						continue
					}
					declared++
					e, ok := known[n.Name]
					if !ok {
						t.Errorf("policy.%s has no entry here: give it a prompt in ForReason and list it", n.Name)
						continue
					}
					id, ok := ForReason(fmt.Errorf("wrapped: %w", e))
					if !ok {
						t.Errorf("policy.%s: no prompt", n.Name)
						continue
					}
					for _, lang := range Languages() {
						if _, err := assets.ReadFile("assets/" + AssetPath(lang, id)); err != nil {
							t.Errorf("policy.%s: prompt %s has no %s audio", n.Name, id, lang)
						}
					}
				}
			}
		}
	}
	if declared != len(known) {
		t.Errorf("policy declares %d Err* variables, the table knows %d", declared, len(known))
	}
}

func TestMoneyIDs(t *testing.T) {
	for _, c := range []struct {
		amount int64
		digits int
		want   []ID
	}{
		{1250, 2, []ID{Digit1, Digit2, And, Digit5, Digit0, Cents}},
		{5, 2, []ID{Digit0, And, Digit0, Digit5, Cents}},
		{-307, 2, []ID{Minus, Digit3, And, Digit0, Digit7, Cents}},
		{42, 0, []ID{Digit4, Digit2}},
		{0, 2, []ID{Digit0, And, Digit0, Digit0, Cents}},
	} {
		if got := MoneyIDs(c.amount, c.digits); !slices.Equal(got, c.want) {
			t.Errorf("MoneyIDs(%d, %d) = %v, want %v", c.amount, c.digits, got, c.want)
		}
		if _, err := Sequence("es", MoneyIDs(c.amount, c.digits)...); err != nil {
			t.Errorf("MoneyIDs(%d, %d) unspeakable: %v", c.amount, c.digits, err)
		}
	}
}
