package metrics

import (
	"math"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Kind says whether a Source is a server or a client.
type Kind string

// The kinds of Source the engine registers.
const (
	KindServer Kind = "server"
	KindClient Kind = "client"
)

// ErrorKind classifies the errors and forced closes a Source counts. Each kind
// is a counter of its own, exported under its String name.
type ErrorKind int

// The error kinds. An ErrorKind outside this list is counted as Other.
const (
	FrameTooLarge  ErrorKind = iota // a frame exceeded the codec's maximum
	BadLength                       // a length field was invalid
	FrameTimeout                    // a partial frame did not complete within the frame timeout
	IdleTimeout                     // a connection was closed for being idle
	SlowConsumer                    // a peer's outbound backlog passed the high-water mark
	MemoryLimit                     // a session was closed to keep the server within its memory budget
	Write                           // a write to a connection failed
	Connect                         // a client failed to connect
	AcceptFailed                    // the server failed to accept a connection (for example, out of file descriptors)
	Handshake                       // a connection's handshake failed or timed out
	TLS                             // a TLS error after the handshake (a bad record, an alert)
	Protocol                        // a peer broke the wire protocol above the framing
	RequestTimeout                  // a client request got no reply before its deadline
	Panic                           // a handler panicked
	Other                           // anything else
	numErrorKinds
)

var errorKindNames = [numErrorKinds]string{
	"frame_too_large", "bad_length", "frame_timeout", "idle_timeout",
	"slow_consumer", "memory_limit", "write", "connect", "accept_failed",
	"handshake", "tls", "protocol", "request_timeout", "panic", "other",
}

// String returns the snake_case name used in snapshots and Prometheus labels,
// such as "frame_too_large".
func (k ErrorKind) String() string {
	if k < 0 || k >= numErrorKinds {
		return "ErrorKind(" + strconv.Itoa(int(k)) + ")"
	}
	return errorKindNames[k]
}

// ErrorKinds returns every defined ErrorKind, in order.
func ErrorKinds() []ErrorKind {
	ks := make([]ErrorKind, numErrorKinds)
	for i := range ks {
		ks[i] = ErrorKind(i)
	}
	return ks
}

// Latencies are recorded in microseconds, clamped to [minLatencyUs, maxLatencyUs],
// with 3 significant digits (a relative error of at most 0.1%).
const (
	minLatencyUs  = 1
	maxLatencyUs  = 60_000_000 // 60 s
	latencyDigits = 3
)

func newHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(minLatencyUs, maxLatencyUs, latencyDigits)
}

// windowSlots is the number of time slots the recent window is divided into.
const windowSlots = 10

// drainSpins bounds how long a drain waits, yielding with runtime.Gosched, for a
// Latency call that is in flight on the histogram it just swapped out.
const drainSpins = 1000

type config struct {
	window time.Duration
	now    func() time.Time
}

// Option configures a Monitor.
type Option func(*config)

// WithWindow sets the span of the "recent" latency figures and of the rates.
// The default, and the value used when d <= 0, is 10 seconds. The window is
// divided into ten slots; see Snapshot for what the window covers exactly.
func WithWindow(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.window = d
		}
	}
}

// Monitor collects the counters and latency histograms of any number of servers
// and clients. Create it with NewMonitor; all its methods are safe for
// concurrent use.
type Monitor struct {
	slotWidth time.Duration
	now       func() time.Time
	start     time.Time

	// mu serialises Source registration, Snapshot and Reset: it guards the
	// fields below and the drain side of every Source and Shard.
	mu     sync.Mutex
	groups []*group  // one per kind and name, in registration order
	since  time.Time // NewMonitor or the last Reset
	// samples are readings of every group's counters, at most one per window
	// slot, taken by the first read in the slot, oldest first (see sample).
	// The rates are the difference between two of them (see rateSpan).
	samples []rateSample
	// Scratch histograms for merging; their content is only meaningful during
	// one call.
	recent, totalSince, totalRecent, handshake, totalHandshake *hdrhistogram.Histogram
}

