package export

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/netsys-go/netsys/metrics"
)

// near reports whether got is within HDR precision (3 significant digits) of want.
func near(got, want float64) bool { return math.Abs(got-want) <= want/1000+1e-9 }

// scrape fetches h's metrics in the text format, as Prometheus would, and
// parses the text back.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape status %d: %s", rec.Code, rec.Body)
	}
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

// record fills m with the figures TestCollector expects.
func record(m *metrics.Monitor) {
	srv := m.Source(metrics.KindServer, "echo", 2)
	cl := m.Source(metrics.KindClient, "load", 1)
	for range 3 {
		srv.ConnOpened()
	}
	srv.ConnClosed()
	srv.ConnRejected()
	srv.ConnRejected()
	cl.ConnFailed()
	srv.Shard(0).MessagesIn(10, 1000)
	srv.Shard(1).MessagesOut(4, 200)
	srv.Error(metrics.Write)
	srv.Error(metrics.Write)
	cl.Error(metrics.Connect)
	cl.Error(metrics.RequestTimeout)
	for i := 1; i <= 1000; i++ {
		srv.Shard(i%2).Latency(time.Duration(i)*time.Microsecond, 1)
	}
}

func TestCollector(t *testing.T) {
	m := metrics.NewMonitor()
	record(m)
	reg := prometheus.NewRegistry()
	reg.MustRegister(Collector(m))
	families := scrape(t, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))

	echo := map[string]string{"source": "server/echo"}
	load := map[string]string{"source": "client/load"}
	tests := []struct {
		name   string
		labels map[string]string
		typ    dto.MetricType
		want   float64
	}{
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
		{name: "netsys_errors_total", labels: map[string]string{"source": "client/load", "kind": "request_timeout"}, typ: dto.MetricType_COUNTER, want: 1},
		{name: "netsys_errors_total", labels: map[string]string{"source": "client/load", "kind": "memory_limit"}, typ: dto.MetricType_COUNTER, want: 0},
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
	if up := families["netsys_uptime_seconds"].GetMetric()[0].GetGauge().GetValue(); up <= 0 || up > 60 {
		t.Errorf("netsys_uptime_seconds = %v; want a few ms", up)
	}
	kinds := len(metrics.ErrorKinds())
	if n := len(families["netsys_errors_total"].GetMetric()); n != 2*kinds {
		t.Errorf("netsys_errors_total has %d series; want %d (every kind of both sources)", n, 2*kinds)
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
	empty := find(families, "netsys_latency_seconds", load).GetSummary()
	if empty.GetSampleCount() != 0 || !math.IsNaN(empty.GetQuantile()[0].GetValue()) {
		t.Errorf("client latency count %d, p50 %v; want 0, NaN", empty.GetSampleCount(), empty.GetQuantile()[0].GetValue())
	}
	if mf := families["netsys_handshake_seconds"]; mf != nil {
		t.Errorf("netsys_handshake_seconds exported before any handshake: %v", mf)
	}

	problems, err := testutil.CollectAndLint(Collector(m))
	if err != nil || len(problems) > 0 {
		t.Errorf("CollectAndLint = %v, %v; want no problems", problems, err)
	}
}

func TestCollectorHandshakes(t *testing.T) {
	m := metrics.NewMonitor()
	tlsSrc := m.Source(metrics.KindServer, "tls", 1)
	m.Source(metrics.KindServer, "plain", 1)
	for i := 1; i <= 10; i++ {
		tlsSrc.Handshake(time.Duration(i) * time.Millisecond)
	}
	h := MetricsHandler(m)
	families := scrape(t, h)
	mf := families["netsys_handshake_seconds"]
	if mf == nil || mf.GetType() != dto.MetricType_SUMMARY || len(mf.GetMetric()) != 1 {
		t.Fatalf("netsys_handshake_seconds = %v; want one summary, for server/tls only", mf)
	}
	sum := find(families, "netsys_handshake_seconds", map[string]string{"source": "server/tls"}).GetSummary()
	if sum.GetSampleCount() != 10 || !near(sum.GetSampleSum(), 0.055) {
		t.Errorf("handshake summary count %d, sum %v s; want 10, 0.055", sum.GetSampleCount(), sum.GetSampleSum())
	}
}

func TestMetricsHandlerStandardCollectors(t *testing.T) {
	m := metrics.NewMonitor()
	record(m)
	families := scrape(t, MetricsHandler(m))
	names := []string{
		"netsys_messages_received_total",                              // the monitor
		"go_goroutines", "go_memstats_heap_alloc_bytes", "go_threads", // Go runtime
	}
	if runtime.GOOS == "linux" { // the process collector reads /proc
		names = append(names, "process_open_fds", "process_max_fds", "process_resident_memory_bytes")
	}
	for _, name := range names {
		mf := families[name]
		if mf == nil || len(mf.GetMetric()) == 0 {
			t.Errorf("/metrics has no %s", name)
			continue
		}
		if m := mf.GetMetric()[0]; name != "netsys_messages_received_total" && m.GetGauge().GetValue() <= 0 {
			t.Errorf("%s = %v; want > 0", name, m.GetGauge().GetValue())
		}
	}
}

// TestScrapesDoNotSkewStats interleaves /stats, scrapes and snapshots: each
// read sees the same rates as the one before it.
func TestScrapesDoNotSkewStats(t *testing.T) {
	// An hour's window: its tenths (6 minutes) are far longer than the test, so
	// every read falls in one and must give the same rates.
	m := metrics.NewMonitor(metrics.WithWindow(time.Hour))
	sh := m.Source(metrics.KindServer, "echo", 1).Shard(0)
	sh.MessagesIn(100, 1000)
	mh, sth := MetricsHandler(m), StatsHandler(m)
	first := m.Snapshot().Total.Rates
	for range 3 {
		sh.MessagesIn(100, 1000)
		scrape(t, mh)
		rec := httptest.NewRecorder()
		sth.ServeHTTP(rec, httptest.NewRequest("GET", "/stats", nil))
		var s metrics.Snapshot
		if err := json.Unmarshal(rec.Body.Bytes(), &s); err != nil {
			t.Fatalf("/stats: %v", err)
		}
		if s.Total.Rates != first {
			t.Errorf("/stats rates after a scrape %+v; want %+v, as the first Snapshot", s.Total.Rates, first)
		}
	}
	if got := m.Snapshot().Total; got.Rates != first || got.Messages.In != 400 {
		t.Errorf("last Snapshot: rates %+v, %d in; want %+v, 400", got.Rates, got.Messages.In, first)
	}
}

func TestStatsHandler(t *testing.T) {
	m := metrics.NewMonitor()
	record(m)
	h := StatsHandler(m)

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/stats", nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET /stats: status %d, Content-Type %q; want 200, application/json", rec.Code, rec.Header().Get("Content-Type"))
	}
	var s metrics.Snapshot
	if err := json.Unmarshal(rec.Body.Bytes(), &s); err != nil {
		t.Fatalf("GET /stats body does not decode: %v\n%s", err, rec.Body)
	}
	if len(s.Sources) != 2 || s.Total.Messages.In != 10 || s.Total.Errors["request_timeout"] != 1 ||
		s.Sources[0].Latency.SinceStart.Count != 1000 || !near(s.Sources[0].Latency.SinceStart.Min, 1) {
		t.Errorf("GET /stats = %+v; want the recorded figures", s)
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("HEAD", "/stats", nil))
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Errorf("HEAD /stats: status %d, %d body bytes; want 200, 0", rec.Code, rec.Body.Len())
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/stats", strings.NewReader("x")))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /stats: status %d, Allow %q; want 405, GET, HEAD", rec.Code, rec.Header().Get("Allow"))
	}
}
