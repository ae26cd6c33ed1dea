package callctl_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/callctl"
	"github.com/kinline/kinline/appliance/media"
	"github.com/kinline/kinline/appliance/prompts"
	"github.com/kinline/kinline/internal/phone"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/audio/g711"
	"github.com/kinline/kinline/shared/wire"
)

// fakeNames is callctl.Names in memory.
type fakeNames struct {
	mu           sync.Mutex
	saved        map[string][]byte
	name, prison string
}

func (f *fakeNames) RecordedName(id string) ([]byte, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.saved[id]
	return bytes.Clone(b), ok, nil
}

func (f *fakeNames) SaveName(id string, audio []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.saved == nil {
		f.saved = map[string][]byte{}
	}
	f.saved[id] = bytes.Clone(audio)
	return nil
}

func (f *fakeNames) Identity(string) (string, string) { return f.name, f.prison }

func (f *fakeNames) recorded(id string) []byte {
	b, _, _ := f.RecordedName(id)
	return b
}

// fakeSpeaker "speaks" a text as a tone whose pitch depends on the text,
// so that what the called party hears can be traced back to it.
type fakeSpeaker struct {
	mu     sync.Mutex
	texts  []string
	absent bool
}

func (f *fakeSpeaker) Speak(_ context.Context, lang, text string) ([]byte, error) {
	f.mu.Lock()
	f.texts = append(f.texts, lang+":"+text)
	f.mu.Unlock()
	if f.absent {
		return nil, prompts.ErrNoSpeech
	}
	return spoken(text), nil
}

func (f *fakeSpeaker) spokenTexts() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.texts...)
}

// spoken is fakeSpeaker's audio for text: 0.4 s of a tone.
func spoken(text string) []byte {
	hz := 300 + float64(len(text)%20)*97
	out := make([]byte, 3200)
	for i := range out {
		out[i] = g711.EncodeUlaw(int16(9000 * math.Sin(2*math.Pi*hz*float64(i)/8000)))
	}
	return out
}

// heard reports whether the µ-law audio want arrived, sample for sample,
// in the linear audio a phone received (a PCMU leg carries the prompt's
// code words unchanged).
func heard(got []int16, want []byte) bool {
	if len(want) == 0 || len(got) < len(want) {
		return false
	}
	pcm := make([]int16, len(want))
	g711.DecodeUlawSlice(pcm, want)
outer:
	for i := 0; i+len(pcm) <= len(got); i++ {
		if got[i] != pcm[0] {
			continue
		}
		for j := range pcm {
			if got[i+j] != pcm[j] {
				continue outer
			}
		}
		return true
	}
	return false
}

