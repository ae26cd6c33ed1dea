package hiltests

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/internal/phone"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/audio/g711"
	"github.com/kinline/kinline/shared/audio/wav"
	"github.com/kinline/kinline/shared/policy"
	"github.com/kinline/kinline/shared/recstore"
	"github.com/kinline/kinline/tools/stack"
)

// The tones of the calls in TestPrivilegedCallsLeaveNoAudio: each side of
// each call sends its own, so a match says whose audio was written. All
// are multiples of 10 Hz, so a simulated phone's G.711 stream is periodic
// over 800 samples (its 100 ms chunks hold whole cycles), and none is a
// DTMF frequency.
const (
	privPortHz    = 1130             // the person in prison, on the privileged calls
	privFamilyHz  = 1870             // the legal adviser
	ctrlPortHz    = 1250             // the person in prison, on the recorded control call
	ctrlFamilyHz  = 1750             // the family, on the control call
	hotlinePrivil = "00442079460077" // the privileged number as keys on a phone
)

// patternLen is the length of the audio runs looked for: 48 G.711 samples
// (6 ms; a 20 ms RTP packet holds 160), a multiple of 3 so that every run
// also has a base64 form that starts on a base64 boundary.
const patternLen = 48

// audioPattern is every patternLen-byte run of the G.711 streams the
// simulated phones send for some tones, in both laws and as the appliance
// would transcode them between A-law and u-law.
type audioPattern struct {
	name   string
	runs   map[[patternLen]byte]bool
	prefix [1 << 16]bool // first two bytes of some run (a cheap pre-filter)
}

// toneSequence is one period (800 samples) of the stream
// internal/rtpphone sends for hz: 10000*sin(2*pi*hz*n/8000) in law.
func toneSequence(hz float64, law g711.Law) []byte {
	const period = 800
	step := 2 * math.Pi * hz / 8000
	out := make([]byte, period)
	for n := range out {
		out[n] = law.Encode(int16(10000 * math.Sin(step*float64(n))))
	}
	return out
}

func newAudioPattern(name string, hzs ...float64) *audioPattern {
	p := &audioPattern{name: name, runs: map[[patternLen]byte]bool{}}
	for _, hz := range hzs {
		u, a := toneSequence(hz, g711.Ulaw), toneSequence(hz, g711.Alaw)
		ua, au := make([]byte, len(u)), make([]byte, len(a))
		g711.TranscodeUlawToAlaw(ua, u)
		g711.TranscodeAlawToUlaw(au, a)
		for _, seq := range [][]byte{u, a, ua, au} {
			cyc := append(append([]byte{}, seq...), seq[:patternLen]...)
			for i := range seq {
				p.runs[[patternLen]byte(cyc[i:i+patternLen])] = true
				p.prefix[int(cyc[i])<<8|int(cyc[i+1])] = true
			}
		}
	}
	return p
}

// match is where a pattern was found: the file, the view of its bytes
// (raw, one channel of interleaved stereo, hex or base64 text decoded)
// and the offset in that view.
type match struct {
	file, view string
	off        int
}

func (m match) String() string { return fmt.Sprintf("%s [%s @%d]", m.file, m.view, m.off) }

// findRaw returns the offset of the first run of p in b, or -1.
func (p *audioPattern) findRaw(b []byte) int {
	for i := 0; i+patternLen <= len(b); i++ {
		if p.prefix[int(b[i])<<8|int(b[i+1])] && p.runs[[patternLen]byte(b[i:i+patternLen])] {
			return i
		}
	}
	return -1
}

// find looks for p in b as it is, in each channel of 8-bit interleaved
// stereo (a G.711 WAV's samples), and in every run of hex or base64 text
// decoded (a log line or a JSON []byte). It returns the views that match.
func (p *audioPattern) find(file string, b []byte) []match {
	var out []match
	look := func(view string, data []byte) {
		if off := p.findRaw(data); off >= 0 {
			out = append(out, match{file, view, off})
		}
		for ch := range 2 {
			mono := make([]byte, 0, len(data)/2+1)
			for i := ch; i < len(data); i += 2 {
				mono = append(mono, data[i])
			}
			if off := p.findRaw(mono); off >= 0 {
				out = append(out, match{file, fmt.Sprintf("%s, stereo channel %d", view, ch), off})
			}
		}
	}
	look("raw", b)
	for _, d := range decodedText(b) {
		look(d.view, d.data)
	}
	return out
}

