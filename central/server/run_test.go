package server

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/kinline/kinline/central/config"
)

// runServer builds central from cfg, runs it until the test ends (then
// stops it and waits for Run to return) and waits until ingest is ready.
// The context is Run's.
func runServer(t *testing.T, cfg *config.Config) (*Server, context.Context) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := New(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	select {
	case <-s.Ingest.Ready():
	case <-time.After(60 * time.Second):
		t.Fatal("ingest not ready after 60 s")
	}
	return s, ctx
}