// rateSample is a reading of every group's counters, taken by the first read of
// the monitor in a window slot.
type rateSample struct {
	epoch int64     // slot number
	t     time.Time // when it was taken
	c     []counters
}

// at returns the sample's counters of group i; a group registered after the
// sample was taken had none.
func (r *rateSample) at(i int) counters {
	if i < len(r.c) {
		return r.c[i]
	}
	return counters{}
}

// noEpoch marks a window slot that holds nothing.
const noEpoch = math.MinInt64

// NewMonitor returns an empty Monitor. Its uptime starts now.
func NewMonitor(opts ...Option) *Monitor {
	c := config{window: 10 * time.Second, now: time.Now}
	for _, o := range opts {
		o(&c)
	}
	start := c.now()
	m := &Monitor{
		slotWidth:      max(c.window/windowSlots, 1),
		now:            c.now,
		start:          start,
		recent:         newHistogram(),
		totalSince:     newHistogram(),
		totalRecent:    newHistogram(),
		handshake:      newHistogram(),
		totalHandshake: newHistogram(),
	}
	m.clearSamples(start)
	return m
}

// Source registers one server or client under the given kind and name and
// returns its recorder. shards is the number of event loops that will record
// into it (values below 1 mean 1); each loop takes its own Shard.
//
// Registering the same kind and name again, say for a second server sharing the
// monitor under the default name, returns a new Source with shards of its own:
// each Shard keeps a single writer, and the figures of all Sources with that
// kind and name add up to one entry in snapshots and one Prometheus series. Give
// sources distinct names to tell them apart.
func (m *Monitor) Source(kind Kind, name string, shards int) *Source {
	m.mu.Lock()
	defer m.mu.Unlock()
	var g *group
	for _, x := range m.groups {
		if x.kind == kind && x.name == name {
			g = x
			break
		}
	}
	if g == nil {
		g = &group{kind: kind, name: name, since: newHistogram(), handshakes: newHistogram()}
		for i := range g.window {
			g.window[i] = windowSlot{epoch: noEpoch, h: hdrhistogram.NewPacked(minLatencyUs, maxLatencyUs, latencyDigits)}
		}
		m.groups = append(m.groups, g)
	}
	s := &Source{g: g, shards: make([]*Shard, max(shards, 1))}
	for i := range s.shards {
		s.shards[i] = newShard()
	}
	g.shards = append(g.shards, s.shards...)
	return s
}

// A Source records what one server or client does. Its connection and error
// counters are atomics that any goroutine may update; per-message figures go
// through its Shards.
type Source struct {
	g      *group
	shards []*Shard // this Source's own; fixed at registration
}

// group holds the figures of every Source registered under one kind and name.
type group struct {
	kind Kind
	name string

	opened, rejected, failed atomic.Uint64
	active                   atomic.Int64
	errors                   [numErrorKinds]atomic.Uint64

	// hsMu guards handshakes, the durations Source.Handshake records. It is a
	// lock of its own so that a handshake never waits for a Snapshot.
	hsMu       sync.Mutex
	handshakes *hdrhistogram.Histogram

	// Guarded by Monitor.mu.
	shards []*Shard                // of all the group's Sources
	since  *hdrhistogram.Histogram // every latency drained since NewMonitor or Reset
	window [windowSlots]windowSlot // recent latencies, one slot per slotWidth
}

// windowSlot holds the latencies drained during one slotWidth of time.
type windowSlot struct {
	epoch int64 // time since start / slotWidth when the slot was filled
	h     *hdrhistogram.PackedHistogram
}

// Shard returns the recorder for event loop i, 0 <= i < shards. It panics if i
// is out of range.
func (s *Source) Shard(i int) *Shard { return s.shards[i] }

// ConnOpened counts a new connection: total and active both go up by one.
func (s *Source) ConnOpened() {
	s.g.opened.Add(1)
	s.g.active.Add(1)
}

// ConnClosed counts a closed connection: active goes down by one.
func (s *Source) ConnClosed() { s.g.active.Add(-1) }

// ConnRejected counts a connection refused because the server was at its
// connection limit.
func (s *Source) ConnRejected() { s.g.rejected.Add(1) }

