package metrics

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

// withClock makes the monitor read time from now instead of time.Now.
func withClock(now func() time.Time) Option {
	return func(c *config) { c.now = now }
}

// fakeClock is a clock the test moves by hand. Tests that use it record and
// snapshot from one goroutine.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }

// near reports whether got is within HDR precision (3 significant digits) of want.
func near(got, want float64) bool { return math.Abs(got-want) <= want/1000+1e-9 }

func TestErrorKindString(t *testing.T) {
	tests := []struct {
		kind ErrorKind
		want string
	}{
		{kind: FrameTooLarge, want: "frame_too_large"},
		{kind: BadLength, want: "bad_length"},
		{kind: FrameTimeout, want: "frame_timeout"},
		{kind: IdleTimeout, want: "idle_timeout"},
		{kind: SlowConsumer, want: "slow_consumer"},
		{kind: MemoryLimit, want: "memory_limit"},
		{kind: Write, want: "write"},
		{kind: Connect, want: "connect"},
		{kind: AcceptFailed, want: "accept_failed"},
		{kind: Handshake, want: "handshake"},
		{kind: TLS, want: "tls"},
		{kind: Protocol, want: "protocol"},
		{kind: RequestTimeout, want: "request_timeout"},
		{kind: Panic, want: "panic"},
		{kind: Other, want: "other"},
		{kind: numErrorKinds, want: "ErrorKind(15)"},
		{kind: -1, want: "ErrorKind(-1)"},
	}
	for _, tt := range tests {
		if got := tt.kind.String(); got != tt.want {
			t.Errorf("ErrorKind(%d).String() = %q; want %q", int(tt.kind), got, tt.want)
		}
	}
	kinds := ErrorKinds()
	if len(kinds) != int(numErrorKinds) || kinds[0] != FrameTooLarge || kinds[len(kinds)-1] != Other {
		t.Errorf("ErrorKinds() = %v; want all %d kinds, FrameTooLarge to Other", kinds, numErrorKinds)
	}
}

func TestCountersExact(t *testing.T) {
	m := NewMonitor()
	srv := m.Source(KindServer, "echo", 2)
	cl := m.Source(KindClient, "load", 1)

	const n = 1000
	for i := range n {
		sh := srv.Shard(i % 2)
		sh.MessagesIn(1, 10)
		sh.MessagesOut(1, 20)
	}
	cl.Shard(0).MessagesOut(1, 7)
	cl.Shard(0).MessagesOut(1, -3) // a negative size counts the message, not the bytes
	cl.Shard(0).MessagesOut(3, 30)
	cl.Shard(0).MessagesOut(-1, -1) // counts nothing
	cl.Shard(0).MessagesIn(4, 40)
	cl.Shard(0).MessagesIn(-1, -1) // counts nothing
	for range 5 {
		srv.ConnOpened()
	}
	srv.ConnClosed()
	srv.ConnClosed()
	for range 3 {
		srv.ConnRejected()
	}
	cl.ConnFailed()
	cl.ConnOpened()
	srv.Error(FrameTooLarge)
	srv.Error(Write)
	srv.Error(Write)
	cl.Error(ErrorKind(42)) // out of range: counted as other
	cl.Error(Connect)
	cl.Error(RequestTimeout)

	s := m.Snapshot()
	if len(s.Sources) != 2 {
		t.Fatalf("len(Sources) = %d; want 2", len(s.Sources))
	}
	tests := []struct {
		name      string
		got, want any
	}{
		{name: "server kind", got: s.Sources[0].Kind, want: KindServer},
		{name: "server name", got: s.Sources[0].Name, want: "echo"},
		{name: "server connections", got: s.Sources[0].Connections, want: Connections{Total: 5, Active: 3, Rejected: 3}},
		{name: "server messages", got: s.Sources[0].Messages, want: InOut{In: n, Out: n}},
		{name: "server bytes", got: s.Sources[0].Bytes, want: InOut{In: 10 * n, Out: 20 * n}},
		{name: "server frame_too_large", got: s.Sources[0].Errors["frame_too_large"], want: uint64(1)},
		{name: "server write", got: s.Sources[0].Errors["write"], want: uint64(2)},
		{name: "server other", got: s.Sources[0].Errors["other"], want: uint64(0)},
		{name: "client kind", got: s.Sources[1].Kind, want: KindClient},
		{name: "client connections", got: s.Sources[1].Connections, want: Connections{Total: 1, Active: 1, Failed: 1}},
		{name: "client messages", got: s.Sources[1].Messages, want: InOut{In: 4, Out: 5}},
		{name: "client bytes", got: s.Sources[1].Bytes, want: InOut{In: 40, Out: 37}},
		{name: "client other", got: s.Sources[1].Errors["other"], want: uint64(1)},
		{name: "client connect", got: s.Sources[1].Errors["connect"], want: uint64(1)},
		{name: "client request_timeout", got: s.Sources[1].Errors["request_timeout"], want: uint64(1)},
		{name: "total connections", got: s.Total.Connections, want: Connections{Total: 6, Active: 4, Rejected: 3, Failed: 1}},
		{name: "total messages", got: s.Total.Messages, want: InOut{In: n + 4, Out: n + 5}},
		{name: "total bytes", got: s.Total.Bytes, want: InOut{In: 10*n + 40, Out: 20*n + 37}},
		{name: "total write", got: s.Total.Errors["write"], want: uint64(2)},
		{name: "total other", got: s.Total.Errors["other"], want: uint64(1)},
		{name: "error kinds", got: len(s.Total.Errors), want: int(numErrorKinds)},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("Snapshot() %s = %+v; want %+v", tt.name, tt.got, tt.want)
		}
	}
}

