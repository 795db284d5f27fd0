// Package metrics is the netsys performance monitor: connection, message, byte
// and error counters plus HDR latency histograms for servers and clients, read
// as a Snapshot (plain struct, JSON-ready), as a text Report, or through a
// Prometheus collector.
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
//	sh.MessageIn(len(frame))
//	sh.Latency(time.Since(arrived), 1)
//	fmt.Print(m.Report())
//	reg.MustRegister(m.Collector())
//
// # Concurrency
//
// Source methods (connection and error counters) are atomic adds, safe from any
// goroutine. Shard methods are the hot path: each Shard has exactly one writer
// at a time, its event loop, and records without locks or allocations: its
// counters are atomics on a cache line of their own, and its latencies go into
// a histogram that only that loop writes. Snapshot, Report and Prometheus
// collection run on any goroutine, concurrently with the writers, and are
// serialised among themselves by the Monitor's mutex. They swap each shard's
// histogram for an empty spare and merge the full one; Shard.drain in
// monitor.go explains why that is safe.
//
// Latencies are recorded in microseconds, clamped to 1 µs .. 60 s, with 3
// significant digits. The since-start figures cover everything drained so far;
// the recent figures cover the latencies drained in the last window (see
// Monitor.Snapshot). The package starts no goroutines of its own.
package metrics