// ConnFailed counts a failed client connection attempt.
func (s *Source) ConnFailed() { s.g.failed.Add(1) }

// Error counts one error of kind k; kinds outside the defined list count as
// Other. Safe from any goroutine.
func (s *Source) Error(k ErrorKind) {
	if k < 0 || k >= numErrorKinds {
		k = Other
	}
	s.g.errors[k].Add(1)
}

// Handshake records how long one connection's handshake (a TLS handshake)
// took, rounded and clamped like Shard.Latency. Safe from any goroutine; it
// takes a lock of the Source's own, held for one histogram update, and does
// not allocate. Handshake figures appear in snapshots and Prometheus only
// once one has been recorded.
func (s *Source) Handshake(d time.Duration) {
	us := clampUs(d)
	s.g.hsMu.Lock()
	// The value is clamped into range, so this cannot fail.
	_ = s.g.handshakes.RecordValue(us)
	s.g.hsMu.Unlock()
}

// clampUs returns d in whole microseconds, clamped to the histograms' range.
func clampUs(d time.Duration) int64 {
	return min(max(int64(d/time.Microsecond), minLatencyUs), maxLatencyUs)
}

// cacheLine is the padding unit that keeps two Shards, written by two event
// loops on two cores, off each other's cache lines.
const cacheLine = 64

// A Shard records the messages and latencies of one event loop. Its methods
// must be called by one goroutine at a time (the loop that owns it); they take
// no lock and do not allocate. Snapshots read a Shard concurrently with its
// writer.
//
// The writer's fields fill the first cache line; the drain's fields (used
// under Monitor.mu) sit on the second. Shards are allocated one by one, and a
// 128-byte object is 128-byte aligned, so no two Shards share a line.
type Shard struct {
	// Written by the owning loop.
	msgsIn, msgsOut   atomic.Uint64
	bytesIn, bytesOut atomic.Uint64
	// seq is odd while Latency is writing to the active histogram (it is the
	// "busy" flag) and counts writes, so a drain can tell that the write that
	// was in flight when it swapped histograms has ended.
	seq    atomic.Uint64
	active atomic.Pointer[hdrhistogram.Histogram]
	_      [cacheLine - 6*8]byte

	// Guarded by Monitor.mu.
	spare   *hdrhistogram.Histogram // swapped in at the next drain; nil while held is set
	held    *hdrhistogram.Histogram // swapped out while a write was in flight
	heldSeq uint64                  // seq seen when held was swapped out
	_       [cacheLine - 3*8]byte
}

func newShard() *Shard {
	sh := &Shard{spare: newHistogram()}
	sh.active.Store(newHistogram())
	return sh
}

// MessagesIn counts msgs received messages totalling bytes, decoded as one
// batch. Negative values count nothing.
func (sh *Shard) MessagesIn(msgs, bytes int) {
	sh.msgsIn.Add(uint64(max(msgs, 0)))
	sh.bytesIn.Add(uint64(max(bytes, 0)))
}

// MessagesOut counts msgs sent messages totalling bytes, written as one batch.
// Negative values count nothing.
func (sh *Shard) MessagesOut(msgs, bytes int) {
	sh.msgsOut.Add(uint64(max(msgs, 0)))
	sh.bytesOut.Add(uint64(max(bytes, 0)))
}

// Latency records d count times. d is rounded down to whole microseconds and
// clamped to [1 µs, 60 s]; count <= 0 records nothing. A server records the
// time from a request's bytes arriving to its reply being written; a client
// records the request's round trip.
func (sh *Shard) Latency(d time.Duration, count int) {
	if count <= 0 {
		return
	}
	us := clampUs(d)
	sh.seq.Add(1) // busy
	// The value is clamped into range and count is positive, so this cannot fail.
	_ = sh.active.Load().RecordValues(us, int64(count))
	sh.seq.Add(1) // not busy
}