func TestSourceRegisteredTwice(t *testing.T) {
	m := NewMonitor()
	a := m.Source(KindServer, "server", 2)
	b := m.Source(KindServer, "server", 1)
	c := m.Source(KindClient, "server", 1) // another kind is another entry
	if a == b || a.Shard(0) == b.Shard(0) {
		t.Fatalf("second Source(server, server) shares a Source or Shard with the first")
	}
	a.ConnOpened()
	b.ConnOpened()
	b.ConnRejected()
	a.Shard(1).MessagesIn(1, 10)
	b.Shard(0).MessagesIn(1, 5)
	a.Shard(0).Latency(time.Millisecond, 2)
	b.Shard(0).Latency(3*time.Millisecond, 1)
	c.Shard(0).MessagesIn(1, 1)

	s := m.Snapshot()
	if len(s.Sources) != 2 {
		t.Fatalf("len(Sources) = %d; want 2 (server/server, client/server)", len(s.Sources))
	}
	got := s.Sources[0]
	if got.Kind != KindServer || got.Name != "server" ||
		got.Connections != (Connections{Total: 2, Active: 2, Rejected: 1}) ||
		got.Messages.In != 2 || got.Bytes.In != 15 ||
		got.Latency.SinceStart.Count != 3 || !near(got.Latency.SinceStart.Max, 3000) {
		t.Errorf("Sources[0] = %+v; want the two server registrations added up", got)
	}
	if got := s.Sources[1]; got.Kind != KindClient || got.Messages.In != 1 {
		t.Errorf("Sources[1] = %s/%s with %d messages in; want client/server with 1", got.Kind, got.Name, got.Messages.In)
	}
}

