package server

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinline/kinline/central/broker"
	"github.com/kinline/kinline/central/config"
	"github.com/kinline/kinline/internal/testkit"
)

// lockedBuffer is a log sink safe for the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestStartLineNamesTheExternalBroker: with an external broker central
// opens no MQTT listener, so its start-up line names the broker it connects
// to, not the default listen address it does not use.
func TestStartLineNamesTheExternalBroker(t *testing.T) {
	ext, err := broker.New(broker.Config{Listen: "127.0.0.1:0"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := ext.Start(); err != nil {
		t.Fatal(err)
	}
	defer ext.Close()
	user, pass := ext.InternalCredentials()
	no := false
	dir := t.TempDir()
	cfg := &config.Config{HTTPListen: "127.0.0.1:0", DataDir: filepath.Join(dir, "data"),
		MQTT: config.MQTT{Embedded: &no, Broker: "tcp://" + ext.Addr(), Username: user, Password: pass}}
	cfg.Defaults()
	var logs lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := New(ctx, cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	var line string
	if !testkit.Within(30*time.Second, 10*time.Millisecond, func() bool {
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, `msg="central running"`) {
				line = l
			}
		}
		return line != ""
	}) {
		t.Fatalf("no start-up line:\n%s", logs.String())
	}
	if !strings.Contains(line, "mqtt_broker=tcp://"+ext.Addr()) {
		t.Errorf("the start-up line does not name the external broker: %s", line)
	}
	if strings.Contains(line, " mqtt=") || strings.Contains(line, "mqtt_tls=") {
		t.Errorf("the start-up line names an MQTT listener central does not open: %s", line)
	}
}