// drain hands to g.absorb every latency the shard recorded since the previous
// drain whose write has finished. Called with Monitor.mu held.
//
// Why this is safe without a lock on the writer's side: Go's atomics are
// sequentially consistent, so all the seq, active and swap operations below
// and in Latency fall in one total order. A Latency call increments seq (odd),
// loads active, records, increments seq (even). The drain swaps the spare in
// with active.Swap, then reads seq:
//
//   - A Latency call whose active.Load comes after the Swap got the new
//     histogram and never touches the old one.
//   - A call whose Load came before the Swap started (seq odd) before it. If the
//     drain then reads an even seq, that call's closing increment came before
//     the read, and so did its record: the old histogram is complete and its
//     writes happen before our reads. If the drain reads an odd value v, at most
//     that one call may still be writing; once seq != v it has finished.
//
// The wait is bounded (drainSpins yields). If the writer has not finished by
// then, the histogram is kept in held with the seq value and merged by a later
// drain that sees seq move on; until then the Shard runs without a spare and is
// not swapped again. The histogram merged is reset and becomes the next spare,
// and the reset happens before the Swap that publishes it to the writer.
func (sh *Shard) drain(g *group, slot *hdrhistogram.PackedHistogram) {
	if sh.held != nil {
		if sh.seq.Load() == sh.heldSeq {
			return // the write is still in flight; try again next time
		}
		g.absorb(sh.held, slot)
		sh.spare, sh.held = sh.held, nil
	}
	old := sh.active.Swap(sh.spare)
	sh.spare = nil
	if v := sh.seq.Load(); v&1 == 1 {
		for i := 0; sh.seq.Load() == v; i++ {
			if i == drainSpins {
				sh.held, sh.heldSeq = old, v
				return
			}
			runtime.Gosched()
		}
	}
	g.absorb(old, slot)
	sh.spare = old
}

// absorb merges h into the since-start histogram and the window slot, then
// resets h. Called with Monitor.mu held.
func (g *group) absorb(h *hdrhistogram.Histogram, slot *hdrhistogram.PackedHistogram) {
	if h.TotalCount() == 0 {
		return
	}
	g.since.Merge(h)
	slot.MergeFrom(h)
	h.Reset()
}

// epoch returns the number of the window slot that t falls in.
func (m *Monitor) epoch(t time.Time) int64 { return int64(t.Sub(m.start) / m.slotWidth) }

// drainAll moves the latencies every shard has recorded into the since-start
// histograms and into the window slot of now. Called with m.mu held.
func (m *Monitor) drainAll(now time.Time) {
	e := m.epoch(now)
	for _, g := range m.groups {
		slot := &g.window[mod(e, windowSlots)]
		if slot.epoch != e {
			slot.h.Reset()
			slot.epoch = e
		}
		for _, sh := range g.shards {
			sh.drain(g, slot.h)
		}
	}
}

// mod returns e modulo n in [0, n), also for a negative e (a clock that went
// back before the monitor's start).
func mod(e int64, n int) int {
	r := int(e % int64(n))
	if r < 0 {
		r += n
	}
	return r
}

// mergeRecent resets dst and merges into it the window slots of g that are
// less than a window old at now. Called with m.mu held.
func (m *Monitor) mergeRecent(dst *hdrhistogram.Histogram, g *group, now time.Time) {
	dst.Reset()
	e := m.epoch(now)
	for i := range g.window {
		if w := &g.window[i]; w.epoch > e-windowSlots && w.epoch <= e {
			w.h.MergeInto(dst)
		}
	}
}