func TestPercentiles(t *testing.T) {
	m := NewMonitor()
	sh := m.Source(KindServer, "echo", 1).Shard(0)
	for i := 1; i <= 10000; i++ { // uniform 1..10000 µs
		sh.Latency(time.Duration(i)*time.Microsecond, 1)
	}
	l := m.Snapshot().Total.Latency.SinceStart
	if l.Count != 10000 {
		t.Fatalf("Count = %d; want 10000", l.Count)
	}
	tests := []struct {
		name      string
		got, want float64
	}{
		{name: "min", got: l.Min, want: 1},
		{name: "p50", got: l.P50, want: 5000},
		{name: "p90", got: l.P90, want: 9000},
		{name: "p95", got: l.P95, want: 9500},
		{name: "p99", got: l.P99, want: 9900},
		{name: "p999", got: l.P999, want: 9990},
		{name: "max", got: l.Max, want: 10000},
		{name: "mean", got: l.Mean, want: 5000.5},
	}
	for _, tt := range tests {
		if !near(tt.got, tt.want) {
			t.Errorf("%s = %v µs; want %v within 0.1%%", tt.name, tt.got, tt.want)
		}
	}
}

func TestLatencyCountAndClamp(t *testing.T) {
	tests := []struct {
		name      string
		d         time.Duration
		count     int
		wantCount uint64
		wantMax   float64
	}{
		{name: "count 7", d: 5 * time.Millisecond, count: 7, wantCount: 7, wantMax: 5000},
		{name: "zero count", d: time.Millisecond, count: 0},
		{name: "negative count", d: time.Millisecond, count: -3},
		{name: "zero duration", d: 0, count: 1, wantCount: 1, wantMax: 1},
		{name: "sub-microsecond", d: 300 * time.Nanosecond, count: 2, wantCount: 2, wantMax: 1},
		{name: "negative duration", d: -time.Second, count: 1, wantCount: 1, wantMax: 1},
		{name: "over 60 s", d: 2 * time.Minute, count: 1, wantCount: 1, wantMax: 60e6},
	}
	for _, tt := range tests {
		m := NewMonitor()
		m.Source(KindServer, "echo", 1).Shard(0).Latency(tt.d, tt.count)
		l := m.Snapshot().Total.Latency.SinceStart
		if l.Count != tt.wantCount || !near(l.Max, tt.wantMax) {
			t.Errorf("%s: Latency(%v, %d): count %d, max %v µs; want %d, %v", tt.name, tt.d, tt.count, l.Count, l.Max, tt.wantCount, tt.wantMax)
		}
	}
}

func TestTotalsMergeSources(t *testing.T) {
	m := NewMonitor()
	a := m.Source(KindServer, "a", 2)
	b := m.Source(KindClient, "b", 1)
	a.Shard(0).Latency(100*time.Microsecond, 10)
	a.Shard(1).Latency(200*time.Microsecond, 10)
	b.Shard(0).Latency(10*time.Millisecond, 1)
	s := m.Snapshot()
	tests := []struct {
		name      string
		got       LatencyStats
		wantCount uint64
		wantMax   float64
	}{
		{name: "a", got: s.Sources[0].Latency.SinceStart, wantCount: 20, wantMax: 200},
		{name: "b", got: s.Sources[1].Latency.SinceStart, wantCount: 1, wantMax: 10000},
		{name: "total", got: s.Total.Latency.SinceStart, wantCount: 21, wantMax: 10000},
		{name: "total recent", got: s.Total.Latency.Recent, wantCount: 21, wantMax: 10000},
	}
	for _, tt := range tests {
		if tt.got.Count != tt.wantCount || !near(tt.got.Max, tt.wantMax) {
			t.Errorf("%s: count %d, max %v; want %d, %v", tt.name, tt.got.Count, tt.got.Max, tt.wantCount, tt.wantMax)
		}
	}
	if !near(s.Total.Latency.SinceStart.P50, 200) {
		t.Errorf("total p50 = %v; want 200 (the 11th of 21 values)", s.Total.Latency.SinceStart.P50)
	}
}

