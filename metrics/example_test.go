package metrics_test

import (
	"fmt"
	"time"

	"github.com/netsys-go/netsys/metrics"
)

func ExampleMonitor() {
	m := metrics.NewMonitor(metrics.WithWindow(10 * time.Second))

	// A server with two event loops; each loop records into its own shard.
	src := m.Source(metrics.KindServer, "echo", 2)
	src.ConnOpened()
	src.ConnOpened()
	src.ConnClosed()
	for i := 1; i <= 100; i++ {
		sh := src.Shard(i % 2)
		sh.MessageIn(64)
		sh.MessageOut(64)
		sh.Latency(time.Duration(i)*time.Millisecond, 1)
	}
	src.Error(metrics.ErrIdleTimeout)

	s := m.Snapshot()
	t := s.Total
	fmt.Println("connections:", t.Connections.Total, "active:", t.Connections.Active)
	fmt.Println("messages in:", t.Messages.In, "bytes out:", t.Bytes.Out)
	fmt.Println("idle timeouts:", t.Errors[metrics.ErrIdleTimeout.String()])
	l := t.Latency.SinceStart
	fmt.Printf("latency: n=%d p50=%.1fms p99=%.1fms\n", l.Count, l.P50/1000, l.P99/1000)
	// Output:
	// connections: 2 active: 1
	// messages in: 100 bytes out: 6400
	// idle timeouts: 1
	// latency: n=100 p50=50.0ms p99=99.0ms
}
