// Package prompts holds the spoken prompts of the appliance's IVR: tap
// your card, enter your PIN, every refusal reason, balance and time
// warnings, digits for reading numbers back, in several languages.
//
// The audio is generated ahead of time from the catalogue (catalogue.go)
// by espeak-ng and sox (go run ./appliance/prompts/gen), committed under
// assets/<lang>/<id>.wav as 8 kHz mono µ-law WAV files with a manifest of
// their SHA-256 sums, and embedded in the binary, so the appliance needs no
// speech synthesiser at run time. Get returns a prompt's µ-law samples,
// ready for media.Session.Play; Sequence and Number join prompts into
// sentences such as "you have" 1 2 "minutes".
package prompts

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/kinline/kinline/shared/audio/wav"
	"github.com/kinline/kinline/shared/policy"
)

// SampleRate is the rate of every prompt: 8000 samples per second, one
// µ-law byte per sample.
const SampleRate = 8000

// ManifestName is the manifest's file name inside the assets directory.
const ManifestName = "manifest.json"

// Errors of the prompts layer.
var (
	ErrUnknownPrompt = errors.New("prompts: unknown prompt")
	ErrAsset         = errors.New("prompts: embedded asset unusable")
	ErrNotDigits     = errors.New("prompts: not a number to read")
)

//go:embed assets
var assets embed.FS

// Manifest describes the generated assets: the tools that made them and
// every file's text and SHA-256. The generator writes it; a test checks
// it against the catalogue and the files.
type Manifest struct {
	Format   string  `json:"format"`
	EspeakNG string  `json:"espeak_ng"`
	Sox      string  `json:"sox"`
	Pipeline string  `json:"pipeline"`
	Files    []Asset `json:"files"`
}

// Asset is one generated file in the Manifest.
type Asset struct {
	Path    string `json:"path"` // relative to assets/, e.g. "es/tap_card.wav"
	Lang    string `json:"lang"`
	ID      ID     `json:"id"`
	Voice   string `json:"voice"`
	Speed   int    `json:"speed"`
	Text    string `json:"text"`
	Samples int    `json:"samples"`
	SHA256  string `json:"sha256"`
}

// AssetPath is where prompt id in lang lives, relative to assets/.
func AssetPath(lang string, id ID) string { return lang + "/" + string(id) + ".wav" }

// LoadManifest returns the embedded manifest.
func LoadManifest() (Manifest, error) {
	var m Manifest
	b, err := assets.ReadFile("assets/" + ManifestName)
	if err != nil {
		return m, fmt.Errorf("%w: %w", ErrAsset, err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("%w: manifest: %w", ErrAsset, err)
	}
	return m, nil
}

// AssetBytes returns an embedded file (a WAV or the manifest) as stored.
func AssetBytes(rel string) ([]byte, error) {
	b, err := assets.ReadFile("assets/" + rel)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrAsset, err)
	}
	return b, nil
}

// DecodeWAV returns the samples of an 8 kHz mono µ-law WAV file.
func DecodeWAV(b []byte) ([]byte, error) {
	rd, err := wav.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrAsset, err)
	}
	if rd.Encoding != wav.Mulaw || rd.Channels != 1 || rd.SampleRate != SampleRate {
		return nil, fmt.Errorf("%w: want 8 kHz mono µ-law, have %v %d ch %d Hz", ErrAsset, rd.Encoding, rd.Channels, rd.SampleRate)
	}
	s, err := io.ReadAll(rd)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrAsset, err)
	}
	return s, nil
}

var (
	loadOnce sync.Once
	loaded   map[string]map[ID][]byte // lang -> id -> µ-law samples
	loadErr  error
)

// load decodes every embedded prompt once.
func load() (map[string]map[ID][]byte, error) {
	loadOnce.Do(func() {
		loaded = map[string]map[ID][]byte{}
		for _, v := range voices {
			loaded[v.Lang] = map[ID][]byte{}
			for _, e := range catalogue {
				b, err := assets.ReadFile("assets/" + AssetPath(v.Lang, e.ID))
				if err != nil {
					continue // missing in this language: Get falls back
				}
				s, err := DecodeWAV(b)
				if err != nil {
					loadErr = fmt.Errorf("%s: %w", AssetPath(v.Lang, e.ID), err)
					return
				}
				loaded[v.Lang][e.ID] = s
			}
		}
	})
	return loaded, loadErr
}

// NormalizeLang maps a person's language ("es-MX", "ES", "es_419", "")
// to a catalogue code; languages the catalogue lacks, and the empty
// string, map to DefaultLang.
func NormalizeLang(lang string) string {
	lang = strings.ToLower(strings.TrimSpace(lang))
	if i := strings.IndexAny(lang, "-_"); i >= 0 {
		lang = lang[:i]
	}
	for _, v := range voices {
		if v.Lang == lang {
			return lang
		}
	}
	return DefaultLang
}

