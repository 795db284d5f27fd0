// Package export serves a metrics.Monitor over HTTP: a Prometheus collector
// for the monitor's figures, a ready-made /metrics handler that adds the
// process and Go runtime collectors, and a /stats handler that serves the
// monitor's Snapshot as JSON.
//
// It is a package of its own so that the engine, which records into package
// metrics, does not pull the Prometheus client, protobuf and net/http into
// every program that uses netsys; only programs that serve their metrics
// import export.
//
//	m := metrics.NewMonitor()
//	srv, _ := engine.NewServer(h, engine.WithMonitor(m))
//	mux := http.NewServeMux()
//	mux.Handle("/metrics", export.MetricsHandler(m))
//	mux.Handle("/stats", export.StatsHandler(m))
//
// Or, to add the monitor to a registry of your own:
//
//	reg.MustRegister(export.Collector(m))
//
// # Concurrency
//
// The collector and both handlers are safe for concurrent use: each request
// takes one Monitor.Snapshot, which is serialised by the monitor and changes
// nothing that another reader sees, so scrapes, /stats and periodic reports do
// not disturb each other. The package starts no goroutines of its own.
package export