// sample returns the rate sample of now's window slot, reading every group's
// counters into a new one if this is the first read in that slot. Called with
// m.mu held.
//
// The samples are kept oldest first. A new one drops the oldest as long as the
// next oldest is at least a window older than the new one, so samples[0] is
// then the newest sample at least a window old (or, in the first window after
// NewMonitor or Reset, the oldest there is), and every other sample lies within
// the last window: at most one per slot, windowSlots+2 in all.
func (m *Monitor) sample(now time.Time) *rateSample {
	e := m.epoch(now)
	if n := len(m.samples); n > 0 && m.samples[n-1].epoch == e {
		return &m.samples[n-1]
	}
	cutoff := now.Add(-m.slotWidth * windowSlots)
	for len(m.samples) > 1 && !m.samples[1].t.After(cutoff) {
		// Drop the oldest, keeping its counter slice beyond len for reuse.
		n := len(m.samples)
		oldest := m.samples[0]
		copy(m.samples, m.samples[1:])
		m.samples[n-1] = oldest
		m.samples = m.samples[:n-1]
	}
	if len(m.samples) < cap(m.samples) {
		m.samples = m.samples[:len(m.samples)+1]
	} else {
		m.samples = append(m.samples, rateSample{})
	}
	r := &m.samples[len(m.samples)-1]
	c := r.c[:0] // a dropped sample's slice, if there is one
	for _, g := range m.groups {
		c = append(c, g.read())
	}
	*r = rateSample{epoch: e, t: now, c: c}
	return r
}

// rateSpan returns the two samples the rates are taken between: last, the
// sample of now's slot, and first, the newest sample at least a window older
// than last (in the first window after NewMonitor or Reset, the oldest). first
// is nil when last is the only sample. Called with m.mu held.
//
// Every read within one slot, whoever makes it, gets the same two samples and
// so the same rates, and no read can bring another's span below a window.
func (m *Monitor) rateSpan(now time.Time) (first, last *rateSample) {
	last = m.sample(now)
	if len(m.samples) > 1 {
		first = &m.samples[0]
	}
	return first, last
}

// clearSamples drops every rate sample and takes a new one at now, with the
// counters as they are. Called with m.mu held (or before m is shared).
func (m *Monitor) clearSamples(now time.Time) {
	m.samples = m.samples[:0]
	m.since = now
	m.sample(now)
}

// Reset zeroes every counter and histogram of every source, as if the monitor
// had just been created with its sources registered, and restarts the rates.
// Active connections are a gauge, not a counter, and keep their value; the
// uptime keeps counting from NewMonitor, and Snapshot.Since says when the
// counters restarted. A message or latency being recorded at the moment of the
// Reset may count on either side of it.
//
// Prometheus reads the drop to zero of its counters as a counter reset.
func (m *Monitor) Reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.drainAll(now) // so that what the shards hold now is cleared below
	for _, g := range m.groups {
		g.opened.Store(0)
		g.rejected.Store(0)
		g.failed.Store(0)
		for k := range g.errors {
			g.errors[k].Store(0)
		}
		for _, sh := range g.shards {
			sh.msgsIn.Store(0)
			sh.msgsOut.Store(0)
			sh.bytesIn.Store(0)
			sh.bytesOut.Store(0)
		}
		g.since.Reset()
		for i := range g.window {
			g.window[i].epoch = noEpoch
			g.window[i].h.Reset()
		}
		g.hsMu.Lock()
		g.handshakes.Reset()
		g.hsMu.Unlock()
	}
	m.clearSamples(now)
}

// counters is a reading of a group's counters.
type counters struct {
	opened, rejected, failed uint64
	active                   int64
	msgsIn, msgsOut          uint64
	bytesIn, bytesOut        uint64
	errors                   [numErrorKinds]uint64
}

// read reads g's counters. Called with Monitor.mu held.
func (g *group) read() counters {
	c := counters{
		opened:   g.opened.Load(),
		rejected: g.rejected.Load(),
		failed:   g.failed.Load(),
		active:   g.active.Load(),
	}
	for _, sh := range g.shards {
		c.msgsIn += sh.msgsIn.Load()
		c.msgsOut += sh.msgsOut.Load()
		c.bytesIn += sh.bytesIn.Load()
		c.bytesOut += sh.bytesOut.Load()
	}
	for k := range c.errors {
		c.errors[k] = g.errors[k].Load()
	}
	return c
}

func (c *counters) add(o counters) {
	c.opened += o.opened
	c.rejected += o.rejected
	c.failed += o.failed
	c.active += o.active
	c.msgsIn += o.msgsIn
	c.msgsOut += o.msgsOut
	c.bytesIn += o.bytesIn
	c.bytesOut += o.bytesOut
	for k := range c.errors {
		c.errors[k] += o.errors[k]
	}
}
