package metrics

import (
	"math"

	"github.com/prometheus/client_golang/prometheus"
)

// Descriptors of the metrics the collector exports. Every series but the uptime
// carries a source="<kind>/<name>" label, such as source="server/echo".
var (
	descConnections = prometheus.NewDesc("netsys_connections_total",
		"Connections opened since start.", []string{"source"}, nil)
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
		"Errors by kind.", []string{"source", "kind"}, nil)
	descUptime = prometheus.NewDesc("netsys_uptime_seconds",
		"Seconds since the monitor was created.", nil, nil)
	descLatency = prometheus.NewDesc("netsys_latency_seconds",
		"Message latency since start: server, bytes arrived to reply written; client, request round trip.",
		[]string{"source"}, nil)
)

// summaryQuantiles are quantiles (the percentiles of snapshots) written as
// Prometheus quantile labels.
var summaryQuantiles = []float64{0.5, 0.9, 0.95, 0.99, 0.999}

// Collector returns a prometheus.Collector that exports the monitor's figures,
// to be registered in the application's own registry:
//
//	reg.MustRegister(m.Collector())
//
// A registry takes one Monitor's collector: the metric names are fixed, and one
// Monitor can watch all of a process's servers and clients.
//
// Collecting drains the shards' latency histograms like Snapshot does, but
// leaves the baseline of Snapshot's rates alone. The latency summary's
// quantiles, count and sum cover everything since start; its sum adds up
// histogram bucket midpoints, so it is exact to 3 significant digits.
func (m *Monitor) Collector() prometheus.Collector { return collector{m} }

type collector struct{ m *Monitor }

// Describe implements prometheus.Collector.
func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		descConnections, descActive, descRejected, descFailed, descMsgsIn, descMsgsOut,
		descBytesIn, descBytesOut, descErrors, descUptime, descLatency,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.drainAll(now)

	ch <- prometheus.MustNewConstMetric(descUptime, prometheus.GaugeValue, now.Sub(m.start).Seconds())
	for _, g := range m.groups {
		src := string(g.kind) + "/" + g.name
		v := g.read()
		counter := func(d *prometheus.Desc, n uint64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(n), src)
		}
		counter(descConnections, v.opened)
		ch <- prometheus.MustNewConstMetric(descActive, prometheus.GaugeValue, float64(v.active), src)
		counter(descRejected, v.rejected)
		counter(descFailed, v.failed)
		counter(descMsgsIn, v.msgsIn)
		counter(descMsgsOut, v.msgsOut)
		counter(descBytesIn, v.bytesIn)
		counter(descBytesOut, v.bytesOut)
		for k, n := range v.errors {
			ch <- prometheus.MustNewConstMetric(descErrors, prometheus.CounterValue, float64(n), src, ErrorKind(k).String())
		}

		q := make(map[float64]float64, len(summaryQuantiles))
		values := g.since.ValueAtPercentilesSlice(quantiles)
		for i, us := range values {
			q[summaryQuantiles[i]] = float64(us) / 1e6
			if g.since.TotalCount() == 0 {
				q[summaryQuantiles[i]] = math.NaN() // as client_golang's own Summary reports no data
			}
		}
		ch <- prometheus.MustNewConstSummary(descLatency, uint64(g.since.TotalCount()), g.sumUs/1e6, q, src)
	}
}
