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
	Time          time.Time     `json:"time"`           // when the snapshot was taken
	UptimeSeconds float64       `json:"uptime_seconds"` // since NewMonitor
	Since         time.Time     `json:"since"`          // when the counters started: NewMonitor or the last Reset
	Total         Stats         `json:"total"`          // all sources added up
	Sources       []SourceStats `json:"sources"`        // one per kind and name, in registration order
}

// SourceStats are the figures of the Sources registered under one kind and
// name. In JSON, the Stats fields sit next
// to kind and name.
type SourceStats struct {
	Kind Kind   `json:"kind"`
	Name string `json:"name"`
	Stats
}

// Stats are the figures of one source, or of all of them. Counts run from
// Snapshot.Since.
type Stats struct {
	Connections Connections       `json:"connections"`
	Messages    InOut             `json:"messages"` // message counts
	Bytes       InOut             `json:"bytes"`    // byte counts
	Errors      map[string]uint64 `json:"errors"`   // by ErrorKind.String(); every kind is present
	Rates       Rates             `json:"rates"`
	Latency     Latency           `json:"latency"`
	// Handshake summarises the handshake durations recorded with
	// Source.Handshake since Snapshot.Since; nil (absent in JSON) when none
	// was recorded.
	Handshake *LatencyStats `json:"handshake,omitempty"`
}

// Connections counts connections; Active is the number open now.
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

// Rates are per-second averages over the last window of wall time, taken
// between two readings of the counters that the monitor keeps (see
// Monitor.Snapshot). Seconds is the span they cover; all rates are zero
// while it is zero.
type Rates struct {
	Seconds           float64 `json:"seconds"`
	ConnectionsOpened float64 `json:"connections_opened_per_sec"`
	MessagesIn        float64 `json:"messages_in_per_sec"`
	MessagesOut       float64 `json:"messages_out_per_sec"`
	BytesIn           float64 `json:"bytes_in_per_sec"`
	BytesOut          float64 `json:"bytes_out_per_sec"`
}

// Latency holds the latency distribution since Snapshot.Since and over the
// recent window.
type Latency struct {
	SinceStart LatencyStats `json:"since_start"`
	Recent     LatencyStats `json:"recent"`
}

// LatencyStats summarises a latency distribution. All values are in
// microseconds, within the histogram's precision of 3 significant digits; a
// quantile, like Max, is the highest value equivalent to the recorded one at
// that precision, and Min the lowest. Everything is zero when Count is zero.
type LatencyStats struct {
	Count uint64  `json:"count"`
	Min   float64 `json:"min_us"`
	P50   float64 `json:"p50_us"`
	P90   float64 `json:"p90_us"`
	P95   float64 `json:"p95_us"`
	P99   float64 `json:"p99_us"`
	P999  float64 `json:"p999_us"`
	Max   float64 `json:"max_us"`
	Mean  float64 `json:"mean_us"`
}