func TestRates(t *testing.T) {
	clk := newFakeClock()
	m := NewMonitor(withClock(clk.now)) // window 10 s: a rate sample per second
	src := m.Source(KindServer, "echo", 1)
	sh := src.Shard(0)

	steps := []struct {
		name     string
		advance  time.Duration // before recording
		in, out  int           // messages recorded, 100 bytes each
		conns    int
		read     bool // take a Snapshot after recording
		wantSpan float64
		wantIn   float64 // messages in per second
		wantOut  float64 // bytes out per second
		wantConn float64
	}{
		// In the first second there is only the sample NewMonitor took.
		{name: "t=0.5", advance: 500 * time.Millisecond, in: 100, read: true},
		// t=2: the sample of second 2 against NewMonitor's, 2 s before.
		{name: "t=2", advance: 1500 * time.Millisecond, in: 100, out: 50, conns: 4, read: true,
			wantSpan: 2, wantIn: 100, wantOut: 2500, wantConn: 2},
		// Later in second 2: the same two samples, whatever was recorded since.
		{name: "t=2.9", advance: 900 * time.Millisecond, in: 1000, read: true,
			wantSpan: 2, wantIn: 100, wantOut: 2500, wantConn: 2},
		// t=5: the 1000 recorded at 2.9 count now, over 5 s.
		{name: "t=5", advance: 2100 * time.Millisecond, read: true,
			wantSpan: 5, wantIn: 1200.0 / 5, wantOut: 1000, wantConn: 0.8},
		// t=12: the newest sample at least a window old is second 2's.
		{name: "t=12", advance: 7 * time.Second, out: 100, read: true,
			wantSpan: 10, wantIn: 100, wantOut: 1000, wantConn: 0},
		// t=40: the newest sample at least a window old is second 12's.
		{name: "t=40", advance: 28 * time.Second, in: 280, read: true,
			wantSpan: 28, wantIn: 10, wantOut: 0, wantConn: 0},
	}
	for _, st := range steps {
		clk.advance(st.advance)
		sh.MessagesIn(st.in, 100*st.in)
		sh.MessagesOut(st.out, 100*st.out)
		for range st.conns {
			src.ConnOpened()
		}
		s := m.Snapshot()
		r := s.Total.Rates
		if !near(r.Seconds, st.wantSpan) || !near(r.MessagesIn, st.wantIn) || !near(r.BytesOut, st.wantOut) || !near(r.ConnectionsOpened, st.wantConn) {
			t.Errorf("%s: rates over %v s: messages in/s %v, bytes out/s %v, conns/s %v; want %v s: %v, %v, %v", st.name,
				r.Seconds, r.MessagesIn, r.BytesOut, r.ConnectionsOpened, st.wantSpan, st.wantIn, st.wantOut, st.wantConn)
		}
		if s.Sources[0].Rates != r {
			t.Errorf("%s: source rates %+v; want the total's %+v", st.name, s.Sources[0].Rates, r)
		}
	}
	if s := m.Snapshot(); s.UptimeSeconds != 40 {
		t.Errorf("UptimeSeconds = %v; want 40", s.UptimeSeconds)
	}
}

// TestReadsDoNotSkewRates reads the monitor the way a periodic report would,
// with and without other readers (/stats, scrapes) in between, and checks that
// the others never shorten its span below a window nor change its rates: a
// steady stream reads as the same rate whoever else reads.
func TestReadsDoNotSkewRates(t *testing.T) {
	for _, others := range []bool{false, true} {
		clk := newFakeClock()
		m := NewMonitor(withClock(clk.now))
		sh := m.Source(KindServer, "echo", 1).Shard(0)
		for i := 1; i <= 60; i++ { // 10 messages every 0.3 s for 18 s
			sh.MessagesIn(10, 10)
			clk.advance(300 * time.Millisecond)
			if others {
				m.Snapshot()
				_ = m.Report()
			}
			if i%5 != 0 { // this reader reads every 1.5 s
				continue
			}
			a, b := m.Snapshot().Total.Rates, m.Snapshot().Total.Rates
			if a != b {
				t.Errorf("others %v, t=%.1fs: two Snapshots in a row: %+v, then %+v; want the same", others, 0.3*float64(i), a, b)
			}
			if !near(a.MessagesIn, 10/0.3) {
				t.Errorf("others %v, t=%.1fs: %v messages/s over %v s; want %.2f", others, 0.3*float64(i), a.MessagesIn, a.Seconds, 10/0.3)
			}
			if up := 0.3 * float64(i); up >= 11 && (a.Seconds < 10 || a.Seconds > 11.5) {
				t.Errorf("others %v, t=%.1fs: rates over %v s; want 10 to 11.5 (a window, plus at most this reader's period)", others, up, a.Seconds)
			}
		}
	}
}