func mustSeq(t *testing.T, lang string, ids ...prompts.ID) []byte {
	t.Helper()
	b, err := prompts.Sequence(lang, ids...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fastMedia is a media factory playing prompts ten times faster than
// real time (what is played is checked, not its pace).
func fastMedia(t *testing.T) callctl.MediaFactory {
	t.Helper()
	mgr, err := media.NewManager(media.Config{RecordDir: t.TempDir(), Clock: fastClock{start: time.Now(), speed: 10}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return func(id string, record bool) (callctl.MediaSession, error) {
		s, err := mgr.NewSession(id, record)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
}

// familyResult waits for the family phone's report of its call.
func familyResult(t *testing.T, e *env) phone.FamilyCall {
	t.Helper()
	select {
	case fc := <-e.family.Results():
		return fc
	case <-time.After(waitLong):
		t.Fatal("the family phone never reported its call")
	}
	return phone.FamilyCall{}
}

// TestHotlineRecordedNameReachesTheFamily: at the hotline the person
// presses 3 (offered in the menu), hears the instruction and the beep,
// and their voice from leg A is kept as their name; on the call that
// follows, the called party's leg carries "you have a call from", that
// very recording, "calling from" and the prison's name spoken at run
// time (the policy name is not spoken: the recording wins), before the
// options; then 1 bridges it.
func TestHotlineRecordedNameReachesTheFamily(t *testing.T) {
	t.Parallel()
	names := &fakeNames{name: "Ana Pérez", prison: "HMP Northfield"}
	sp := &fakeSpeaker{}
	h := startHotline(t, hotlineOpts{
		names: names, speaker: sp,
		family: phone.FamilyConfig{Accept: '1', AcceptAfter: 30 * time.Second, KeepAudio: 60 * time.Second},
		cfg:    acceptCfg,
	})
	c := h.dialHotline(t)
	ctx := ctxT(t)
	if err := c.SendDTMF(ctx, "1234#3"); err != nil {
		t.Fatal(err)
	}
	if !testkit.Within(waitLong, 0, func() bool { return names.recorded("p-7") != nil }) {
		t.Fatal("no name recorded after 3")
	}
	waitPlayed(t, h, "es", prompts.Menu, prompts.MenuRecordName)
	waitPlayed(t, h, "es", prompts.RecordNameAfterTone)
	name := names.recorded("p-7")
	// What the port sent (its 440 Hz tone), trimmed to the sound: at
	// least a tenth of a second of it, at most the recording time.
	if len(name) < 800 || len(name) > int(callctl.NameDuration/time.Second)*8000 {
		t.Fatalf("recorded name of %d samples", len(name))
	}
	// It is played back to the person after "thank you, they will hear".
	want := append(mustSeq(t, "es", prompts.NameRecorded), name...)
	if !testkit.Within(waitLong, 0, func() bool {
		h.plays.mu.Lock()
		defer h.plays.mu.Unlock()
		for _, p := range h.plays.plays {
			if bytes.Equal(p, want) {
				return true
			}
		}
		return false
	}) {
		t.Fatal("the recorded name was not played back")
	}
	if err := c.SendDTMF(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	if err := c.SendDTMF(ctx, "0611223344#"); err != nil {
		t.Fatal(err)
	}
	if !testkit.Within(waitLong, 0, func() bool { a := h.srv.ActiveCalls(); return len(a) == 1 && a[0].Answer != nil }) {
		t.Fatal("call never bridged after the family pressed 1")
	}
	if err := c.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	fc := familyResult(t, h.env)
	if fc.Pressed != '1' {
		t.Fatalf("family = %+v", fc)
	}
	for _, part := range []struct {
		what  string
		audio []byte
	}{
		{"you have a call from", mustSeq(t, "es", prompts.FamilyCallFrom)},
		{"the recorded name", name},
		{"calling from", mustSeq(t, "es", prompts.FamilyCallingFrom)},
		{"the prison's name", spoken("HMP Northfield")},
		{"the options", mustSeq(t, "es", prompts.FamilyOptions)},
	} {
		if !heard(fc.Audio, part.audio) {
			t.Errorf("the called party never heard %s", part.what)
		}
	}
	if got := sp.spokenTexts(); len(got) != 1 || got[0] != "es:HMP Northfield" {
		t.Errorf("spoken at run time: %q, want only the prison in Spanish", got)
	}
	if rec := h.record(t); rec.Disposition != wire.DispCompleted {
		t.Fatalf("record = %+v", rec)
	}
}

// TestHotlineReadsNumberAndMinutesBack: before the trunk is called the
// person hears "calling" and the number, and, when the call is limited,
// the minutes it may last; an unlimited call says no minutes.
func TestHotlineReadsNumberAndMinutesBack(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		max     time.Duration
		minutes []prompts.ID
	}{
		{"limited", 15*time.Minute + 40*time.Second, []prompts.ID{prompts.YouHave, "count_15", prompts.Minutes}},
		{"one minute", 90 * time.Second, []prompts.ID{prompts.OneMinuteAvailable}},
		{"unlimited", 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := startHotline(t, hotlineOpts{auth: func(callctl.AuthRequest) callctl.AuthResult {
				return callctl.AuthResult{Allowed: true, PersonID: "p-7", Language: "es", MaxDuration: tc.max, LimitedBy: wire.LimitBalance}
			}})
			c := h.dialHotline(t)
			if err := c.SendDTMF(ctxT(t), "1234#10611223344#"); err != nil {
				t.Fatal(err)
			}
			select {
			case <-h.family.Invites():
			case <-time.After(waitLong):
				t.Fatal("trunk never called")
			}
			ids := []prompts.ID{prompts.Calling, prompts.Digit0, prompts.Digit6, prompts.Digit1, prompts.Digit1, prompts.Digit2, prompts.Digit2, prompts.Digit3, prompts.Digit3, prompts.Digit4, prompts.Digit4}
			// Played before the trunk INVITE: already in the log now.
			if h.plays.index(t, 0, "es", append(ids, tc.minutes...)...) < 0 {
				t.Fatalf("%v not played before the trunk call", append(ids, tc.minutes...))
			}
		})
	}
}

// TestFamilyHearsSpokenNameAndPrisonRealEspeak: with no recorded name,
// the policy's name and the prison are spoken by the real espeak-ng and
// reach the called party's leg, after the direct-dialled call's trunk
// answer and before the options.
func TestFamilyHearsSpokenNameAndPrisonRealEspeak(t *testing.T) {
	t.Parallel()
	esp := prompts.NewEspeak(prompts.EspeakConfig{})
	if !esp.Available() {
		testkit.MissingPeer(t, "espeak-ng", "espeak-ng")
	}
	names := &fakeNames{name: "Ana Pérez", prison: "Northfield Prison"}
	e := start(t, opts{media: fastMedia(t), cfg: acceptCfg, names: names, speaker: esp,
		family: phone.FamilyConfig{Accept: '1', AcceptAfter: 30 * time.Second, KeepAudio: 60 * time.Second}})
	res, err := e.port(t, portUser, portPass).Call(ctxT(t), "0611223344", 300*time.Millisecond)
	if err != nil {
		t.Fatalf("call: %v (%+v)", err, res)
	}
	fc := familyResult(t, e)
	nameAudio, err := esp.Speak(context.Background(), "en", "Ana Pérez")
	if err != nil {
		t.Fatal(err)
	}
	prisonAudio, err := esp.Speak(context.Background(), "en", "Northfield Prison")
	if err != nil {
		t.Fatal(err)
	}
	if esp.Syntheses() != 2 {
		t.Fatalf("%d syntheses: the call's speech was not cached per text", esp.Syntheses())
	}
	for _, part := range []struct {
		what  string
		audio []byte
	}{
		{"you have a call from", mustSeq(t, "en", prompts.FamilyCallFrom)},
		{"the spoken name", nameAudio},
		{"the spoken prison", prisonAudio},
		{"this call is recorded", mustSeq(t, "en", prompts.CallRecorded)},
	} {
		if !heard(fc.Audio, part.audio) {
			t.Errorf("the called party never heard %s", part.what)
		}
	}
	if rec := e.record(t); rec.Disposition != wire.DispCompleted {
		t.Fatalf("record = %+v", rec)
	}
}

// TestFamilyGenericAnnouncementWithoutSpeech: no recorded name and no
// synthesiser: the called party hears the generic sentence, and the lack
// of espeak-ng is logged once however many calls are made. A privileged
// call is not said to be recorded.
func TestFamilyGenericAnnouncementWithoutSpeech(t *testing.T) {
	t.Parallel()
	sp := &fakeSpeaker{absent: true}
	names := &fakeNames{name: "Ana", prison: "HMP Northfield"}
	record := true
	var mu sync.Mutex
	auth := callctl.AuthorizerFunc(func(context.Context, callctl.AuthRequest) callctl.AuthResult {
		mu.Lock()
		defer mu.Unlock()
		return callctl.AuthResult{Allowed: true, PersonID: "p-1", Record: record}
	})
	e := start(t, opts{media: fastMedia(t), auth: auth, cfg: acceptCfg, names: names, speaker: sp,
		family: phone.FamilyConfig{Accept: '1', AcceptAfter: 20 * time.Second, KeepAudio: 40 * time.Second}})
	for i, privileged := range []bool{false, true} {
		mu.Lock()
		record = !privileged
		mu.Unlock()
		if res, err := e.port(t, portUser, portPass).Call(ctxT(t), fmt.Sprint("061122334", i), 300*time.Millisecond); err != nil {
			t.Fatalf("call %d: %v (%+v)", i, err, res)
		}
		fc := familyResult(t, e)
		if !heard(fc.Audio, mustSeq(t, "en", prompts.FamilyAnnounce)) {
			t.Errorf("call %d: the generic announcement was not heard", i)
		}
		if got := heard(fc.Audio, mustSeq(t, "en", prompts.CallRecorded)); got == privileged {
			t.Errorf("call %d (privileged %v): \"this call is recorded\" heard: %v", i, privileged, got)
		}
		rec := e.record(t)
		if rec.Disposition != wire.DispCompleted {
			t.Fatalf("record = %+v", rec)
		}
		if !privileged {
			// The recording's metadata carries both legs' levels: the
			// port's tone (about -10 dBFS) on A.
			if rec.Recording == nil || len(rec.Recording.Levels) != 2 {
				t.Fatalf("recording = %+v", rec.Recording)
			}
			a := rec.Recording.Levels[0]
			if a.Leg != "A" || a.Frames == 0 || a.LevelDBFS < -20 || a.LevelDBFS > -6 || a.SilenceRatio > 0.2 {
				t.Errorf("leg A levels %+v", a)
			}
		} else if rec.Recording != nil {
			t.Fatalf("privileged call recorded: %+v", rec.Recording)
		}
	}
	if n := strings.Count(e.logs.String(), "names from the policy and the prison are not spoken"); n != 1 {
		t.Fatalf("the missing synthesiser was logged %d times, want once", n)
	}
}

// TestWindowLimitCountsFromTheBridge: the time the called party takes to
// answer and accept comes off the calling window (injected clock): a
// call authorized with 10 minutes left in its window, bridged 4 minutes
// later, may last 6; a call limited to 15 minutes by its rule whose
// window ends 16 minutes after authorization, bridged 3 minutes later,
// may last 13 (limited by the window).
func TestWindowLimitCountsFromTheBridge(t *testing.T) {
	for _, tc := range []struct {
		name    string
		auth    func(now time.Time) callctl.AuthResult
		wait    time.Duration
		wantSec int
		wantBy  string
	}{
		{"window only", func(time.Time) callctl.AuthResult {
			return callctl.AuthResult{MaxDuration: 10 * time.Minute, LimitedBy: wire.LimitWindow}
		}, 4 * time.Minute, 360, wire.LimitWindow},
		{"rule then window", func(now time.Time) callctl.AuthResult {
			return callctl.AuthResult{MaxDuration: 15 * time.Minute, LimitedBy: wire.LimitRule, WindowEnd: now.Add(16 * time.Minute)}
		}, 3 * time.Minute, 780, wire.LimitWindow},
		{"rule still shorter", func(now time.Time) callctl.AuthResult {
			return callctl.AuthResult{MaxDuration: 5 * time.Minute, LimitedBy: wire.LimitBalance, WindowEnd: now.Add(16 * time.Minute)}
		}, 3 * time.Minute, 300, wire.LimitBalance},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e *env
			auth := callctl.AuthorizerFunc(func(context.Context, callctl.AuthRequest) callctl.AuthResult {
				r := tc.auth(e.clk.Now())
				r.Allowed, r.PersonID, r.Record = true, "p-1", true
				return r
			})
			e = start(t, opts{media: fastMedia(t), auth: auth,
				cfg:    func(c *callctl.Config) { c.FamilyAccept, c.AcceptTimeout = true, time.Hour },
				family: phone.FamilyConfig{Accept: '1', AcceptAfter: 8 * time.Second}})
			done := make(chan error, 1)
			go func() {
				_, err := e.port(t, portUser, portPass).Call(ctxT(t), "0611223344", 300*time.Millisecond)
				done <- err
			}()
			waitLog(t, e, "called party answered: asking for acceptance")
			e.clk.Advance(tc.wait)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			rec := e.record(t)
			if rec.Disposition != wire.DispCompleted || rec.MaxDurationSeconds != tc.wantSec || rec.LimitedBy != tc.wantBy {
				t.Fatalf("record: %s, limit %d s by %q; want %d s by %q", rec.Disposition, rec.MaxDurationSeconds, rec.LimitedBy, tc.wantSec, tc.wantBy)
			}
			if got := rec.Answer.Sub(t0); got != tc.wait {
				t.Fatalf("answered %v after authorization, want %v", got, tc.wait)
			}
		})
	}
}

// TestOpusEndToEndWithPromptsInG711: a port and a trunk that both prefer
// Opus get Opus on both legs (the trunk is offered it, the recording is
// Ogg Opus), and the called party, whose answer listed PCMU beside
// Opus, hears the acceptance prompt in PCMU and accepts.
func TestOpusEndToEndWithPromptsInG711(t *testing.T) {
	t.Parallel()
	e := start(t, opts{media: fastMedia(t), cfg: acceptCfg,
		family: phone.FamilyConfig{Opus: true, Accept: '1', AcceptAfter: 25 * time.Second, KeepAudio: 40 * time.Second}})
	p, err := phone.NewPort(phone.PortConfig{Appliance: e.srv.Addr().String(), User: portUser, Password: portPass, Opus: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if res, err := p.Call(ctxT(t), "0611223344", 300*time.Millisecond); err != nil {
		t.Fatalf("call: %v (%+v)", err, res)
	}
	fc := familyResult(t, e)
	if !strings.Contains(string(fc.Offer), "opus/48000/2") || !strings.Contains(string(fc.Answer), "opus/48000/2") {
		t.Fatalf("Opus not offered to or answered by the trunk:\n%s\n%s", fc.Offer, fc.Answer)
	}
	if fc.Pressed != '1' || !heard(fc.Audio, mustSeq(t, "en", prompts.FamilyOptions)) {
		t.Fatalf("the Opus leg did not hear the options in G.711 (pressed %q, %d samples heard, announce %v)", fc.Pressed, len(fc.Audio), heard(fc.Audio, mustSeq(t, "en", prompts.FamilyAnnounce)))
	}
	rec := e.record(t)
	if rec.Disposition != wire.DispCompleted || rec.Recording == nil || rec.Recording.Format != media.FormatOggOpus {
		t.Fatalf("record = %+v recording %+v", rec, rec.Recording)
	}
}
