package engine

import (
	"context"
	"io"
	"log/slog"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/netsys-go/netsys/session"
)

// TestLoopsDefaultToGOMAXPROCS checks that connections spread over as many
// gnet event loops as GOMAXPROCS when WithLoops is not given: each loop gets
// its own shared state (metrics shard, reply buffer) the first time it opens
// a connection.
func TestLoopsDefaultToGOMAXPROCS(t *testing.T) {
	want := runtime.GOMAXPROCS(0)
	opened := make(chan struct{}, 64)
	srv, err := NewServer(HandlerFuncs{Connect: func(*session.Session) { opened <- struct{}{} }},
		WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	if srv.t.o.loops != want {
		t.Fatalf("loops = %d; want GOMAXPROCS = %d", srv.t.o.loops, want)
	}
	// gnet balances round-robin: 4 connections per loop reach every loop.
	for range 4 * want {
		c, err := net.Dial("tcp", srv.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		select {
		case <-opened:
		case <-time.After(10 * time.Second):
			t.Fatal("no OnConnect within 10s")
		}
	}
	srv.t.loopMu.Lock()
	got := len(srv.t.loops)
	srv.t.loopMu.Unlock()
	if got != want {
		t.Errorf("connections landed on %d event loops; want %d", got, want)
	}
}
