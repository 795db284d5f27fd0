package metrics

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape serves reg's metrics in the text format, as Prometheus would fetch
// them, and parses the text back.
func scrape(t *testing.T, reg *prometheus.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("scrape Content-Type = %q; want text/plain", ct)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("TextToMetricFamilies: %v", err)
	}
	return families
}

// find returns the metric of family name whose labels include labels.
func find(families map[string]*dto.MetricFamily, name string, labels map[string]string) *dto.Metric {
	mf := families[name]
	if mf == nil {
		return nil
	}
next:
	for _, m := range mf.GetMetric() {
		for k, v := range labels {
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == k && lp.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		return m
	}
	return nil
}

func TestCollector(t *testing.T) {
	clk := newFakeClock()
	m := NewMonitor(withClock(clk.now))
	srv := m.Source(KindServer, "echo", 2)
	cl := m.Source(KindClient, "load", 1)
	for range 3 {
		srv.ConnOpened()
	}
	srv.ConnClosed()
	srv.ConnRejected()
	srv.ConnRejected()
	cl.ConnFailed()
	for range 10 {
		srv.Shard(0).MessageIn(100)
	}
	for range 4 {
		srv.Shard(1).MessageOut(50)
	}
	srv.Error(ErrWrite)
	srv.Error(ErrWrite)
	cl.Error(ErrConnect)
	for i := 1; i <= 1000; i++ {
		srv.Shard(i%2).Latency(time.Duration(i)*time.Microsecond, 1)
	}
	clk.advance(3 * time.Second)

	reg := prometheus.NewRegistry()
	reg.MustRegister(m.Collector())
	families := scrape(t, reg)

	echo := map[string]string{"source": "server/echo"}
	load := map[string]string{"source": "client/load"}
	tests := []struct {
		name   string
		labels map[string]string
		typ    dto.MetricType
		want   float64
	}{
		{name: "netsys_uptime_seconds", typ: dto.MetricType_GAUGE, want: 3},
		{name: "netsys_connections_total", labels: echo, typ: dto.MetricType_COUNTER, want: 3},
		{name: "netsys_connections_active", labels: echo, typ: dto.MetricType_GAUGE, want: 2},
		{name: "netsys_connections_rejected_total", labels: echo, typ: dto.MetricType_COUNTER, want: 2},
		{name: "netsys_connections_failed_total", labels: load, typ: dto.MetricType_COUNTER, want: 1},
		{name: "netsys_connections_failed_total", labels: echo, typ: dto.MetricType_COUNTER, want: 0},
		{name: "netsys_messages_received_total", labels: echo, typ: dto.MetricType_COUNTER, want: 10},
		{name: "netsys_messages_sent_total", labels: echo, typ: dto.MetricType_COUNTER, want: 4},
		{name: "netsys_received_bytes_total", labels: echo, typ: dto.MetricType_COUNTER, want: 1000},
		{name: "netsys_sent_bytes_total", labels: echo, typ: dto.MetricType_COUNTER, want: 200},
		{name: "netsys_errors_total", labels: map[string]string{"source": "server/echo", "kind": "write"}, typ: dto.MetricType_COUNTER, want: 2},
		{name: "netsys_errors_total", labels: map[string]string{"source": "client/load", "kind": "connect"}, typ: dto.MetricType_COUNTER, want: 1},
		{name: "netsys_errors_total", labels: map[string]string{"source": "client/load", "kind": "panic"}, typ: dto.MetricType_COUNTER, want: 0},
	}
	for _, tt := range tests {
		mf := families[tt.name]
		if mf == nil {
			t.Errorf("scrape has no %s", tt.name)
			continue
		}
		if mf.GetType() != tt.typ {
			t.Errorf("%s type = %v; want %v", tt.name, mf.GetType(), tt.typ)
		}
		m := find(families, tt.name, tt.labels)
		if m == nil {
			t.Errorf("scrape has no %s%v", tt.name, tt.labels)
			continue
		}
		got := m.GetCounter().GetValue()
		if tt.typ == dto.MetricType_GAUGE {
			got = m.GetGauge().GetValue()
		}
		if got != tt.want {
			t.Errorf("%s%v = %v; want %v", tt.name, tt.labels, got, tt.want)
		}
	}
	if n := len(families["netsys_errors_total"].GetMetric()); n != 2*int(numErrorKinds) {
		t.Errorf("netsys_errors_total has %d series; want %d (every kind of both sources)", n, 2*numErrorKinds)
	}

	if mf := families["netsys_latency_seconds"]; mf.GetType() != dto.MetricType_SUMMARY {
		t.Fatalf("netsys_latency_seconds type = %v; want SUMMARY", mf.GetType())
	}
	sum := find(families, "netsys_latency_seconds", echo).GetSummary()
	if sum.GetSampleCount() != 1000 || !near(sum.GetSampleSum(), 0.5005) {
		t.Errorf("latency summary count %d, sum %v s; want 1000, 0.5005", sum.GetSampleCount(), sum.GetSampleSum())
	}
	wantQ := map[float64]float64{0.5: 500e-6, 0.9: 900e-6, 0.95: 950e-6, 0.99: 990e-6, 0.999: 999e-6}
	if len(sum.GetQuantile()) != len(wantQ) {
		t.Errorf("latency summary has %d quantiles; want %d", len(sum.GetQuantile()), len(wantQ))
	}
	for _, q := range sum.GetQuantile() {
		if want, ok := wantQ[q.GetQuantile()]; !ok || !near(q.GetValue(), want) {
			t.Errorf("latency quantile %v = %v s; want %v", q.GetQuantile(), q.GetValue(), want)
		}
	}
	if c := find(families, "netsys_latency_seconds", load).GetSummary().GetSampleCount(); c != 0 {
		t.Errorf("client latency count = %d; want 0", c)
	}

	problems, err := testutil.CollectAndLint(m.Collector())
	if err != nil || len(problems) > 0 {
		t.Errorf("CollectAndLint = %v, %v; want no problems", problems, err)
	}
}

// TestCollectorLeavesSnapshotRates checks that a scrape between two snapshots
// changes neither the rates nor the totals the second snapshot reports.
func TestCollectorLeavesSnapshotRates(t *testing.T) {
	clk := newFakeClock()
	m := NewMonitor(withClock(clk.now))
	sh := m.Source(KindServer, "echo", 1).Shard(0)
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.Collector())

	m.Snapshot()
	for range 10 {
		sh.MessageIn(1)
		sh.Latency(time.Millisecond, 1)
	}
	clk.advance(2 * time.Second)
	scrape(t, reg)
	sh.Latency(2*time.Millisecond, 1)
	clk.advance(2 * time.Second)
	s := m.Snapshot()
	if s.IntervalSeconds != 4 || s.Total.Rates.MessagesIn != 2.5 {
		t.Errorf("after a scrape: interval %v s, messages in/s %v; want 4, 2.5", s.IntervalSeconds, s.Total.Rates.MessagesIn)
	}
	if l := s.Total.Latency; l.SinceStart.Count != 11 || l.Recent.Count != 11 || !near(l.SinceStart.Max, 2000) {
		t.Errorf("after a scrape: since-start %d, recent %d, max %v; want 11, 11, 2000", l.SinceStart.Count, l.Recent.Count, l.SinceStart.Max)
	}
}
