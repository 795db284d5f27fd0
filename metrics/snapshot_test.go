package metrics

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestReport(t *testing.T) {
	m := NewMonitor()
	srv := m.Source(KindServer, "echo", 1)
	m.Source(KindClient, "load", 1)
	for i := 1; i <= 10000; i++ {
		srv.Shard(0).Latency(time.Duration(i)*time.Microsecond, 1)
	}
	srv.Error(SlowConsumer)
	srv.Handshake(2 * time.Millisecond)
	r := m.Report()

	tests := []struct {
		name string
		re   string
	}{
		{name: "header", re: `(?m)^netsys  uptime \d+\.\ds  rates over \d+\.\ds  sources 2$`},
		{name: "total section", re: `(?m)^== total ==$`},
		{name: "server section", re: `(?m)^== server/echo ==$`},
		{name: "client section", re: `(?m)^== client/load ==$`},
		{name: "p99 line", re: `(?m)^p99 +9903 +9903$`}, // 9900 µs to HDR precision, since start and recent
		{name: "count line", re: `(?m)^count +10000 +10000$`},
		{name: "min line", re: `(?m)^min +1 +1$`},
		{name: "connections line", re: `(?m)^connections +total 0 +active 0 +rejected 0 +failed 0 +opened/s 0\.0$`},
		{name: "handshake line", re: `(?m)^handshake µs  count 1  min 2000  p50 2000  p99 2000  max 2000  mean 2000$`},
		{name: "errors line", re: `(?m)^errors +slow_consumer 1$`},
		{name: "no errors", re: `(?m)^errors +none$`},
	}
	for _, tt := range tests {
		if !regexp.MustCompile(tt.re).MatchString(r) {
			t.Errorf("Report() has no %s matching %s:\n%s", tt.name, tt.re, r)
		}
	}
	if n := strings.Count(r, "\np99 "); n != 3 {
		t.Errorf("Report() has %d p99 lines; want 3 (total and two sources)", n)
	}
	if n := strings.Count(r, "\nhandshake "); n != 2 {
		t.Errorf("Report() has %d handshake lines; want 2 (total and server/echo, not client/load which has none)", n)
	}
}

func TestSnapshotJSON(t *testing.T) {
	m := NewMonitor()
	src := m.Source(KindServer, "echo", 1)
	src.Shard(0).Latency(250*time.Microsecond, 4)
	b, err := json.Marshal(m.Snapshot())
	if err != nil {
		t.Fatalf("json.Marshal(Snapshot) = %v", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("json.Unmarshal(%s) = %v", b, err)
	}
	get := func(path string) any {
		var v any = doc
		for _, key := range strings.Split(path, ".") {
			switch x := v.(type) {
			case map[string]any:
				v = x[key]
			case []any:
				v = x[0] // first source
			default:
				return nil
			}
		}
		return v
	}
	tests := []struct {
		path string
		want any
	}{
		{path: "sources.0.kind", want: "server"},
		{path: "sources.0.name", want: "echo"},
		{path: "sources.0.latency.since_start.count", want: 4.0},
		{path: "sources.0.latency.recent.count", want: 4.0},
		{path: "total.latency.since_start.min_us", want: 250.0},
		{path: "total.latency.since_start.p50_us", want: 250.0},
		{path: "total.latency.since_start.p99_us", want: 250.0},
		{path: "total.latency.since_start.p999_us", want: 250.0},
		{path: "total.latency.since_start.max_us", want: 250.0},
		{path: "total.latency.since_start.mean_us", want: 250.0},
		{path: "total.connections.active", want: 0.0},
		{path: "total.messages.in", want: 0.0},
		{path: "total.bytes.out", want: 0.0},
		{path: "total.errors.frame_too_large", want: 0.0},
		{path: "total.rates.messages_in_per_sec", want: 0.0},
		{path: "total.rates.bytes_out_per_sec", want: 0.0},
		{path: "total.rates.connections_opened_per_sec", want: 0.0},
		{path: "total.rates.seconds", want: 0.0},
		{path: "total.handshake", want: nil}, // absent until one is recorded
		{path: "sources.0.handshake", want: nil},
	}
	for _, tt := range tests {
		if got := get(tt.path); got != tt.want {
			t.Errorf("JSON %s = %v; want %v", tt.path, got, tt.want)
		}
	}
	for _, key := range []string{"time", "uptime_seconds", "since"} {
		if _, ok := doc[key]; !ok {
			t.Errorf("JSON has no %q: %s", key, b)
		}
	}
}