func TestMinLatency(t *testing.T) {
	m := NewMonitor()
	sh := m.Source(KindServer, "echo", 1).Shard(0)
	sh.Latency(1500*time.Microsecond, 3)
	sh.Latency(20*time.Millisecond, 1)
	sh.Latency(730*time.Microsecond, 2)
	l := m.Snapshot().Total.Latency
	if !near(l.SinceStart.Min, 730) || !near(l.Recent.Min, 730) || !near(l.SinceStart.Max, 20000) {
		t.Errorf("min since start %v, recent %v, max %v µs; want 730, 730, 20000", l.SinceStart.Min, l.Recent.Min, l.SinceStart.Max)
	}
}

func TestHandshakes(t *testing.T) {
	m := NewMonitor()
	a := m.Source(KindServer, "tls", 1)
	b := m.Source(KindClient, "tls", 1)
	plain := m.Source(KindServer, "plain", 1)
	plain.ConnOpened()
	if s := m.Snapshot(); s.Total.Handshake != nil || s.Sources[0].Handshake != nil {
		t.Fatalf("before any handshake: total %+v, source %+v; want nil", s.Total.Handshake, s.Sources[0].Handshake)
	}
	for i := 1; i <= 100; i++ {
		a.Handshake(time.Duration(i) * time.Millisecond)
	}
	b.Handshake(300 * time.Millisecond)
	b.Handshake(-time.Second) // clamped to 1 µs
	s := m.Snapshot()
	tests := []struct {
		name      string
		got       *LatencyStats
		wantCount uint64
		wantMin   float64
		wantMax   float64
	}{
		{name: "server/tls", got: s.Sources[0].Handshake, wantCount: 100, wantMin: 1000, wantMax: 100000},
		{name: "client/tls", got: s.Sources[1].Handshake, wantCount: 2, wantMin: 1, wantMax: 300000},
		{name: "total", got: s.Total.Handshake, wantCount: 102, wantMin: 1, wantMax: 300000},
	}
	for _, tt := range tests {
		if tt.got == nil {
			t.Errorf("%s: no handshake figures; want %d", tt.name, tt.wantCount)
			continue
		}
		if tt.got.Count != tt.wantCount || !near(tt.got.Min, tt.wantMin) || !near(tt.got.Max, tt.wantMax) {
			t.Errorf("%s: handshakes count %d, min %v, max %v µs; want %d, %v, %v", tt.name, tt.got.Count, tt.got.Min, tt.got.Max, tt.wantCount, tt.wantMin, tt.wantMax)
		}
	}
	if h := s.Sources[0].Handshake; !near(h.P50, 50000) {
		t.Errorf("server/tls handshake p50 = %v µs; want 50000", h.P50)
	}
	if s.Sources[2].Handshake != nil {
		t.Errorf("server/plain: handshake figures %+v; want nil (none recorded)", s.Sources[2].Handshake)
	}
	if s.Total.Latency.SinceStart.Count != 0 {
		t.Errorf("handshakes leaked into the message latency: count %d", s.Total.Latency.SinceStart.Count)
	}
}

