//go:build !race

package bench

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// TestLoadRequestsAllocs: the request path of the load generator (callback,
// next request) and of the envelope echo it drives, both in this process,
// allocate nothing per request in the steady state: the run's mallocs
// (connecting, the histograms, the result) stay under one per ten requests.
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
	total := res.Messages * 5 / 4 // the warm-up's requests too, roughly
	per := float64(after.Mallocs-before.Mallocs) / float64(total)
	t.Logf("%d mallocs for about %d requests: %.3f per request", after.Mallocs-before.Mallocs, total, per)
	if res.Messages < 1000 || per > 0.1 {
		t.Errorf("%d requests, %.3f mallocs per request; want many requests and under 0.1", res.Messages, per)
	}
}
