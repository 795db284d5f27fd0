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

// ErrorKind classifies the errors a Source counts.
type ErrorKind int

// The error kinds. An ErrorKind outside this list is counted as ErrOther.
const (
	ErrFrameTooLarge  ErrorKind = iota // a frame exceeded the codec's maximum
	ErrBadLength                       // a length field was invalid
	ErrIdleTimeout                     // a connection was closed for being idle
	ErrSlowConsumer                    // a peer's outbound backlog passed the high-water mark
	ErrWrite                           // a write to a connection failed
	ErrConnect                         // a client failed to connect
	ErrPanic                           // a handler panicked
	ErrOther                           // anything else
	ErrMemoryLimit                     // a session was closed at the memory budget
	ErrFrameTimeout                    // a partial frame did not complete in time
	ErrAcceptFailed                    // accepting or enrolling a connection failed
	ErrRequestTimeout                  // a client's Request ended with its context
	numErrorKinds
)

var errorKindNames = [numErrorKinds]string{
	"frame_too_large", "bad_length", "idle_timeout", "slow_consumer",
	"write", "connect", "panic", "other", "memory_limit", "frame_timeout", "accept_failed", "request_timeout",
}

// String returns the snake_case name used in snapshots and Prometheus labels,
// such as "frame_too_large".
func (k ErrorKind) String() string {
	if k < 0 || k >= numErrorKinds {
		return "ErrorKind(" + strconv.Itoa(int(k)) + ")"
	}
	return errorKindNames[k]
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

// WithWindow sets the span of the "recent" latency figures. The default, and
// the value used when d <= 0, is 10 seconds. The window is divided into ten
// slots; see Snapshot for what "recent" covers exactly.
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

	// mu serialises Source registration, Snapshot and Prometheus collection:
	// it guards the fields below and the drain side of every Source and Shard.
	mu       sync.Mutex
	groups   []*group  // one per kind and name, in registration order
	prevTime time.Time // time of the previous Snapshot; rates are computed from it
	// Scratch histograms for merging; their content is only meaningful during
	// one call.
	recent, totalSince, totalRecent *hdrhistogram.Histogram
}

// NewMonitor returns an empty Monitor. Its uptime starts now.
func NewMonitor(opts ...Option) *Monitor {
	c := config{window: 10 * time.Second, now: time.Now}
	for _, o := range opts {
		o(&c)
	}
	start := c.now()
	return &Monitor{
		slotWidth:   max(c.window/windowSlots, 1),
		now:         c.now,
		start:       start,
		prevTime:    start,
		recent:      newHistogram(),
		totalSince:  newHistogram(),
		totalRecent: newHistogram(),
	}
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
		g = &group{kind: kind, name: name, since: newHistogram()}
		for i := range g.window {
			g.window[i] = windowSlot{epoch: math.MinInt64, h: hdrhistogram.NewPacked(minLatencyUs, maxLatencyUs, latencyDigits)}
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

	// Guarded by Monitor.mu.
	shards []*Shard                // of all the group's Sources
	since  *hdrhistogram.Histogram // every latency drained so far
	sumUs  float64                 // sum of the drained latencies (bucket midpoints), µs
	window [windowSlots]windowSlot // recent latencies, one slot per slotWidth
	prev   counters                // counters at the previous Snapshot
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
// ErrOther. Safe from any goroutine.
func (s *Source) Error(k ErrorKind) {
	if k < 0 || k >= numErrorKinds {
		k = ErrOther
	}
	s.g.errors[k].Add(1)
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

// MessageIn counts one received message of the given size in bytes.
func (sh *Shard) MessageIn(bytes int) {
	sh.msgsIn.Add(1)
	sh.bytesIn.Add(uint64(max(bytes, 0)))
}

// MessageOut counts one sent message of the given size in bytes.
func (sh *Shard) MessageOut(bytes int) {
	sh.msgsOut.Add(1)
	sh.bytesOut.Add(uint64(max(bytes, 0)))
}

// MessagesIn counts msgs received messages totalling bytes, decoded as one batch.
func (sh *Shard) MessagesIn(msgs, bytes int) {
	sh.msgsIn.Add(uint64(max(msgs, 0)))
	sh.bytesIn.Add(uint64(max(bytes, 0)))
}

// MessagesOut counts msgs sent messages totalling bytes, written as one batch.
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
	us := min(max(int64(d/time.Microsecond), minLatencyUs), maxLatencyUs)
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
	n := h.TotalCount()
	if n == 0 {
		return
	}
	g.sumUs += h.Mean() * float64(n)
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
		slot := &g.window[e%windowSlots]
		if slot.epoch != e {
			slot.h.Reset()
			slot.epoch = e
		}
		for _, sh := range g.shards {
			sh.drain(g, slot.h)
		}
	}
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