// Snapshot reads everything the monitor has recorded. Reading changes nothing
// that a later reading reports: two Snapshots in a row give the same rates,
// and the same counts and latencies give or take what was recorded in
// between; other readers (a scrape, /stats) cannot skew them.
//
// Rates: the monitor keeps readings of the counters, at most one per tenth of
// the window (WithWindow, 10 s by default), each taken by the first read of
// the monitor in its tenth. The rates are the change between the reading of
// the current tenth and the newest reading at least a window older (in the
// first window after NewMonitor or Reset, the oldest there is), divided by the
// time between the two; Rates.Seconds is that time. Every read within one
// tenth uses the same two readings, so /stats, a periodic report and
// Prometheus scrapes see the same rates, and no read can bring another's span
// below a window. The rates cover the time up to the first read of the
// current tenth; the counts cover everything up to now.
//
// Latencies reach the monitor when a read drains the shards' histograms;
// "recent" covers the latencies drained within the last window, give or take a
// tenth of it (the window is kept as ten slots). Values are attributed to the
// moment they were drained, so with reads further apart than the window,
// "recent" is the interval since the previous read.
func (m *Monitor) Snapshot() Snapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.drainAll(now)
	first, last := m.rateSpan(now)
	span := 0.0
	if first != nil {
		span = last.t.Sub(first.t).Seconds()
	}

	snap := Snapshot{
		Time:          now,
		UptimeSeconds: now.Sub(m.start).Seconds(),
		Since:         m.since,
		Sources:       make([]SourceStats, len(m.groups)),
	}
	var total, totalFirst, totalLast counters
	m.totalSince.Reset()
	m.totalRecent.Reset()
	m.totalHandshake.Reset()
	for i, g := range m.groups {
		c := g.read()
		var c0 counters
		if first != nil {
			c0 = first.at(i)
		}
		c1 := last.at(i)
		m.mergeRecent(m.recent, g, now)
		m.handshake.Reset()
		g.hsMu.Lock()
		if g.handshakes.TotalCount() > 0 {
			m.handshake.Merge(g.handshakes)
		}
		g.hsMu.Unlock()
		snap.Sources[i] = SourceStats{
			Kind:  g.kind,
			Name:  g.name,
			Stats: stats(c, rates(c0, c1, span), g.since, m.recent, m.handshake),
		}
		total.add(c)
		totalFirst.add(c0)
		totalLast.add(c1)
		m.totalSince.Merge(g.since)
		m.totalRecent.Merge(m.recent)
		if m.handshake.TotalCount() > 0 {
			m.totalHandshake.Merge(m.handshake)
		}
	}
	snap.Total = stats(total, rates(totalFirst, totalLast, span), m.totalSince, m.totalRecent, m.totalHandshake)
	return snap
}

// rates returns the per-second change from c0 to c1 over span seconds.
func rates(c0, c1 counters, span float64) Rates {
	if span <= 0 {
		return Rates{}
	}
	per := func(a, b uint64) float64 {
		if b < a { // cannot happen between two samples of one Reset period
			return 0
		}
		return float64(b-a) / span
	}
	return Rates{
		Seconds:           span,
		ConnectionsOpened: per(c0.opened, c1.opened),
		MessagesIn:        per(c0.msgsIn, c1.msgsIn),
		MessagesOut:       per(c0.msgsOut, c1.msgsOut),
		BytesIn:           per(c0.bytesIn, c1.bytesIn),
		BytesOut:          per(c0.bytesOut, c1.bytesOut),
	}
}

func stats(c counters, r Rates, since, recent, handshake *hdrhistogram.Histogram) Stats {
	st := Stats{
		Connections: Connections{Total: c.opened, Active: c.active, Rejected: c.rejected, Failed: c.failed},
		Messages:    InOut{In: c.msgsIn, Out: c.msgsOut},
		Bytes:       InOut{In: c.bytesIn, Out: c.bytesOut},
		Errors:      make(map[string]uint64, numErrorKinds),
		Rates:       r,
		Latency:     Latency{SinceStart: latencyStats(since), Recent: latencyStats(recent)},
	}
	for k, n := range c.errors {
		st.Errors[ErrorKind(k).String()] = n
	}
	if handshake.TotalCount() > 0 {
		hs := latencyStats(handshake)
		st.Handshake = &hs
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
		Min:   float64(h.Min()),
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
// Snapshot, it changes nothing that a later reading reports.
func (m *Monitor) Report() string { return m.Snapshot().Report() }

// Report formats s as a readable multi-line text block: the totals, then each
// source. Latencies are in microseconds.
func (s Snapshot) Report() string {
	var b strings.Builder
	fmt.Fprintf(&b, "netsys  uptime %.1fs  rates over %.1fs  sources %d\n",
		s.UptimeSeconds, s.Total.Rates.Seconds, len(s.Sources))
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
	fmt.Fprintf(w, "connections\ttotal %d\tactive %d\trejected %d\tfailed %d\topened/s %.1f\n",
		c.Total, c.Active, c.Rejected, c.Failed, st.Rates.ConnectionsOpened)
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
		{"min", l.SinceStart.Min, l.Recent.Min},
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
	if h := st.Handshake; h != nil {
		fmt.Fprintf(b, "handshake µs  count %d  min %.0f  p50 %.0f  p99 %.0f  max %.0f  mean %.0f\n",
			h.Count, h.Min, h.P50, h.P99, h.Max, h.Mean)
	}
}
