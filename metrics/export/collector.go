package export

import (
	"math"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/netsys-go/netsys/metrics"
)

// Descriptors of the metrics the collector exports. Every series but the uptime
// carries a source="<kind>/<name>" label, such as source="server/echo".
var (
	descConnections = prometheus.NewDesc("netsys_connections_total",
		"Connections opened.", []string{"source"}, nil)
	descActive = prometheus.NewDesc("netsys_connections_active",
		"Connections open now.", []string{"source"}, nil)
	descRejected = prometheus.NewDesc("netsys_connections_rejected_total",
		"Connections refused at the connection limit.", []string{"source"}, nil)
	descFailed = prometheus.NewDesc("netsys_connections_failed_total",
		"Failed client connection attempts.", []string{"source"}, nil)
	descMsgsIn = prometheus.NewDesc("netsys_messages_received_total",
		"Messages received.", []string{"source"}, nil)
	descMsgsOut = prometheus.NewDesc("netsys_messages_sent_total",
		"Messages sent.", []string{"source"}, nil)
	descBytesIn = prometheus.NewDesc("netsys_received_bytes_total",
		"Bytes received in messages.", []string{"source"}, nil)
	descBytesOut = prometheus.NewDesc("netsys_sent_bytes_total",
		"Bytes sent in messages.", []string{"source"}, nil)
	descErrors = prometheus.NewDesc("netsys_errors_total",
		"Errors and forced closes by kind.", []string{"source", "kind"}, nil)
	descUptime = prometheus.NewDesc("netsys_uptime_seconds",
		"Seconds since the monitor was created.", nil, nil)
	descLatency = prometheus.NewDesc("netsys_latency_seconds",
		"Message latency: server, bytes arrived to reply written; client, request round trip.",
		[]string{"source"}, nil)
	descHandshake = prometheus.NewDesc("netsys_handshake_seconds",
		"Handshake (TLS) durations; exported once a source has recorded one.",
		[]string{"source"}, nil)
)

// summaryQuantiles are the snapshot's percentiles written as Prometheus
// quantile labels, in the order of metrics.LatencyStats' fields.
var summaryQuantiles = []float64{0.5, 0.9, 0.95, 0.99, 0.999}

// Collector returns a prometheus.Collector that exports m's figures, to be
// registered in a registry of the application's own:
//
//	reg.MustRegister(export.Collector(m))
//
// A registry takes one Monitor's collector: the metric names are fixed, and one
// Monitor can watch all of a process's servers and clients.
//
// Each collection takes one m.Snapshot, which changes nothing another reader
// sees. The counters run from the monitor's creation or its last Reset (which
// Prometheus reads as a counter reset). The latency summaries' quantiles,
// count and sum cover the same span; the sum is the count times the
// histogram's mean, exact to its 3 significant digits.
func Collector(m *metrics.Monitor) prometheus.Collector { return collector{m} }

type collector struct{ m *metrics.Monitor }

// Describe implements prometheus.Collector.
func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		descConnections, descActive, descRejected, descFailed, descMsgsIn, descMsgsOut,
		descBytesIn, descBytesOut, descErrors, descUptime, descLatency, descHandshake,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.m.Snapshot()
	ch <- prometheus.MustNewConstMetric(descUptime, prometheus.GaugeValue, s.UptimeSeconds)
	kinds := metrics.ErrorKinds()
	for i := range s.Sources {
		st := &s.Sources[i]
		src := string(st.Kind) + "/" + st.Name
		counter := func(d *prometheus.Desc, n uint64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(n), src)
		}
		counter(descConnections, st.Connections.Total)
		ch <- prometheus.MustNewConstMetric(descActive, prometheus.GaugeValue, float64(st.Connections.Active), src)
		counter(descRejected, st.Connections.Rejected)
		counter(descFailed, st.Connections.Failed)
		counter(descMsgsIn, st.Messages.In)
		counter(descMsgsOut, st.Messages.Out)
		counter(descBytesIn, st.Bytes.In)
		counter(descBytesOut, st.Bytes.Out)
		for _, k := range kinds {
			name := k.String()
			ch <- prometheus.MustNewConstMetric(descErrors, prometheus.CounterValue, float64(st.Errors[name]), src, name)
		}
		ch <- summary(descLatency, &st.Latency.SinceStart, src)
		if st.Handshake != nil {
			ch <- summary(descHandshake, st.Handshake, src)
		}
	}
}

// summary writes l, in microseconds, as a Prometheus summary in seconds. Its
// quantiles are NaN while it is empty, as client_golang's own Summary reports
// no data.
func summary(d *prometheus.Desc, l *metrics.LatencyStats, src string) prometheus.Metric {
	values := []float64{l.P50, l.P90, l.P95, l.P99, l.P999}
	q := make(map[float64]float64, len(summaryQuantiles))
	for i, us := range values {
		q[summaryQuantiles[i]] = us / 1e6
		if l.Count == 0 {
			q[summaryQuantiles[i]] = math.NaN()
		}
	}
	return prometheus.MustNewConstSummary(d, l.Count, l.Mean*float64(l.Count)/1e6, q, src)
}
