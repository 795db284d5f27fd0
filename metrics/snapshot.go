package metrics

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Snapshot is a point-in-time reading of a Monitor: totals across all sources
// and the same figures for each source. It is a plain value, safe to keep and
// to encode as JSON.
type Snapshot struct {
	Time            time.Time     `json:"time"`             // when the snapshot was taken
	UptimeSeconds   float64       `json:"uptime_seconds"`   // since NewMonitor
	IntervalSeconds float64       `json:"interval_seconds"` // since the previous Snapshot (or NewMonitor); rates cover this span
	Total           Stats         `json:"total"`            // all sources added up
	Sources         []SourceStats `json:"sources"`          // one per kind and name, in registration order
}

// SourceStats are the figures of the Sources registered under one kind and
// name. In JSON, the Stats fields sit next
// to kind and name.
type SourceStats struct {
	Kind Kind   `json:"kind"`
	Name string `json:"name"`
	Stats
}

// Stats are the figures of one source, or of all of them.
type Stats struct {
	Connections Connections       `json:"connections"`
	Messages    InOut             `json:"messages"` // message counts since start
	Bytes       InOut             `json:"bytes"`    // byte counts since start
	Errors      map[string]uint64 `json:"errors"`   // by ErrorKind.String(); every kind is present
	Rates       Rates             `json:"rates"`
	Latency     Latency           `json:"latency"`
}

// Connections counts connections since start; Active is the number open now.
type Connections struct {
	Total    uint64 `json:"total"`
	Active   int64  `json:"active"`
	Rejected uint64 `json:"rejected"` // refused at the connection limit
	Failed   uint64 `json:"failed"`   // failed client connection attempts
}

// InOut is a pair of received and sent counts.
type InOut struct {
	In  uint64 `json:"in"`
	Out uint64 `json:"out"`
}

// Rates are per-second averages over the snapshot's interval.
type Rates struct {
	MessagesIn  float64 `json:"messages_in_per_sec"`
	MessagesOut float64 `json:"messages_out_per_sec"`
	BytesIn     float64 `json:"bytes_in_per_sec"`
	BytesOut    float64 `json:"bytes_out_per_sec"`
}

// Latency holds the latency distribution since start and over the recent window.
type Latency struct {
	SinceStart LatencyStats `json:"since_start"`
	Recent     LatencyStats `json:"recent"`
}

// LatencyStats summarises a latency distribution. All values are in
// microseconds, within the histogram's precision of 3 significant digits; a
// quantile is the highest value equivalent to the recorded one at that
// precision. Everything is zero when Count is zero.
type LatencyStats struct {
	Count uint64  `json:"count"`
	P50   float64 `json:"p50_us"`
	P90   float64 `json:"p90_us"`
	P95   float64 `json:"p95_us"`
	P99   float64 `json:"p99_us"`
	P999  float64 `json:"p999_us"`
	Max   float64 `json:"max_us"`
	Mean  float64 `json:"mean_us"`
}

// Snapshot reads everything the monitor has recorded.
//
// Rates are computed from the counters of the previous Snapshot call (the first
// call: since NewMonitor). Latencies reach the monitor when a snapshot, or a
// Prometheus collection, drains the shards' histograms; "recent" covers the
// latencies drained within the last WithWindow span, give or take a tenth of
// the window (the window is kept as ten slots). Values are attributed to the
// moment they were drained, so with snapshots further apart than the window,
// "recent" is the interval since the previous drain.
func (m *Monitor) Snapshot() Snapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.drainAll(now)

	interval := now.Sub(m.prevTime).Seconds()
	m.prevTime = now
	snap := Snapshot{
		Time:            now,
		UptimeSeconds:   now.Sub(m.start).Seconds(),
		IntervalSeconds: interval,
		Sources:         make([]SourceStats, len(m.groups)),
	}
	var total, totalPrev counters
	m.totalSince.Reset()
	m.totalRecent.Reset()
	for i, g := range m.groups {
		c := g.read()
		m.mergeRecent(m.recent, g, now)
		snap.Sources[i] = SourceStats{
			Kind:  g.kind,
			Name:  g.name,
			Stats: stats(c, g.prev, interval, g.since, m.recent),
		}
		total.add(c)
		totalPrev.add(g.prev)
		g.prev = c
		m.totalSince.Merge(g.since)
		m.totalRecent.Merge(m.recent)
	}
	snap.Total = stats(total, totalPrev, interval, m.totalSince, m.totalRecent)
	return snap
}

