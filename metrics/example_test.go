package metrics_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/netsys-go/netsys/metrics"
	"github.com/netsys-go/netsys/metrics/export"
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
		sh.MessagesIn(1, 64)
		sh.MessagesOut(1, 64)
		sh.Latency(time.Duration(i)*time.Millisecond, 1)
	}
	src.Error(metrics.IdleTimeout)

	s := m.Snapshot()
	t := s.Total
	fmt.Println("connections:", t.Connections.Total, "active:", t.Connections.Active)
	fmt.Println("messages in:", t.Messages.In, "bytes out:", t.Bytes.Out)
	fmt.Println("idle timeouts:", t.Errors[metrics.IdleTimeout.String()])
	l := t.Latency.SinceStart
	fmt.Printf("latency: n=%d min=%.1fms p50=%.1fms p99=%.1fms\n", l.Count, l.Min/1000, l.P50/1000, l.P99/1000)
	// Output:
	// connections: 2 active: 1
	// messages in: 100 bytes out: 6400
	// idle timeouts: 1
	// latency: n=100 min=1.0ms p50=50.0ms p99=99.0ms
}

// Reading the monitor changes nothing: a second Snapshot right after the
// first reports the same rates. Reset starts every count again.
func ExampleMonitor_Reset() {
	m := metrics.NewMonitor()
	src := m.Source(metrics.KindClient, "load", 1)
	src.ConnOpened()
	src.Shard(0).MessagesOut(500, 32_000)
	src.Error(metrics.RequestTimeout)

	a, b := m.Snapshot(), m.Snapshot()
	fmt.Println("same rates:", a.Total.Rates == b.Total.Rates)
	fmt.Println("before Reset:", b.Total.Messages.Out, "out,", b.Total.Errors["request_timeout"], "request timeout")

	m.Reset()
	c := m.Snapshot().Total
	fmt.Println("after Reset:", c.Messages.Out, "out,", c.Errors["request_timeout"], "request timeouts,", c.Connections.Active, "still active")
	// Output:
	// same rates: true
	// before Reset: 500 out, 1 request timeout
	// after Reset: 0 out, 0 request timeouts, 1 still active
}

// Serving a monitor over HTTP: export.MetricsHandler for Prometheus (with the
// process and Go runtime collectors) and export.StatsHandler for the JSON
// snapshot, mounted on a mux of your own.
func ExampleMonitor_http() {
	m := metrics.NewMonitor()
	src := m.Source(metrics.KindServer, "echo", 1)
	src.ConnOpened()
	src.Shard(0).MessagesIn(3, 96)

	mux := http.NewServeMux()
	mux.Handle("/metrics", export.MetricsHandler(m))
	mux.Handle("/stats", export.StatsHandler(m))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	get := func(path string) string {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	for _, line := range strings.Split(get("/metrics"), "\n") {
		if strings.HasPrefix(line, "netsys_messages_received_total") {
			fmt.Println(line)
		}
	}
	fmt.Println(strings.Contains(get("/metrics"), "go_goroutines")) // the Go runtime collector
	stats := get("/stats")
	fmt.Println(strings.Contains(stats, `"kind": "server"`), strings.Contains(stats, `"in": 3`))
	// Output:
	// netsys_messages_received_total{source="server/echo"} 3
	// true
	// true true
}
