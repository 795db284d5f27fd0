package export

import (
	"encoding/json"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/netsys-go/netsys/metrics"
)

// MetricsHandler returns an http.Handler that serves m's figures in the
// Prometheus exposition format, for a /metrics endpoint. Its registry, of its
// own, holds Collector(m) and the client library's standard process collector
// (open and maximum file descriptors, resident and virtual memory, CPU time,
// start time: process_*) and Go runtime collector (goroutines, threads, heap
// and GC figures: go_*). The process figures are those of Linux's /proc; on
// other systems some are missing. Extra collectors, such as a cluster
// node's, are served beside them.
//
// Call it once per Monitor and mount the result; each call builds a new
// registry.
func MetricsHandler(m *metrics.Monitor, extra ...prometheus.Collector) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		Collector(m),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewGoCollector(),
	)
	reg.MustRegister(extra...)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// StatsHandler returns an http.Handler that serves m.Snapshot as indented
// JSON (the fields docs/metrics.md lists), for a /stats endpoint. It answers
// GET and HEAD; other methods get 405 Method Not Allowed.
func StatsHandler(m *metrics.Monitor) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		b, err := json.MarshalIndent(m.Snapshot(), "", "  ")
		if err != nil { // a Snapshot is plain data; this does not happen
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(append(b, '\n'))
	})
}