type decoded struct {
	view string
	data []byte
}

// decodedText decodes every long run of hex digits (both alignments) and
// of base64 characters (standard or URL alphabet, every alignment).
func decodedText(b []byte) []decoded {
	isHex := func(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }
	isB64 := func(c byte) bool {
		return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '-' || c == '_'
	}
	var out []decoded
	runs := func(is func(byte) bool, min int, f func(run []byte, at int)) {
		for i := 0; i < len(b); {
			if !is(b[i]) {
				i++
				continue
			}
			j := i
			for j < len(b) && is(b[j]) {
				j++
			}
			if j-i >= min {
				f(b[i:j], i)
			}
			i = j
		}
	}
	runs(isHex, 2*patternLen, func(run []byte, at int) {
		for a := range 2 {
			s := run[a:]
			s = s[:len(s)/2*2]
			d := make([]byte, len(s)/2)
			if _, err := hex.Decode(d, s); err == nil {
				out = append(out, decoded{fmt.Sprintf("hex text @%d", at+a), d})
			}
		}
	})
	runs(isB64, patternLen/3*4, func(run []byte, at int) {
		std := strings.NewReplacer("-", "+", "_", "/").Replace(string(run))
		for a := range 4 {
			s := std[a:]
			s = s[:len(s)/4*4]
			if d, err := base64.RawStdEncoding.DecodeString(s); err == nil {
				out = append(out, decoded{fmt.Sprintf("base64 text @%d", at+a), d})
			}
		}
	})
	return out
}

