package main_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kinline/kinline/central/authz"
	"github.com/kinline/kinline/central/backup"
	"github.com/kinline/kinline/central/recordings"
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/recstore"
	"github.com/kinline/kinline/shared/wire"
)

var audio = append([]byte("RIFF\x24\x00\x00\x00WAVEfmt "), bytes.Repeat([]byte("a recorded family call "), 2000)...)

// install writes a central.yaml in a new directory, data in data/.
func install(t *testing.T) (cfg, dataDir string) {
	t.Helper()
	dir := t.TempDir()
	cfg = filepath.Join(dir, "central.yaml")
	os.WriteFile(cfg, []byte("http_listen: 127.0.0.1:0\ndata_dir: data\nlog_level: info\nmqtt:\n  embedded: true\n  listen: 127.0.0.1:0\n"), 0o600)
	return cfg, filepath.Join(dir, "data")
}

// openData opens the store of a data directory with its recordings key.
func openData(t *testing.T, dataDir string) *store.Store {
	t.Helper()
	key, err := recordings.KeyFile(filepath.Join(dataDir, "recordings.key"), filepath.Join(dataDir, "recordings"), nil)
	if err != nil {
		t.Fatal(err)
	}
	db := store.Database{Path: filepath.Join(dataDir, "central.db"), RecordingKey: key}
	st, err := store.OpenDatabase(context.Background(), db, filepath.Join(dataDir, "recordings"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// seed stores a recorded call as ingest does.
func seed(t *testing.T, dataDir string) {
	t.Helper()
	ctx := context.Background()
	st := openData(t, dataDir)
	defer st.Close()
	if err := st.UpsertAppliance(ctx, "block-a-1", "A"); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(audio)
	ref := wire.RecordingRef{ID: "r1", SHA256: hex.EncodeToString(sum[:]), Bytes: int64(len(audio)), Format: "wav/pcmu-stereo"}
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	ans := t0.Add(5 * time.Second)
	b, _ := json.Marshal(wire.CallRecord{CallID: "call-1", Terminal: "t1", Number: "+441", Start: t0, Answer: &ans, End: ans.Add(time.Minute), Disposition: wire.DispCompleted, Recording: &ref})
	ev := wire.Event{ApplianceID: "block-a-1", Seq: 1, Time: t0, Type: wire.EventCall, Payload: b}
	ev.Seal()
	if _, err := st.StoreEvents(ctx, "block-a-1", []wire.Event{ev}); err != nil {
		t.Fatal(err)
	}
	if err := st.StoreRecording(ctx, "block-a-1", &wire.RecordingUpload{V: 1, ApplianceID: "block-a-1", CallID: "call-1", Ref: ref, Data: audio}); err != nil {
		t.Fatal(err)
	}
	if err := st.Audit(ctx, "admin", "test.seed", "call-1", ""); err != nil {
		t.Fatal(err)
	}
}

func run(t *testing.T, bin string, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// TestBackupRestoreCommands runs the real kinline-central: a backup taken
// while central runs, restored into another installation, refused onto a
// used one and from a damaged copy; the restored recording plays back
// byte-identical through central/recordings.
func TestBackupRestoreCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "kinline-central")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cfgA, dataA := install(t)
	seed(t, dataA)
	central := exec.Command(bin, "-config", cfgA)
	var logs bytes.Buffer
	central.Stderr = &logs
	if err := central.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { central.Process.Kill(); central.Wait() })
	testkit.Eventually(t, 30*time.Second, "central running", func() bool {
		_, err := os.Stat(filepath.Join(dataA, "admin-token"))
		return err == nil
	})

	bdir := filepath.Join(t.TempDir(), "backup-1")
	out, code := run(t, bin, "backup", "-config", cfgA, bdir)
	if code != 0 || !strings.Contains(out, "1 recordings") {
		t.Fatalf("backup: exit %d\n%s\ncentral: %s", code, out, logs.String())
	}
	if err := central.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("central was not running during the backup: %v\n%s", err, logs.String())
	}
	central.Process.Signal(syscall.SIGTERM)
	central.Wait()
	if out, code := run(t, bin, "backup", "-config", cfgA, bdir); code != 1 || !strings.Contains(out, "not empty") {
		t.Fatalf("backup into a used directory: exit %d\n%s", code, out)
	}
	if out, code := run(t, bin, "restore", "-config", cfgA, bdir); code != 1 || !strings.Contains(out, "not empty") {
		t.Fatalf("restore onto a used data directory: exit %d\n%s", code, out)
	}

	cfgB, dataB := install(t)
	// The key is not in the backup: the operator puts it back.
	os.MkdirAll(dataB, 0o750)
	keyA, _ := os.ReadFile(filepath.Join(dataA, "recordings.key"))
	os.WriteFile(filepath.Join(dataB, "recordings.key"), keyA, 0o600)

	damaged := filepath.Join(t.TempDir(), "damaged")
	os.CopyFS(damaged, os.DirFS(bdir))
	m, err := backup.ReadManifest(bdir)
	if err != nil {
		t.Fatal(err)
	}
	os.Truncate(filepath.Join(damaged, m.Files[len(m.Files)-1].Path), 10)
	if out, code := run(t, bin, "restore", "-config", cfgB, damaged); code != 1 || !strings.Contains(out, "damaged") {
		t.Fatalf("restore of a truncated backup: exit %d\n%s", code, out)
	}

	out, code = run(t, bin, "restore", "-config", cfgB, bdir)
	if code != 0 || !strings.Contains(out, "audit chain verified") || !strings.Contains(out, "1 recordings restored") {
		t.Fatalf("restore: exit %d\n%s", code, out)
	}
	if out, code := run(t, bin, "restore", "-config", cfgB, "-force", bdir); code != 0 {
		t.Fatalf("restore -force: exit %d\n%s", code, out)
	}
	st := openData(t, dataB)
	defer st.Close()
	if err := st.VerifyAudit(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := recordings.Play(w, r, st, authz.Caller{Actor: "admin", Role: store.RoleSystemAdmin, MFA: true}, "call-1"); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(body, audio) {
		t.Fatalf("restored recording: %d %q", resp.StatusCode, body[:min(len(body), 80)])
	}
	// The backup's recording is sealed, as on disk: the audio is not in it.
	for _, f := range m.Files {
		b, _ := os.ReadFile(filepath.Join(bdir, f.Path))
		if strings.HasPrefix(f.Path, "recordings/") && (bytes.Contains(b, []byte("family call")) || !recstore.Sealed(bytes.NewReader(b), int64(len(b)))) {
			t.Fatalf("%s in the backup is not sealed", f.Path)
		}
	}
}