func TestReset(t *testing.T) {
	clk := newFakeClock()
	m := NewMonitor(withClock(clk.now))
	src := m.Source(KindServer, "echo", 2)
	for range 5 {
		src.ConnOpened()
	}
	src.ConnClosed()
	src.ConnRejected()
	src.ConnFailed()
	src.Error(SlowConsumer)
	src.Handshake(time.Millisecond)
	src.Shard(0).MessagesIn(10, 100)
	src.Shard(1).MessagesOut(10, 100)
	src.Shard(1).Latency(time.Millisecond, 10)
	clk.advance(3 * time.Second)
	if s := m.Snapshot(); s.Total.Messages.In != 10 || s.Total.Rates.Seconds != 3 {
		t.Fatalf("before Reset: %d messages in, rates over %v s; want 10, 3", s.Total.Messages.In, s.Total.Rates.Seconds)
	}
	src.Shard(0).Latency(time.Second, 1) // recorded, not yet drained, when Reset comes

	clk.advance(500 * time.Millisecond)
	m.Reset()
	s := m.Snapshot()
	want := Stats{Connections: Connections{Active: 4}}
	st := s.Total
	if st.Connections != want.Connections || st.Messages != want.Messages || st.Bytes != want.Bytes ||
		st.Latency != want.Latency || st.Handshake != nil || st.Rates != want.Rates {
		t.Errorf("after Reset: %+v; want only the 4 active connections left", st)
	}
	for k, n := range st.Errors {
		if n != 0 {
			t.Errorf("after Reset: errors[%s] = %d; want 0", k, n)
		}
	}
	if !s.Since.Equal(clk.t) || s.UptimeSeconds != 3.5 {
		t.Errorf("after Reset: since %v, uptime %v s; want now (%v) and 3.5 s from NewMonitor", s.Since, s.UptimeSeconds, clk.t)
	}

	// Counting and rates start again from the Reset.
	src.Shard(0).MessagesIn(40, 400)
	src.Shard(1).Latency(2*time.Millisecond, 1)
	src.ConnClosed()
	clk.advance(2 * time.Second)
	st = m.Snapshot().Total
	if st.Messages.In != 40 || st.Rates.Seconds != 2 || st.Rates.MessagesIn != 20 || st.Latency.SinceStart.Count != 1 ||
		!near(st.Latency.SinceStart.Max, 2000) || st.Connections.Active != 3 {
		t.Errorf("after Reset and more traffic: %d in, rates over %v s, %v in/s, latency count %d max %v, active %d; want 40, 2, 20, 1, 2000, 3",
			st.Messages.In, st.Rates.Seconds, st.Rates.MessagesIn, st.Latency.SinceStart.Count, st.Latency.SinceStart.Max, st.Connections.Active)
	}
}

func TestRecentWindow(t *testing.T) {
	clk := newFakeClock()
	m := NewMonitor(WithWindow(10*time.Second), withClock(clk.now))
	sh := m.Source(KindServer, "echo", 1).Shard(0)

	steps := []struct {
		name       string
		advance    time.Duration // before recording
		latency    time.Duration
		count      int
		wantRecent uint64
		wantMax    float64 // recent max, µs
		wantSince  uint64
	}{
		{name: "t=0 slow", latency: 8 * time.Millisecond, count: 100, wantRecent: 100, wantMax: 8000, wantSince: 100},
		{name: "t=5s fast", advance: 5 * time.Second, latency: 50 * time.Microsecond, count: 50, wantRecent: 150, wantMax: 8000, wantSince: 150},
		{name: "t=9.9s", advance: 4900 * time.Millisecond, wantRecent: 150, wantMax: 8000, wantSince: 150},
		{name: "t=11s slow dropped", advance: 1100 * time.Millisecond, wantRecent: 50, wantMax: 50, wantSince: 150},
		{name: "t=12s new", advance: time.Second, latency: time.Millisecond, count: 1, wantRecent: 51, wantMax: 1000, wantSince: 151},
		{name: "t=40s all dropped", advance: 28 * time.Second, wantRecent: 0, wantMax: 0, wantSince: 151},
	}
	for _, st := range steps {
		clk.advance(st.advance)
		sh.Latency(st.latency, st.count)
		l := m.Snapshot().Total.Latency
		if l.Recent.Count != st.wantRecent || !near(l.Recent.Max, st.wantMax) || l.SinceStart.Count != st.wantSince {
			t.Errorf("%s: recent count %d max %v, since-start count %d; want %d, %v, %d",
				st.name, l.Recent.Count, l.Recent.Max, l.SinceStart.Count, st.wantRecent, st.wantMax, st.wantSince)
		}
	}
}

