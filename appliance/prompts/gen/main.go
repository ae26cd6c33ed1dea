// Command gen regenerates the IVR prompts' audio from the catalogue in
// package prompts: for every language and prompt it runs espeak-ng (text
// to 22.05 kHz speech) and sox (trim silence, normalise, resample to
// 8 kHz, µ-law, no dither, repeatable mode), wraps the samples in a WAV
// file under appliance/prompts/assets/<lang>/<id>.wav and writes
// assets/manifest.json with the tool versions and every file's SHA-256.
//
// The output is deterministic: the same catalogue and the same espeak-ng
// and sox versions give the same bytes. Run it from the repository root:
//
//	go run ./appliance/prompts/gen
//
// With -check it regenerates into a temporary directory and fails if any
// byte differs from the committed assets (for CI on a machine with the
// same tool versions).
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/kinline/kinline/appliance/prompts"
	"github.com/kinline/kinline/shared/audio/wav"
)

// pipeline documents, in the manifest, how each file is made.
const pipeline = "espeak-ng -v VOICE -s SPEED -w speech.wav TEXT; " +
	"sox -R -D speech.wav -t raw -r 8000 -c 1 -e u-law -b 8 out.ulaw " + soxEffects

// soxEffects trims leading and trailing silence, normalises the peak to
// -3 dBFS and pads 50 ms of lead and 120 ms of tail silence.
const soxEffects = "silence 1 0.01 -45d reverse silence 1 0.01 -45d reverse gain -n -3 pad 0.05 0.12"

func main() {
	out := flag.String("out", "appliance/prompts/assets", "assets directory to write")
	check := flag.Bool("check", false, "regenerate into a temporary directory and compare with -out instead of writing")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	dir := *out
	if *check {
		tmp, err := os.MkdirTemp("", "kinline-prompts-")
		if err != nil {
			log.Error("temp dir", "err", err)
			os.Exit(1)
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	if err := generate(ctx, dir, log); err != nil {
		log.Error("generate", "err", err)
		os.Exit(1)
	}
	if *check {
		if err := compare(dir, *out); err != nil {
			log.Error("committed prompts differ from a fresh generation", "err", err)
			os.Exit(1)
		}
		log.Info("committed prompts match a fresh generation")
	}
}

func generate(ctx context.Context, dir string, log *slog.Logger) error {
	espeakVer, err := toolVersion(ctx, "espeak-ng", "--version")
	if err != nil {
		return err
	}
	soxVer, err := toolVersion(ctx, "sox", "--version")
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "kinline-prompts-work-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	man := prompts.Manifest{
		Format:   "wav/pcmu-mono-8000",
		EspeakNG: espeakVer,
		Sox:      soxVer,
		Pipeline: pipeline,
	}
	for _, v := range prompts.Voices() {
		if err := os.MkdirAll(filepath.Join(dir, v.Lang), 0o755); err != nil {
			return err
		}
		for _, e := range prompts.Catalogue() {
			text, ok := e.Text[v.Lang]
			if !ok {
				continue // Get falls back to the default language
			}
			samples, err := synth(ctx, work, v, text)
			if err != nil {
				return fmt.Errorf("%s/%s: %w", v.Lang, e.ID, err)
			}
			rel := prompts.AssetPath(v.Lang, e.ID)
			b, err := wavBytes(samples)
			if err != nil {
				return fmt.Errorf("%s: %w", rel, err)
			}
			if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(rel)), b, 0o644); err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			man.Files = append(man.Files, prompts.Asset{
				Path: rel, Lang: v.Lang, ID: e.ID, Voice: v.Name, Speed: v.Speed, Text: text,
				Samples: len(samples), SHA256: hex.EncodeToString(sum[:]),
			})
			log.Debug("prompt", "path", rel, "ms", len(samples)/8)
		}
	}
	b, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if err := os.WriteFile(filepath.Join(dir, prompts.ManifestName), b, 0o644); err != nil {
		return err
	}
	log.Info("prompts generated", "dir", dir, "files", len(man.Files), "espeak-ng", espeakVer, "sox", soxVer)
	return nil
}

// toolVersion returns the first line of a tool's version output without
// machine-specific paths (espeak-ng appends "Data at: /usr/lib/...").
func toolVersion(ctx context.Context, tool, flag string) (string, error) {
	out, err := exec.CommandContext(ctx, tool, flag).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s %s (install the Debian package espeak-ng / sox): %w", tool, flag, err)
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if i := strings.Index(line, "Data at:"); i >= 0 {
		line = line[:i]
	}
	line = strings.TrimPrefix(strings.TrimSpace(line), "sox:")
	return strings.TrimSpace(line), nil
}

// synth speaks text with voice and returns 8 kHz µ-law samples.
func synth(ctx context.Context, work string, v prompts.Voice, text string) ([]byte, error) {
	speech := filepath.Join(work, "speech.wav")
	ulaw := filepath.Join(work, "out.ulaw")
	cmd := exec.CommandContext(ctx, "espeak-ng", "-v", v.Name, "-s", fmt.Sprint(v.Speed), "-w", speech, "--", text)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("espeak-ng: %w: %s", err, out)
	}
	args := append([]string{"-R", "-D", speech, "-t", "raw", "-r", "8000", "-c", "1", "-e", "u-law", "-b", "8", ulaw}, strings.Fields(soxEffects)...)
	cmd = exec.CommandContext(ctx, "sox", args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("sox: %w: %s", err, out)
	}
	s, err := os.ReadFile(ulaw)
	if err != nil {
		return nil, err
	}
	if len(s) < 800 {
		return nil, fmt.Errorf("speech too short (%d samples): is the voice %q installed?", len(s), v.Name)
	}
	return s, nil
}

// memFile is an in-memory io.WriteSeeker for the WAV writer.
type memFile struct {
	b   []byte
	off int
}

func (m *memFile) Write(p []byte) (int, error) {
	if need := m.off + len(p); need > len(m.b) {
		m.b = append(m.b, make([]byte, need-len(m.b))...)
	}
	copy(m.b[m.off:], p)
	m.off += len(p)
	return len(p), nil
}

func (m *memFile) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case 0:
	case 1:
		off += int64(m.off)
	case 2:
		off += int64(len(m.b))
	}
	if off < 0 {
		return 0, errors.New("negative seek")
	}
	m.off = int(off)
	return off, nil
}

func wavBytes(samples []byte) ([]byte, error) {
	var m memFile
	w, err := wav.NewWriter(&m, wav.Format{Encoding: wav.Mulaw, Channels: 1, SampleRate: prompts.SampleRate})
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(samples); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return m.b, nil
}

// compare reports the first file that differs between two asset trees.
func compare(fresh, committed string) error {
	return filepath.WalkDir(fresh, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(fresh, p)
		a, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(filepath.Join(committed, rel))
		if err != nil {
			return err
		}
		if !bytes.Equal(a, b) {
			return fmt.Errorf("%s differs", rel)
		}
		return nil
	})
}