// scanTree reads every regular file under root and returns where p is
// found (find's views), with each encrypted recording (*.enc, sealed with
// key) also scanned decrypted when key is not zero. Files whose name
// contains one of ids are returned in named.
func scanTree(t *testing.T, root string, p *audioPattern, key recstore.Key, ids ...string) (found []match, named []string, files int) {
	t.Helper()
	// Central seals its recordings at rest with its own key (decision
	// 0030): the scan opens them with it, as a reader of the disk with
	// the key would.
	centralKey, kerr := recstore.LoadKey(filepath.Join(root, "central", "recordings.key"))
	if kerr != nil && !errors.Is(kerr, fs.ErrNotExist) {
		t.Fatalf("central's recordings key: %v", kerr)
	}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		for _, id := range ids {
			if strings.Contains(d.Name(), id) {
				named = append(named, path)
			}
		}
		if !d.Type().IsRegular() {
			return nil // directories, the reader's pty link, sockets
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		found = append(found, p.find(path, b)...)
		if !key.IsZero() && strings.Contains(d.Name(), ".enc") {
			plain, err := decryptRecording(path, key)
			if err != nil {
				t.Errorf("%s: %v", path, err)
				return nil
			}
			found = append(found, p.find(path+" (decrypted)", plain)...)
		}
		if kerr == nil && strings.HasSuffix(d.Name(), ".klrec") {
			plain, err := decryptRecording(path, centralKey)
			if err != nil {
				t.Errorf("%s: %v", path, err)
				return nil
			}
			found = append(found, p.find(path+" (decrypted with central's key)", plain)...)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found, named, files
}

func decryptRecording(path string, key recstore.Key) ([]byte, error) {
	r, err := recstore.Open(path, key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// tonePort registers a simulated IAD port that sends hz.
func tonePort(t *testing.T, e *env, hz float64) *phone.Port {
	t.Helper()
	port, err := phone.NewPort(phone.PortConfig{Appliance: e.SIPAddr, User: stack.PortUser, Password: stack.PortPass, ToneHz: hz})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { port.Close() })
	if err := port.Register(e.ctx, time.Hour); err != nil {
		t.Fatalf("REGISTER: %v", err)
	}
	return port
}

func familyResult(t *testing.T, f *phone.Family) phone.FamilyCall {
	t.Helper()
	select {
	case r := <-f.Results():
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("the family phone never finished its call")
	}
	return phone.FamilyCall{}
}

// swapFamily replaces the family phone on the trunk address with one that
// sends hz.
func swapFamily(t *testing.T, old *phone.Family, addr string, hz float64) *phone.Family {
	t.Helper()
	old.Close()
	f, err := phone.NewFamily(phone.FamilyConfig{Listen: addr, RingFor: 100 * time.Millisecond, ToneHz: hz})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestPrivilegedCallsLeaveNoAudio places privileged calls, dialled
// directly and through the hotline IVR, with both sides sending their own
// tone, and then reads every byte the installation wrote (the appliance's
// data dir: recordings, state.db; central's data dir; both logs; the
// configs) looking for either tone's audio: raw, as one channel of a
// stereo WAV, hex or base64 encoded, and decrypted from any encrypted
// recording. It finds none, and no file named after those calls.
//
// The same scan must be able to fail: between the privileged calls an
// ordinary recorded call with two other tones is placed while central is
// down. Its recording on the appliance is ciphertext (no RIFF header, no
// audio found in it as it is); decrypted with the appliance's recording
// key it is the stereo WAV whose SHA-256 the call record carries, with
// both tones in their channels; central's API serves that same plaintext
// once it is back, and the final scan of the whole tree finds that call's
// tones (in central's copy) while it finds none of the privileged ones.
func TestPrivilegedCallsLeaveNoAudio(t *testing.T) {
	family, err := phone.NewFamily(phone.FamilyConfig{RingFor: 100 * time.Millisecond, ToneHz: privFamilyHz})
	if err != nil {
		t.Fatal(err)
	}
	familyAddr := family.Addr().String()
	t.Cleanup(func() { family.Close() })
	e := newEnvHotline(t, familyAddr)
	personID := seed(t, e)
	if e.RecordingKey == "" {
		t.Fatal("the stack records unencrypted: recording.key_file not set")
	}
	key, err := recstore.LoadKey(e.RecordingKey)
	if err != nil {
		t.Fatal(err)
	}
	port := tonePort(t, e, privPortHz)

	// 1. Privileged, dialled directly (no PIN set yet).
	e.tap(t, card)
	res := call(t, e, port, privileged, 3*time.Second)
	if !res.Answered || res.RTP.Received < 100 || res.RTP.Sent < 100 {
		t.Fatalf("direct privileged call: %+v", res)
	}
	if fr := familyResult(t, family); !fr.Answered || fr.RTP.Received < 100 {
		t.Fatalf("the adviser's side of the direct call: %+v", fr)
	}
	port.Close()
	seen := map[string]bool{}
	if ents, err := os.ReadDir(e.RecordingsDir); err != nil || len(ents) != 0 {
		t.Errorf("the appliance's recordings dir after the privileged call: %v %v", ents, err)
		for _, d := range ents {
			seen[strings.SplitN(d.Name(), ".", 2)[0]] = true // the call id
		}
	}

	// 2. The control: an ordinary call, recorded, with central down so
	// its recording stays on the appliance.
	e.KillCentral(syscall.SIGTERM)
	family = swapFamily(t, family, familyAddr, ctrlFamilyHz)
	ctrlPort := tonePort(t, e, ctrlPortHz)
	e.tap(t, card)
	if res := call(t, e, ctrlPort, approved, 3*time.Second); !res.Answered || res.RTP.Received < 100 {
		t.Fatalf("control call: %+v", res)
	}
	if fr := familyResult(t, family); !fr.Answered || fr.RTP.Received < 100 {
		t.Fatalf("the family's side of the control call: %+v", fr)
	}
	ctrlPort.Close()
	var encPath string
	testkit.EventuallyNil(t, 30*time.Second, "a finished encrypted recording on the appliance", func() error {
		m, _ := filepath.Glob(filepath.Join(e.RecordingsDir, "*.wav.enc"))
		for _, p := range m {
			if !seen[strings.SplitN(filepath.Base(p), ".", 2)[0]] {
				encPath = p
			}
		}
		if encPath == "" {
			ents, _ := os.ReadDir(e.RecordingsDir)
			return fmt.Errorf("the recordings directory holds %v", ents)
		}
		return nil
	})
	ctrlID := strings.TrimSuffix(filepath.Base(encPath), ".wav.enc")
	onDisk, err := os.ReadFile(encPath)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.HasPrefix(onDisk, []byte("RIFF")) || bytes.Contains(onDisk, []byte("WAVE")) || !bytes.HasPrefix(onDisk, []byte("KLREC\x00\x00\x01")) {
		t.Fatalf("recording on disk is not a recstore file: starts %q", onDisk[:min(16, len(onDisk))])
	}
	ctrlAudio := newAudioPattern("the control call's tones", ctrlPortHz, ctrlFamilyHz)
	if found, _, _ := scanTree(t, e.Opts.Dir, ctrlAudio, recstore.Key{}); len(found) != 0 {
		t.Fatalf("the recorded call's audio is readable at rest without the key: %v", found)
	}
	plain, err := decryptRecording(encPath, key)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(plain, []byte("RIFF")) || len(plain) < 8000 || bytes.Contains(onDisk, plain[len(plain)/2:len(plain)/2+64]) {
		t.Fatalf("decrypted recording (%d bytes): starts %q", len(plain), plain[:min(16, len(plain))])
	}
	// Both tones in their channels: left the person, right the family.
	for _, tc := range []struct {
		hz float64
		ch int
	}{{ctrlPortHz, 0}, {ctrlFamilyHz, 1}} {
		ms := newAudioPattern("", tc.hz).find("decrypted", plain)
		ok := false
		for _, m := range ms {
			ok = ok || m.view == fmt.Sprintf("raw, stereo channel %d", tc.ch)
		}
		if !ok {
			t.Errorf("the scan does not find %v Hz in channel %d of the decrypted recording: %v", tc.hz, tc.ch, ms)
		}
	}
	if found, _, _ := scanTree(t, e.Opts.Dir, ctrlAudio, key); len(found) == 0 {
		t.Error("the scan with the key does not find the recorded call's audio")
	}

	// Central back: it gets the plaintext, verified by the SHA-256 in the
	// call record, and the appliance drops its copy.
	if err := e.StartCentral(e.ctx); err != nil {
		t.Fatal(err)
	}
	var ctrl store.Call
	if err := stack.WaitFor(e.ctx, time.Minute, "the control call at central", func() error {
		calls, err := e.Calls(e.ctx, nil)
		if err != nil {
			return err
		}
		for _, c := range calls {
			if c.ID == ctrlID {
				ctrl = c
				return nil
			}
		}
		return fmt.Errorf("%d calls, not %s", len(calls), ctrlID)
	}); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(plain)
	if ctrl.Recording == nil || ctrl.Recording.SHA256 != hex.EncodeToString(sum[:]) || ctrl.Recording.Bytes != int64(len(plain)) {
		t.Fatalf("call record's recording %+v, decrypted file has SHA-256 %x (%d bytes)", ctrl.Recording, sum, len(plain))
	}
	got, err := e.WaitRecording(e.ctx, ctrlID, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, plain) {
		t.Fatalf("central serves %d bytes that are not the decrypted recording (%d bytes)", len(got), len(plain))
	}
	if rd, err := wav.NewReader(bytes.NewReader(got)); err != nil || rd.Channels != 2 || rd.SampleRate != 8000 {
		t.Fatalf("central's recording is not the stereo WAV: %v", err)
	}
	if !testkit.Within(30*time.Second, 0, func() bool { _, err := os.Stat(encPath); return os.IsNotExist(err) }) {
		t.Error("the appliance kept its copy after central verified it")
	}

	// 3. Privileged, through the hotline: card, PIN, 1, the number.
	if err := e.Do(e.ctx, "PATCH", "/api/v1/inmates/"+personID, map[string]any{"pin": hotlinePIN}, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.WaitPolicyApplied(e.ctx, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	family = swapFamily(t, family, familyAddr, privFamilyHz)
	port = tonePort(t, e, privPortHz)
	e.tap(t, card)
	c, err := port.Dial(e.ctx, hotlineNumber, nil)
	if err != nil {
		t.Fatalf("the appliance did not answer the hotline: %v", err)
	}
	testkit.Eventually(t, 15*time.Second, "a prompt from the hotline", func() bool { return c.Stats().Received > 10 })
	for _, keys := range []string{hotlinePIN + "#", "1", hotlinePrivil + "#"} {
		if err := c.SendDTMF(e.ctx, keys); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case inv := <-family.Invites():
		// The trunk gets the E.164 number the policy matched, not the keys.
		if want := policy.NormalizeNumber(hotlinePrivil); inv.Number != want {
			t.Fatalf("the hotline called %q, want %q (the keys %s normalised)", inv.Number, want, hotlinePrivil)
		}
	case <-time.After(time.Minute):
		t.Fatal("the hotline never called the adviser")
	}
	// The number is read back to the port while the adviser's phone rings,
	// so packets at the port do not yet prove the bridge: give the bridged
	// call a few seconds of audio both ways before hanging up.
	before := c.Stats().Received
	testkit.Eventually(t, 15*time.Second, "audio from the adviser through the hotline", func() bool { return c.Stats().Received > before+100 })
	time.Sleep(4 * time.Second) // real time on purpose: seconds of bridged audio
	hctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	if err := c.Hangup(hctx); err != nil {
		t.Fatal(err)
	}
	if fr := familyResult(t, family); !fr.Answered || fr.RTP.Received < 100 {
		t.Fatalf("the adviser's side of the hotline call: %+v", fr)
	}

	calls, err := e.WaitCalls(e.ctx, 3, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var privIDs []string
	for _, c := range calls {
		if c.ID == ctrlID {
			continue
		}
		if c.Disposition != "completed" || !strings.HasSuffix(c.Number, "442079460077") {
			t.Fatalf("privileged call at central: %+v", c)
		}
		if c.Recording != nil {
			t.Errorf("privileged call %s has a recording: %+v", c.ID, *c.Recording)
		}
		// Nothing to play: no recording (404), or central refusing to
		// play a privileged call at all (403).
		if b, err := e.Recording(e.ctx, c.ID); err == nil || !(strings.Contains(err.Error(), "404") || strings.Contains(err.Error(), "403")) {
			t.Errorf("privileged call %s: recording fetch gave %d bytes, %v; want 404 or 403", c.ID, len(b), err)
		}
		privIDs = append(privIDs, c.ID)
	}
	if len(privIDs) != 2 {
		t.Fatalf("privileged calls at central: %v", privIDs)
	}

	// 4. Everything is on disk once both daemons have stopped: read it all.
	e.KillAppliance(syscall.SIGTERM)
	e.KillCentral(syscall.SIGTERM)
	privAudio := newAudioPattern("the privileged calls' tones", privPortHz, privFamilyHz)
	found, named, files := scanTree(t, e.Opts.Dir, privAudio, key, privIDs...)
	for _, m := range found {
		t.Errorf("audio of a privileged call written: %s", m)
	}
	for _, n := range named {
		t.Errorf("a file for a privileged call exists: %s", n)
	}
	if ents, err := os.ReadDir(e.RecordingsDir); err != nil || len(ents) != 0 {
		t.Errorf("the appliance's recordings dir is not empty: %v %v", ents, err)
	}
	// The same scan of the same tree finds the recorded call's audio.
	ctrlFound, _, _ := scanTree(t, e.Opts.Dir, ctrlAudio, key)
	inCentral := false
	for _, m := range ctrlFound {
		inCentral = inCentral || strings.HasPrefix(m.file, filepath.Join(e.Opts.Dir, "central")+string(filepath.Separator))
	}
	if !inCentral {
		t.Fatalf("the scan does not find the recorded call's audio in central's copy: %v", ctrlFound)
	}
	if files < 5 {
		t.Fatalf("scanned only %d files under %s", files, e.Opts.Dir)
	}
	if !t.Failed() {
		t.Logf("privileged calls %v: none of their audio in %d files under %s; the recorded call %s found at %v",
			privIDs, files, e.Opts.Dir, ctrlID, ctrlFound[0])
	}
}