// TestDrainWaitsForInFlightWrite simulates a Latency call that is still writing
// when a snapshot swaps its histogram out: the snapshot must not read that
// histogram, and a later one must merge it.
func TestDrainWaitsForInFlightWrite(t *testing.T) {
	m := NewMonitor()
	sh := m.Source(KindServer, "echo", 1).Shard(0)
	sh.Latency(time.Millisecond, 3)

	sh.seq.Add(1) // a write has begun (busy) and does not finish in time
	if got := m.Snapshot().Total.Latency.SinceStart.Count; got != 0 {
		t.Fatalf("Snapshot during an in-flight write: count %d; want 0 (histogram held back)", got)
	}
	if sh.held == nil {
		t.Fatalf("Snapshot during an in-flight write did not hold the histogram back")
	}
	if got := m.Snapshot().Total.Latency.SinceStart.Count; got != 0 {
		t.Fatalf("second Snapshot while still in flight: count %d; want 0", got)
	}
	sh.seq.Add(1) // the write ends
	sh.Latency(2*time.Millisecond, 1)
	if got := m.Snapshot().Total.Latency.SinceStart.Count; got != 4 {
		t.Errorf("Snapshot after the write ended: count %d; want 4 (held histogram and the active one merged)", got)
	}
	sh.Latency(time.Millisecond, 1)
	if got := m.Snapshot().Total.Latency.SinceStart.Count; got != 5 {
		t.Errorf("next Snapshot: count %d; want 5", got)
	}
	if sh.held != nil || sh.spare == nil {
		t.Errorf("after recovery: held %p, spare %p; want nil and a spare", sh.held, sh.spare)
	}
}

func TestConcurrentRecordingAndSnapshots(t *testing.T) {
	const shards = 4
	perShard := 50_000
	if testing.Short() {
		perShard = 5_000
	}
	m := NewMonitor()
	src := m.Source(KindServer, "echo", shards)

	var wg sync.WaitGroup
	var writing, snapshots atomic.Int32
	writing.Store(shards)
	for i := range shards {
		wg.Add(1)
		go func(sh *Shard) {
			defer wg.Done()
			defer writing.Add(-1)
			for j := range perShard {
				if j == perShard/2 {
					// Make sure snapshots run while the writers are half done.
					for snapshots.Load() < 3 {
						runtime.Gosched()
					}
				}
				sh.MessagesIn(1, 10)
				sh.MessagesOut(1, 20)
				sh.Latency(time.Duration(1+j%1000)*time.Microsecond, 1)
				src.Error(Write)
			}
		}(src.Shard(i))
	}

	// Snapshot (and collect) while the writers run; counts never go down.
	var last uint64
	for i := 0; writing.Load() > 0 && i < 1_000_000; i++ {
		s := m.Snapshot()
		l := s.Total.Latency.SinceStart.Count
		if l < last {
			t.Fatalf("since-start count went down: %d after %d", l, last)
		}
		last = l
		snapshots.Add(1)
		if i%8 == 0 {
			if a, b := s.Total.Rates, m.Snapshot().Total.Rates; a.Seconds != b.Seconds {
				t.Fatalf("two Snapshots in a row: rates over %v s, then %v s; want the same span", a.Seconds, b.Seconds)
			}
		}
	}
	wg.Wait()

	total := uint64(shards * perShard)
	s := m.Snapshot().Total
	tests := []struct {
		name      string
		got, want uint64
	}{
		{name: "messages in", got: s.Messages.In, want: total},
		{name: "messages out", got: s.Messages.Out, want: total},
		{name: "bytes in", got: s.Bytes.In, want: 10 * total},
		{name: "bytes out", got: s.Bytes.Out, want: 20 * total},
		{name: "latency count", got: s.Latency.SinceStart.Count, want: total},
		{name: "write errors", got: s.Errors["write"], want: total},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("final %s = %d; want %d", tt.name, tt.got, tt.want)
		}
	}
	if !near(s.Latency.SinceStart.Max, 1000) {
		t.Errorf("final max = %v µs; want 1000", s.Latency.SinceStart.Max)
	}
}