// Get returns prompt id's audio in lang as 8 kHz µ-law samples (a fresh
// copy the caller may keep or change). When lang, or the prompt in lang,
// is missing, it returns the DefaultLang prompt.
func Get(lang string, id ID) ([]byte, error) {
	all, err := load()
	if err != nil {
		return nil, err
	}
	if s, ok := all[NormalizeLang(lang)][id]; ok {
		return bytes.Clone(s), nil
	}
	if s, ok := all[DefaultLang][id]; ok {
		return bytes.Clone(s), nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownPrompt, id)
}

// Sequence returns the prompts ids said one after the other in lang (each
// with the fallback of Get). Every prompt carries its own short lead and
// tail silence, so pieces join without running into each other.
func Sequence(lang string, ids ...ID) ([]byte, error) {
	all, err := load()
	if err != nil {
		return nil, err
	}
	lang = NormalizeLang(lang)
	var out []byte
	for _, id := range ids {
		s, ok := all[lang][id]
		if !ok {
			s, ok = all[DefaultLang][id]
		}
		if !ok {
			return nil, fmt.Errorf("%w: %q", ErrUnknownPrompt, id)
		}
		out = append(out, s...)
	}
	return out, nil
}

// DigitIDs returns the prompts that read digits one by one: "0"-"9", and
// "." or "," as Point (for balances such as "12.50").
func DigitIDs(digits string) ([]ID, error) {
	if digits == "" {
		return nil, fmt.Errorf("%w: empty", ErrNotDigits)
	}
	ids := make([]ID, 0, len(digits))
	for _, r := range digits {
		switch {
		case r >= '0' && r <= '9':
			ids = append(ids, ID(fmt.Sprintf("digit_%c", r)))
		case r == '.' || r == ',':
			ids = append(ids, Point)
		default:
			return nil, fmt.Errorf("%w: %q", ErrNotDigits, digits)
		}
	}
	return ids, nil
}

// Number reads digits one by one in lang, e.g. "12" as "one two"; see
// DigitIDs for what it accepts.
func Number(lang, digits string) ([]byte, error) {
	ids, err := DigitIDs(digits)
	if err != nil {
		return nil, err
	}
	return Sequence(lang, ids...)
}

// ForReason returns the refusal prompt for one of the policy's refusal
// errors (matched with errors.Is, so wrapped errors work).
func ForReason(err error) (ID, bool) {
	for _, r := range []struct {
		err error
		id  ID
	}{
		{policy.ErrUnknownCard, RefusedUnknownCard},
		{policy.ErrNoTap, RefusedNoCard},
		{policy.ErrNotApproved, RefusedNotApproved},
		{policy.ErrInactive, RefusedInactive},
		{policy.ErrNoPolicy, RefusedNoPolicy},
		{policy.ErrInvalidNumber, RefusedInvalidNumber},
		{policy.ErrUnknownTerminal, RefusedUnknownTerminal},
		{policy.ErrOfficerRefused, RefusedOfficer},
		{policy.ErrNotConfirmed, RefusedNotConfirmed},
		{policy.ErrPanelUnavailable, RefusedPanelUnavailable},
		{policy.ErrLockdown, RefusedLockdown},
		{policy.ErrOutsideSchedule, RefusedOutsideHours},
		{policy.ErrQuotaExceeded, RefusedCallLimit},
		{policy.ErrInsufficientBalance, RefusedBalance},
		{policy.ErrNumberBlocked, RefusedNumberBlocked},
		{policy.ErrNoRate, RefusedNoRate},
		{policy.ErrStorageFull, RefusedStorageFull},
		{policy.ErrBadPIN, WrongPIN},
		{policy.ErrPINLocked, PINLocked},
	} {
		if errors.Is(err, r.err) {
			return r.id, true
		}
	}
	return "", false
}

// MoneyIDs returns the prompts that read an amount of money given in
// minor units with fracDigits digits after the point (1250, 2 is 12.50):
// the whole part digit by digit, then, when fracDigits is positive, "and",
// the fraction's digits and "cents"; "minus" first for a negative amount.
// fracDigits is clamped to 0-4.
func MoneyIDs(amount int64, fracDigits int) []ID {
	fracDigits = min(max(fracDigits, 0), 4)
	var ids []ID
	neg := amount < 0
	u := uint64(amount)
	if neg {
		ids = append(ids, Minus)
		u = -u
	}
	scale := uint64(1)
	for range fracDigits {
		scale *= 10
	}
	whole, frac := u/scale, u%scale
	w, _ := DigitIDs(fmt.Sprint(whole))
	ids = append(ids, w...)
	if fracDigits > 0 {
		f, _ := DigitIDs(fmt.Sprintf("%0*d", fracDigits, frac))
		ids = append(ids, And)
		ids = append(ids, f...)
		ids = append(ids, Cents)
	}
	return ids
}
