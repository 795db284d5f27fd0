// Package metrics is the netsys performance monitor: connection, message, byte
// and error counters plus HDR latency histograms for servers and clients, read
// as a Snapshot (plain struct, JSON-ready) or as a text Report. Package
// metrics/export serves a Monitor over HTTP (Prometheus /metrics, JSON
// /stats); this package itself depends on neither Prometheus nor net/http, so
// that the engine, which records into it, does not pull them in.
//
// One Monitor watches any number of sources. The engine registers each server
// or client with Monitor.Source, giving the number of event loops, and hands
// each loop its own Shard (Sources registered under the same kind and name add
// up to one entry):
//
//	m := metrics.NewMonitor(metrics.WithWindow(10 * time.Second))
//	src := m.Source(metrics.KindServer, "echo", loops)
//	sh := src.Shard(loopIndex) // in the loop
//	src.ConnOpened()
//	sh.MessagesIn(1, len(frame))
//	sh.Latency(time.Since(arrived), 1)
//	src.Error(metrics.IdleTimeout)
//	fmt.Print(m.Report())
//	http.Handle("/metrics", export.MetricsHandler(m))
//
// # Reading
//
// Reading the monitor (Snapshot, Report, a Prometheus scrape) changes nothing
// that another reader sees: two Snapshots in a row report the same rates. The
// rates come from readings of the counters that the monitor keeps, at most one
// per tenth of the window, taken by the first read in each tenth; they cover
// the last window (WithWindow, 10 s by default) of wall time. Reset zeroes
// every counter and histogram.
//
// # Concurrency
//
// Source methods (connection and error counters) are atomic adds, safe from any
// goroutine; Source.Handshake takes a lock of the Source's own. Shard methods
// are the hot path: each Shard has exactly one writer at a time, its event
// loop, and records without locks or allocations: its counters are atomics on
// a cache line of their own, and its latencies go into a histogram that only
// that loop writes. Snapshot, Report and Reset run on any goroutine,
// concurrently with the writers, and are serialised among themselves by the
// Monitor's mutex. They swap each shard's histogram for an empty spare and
// merge the full one; Shard.drain in monitor.go explains why that is safe.
//
// Latencies are recorded in microseconds, clamped to 1 µs .. 60 s, with 3
// significant digits. The since-start figures cover everything drained since
// NewMonitor or Reset; the recent figures cover the latencies drained in the
// last window (see Monitor.Snapshot). The package starts no goroutines of its
// own.
package metrics