// TestResetWhileRecording runs Reset and Snapshot against writers on every
// path (for the race detector), then checks that a last Reset leaves nothing.
func TestResetWhileRecording(t *testing.T) {
	m := NewMonitor()
	src := m.Source(KindServer, "echo", 2)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func(sh *Shard) {
			defer wg.Done()
			for j := range 20_000 {
				sh.MessagesIn(1, 8)
				sh.Latency(time.Duration(j%100)*time.Microsecond, 1)
				if j%100 == 0 {
					src.Handshake(time.Millisecond)
					src.Error(Handshake)
				}
			}
		}(src.Shard(i))
	}
	for i := 0; i < 200; i++ {
		m.Reset()
		m.Snapshot()
	}
	wg.Wait()
	m.Reset()
	st := m.Snapshot().Total
	if st.Messages.In != 0 || st.Latency.SinceStart.Count != 0 || st.Handshake != nil || st.Errors["handshake"] != 0 {
		t.Errorf("after the writers stopped and a Reset: %d in, %d latencies, handshakes %+v, %d handshake errors; want none",
			st.Messages.In, st.Latency.SinceStart.Count, st.Handshake, st.Errors["handshake"])
	}
}

func TestShardLayout(t *testing.T) {
	var sh Shard
	if size := unsafe.Sizeof(sh); size != 2*cacheLine {
		t.Errorf("unsafe.Sizeof(Shard{}) = %d; want %d", size, 2*cacheLine)
	}
	if off := unsafe.Offsetof(sh.spare); off != cacheLine {
		t.Errorf("offset of the drain's fields = %d; want %d (second cache line)", off, cacheLine)
	}
	if end := unsafe.Offsetof(sh.active) + unsafe.Sizeof(sh.active); end > cacheLine {
		t.Errorf("writer's fields end at %d; want <= %d", end, cacheLine)
	}
}

func TestZeroAllocs(t *testing.T) {
	m := NewMonitor()
	src := m.Source(KindServer, "echo", 1)
	sh := src.Shard(0)
	tests := []struct {
		name string
		fn   func()
	}{
		{name: "MessagesOut", fn: func() { sh.MessagesOut(4, 256) }},
		{name: "MessagesIn", fn: func() { sh.MessagesIn(4, 256) }},
		{name: "Latency", fn: func() { sh.Latency(1234*time.Microsecond, 1) }},
		{name: "Latency batch", fn: func() { sh.Latency(time.Millisecond, 16) }},
		{name: "ConnOpened", fn: src.ConnOpened},
		{name: "Error", fn: func() { src.Error(Write) }},
		{name: "RequestTimeout", fn: func() { src.Error(RequestTimeout) }},
		{name: "Handshake", fn: func() { src.Handshake(3 * time.Millisecond) }},
	}
	for _, tt := range tests {
		if got := testing.AllocsPerRun(1000, tt.fn); got != 0 {
			t.Errorf("%s: %v allocs per run; want 0", tt.name, got)
		}
	}
}

func BenchmarkShardLatency(b *testing.B) {
	sh := NewMonitor().Source(KindServer, "echo", 1).Shard(0)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		sh.Latency(time.Duration(1+i%5000)*time.Microsecond, 1)
	}
}

func BenchmarkShardMessagesIn(b *testing.B) {
	sh := NewMonitor().Source(KindServer, "echo", 1).Shard(0)
	b.ReportAllocs()
	for b.Loop() {
		sh.MessagesIn(1, 64)
	}
}

func BenchmarkSnapshot(b *testing.B) {
	m := NewMonitor()
	src := m.Source(KindServer, "echo", 2)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		src.Shard(i%2).Latency(time.Duration(1+i%5000)*time.Microsecond, 100)
		m.Snapshot()
	}
}
