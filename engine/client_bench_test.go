package engine_test

import (
	"context"
	"testing"

	"github.com/netsys-go/netsys/engine"
)

// BenchmarkClientRequest measures one Request round trip of a 64-byte payload
// over loopback to an echo server on one loop. The allocations are the whole
// process's, server included.
func BenchmarkClientRequest(b *testing.B) {
	_, addr := echoServer(b, engine.WithLoops(1))
	cl := dial(b, addr)
	ctx := context.Background()
	payload := make([]byte, 64)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		if _, err := cl.Request(ctx, payload); err != nil {
			b.Fatal(err)
		}
	}
}

// TestClientRequestAllocs pins the cost of a Request round trip at three
// allocations for the whole process: the reply's copy, which the caller owns,
// and gnet's Wake of the client loop for the send (its task closure and queue
// node). The server's side allocates nothing.
func TestClientRequestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	_, addr := echoServer(t, engine.WithLoops(1))
	cl := dial(t, addr)
	ctx := context.Background()
	payload := make([]byte, 64)
	request := func() {
		if _, err := cl.Request(ctx, payload); err != nil {
			t.Fatal(err)
		}
	}
	for range 100 { // warm the pools
		request()
	}
	if allocs := testing.AllocsPerRun(500, request); allocs > 3 {
		t.Errorf("allocations per Request = %v; want at most 3", allocs)
	}
}
