//go:build !race

package bench

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// TestLoadRequestsAllocs: the request path of the load generator (answer,
// next request) and of the envelope echo it drives, both in this process,
// allocate nothing per request in the steady state: the run's mallocs stay
// within a fixed budget for connecting, the histograms and the result, plus
// one per hundred requests (one per request would be far over it).
func TestLoadRequestsAllocs(t *testing.T) {
	addr := startEnvelope(t, echoRequest)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	res, err := LoadRequests(context.Background(), RequestLoadConfig{Addr: addr, Requests: 16,
		Warmup: 50 * time.Millisecond, Duration: 300 * time.Millisecond})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	const setup = 1000 // mallocs of a run with no requests, with room to spare
	mallocs := after.Mallocs - before.Mallocs
	t.Logf("%d mallocs for %d measured requests", mallocs, res.Messages)
	if res.Messages < 1000 || mallocs > setup+uint64(res.Messages)/100 {
		t.Errorf("%d mallocs for %d requests; want at least 1,000 requests and at most %d + one per hundred",
			mallocs, res.Messages, setup)
	}
}
