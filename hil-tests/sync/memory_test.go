package sync_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kinline/kinline/central/broker"
	"github.com/kinline/kinline/central/ingest"
	"github.com/kinline/kinline/central/ingest/ingesttest"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/wire"
)

// helperCentralEnv, set in a child test process, makes it run central (an
// embedded broker and ingest, see runHelperCentral) instead of the tests,
// so that the parent's heap holds the appliance's side only.
const helperCentralEnv = "KINLINE_TEST_HELPER_CENTRAL"

// runHelperCentral runs a broker and ingest with ChunkDir $helperCentralEnv,
// prints "ADDR <host:port> <user> <password>" and runs until its stdin
// closes.
func runHelperCentral() int {
	b, err := broker.New(broker.Config{Listen: "127.0.0.1:0", Appliances: map[string]string{appID: appPW}}, testLog())
	if err == nil {
		err = b.Start()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper central:", err)
		return 1
	}
	defer b.Close()
	user, pass := b.InternalCredentials()
	svc, err := ingest.New(ingest.Config{Broker: "tcp://" + b.Addr(), Username: user, Password: pass, ClientID: "central-helper",
		ChunkDir: os.Getenv(helperCentralEnv)}, ingesttest.New(), testLog())
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper central:", err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	<-svc.Ready()
	fmt.Printf("ADDR %s %s %s\n", b.Addr(), user, pass)
	io.Copy(io.Discard, os.Stdin)
	cancel()
	<-done
	return 0
}

// startHelperCentral runs central in a child process and returns its
// broker's address and central's credentials.
func startHelperCentral(t *testing.T) (addr, user, pass string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperCentralEnv+"="+t.TempDir())
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(patience):
			cmd.Process.Kill()
			t.Error("helper central did not stop")
		}
	})
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "ADDR ") {
				line <- sc.Text()
			}
		}
	}()
	select {
	case l := <-line:
		f := strings.Fields(l)
		if len(f) != 4 {
			t.Fatalf("helper central said %q", l)
		}
		return f[1], f[2], f[3]
	case <-time.After(patience):
		t.Fatal("helper central did not start")
		return
	}
}

// TestChunkedUploadMemory uploads a 20 MB recording to a central running in
// another process and samples this process's heap all along: the appliance
// reads the file one chunk at a time, so its peak heap stays far below the
// file's size (the one-piece upload needed the file plus its base64 JSON,
// over twice the size).
func TestChunkedUploadMemory(t *testing.T) {
	const size = 20 << 20
	addr, user, pass := startHelperCentral(t)
	h := newHarnessURL(t, "tcp://"+addr, user, pass)
	st := h.openStore()

	// Written and hashed 1 MiB at a time, so that the test itself never
	// holds the file either.
	path := filepath.Join(t.TempDir(), "call-20mb.wav")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	hash := sha256.New()
	buf := make([]byte, 1<<20)
	for range size / len(buf) {
		rand.Read(buf)
		hash.Write(buf)
		if _, err := f.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	buf = nil
	ref := wire.RecordingRef{ID: "call-20mb", SHA256: hex.EncodeToString(hash.Sum(nil)), Bytes: size, Format: "wav/pcmu-stereo"}
	addCall(t, st, ref, path)

	// A low GOGC makes the samples show what the client holds rather than
	// garbage the collector has not reached yet (with the default, the
	// peak is about 6 MiB, set by the collector's 4 MiB minimum goal).
	// A one-piece upload holds the file and its base64 JSON, over twice
	// the file, whatever GOGC.
	defer debug.SetGCPercent(debug.SetGCPercent(20))
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak atomic.Uint64
	peak.Store(base)
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		tk := time.NewTicker(time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-tk.C:
				runtime.ReadMemStats(&ms)
				if ms.HeapAlloc > peak.Load() {
					peak.Store(ms.HeapAlloc)
				}
			}
		}
	}()

	start := time.Now()
	h.startClient(st, h.config()) // default chunk size and window
	testkit.Eventually(t, patience, "20 MB recording verified by central and deleted", func() bool {
		recs, err := st.PendingRecordings()
		_, serr := os.Stat(path)
		return err == nil && len(recs) == 0 && errors.Is(serr, os.ErrNotExist)
	})
	elapsed := time.Since(start)
	close(stopSampling)
	<-sampled
	grew := int64(peak.Load()) - int64(base)
	t.Logf("20 MiB recording uploaded in %v (%.1f MB/s); appliance heap: base %.1f MiB, peak %.1f MiB (+%.1f MiB)",
		elapsed.Round(time.Millisecond), float64(size)/1e6/elapsed.Seconds(), float64(base)/(1<<20), float64(peak.Load())/(1<<20), float64(grew)/(1<<20))
	if grew > size/4 {
		t.Fatalf("heap grew by %d bytes uploading a %d-byte recording: the file is being held in memory", grew, size)
	}
}