func stats(c, prev counters, interval float64, since, recent *hdrhistogram.Histogram) Stats {
	st := Stats{
		Connections: Connections{Total: c.opened, Active: c.active, Rejected: c.rejected, Failed: c.failed},
		Messages:    InOut{In: c.msgsIn, Out: c.msgsOut},
		Bytes:       InOut{In: c.bytesIn, Out: c.bytesOut},
		Errors:      make(map[string]uint64, numErrorKinds),
		Latency:     Latency{SinceStart: latencyStats(since), Recent: latencyStats(recent)},
	}
	for k, n := range c.errors {
		st.Errors[ErrorKind(k).String()] = n
	}
	if interval > 0 {
		st.Rates = Rates{
			MessagesIn:  float64(c.msgsIn-prev.msgsIn) / interval,
			MessagesOut: float64(c.msgsOut-prev.msgsOut) / interval,
			BytesIn:     float64(c.bytesIn-prev.bytesIn) / interval,
			BytesOut:    float64(c.bytesOut-prev.bytesOut) / interval,
		}
	}
	return st
}

// quantiles are the percentiles reported everywhere, in the order of
// LatencyStats' fields.
var quantiles = []float64{50, 90, 95, 99, 99.9}

func latencyStats(h *hdrhistogram.Histogram) LatencyStats {
	if h.TotalCount() == 0 {
		return LatencyStats{}
	}
	q := h.ValueAtPercentilesSlice(quantiles)
	return LatencyStats{
		Count: uint64(h.TotalCount()),
		P50:   float64(q[0]),
		P90:   float64(q[1]),
		P95:   float64(q[2]),
		P99:   float64(q[3]),
		P999:  float64(q[4]),
		Max:   float64(h.Max()),
		Mean:  h.Mean(),
	}
}

// Report takes a Snapshot and returns it as Snapshot.Report formats it. Like
// Snapshot, it moves the baseline of the next call's rates.
func (m *Monitor) Report() string { return m.Snapshot().Report() }

// Report formats s as a readable multi-line text block: the totals, then each
// source. Latencies are in microseconds.
func (s Snapshot) Report() string {
	var b strings.Builder
	fmt.Fprintf(&b, "netsys  uptime %.1fs  interval %.1fs  sources %d\n",
		s.UptimeSeconds, s.IntervalSeconds, len(s.Sources))
	writeStats(&b, "total", &s.Total)
	for i := range s.Sources {
		src := &s.Sources[i]
		writeStats(&b, string(src.Kind)+"/"+src.Name, &src.Stats)
	}
	return b.String()
}

func writeStats(b *strings.Builder, title string, st *Stats) {
	fmt.Fprintf(b, "== %s ==\n", title)
	w := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	c := st.Connections
	fmt.Fprintf(w, "connections\ttotal %d\tactive %d\trejected %d\tfailed %d\n", c.Total, c.Active, c.Rejected, c.Failed)
	fmt.Fprintf(w, "messages\tin %d\tout %d\tin/s %.1f\tout/s %.1f\n", st.Messages.In, st.Messages.Out, st.Rates.MessagesIn, st.Rates.MessagesOut)
	fmt.Fprintf(w, "bytes\tin %d\tout %d\tin/s %.1f\tout/s %.1f\n", st.Bytes.In, st.Bytes.Out, st.Rates.BytesIn, st.Rates.BytesOut)
	var errs []string
	for k := range numErrorKinds {
		if n := st.Errors[k.String()]; n > 0 {
			errs = append(errs, fmt.Sprintf("%s %d", k, n))
		}
	}
	if errs == nil {
		errs = []string{"none"}
	}
	fmt.Fprintf(w, "errors\t%s\n", strings.Join(errs, "\t"))
	_ = w.Flush()

	l := st.Latency
	w = tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "latency µs\tsince start\trecent\n")
	fmt.Fprintf(w, "count\t%d\t%d\n", l.SinceStart.Count, l.Recent.Count)
	rows := []struct {
		name          string
		since, recent float64
	}{
		{"p50", l.SinceStart.P50, l.Recent.P50},
		{"p90", l.SinceStart.P90, l.Recent.P90},
		{"p95", l.SinceStart.P95, l.Recent.P95},
		{"p99", l.SinceStart.P99, l.Recent.P99},
		{"p99.9", l.SinceStart.P999, l.Recent.P999},
		{"max", l.SinceStart.Max, l.Recent.Max},
		{"mean", l.SinceStart.Mean, l.Recent.Mean},
	}
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%.0f\t%.0f\n", r.name, r.since, r.recent)
	}
	_ = w.Flush()
}
