package recordings_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/central/authz"
	"github.com/kinline/kinline/central/recordings"
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/shared/clock"
	"github.com/kinline/kinline/shared/recstore"
	"github.com/kinline/kinline/shared/wire"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func key(t *testing.T) recstore.Key {
	t.Helper()
	raw := make([]byte, recstore.KeySize)
	rand.Read(raw)
	k, err := recstore.NewKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// open opens the store in dir with k (the zero Key: plaintext).
func open(t *testing.T, dir string, k recstore.Key) *store.Store {
	t.Helper()
	return openAt(t, dir, k, clock.NewFake(t0))
}

func openAt(t *testing.T, dir string, k recstore.Key, clk *clock.Fake) *store.Store {
	t.Helper()
	db := store.Database{Path: filepath.Join(dir, "central.db"), RecordingKey: k}
	st, err := store.OpenDatabase(context.Background(), db, filepath.Join(dir, "recordings"), nil, clk)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

var audio = append([]byte("RIFF\x24\x00\x00\x00WAVEfmt "), bytes.Repeat([]byte("the family's voice "), 3000)...)

// upload stores a recorded call and its audio.
func upload(t *testing.T, st *store.Store, call string) {
	t.Helper()
	ctx := context.Background()
	if err := st.UpsertAppliance(ctx, "block-a-1", "A"); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(audio)
	ref := wire.RecordingRef{ID: "r1", SHA256: hex.EncodeToString(sum[:]), Bytes: int64(len(audio)), Format: "wav/pcmu-stereo"}
	ans := t0.Add(5 * time.Second)
	rec := wire.CallRecord{CallID: call, Terminal: "t1", Number: "+441", Start: t0, Answer: &ans, End: ans.Add(time.Minute), Disposition: wire.DispCompleted, Recording: &ref}
	b, _ := jsonOf(rec)
	ev := wire.Event{ApplianceID: "block-a-1", Seq: 1, Time: rec.End, Type: wire.EventCall, Payload: b}
	ev.Seal()
	if _, err := st.StoreEvents(ctx, "block-a-1", []wire.Event{ev}); err != nil {
		t.Fatal(err)
	}
	if err := st.StoreRecording(ctx, "block-a-1", &wire.RecordingUpload{V: 1, ApplianceID: "block-a-1", CallID: call, Ref: ref, Data: audio}); err != nil {
		t.Fatal(err)
	}
}

var investigator = authz.Caller{Actor: "user:ivy", Role: store.RoleInvestigator, MFA: true}

func serve(t *testing.T, st *store.Store, call, rng string) (*http.Response, []byte, error) {
	t.Helper()
	return serveAs(t, st, investigator, http.MethodGet, call, rng)
}

func serveAs(t *testing.T, st *store.Store, c authz.Caller, method, call, rng string) (*http.Response, []byte, error) {
	t.Helper()
	var serr error
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if serr = recordings.Play(w, r, st, c, call); serr != nil {
			http.Error(w, "refused", http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	req, _ := http.NewRequest(method, srv.URL, nil)
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body, serr
}

// TestSealedAtRest: with a recordings key the file on disk is not the
// audio, the recorded SHA-256 is the plaintext's, and playback and Range
// requests return the plaintext.
func TestSealedAtRest(t *testing.T) {
	dir := t.TempDir()
	k := key(t)
	st := open(t, dir, k)
	defer st.Close()
	upload(t, st, "call-1")
	rec, err := st.RecordingFor(context.Background(), "call-1")
	if err != nil {
		t.Fatal(err)
	}
	disk, err := os.ReadFile(rec.Path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(disk, []byte("family's voice")) || bytes.HasPrefix(disk, []byte("RIFF")) || !recstore.Sealed(bytes.NewReader(disk), int64(len(disk))) {
		t.Fatalf("file on disk is not sealed: %q...", disk[:32])
	}
	sum := sha256.Sum256(audio)
	if rec.SHA256 != hex.EncodeToString(sum[:]) || rec.Bytes != int64(len(audio)) {
		t.Fatalf("recorded %s %d bytes, want the plaintext's", rec.SHA256, rec.Bytes)
	}
	resp, body, err := serve(t, st, "call-1", "")
	if err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(body, audio) {
		t.Fatalf("playback: %v %d, %d bytes", err, resp.StatusCode, len(body))
	}
	resp, body, err = serve(t, st, "call-1", "bytes=16380-16400")
	if err != nil || resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, audio[16380:16401]) {
		t.Fatalf("range across a segment: %v %d %q", err, resp.StatusCode, body)
	}
	resp, body, err = serve(t, st, "call-1", "bytes=-10")
	if err != nil || resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, audio[len(audio)-10:]) {
		t.Fatalf("suffix range: %v %d %q", err, resp.StatusCode, body)
	}
}

// TestWrongKey: a store opened with another key, or none, refuses to
// play a sealed recording and says why.
func TestWrongKey(t *testing.T) {
	dir := t.TempDir()
	st := open(t, dir, key(t))
	upload(t, st, "call-1")
	st.Close()
	for name, k := range map[string]recstore.Key{"another key": key(t), "no key": {}} {
		st := open(t, dir, k)
		resp, body, err := serve(t, st, "call-1", "")
		if err == nil || bytes.Contains(body, []byte("voice")) || resp.StatusCode == http.StatusOK {
			t.Fatalf("%s: served: %v %d", name, err, resp.StatusCode)
		}
		want := recstore.ErrWrongKey
		if k.IsZero() {
			want = recstore.ErrKeyFile
		}
		if !errors.Is(err, want) {
			t.Fatalf("%s: %v, want %v", name, err, want)
		}
		st.Close()
	}
}

// TestPlaintextKeepsPlaying: a recording stored before central had a key
// plays once the key is configured, next to sealed ones.
func TestPlaintextKeepsPlaying(t *testing.T) {
	dir := t.TempDir()
	st := open(t, dir, recstore.Key{})
	upload(t, st, "call-1")
	st.Close()
	st = open(t, dir, key(t))
	defer st.Close()
	resp, body, err := serve(t, st, "call-1", "bytes=0-3")
	if err != nil || resp.StatusCode != http.StatusPartialContent || string(body) != "RIFF" {
		t.Fatalf("plaintext recording: %v %d %q", err, resp.StatusCode, body)
	}
}

func jsonOf(v any) ([]byte, error) { return json.Marshal(v) }

// TestKeyFile: the key is written at first start (0600) and read back
// after; a missing key while sealed recordings exist is refused, and so is
// a key file others may read.
func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys", "recordings.key")
	recDir := filepath.Join(dir, "recordings")
	k1, err := recordings.KeyFile(path, recDir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 || st.Size() != recstore.KeySize {
		t.Fatalf("key file: %v %v", st, err)
	}
	k2, err := recordings.KeyFile(path, recDir, nil)
	if err != nil || k2.ID() != k1.ID() {
		t.Fatalf("second start: %v, same key %t", err, k2.ID() == k1.ID())
	}
	os.MkdirAll(filepath.Join(recDir, "ab"), 0o750)
	os.WriteFile(filepath.Join(recDir, "ab", "abcd.klrec"), []byte("sealed"), 0o640)
	os.Remove(path)
	if _, err := recordings.KeyFile(path, recDir, nil); !errors.Is(err, recordings.ErrKeyMissing) {
		t.Fatalf("missing key with sealed recordings: %v", err)
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("a new key was written over lost recordings")
	}
	os.WriteFile(path, make([]byte, recstore.KeySize), 0o644)
	if _, err := recordings.KeyFile(path, recDir, nil); !errors.Is(err, recstore.ErrKeyFile) {
		t.Fatalf("world-readable key: %v", err)
	}
}

// entries are the audit entries of action for call.
func entries(t *testing.T, st *store.Store, action, call string) []store.AuditEntry {
	t.Helper()
	l, err := st.AuditLog(context.Background(), store.AuditFilter{Action: action, Target: call})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestOnePlaybackPerListening: a browser's listening (a GET with Range
// bytes=0-, then further ranges as it seeks, and a HEAD) is one
// "recording.play" entry, the first request's; a HEAD alone is none; a
// listening that starts mid-file is audited all the same; another actor's
// listening, and the same actor's after ListeningWindow without a request,
// are new playbacks.
func TestOnePlaybackPerListening(t *testing.T) {
	clk := clock.NewFake(t0)
	st := openAt(t, t.TempDir(), key(t), clk)
	defer st.Close()
	upload(t, st, "call-1")
	plays := func() int { return len(entries(t, st, "recording.play", "call-1")) }
	if resp, _, err := serveAs(t, st, investigator, http.MethodHead, "call-1", ""); err != nil || resp.StatusCode != http.StatusOK || plays() != 0 {
		t.Fatalf("HEAD alone: %v %d, %d playbacks", err, resp.StatusCode, plays())
	}
	for i, rng := range []string{"bytes=0-", "bytes=16380-", "bytes=-10", "", "bytes=0-"} {
		resp, _, err := serve(t, st, "call-1", rng)
		if err != nil || resp.StatusCode >= 300 {
			t.Fatalf("request %d (%q): %v %d", i, rng, err, resp.StatusCode)
		}
		clk.Advance(ListeningGap)
	}
	serveAs(t, st, investigator, http.MethodHead, "call-1", "")
	l := entries(t, st, "recording.play", "call-1") // newest first
	if len(l) != 1 || l[0].Actor != "user:ivy" || !strings.Contains(l[0].Detail, "range=bytes=0-") {
		t.Fatalf("one listening audited as %+v", l)
	}
	other := authz.Caller{Actor: "user:root", Role: store.RoleSystemAdmin, MFA: true}
	serveAs(t, st, other, http.MethodGet, "call-1", "bytes=44-")
	clk.Advance(recordings.ListeningWindow)
	serve(t, st, "call-1", "bytes=0-")
	l = entries(t, st, "recording.play", "call-1")
	if len(l) != 3 || l[1].Actor != "user:root" || !strings.Contains(l[1].Detail, "range=bytes=44-") || l[0].Actor != "user:ivy" {
		t.Fatalf("a mid-file listening and a new one: %+v", l)
	}
}

// ListeningGap is well inside a listening.
const ListeningGap = recordings.ListeningWindow / 10

// TestRefusedPlaybacksAudited: a hidden call for a role that may not see
// it and another block's call for a block officer (a privileged call:
// central/api's TestHiddenAndPrivilegedCallsAPI) are refused, each audited as "recording.refused" with its reason, nothing
// played; Refused names the access matrix's reasons.
func TestRefusedPlaybacksAudited(t *testing.T) {
	st := open(t, t.TempDir(), key(t))
	defer st.Close()
	upload(t, st, "call-1")
	officerB := authz.Caller{Actor: "user:bo", Role: store.RoleBlockOfficer, Blocks: []string{"B"}, MFA: true}
	officerA := authz.Caller{Actor: "user:ao", Role: store.RoleBlockOfficer, Blocks: []string{"A"}, MFA: true}
	if _, body, err := serveAs(t, st, officerB, http.MethodGet, "call-1", ""); !errors.Is(err, authz.ErrOutOfScope) || bytes.Contains(body, []byte("voice")) {
		t.Fatalf("another block's call: %v", err)
	}
	if _, _, err := people.New(st).AddGlobalNumber(context.Background(), "test", "+441", wire.NumberKindHidden, "investigation"); err != nil {
		t.Fatal(err)
	}
	if _, body, err := serveAs(t, st, officerA, http.MethodGet, "call-1", ""); !errors.Is(err, store.ErrNotFound) || bytes.Contains(body, []byte("voice")) {
		t.Fatalf("hidden call for a block officer: %v", err)
	}
	for _, why := range []error{authz.ErrTokenSecondFactor, authz.ErrSecondFactor, errors.Join(authz.ErrForbidden)} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if err := recordings.Refused(req, st, "token:viewer", "call-1", why); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, e := range entries(t, st, "recording.refused", "call-1") {
		got = append(got, e.Actor+": "+e.Detail)
	}
	want := []string{"token:viewer: role may not play recordings", "token:viewer: no second factor", // newest first
		"token:viewer: token without a second factor", "user:ao: hidden call", "user:bo: outside the caller's blocks"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("refusals audited as\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := len(entries(t, st, "recording.play", "call-1")); n != 0 {
		t.Fatalf("%d playbacks of refused requests", n)
	}
}
