package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/panjf2000/gnet/v2"

	"github.com/netsys-go/netsys/codec"
	"github.com/netsys-go/netsys/internal/tlsio"
)

// MaxPayload is the largest payload Load sends: the default codec's largest
// frame less its 4-byte length header.
const MaxPayload = codec.DefaultMaxFrame - 4

const (
	statusEvery     = time.Second            // how often LoadConfig.Status is called
	drainTimeout    = 5 * time.Second        // how long to wait for the last echoes
	drainPoll       = 10 * time.Millisecond  // how often to check whether they came
	dialConcurrency = 128                    // connects in flight: well under the listen backlog
	dialAttempts    = 5                      // tries per connection for a refused or reset connect
	dialBackoff     = 20 * time.Millisecond  // first pause before a retry; doubles each time
	dialTimeout     = 5 * time.Second        // per connect attempt
	minPace         = 100 * time.Microsecond // shortest pause of an open-loop pacer
	histMaxMicros   = 60_000_000             // latencies above a minute are recorded as a minute
)

// LoadConfig describes a load run. The zero value of each field means its
// default, given in its comment.
type LoadConfig struct {
	Name    string // copied to Result.Name; default empty
	Addr    string // of the echo server, as SplitAddr reads it: host:port or unix:///path; required
	Conns   int    // connections; default 1
	Payload int    // payload bytes per message, at most MaxPayload; default 64
	// InFlight is, in closed loop, the messages outstanding per connection
	// (1 = request/response, more = pipelined); in open loop, the messages
	// sent together, in one write, on one connection at each scheduled
	// time (a pipelined burst). Default 1.
	InFlight int
	Warmup   time.Duration // traffic before the measured window, checked but not measured; default none
	Duration time.Duration // the measured window; default 10s
	// Rate, when positive, makes the run open loop: that many messages per
	// second in total, spread evenly over the connections (in bursts of
	// InFlight) whatever the echoes do, each timed from its scheduled send
	// time so that a stalled server shows in the latency (no coordinated
	// omission). Default 0: closed loop.
	Rate int
	// Idle makes each connection send one message, wait for its echo and
	// then hold the connection open, silent, for Warmup+Duration: a run for
	// measuring the server's memory per connection. Default false.
	Idle bool
	// TLS, when set, makes every connection a TLS client with this
	// configuration (ServerName or InsecureSkipVerify set); Load connects
	// once every handshake has succeeded, and a failed one is an error.
	// Default nil: plaintext.
	TLS *tls.Config
	// Status, if not nil, is called about once a second and at each change
	// of phase, on the goroutine that called Load. Default nil.
	Status func(Progress)
}

// withDefaults validates c and fills in its defaults.
func (c LoadConfig) withDefaults() (LoadConfig, error) {
	if c.Conns == 0 {
		c.Conns = 1
	}
	if c.Payload == 0 {
		c.Payload = 64
	}
	if c.InFlight == 0 {
		c.InFlight = 1
	}
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	switch _, address := SplitAddr(c.Addr); {
	case address == "":
		return c, fmt.Errorf("%w: no address", ErrConfig)
	case c.Conns < 0:
		return c, fmt.Errorf("%w: Conns %d: want 1 or more", ErrConfig, c.Conns)
	case c.InFlight < 0:
		return c, fmt.Errorf("%w: InFlight %d: want 1 or more", ErrConfig, c.InFlight)
	case c.Rate < 0:
		return c, fmt.Errorf("%w: Rate %d: want 0 (closed loop) or more", ErrConfig, c.Rate)
	case c.Warmup < 0:
		return c, fmt.Errorf("%w: Warmup %v: want 0 or more", ErrConfig, c.Warmup)
	case c.Duration < 0:
		return c, fmt.Errorf("%w: Duration %v: want more than 0", ErrConfig, c.Duration)
	case c.Payload < 0 || c.Payload > MaxPayload:
		return c, fmt.Errorf("%w: payload of %d bytes; want 1 to %d", ErrConfig, c.Payload, MaxPayload)
	case c.Idle && (c.Rate > 0 || c.InFlight > 1):
		return c, fmt.Errorf("%w: an idle run sends one message per connection: no Rate or InFlight", ErrConfig)
	}
	return c, nil
}

// Phase is the stage a load run is in.
type Phase string

// The phases of a run, in order.
const (
	PhaseConnect Phase = "connect" // opening connections (idle runs: and waiting for each first echo)
	PhaseWarmup  Phase = "warmup"  // traffic flows but is not measured
	PhaseMeasure Phase = "measure" // the measured window
	PhaseDrain   Phase = "drain"   // no new messages; waiting for the last echoes
	PhaseDone    Phase = "done"    // the result is final
)

// Progress is a live view of a run, passed to LoadConfig.Status.
type Progress struct {
	Phase    Phase
	Elapsed  time.Duration // in this phase: the measured window's time excludes the warm-up
	Of       time.Duration // how long the phase is set to last (warm-up, window); 0 if open-ended
	Conns    int           // connections open
	Rate     float64       // echoes per second since the previous report (0 while connecting)
	P99      float64       // µs, over the measured window so far (0 before it)
	Messages int64         // measured so far
	Errors   int64         // as in Result.Errors, so far (messages still due are not counted yet)
}

// String formats p as a one-line status, about 60 columns wide (errors are
// shown only when there are some). The phase is its first word.
func (p Progress) String() string {
	t := seconds(p.Elapsed)
	if p.Of > 0 {
		t += "/" + seconds(p.Of)
	}
	s := fmt.Sprintf("%-7s %9s  %s conns  %s msg/s  p99 %s µs",
		p.Phase, t, group(int64(p.Conns)), group(int64(p.Rate)), group(int64(p.P99)))
	if p.Errors > 0 {
		s += fmt.Sprintf("  %s errors", group(p.Errors))
	}
	return s
}

// seconds formats d in seconds, with a tenth below 10 s.
func seconds(d time.Duration) string {
	if d < 10*time.Second {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return fmt.Sprintf("%.0fs", d.Seconds())
}

// Result is the outcome of a load run.
type Result struct {
	Name     string `json:"name,omitempty"`
	Conns    int    `json:"conns"`
	Payload  int    `json:"payload"`
	InFlight int    `json:"inflight"`
	Rate     int    `json:"rate"` // 0 for closed loop
	Idle     bool   `json:"idle,omitempty"`
	// Start is when the measured window began, on the wall clock, so that
	// another process can line up its own measurements with the window.
	Start    time.Time     `json:"start"`
	Duration time.Duration `json:"duration_ns"` // the measured window as it ran
	// Messages counts the echoes of the messages sent in the measured window
	// (idle runs: every echo). Bytes counts their payload bytes.
	Messages int64 `json:"messages"`
	Bytes    int64 `json:"bytes"`
	// Errors counts connections lost, frames the codec rejected, echoes
	// that did not match what was sent, and messages never answered: the
	// sum of the five fields after it.
	Errors int64 `json:"errors"`
	// ClosedEarly counts connections the server closed before their first
	// echo, as a server at its connection limit does; ClosedLater those it
	// closed after echoing, as an idle timeout or a stopping server does.
	ClosedEarly int64 `json:"closed_early,omitempty"`
	ClosedLater int64 `json:"closed_later,omitempty"`
	// Rejected counts echoes that were not frames of the wire format (the
	// connection is closed); Mismatches echoes that differ from what was
	// sent; Unanswered messages never echoed, on a connection lost or
	// before the run gave up waiting.
	Rejected   int64   `json:"rejected,omitempty"`
	Mismatches int64   `json:"mismatches"`
	Unanswered int64   `json:"unanswered,omitempty"`
	MsgsPerSec float64 `json:"msgs_per_sec"`
	MBPerSec   float64 `json:"mb_per_sec"` // payload bytes echoed, 10^6 bytes per second
	Latency    Latency `json:"latency_us"`
	// Percentiles is the latency distribution, for plotting.
	Percentiles []Percentile `json:"percentiles,omitempty"`
}

// Latency summarises round-trip times in microseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// Percentile is one point of a latency distribution.
type Percentile struct {
	Percentile float64 `json:"percentile"` // 0 to 100
	Micros     float64 `json:"us"`
}

// percentilePoints are the points Result.Percentiles holds.
var percentilePoints = []float64{50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.995, 99.999, 100}

// Load drives load against the echo server at cfg.Addr (over TCP, or over a
// Unix socket for "unix:///path") and returns what it measured. It opens
// cfg.Conns connections, in parallel but a bounded number
// at a time, then sends messages in the default wire format (codec.Default)
// for cfg.Warmup and then cfg.Duration, stops sending and waits a few seconds
// at most for the last echoes. Every echo is checked byte for byte against
// what its connection sent.
//
// Cancelling ctx during the measured window ends the window early and Load
// still returns the result; cancelling it before returns ctx's error. A
// connection that cannot be opened, even after a few retries, fails the run
// with an error wrapping ErrConnect.
//
// The connections run on gnet client event loops, one per GOMAXPROCS (at
// most one per connection). Each loop decodes every echo it has read,
// records it in its own HDR histogram and writes the next messages with one
// Write per connection and turn; the histograms are merged at the end.
func Load(ctx context.Context, cfg LoadConfig) (Result, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Result{}, err
	}
	return load(ctx, cfg, false)
}

// load is Load, or with requests LoadRequests, after validation.
func load(ctx context.Context, cfg LoadConfig, requests bool) (Result, error) {
	r, err := newRun(cfg, requests)
	if err != nil {
		return Result{}, err
	}
	defer r.close()

	r.report(PhaseConnect)
	if err := r.connect(ctx); err != nil {
		return Result{}, err
	}
	if err := r.handshake(ctx); err != nil {
		return Result{}, err
	}
	if cfg.Idle {
		if err := r.settle(ctx); err != nil {
			return Result{}, err
		}
	}
	start := r.now()
	r.start.Store(start)
	r.measStart.Store(start + int64(cfg.Warmup))
	r.measEnd.Store(start + int64(cfg.Warmup+cfg.Duration))
	r.begin()
	if err := r.wait(ctx, r.report); err != nil {
		return Result{}, err
	}
	r.stopPacers()
	r.drain()
	t, h := r.gather(true)
	res := r.result(t, h)
	r.report(PhaseDone)
	return res, nil
}

// run is the state of one Load call. newRun sets the fields up to loops,
// which never change after; the atomics are read on the loops.
type run struct {
	cfg      LoadConfig
	requests bool // LoadRequests: envelope requests instead of plain messages
	codec    *codec.LengthField
	payloads payloads
	interval float64 // open loop: nanoseconds between two bursts of InFlight messages
	loops    []*loop
	window

	stopped atomic.Bool  // the run is over: connection closes are expected
	open    atomic.Int64 // connections open

	hs         *tlsio.Handshaker // with cfg.TLS: the handshake pool
	handshakes atomic.Int64      // TLS handshakes that succeeded
	tlsFailed  atomic.Int64      // TLS handshakes that failed

	pacers sync.WaitGroup // open-loop pacer goroutines
	quit   chan struct{}  // closed to stop the pacers
}

func newRun(cfg LoadConfig, requests bool) (*run, error) {
	r := &run{
		cfg:      cfg,
		requests: requests,
		codec:    codec.Default(),
		payloads: newPayloads(cfg.Payload),
		window:   newWindow(cfg.Warmup, cfg.Status),
		quit:     make(chan struct{}),
		hs:       newHandshaker(cfg),
	}
	if cfg.Rate > 0 {
		r.interval = 1e9 * float64(cfg.InFlight) / float64(cfg.Rate)
	}
	r.start.Store(math.MaxInt64)
	r.measStart.Store(math.MaxInt64)
	r.measEnd.Store(math.MaxInt64)
	n := min(runtime.GOMAXPROCS(0), cfg.Conns)
	for i := range n {
		l := &loop{r: r, idx: i, conns: make([]*conn, (cfg.Conns+n-1)/n), hist: newHistogram()}
		l.paceTask = gnet.RunnableFunc(func(context.Context) error {
			l.pacing.Store(false)
			l.pace(r.now())
			return nil
		})
		cli, err := gnet.NewClient(l,
			gnet.WithNumEventLoop(1),
			gnet.WithTCPNoDelay(gnet.TCPNoDelay),
			gnet.WithLogger(gnetLogger{}),
			oneReadPerEvent)
		if err == nil {
			err = cli.Start()
		}
		if err != nil {
			r.close()
			return nil, fmt.Errorf("bench: start gnet client: %w", err)
		}
		l.cli = cli
		r.loops = append(r.loops, l)
	}
	return r, nil
}

// oneReadPerEvent makes the generator's epoll edge-triggered, reading once per
// readiness event (2 is gnet's smallest chunk), so that it serves its
// connections in the order their echoes arrive. Level-triggered, its own
// queueing nearly doubled the gnet servers' tails at 5,000 connections; the
// mechanism, and why the engine stays level-triggered, are in
// docs/architecture.md (gnet facts) and docs/bench/NOTES.md.
var oneReadPerEvent = gnet.WithEdgeTriggeredIOChunk(2)

// connect opens every connection, dialConcurrency at a time, and enrolls
// connection id in loop id % len(r.loops). With TLS a connect keeps its slot
// until its handshake ends, so that at most dialConcurrency handshakes run at
// once, as a client fleet does: a server that caps the handshakes in
// progress (the engine: 256 running and 1,024 waiting by default) refuses
// none, however many connections the run opens.
func (r *run) connect(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
		ids   = make(chan int)
	)
	for range min(dialConcurrency, r.cfg.Conns) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range ids {
				if err := r.dial(ctx, id); err != nil {
					once.Do(func() { first = err; cancel() })
				}
			}
		}()
	}
	tick := time.NewTicker(statusEvery)
	defer tick.Stop()
feed:
	for id := 0; id < r.cfg.Conns; {
		select {
		case ids <- id:
			id++
		case <-tick.C:
			r.report(PhaseConnect)
		case <-ctx.Done():
			break feed
		}
	}
	close(ids)
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

// dial opens connection id, retrying a refused or reset connect a few times:
// a burst of connects can overrun the server's accept backlog.
func (r *run) dial(ctx context.Context, id int) error {
	d := net.Dialer{Timeout: dialTimeout, KeepAlive: -1}
	network, address := SplitAddr(r.cfg.Addr)
	backoff := dialBackoff
	for attempt := 1; ; attempt++ {
		nc, err := d.DialContext(ctx, network, address)
		if err == nil {
			l := r.loops[id%len(r.loops)]
			c := &conn{id: id}
			if r.cfg.TLS != nil {
				c.hsDone = make(chan struct{})
			}
			gc, err := l.cli.EnrollContext(nc, c) // closes nc: gnet keeps a dup of its fd
			if err != nil {
				return fmt.Errorf("%w: connection %d: %w", ErrConnect, id, err)
			}
			l.elOnce.Do(func() { l.el = gc.EventLoop() })
			if c.hsDone != nil { // at most dialConcurrency handshakes at a time, as a server's cap expects
				t := time.NewTimer(handshakeTimeout) // handshake() reports one that never ends
				select {
				case <-c.hsDone:
				case <-ctx.Done():
				case <-t.C:
				}
				t.Stop()
			}
			return nil
		}
		if attempt == dialAttempts || ctx.Err() != nil || !retryable(err) {
			return fmt.Errorf("%w: connection %d of %d to %s: %w", ErrConnect, id+1, r.cfg.Conns, r.cfg.Addr, err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		backoff *= 2
	}
}

// SplitAddr splits the address of an echo server, "host:port",
// "tcp://host:port" or "unix:///path", into a network ("tcp" or "unix") and
// an address for the net package. Anything else is taken as a TCP host:port
// for the net package to judge.
func SplitAddr(addr string) (network, address string) {
	if path, ok := strings.CutPrefix(addr, "unix://"); ok {
		return "unix", path
	}
	return "tcp", strings.TrimPrefix(addr, "tcp://")
}

// retryable reports whether a connect failed for want of room at the server
// or in the local port range, which can clear up.
func retryable(err error) bool {
	for _, e := range []error{syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ETIMEDOUT, syscall.EAGAIN, syscall.EADDRNOTAVAIL} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// handshake waits, with TLS, until every connection's handshake has
// succeeded; a failed one ends the run.
func (r *run) handshake(ctx context.Context) error {
	if r.cfg.TLS == nil {
		return nil
	}
	deadline := time.Now().Add(handshakeTimeout)
	tick := time.NewTicker(drainPoll)
	defer tick.Stop()
	for r.handshakes.Load() < int64(r.cfg.Conns) {
		if n := r.tlsFailed.Load(); n > 0 {
			return fmt.Errorf("%w: %d TLS handshakes failed", ErrConnect, n)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: %d of %d TLS handshakes done after %v", ErrConnect, r.handshakes.Load(), r.cfg.Conns, handshakeTimeout)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// settle waits, in an idle run, until every connection has had the echo of
// its one message, or drainTimeout passes.
func (r *run) settle(ctx context.Context) error {
	deadline := time.Now().Add(drainTimeout)
	tick := time.NewTicker(drainPoll)
	defer tick.Stop()
	for {
		t, _ := r.gather(false)
		if t.outstanding == 0 || time.Now().After(deadline) {
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// begin starts the traffic: in closed loop each connection sends InFlight
// messages; in open loop each loop's pacer starts.
func (r *run) begin() {
	for _, l := range r.loops {
		switch {
		case r.cfg.Idle:
		case r.cfg.Rate > 0:
			r.pacers.Add(1)
			go l.pacer()
		default:
			_ = l.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
				l.startClosed()
				return nil
			}))
		}
	}
}

// stopPacers stops the open-loop pacers, if any, and waits for them.
func (r *run) stopPacers() {
	select {
	case <-r.quit:
	default:
		close(r.quit)
	}
	r.pacers.Wait()
}

// drain waits up to drainTimeout for the echoes still due.
func (r *run) drain() {
	r.report(PhaseDrain)
	deadline := time.Now().Add(drainTimeout)
	for {
		t, _ := r.gather(false)
		if t.outstanding == 0 || time.Now().After(deadline) {
			return
		}
		time.Sleep(drainPoll)
	}
}

// close ends the run: it stops the pacers and the gnet clients, which close
// the connections.
func (r *run) close() {
	r.stopped.Store(true)
	r.stopPacers()
	for _, l := range r.loops {
		_ = l.cli.Stop()
	}
}

// gather sums the loops' tallies, running on each loop; with hist it also
// merges their histograms.
func (r *run) gather(hist bool) (tally, *hdrhistogram.Histogram) {
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		sum tally
		h   *hdrhistogram.Histogram
	)
	if hist {
		h = newHistogram()
	}
	for _, l := range r.loops {
		wg.Add(1)
		err := l.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			sum.add(l.tally)
			if hist {
				h.Merge(l.hist)
			}
			return nil
		}))
		if err != nil { // the loop is shut down: nothing to gather
			wg.Done()
		}
	}
	wg.Wait()
	return sum, h
}

// report calls cfg.Status, if set, with the progress so far.
func (r *run) report(phase Phase) { r.window.report(phase, int(r.open.Load()), r.gather) }

// result builds the Result from the final tally and histogram. Messages
// still outstanding are lost: they count as errors.
func (r *run) result(t tally, h *hdrhistogram.Histogram) Result {
	res := r.window.result(t, h)
	res.Name, res.Conns, res.Payload = r.cfg.Name, r.cfg.Conns, r.cfg.Payload
	res.InFlight, res.Rate, res.Idle = r.cfg.InFlight, r.cfg.Rate, r.cfg.Idle
	return res
}

// fill sets res's figures from the final tally and histogram of a window of
// dur from start: counts, errors (what is still outstanding counts as
// unanswered), rates and latencies.
func (res *Result) fill(t tally, h *hdrhistogram.Histogram, start time.Time, dur time.Duration) {
	res.Start, res.Duration = start, dur
	res.Messages, res.Bytes = t.messages, t.bytes
	res.ClosedEarly, res.ClosedLater, res.Rejected = t.closedEarly, t.closedLater, t.rejected
	res.Mismatches, res.Unanswered = t.mismatches, t.unanswered+t.outstanding
	res.Latency = Latency{
		P50:  float64(h.ValueAtQuantile(50)),
		P90:  float64(h.ValueAtQuantile(90)),
		P99:  float64(h.ValueAtQuantile(99)),
		P999: float64(h.ValueAtQuantile(99.9)),
		Max:  float64(h.Max()),
		Mean: h.Mean(),
	}
	res.Errors = res.ClosedEarly + res.ClosedLater + res.Rejected + res.Mismatches + res.Unanswered
	if s := dur.Seconds(); s > 0 {
		res.MsgsPerSec = float64(t.messages) / s
		res.MBPerSec = float64(t.bytes) / 1e6 / s
	}
	if h.TotalCount() > 0 {
		for _, q := range percentilePoints {
			res.Percentiles = append(res.Percentiles, Percentile{Percentile: q, Micros: float64(h.ValueAtQuantile(q))})
		}
	}
}

func newHistogram() *hdrhistogram.Histogram { return hdrhistogram.New(1, histMaxMicros, 3) }

// WriteText writes res as a short human-readable report.
func (res Result) WriteText(w io.Writer) error {
	mode := fmt.Sprintf("closed loop, %d in flight per connection", res.InFlight)
	switch {
	case res.Idle:
		mode = "idle: one message per connection, then held open"
	case res.Rate > 0 && res.InFlight > 1:
		mode = fmt.Sprintf("open loop at %s msg/s in bursts of %d", group(int64(res.Rate)), res.InFlight)
	case res.Rate > 0:
		mode = fmt.Sprintf("open loop at %s msg/s", group(int64(res.Rate)))
	}
	name := res.Name
	if name == "" {
		name = "load"
	}
	_, err := fmt.Fprintf(w, "%s: %d conns, %d B payload, %s\n"+
		"  window     %.2f s\n"+
		"  messages   %s  (%s msg/s, %.1f MB/s)\n"+
		"  errors     %s\n"+
		"  latency µs p50 %.0f  p90 %.0f  p99 %.0f  p99.9 %.0f  max %.0f  mean %.1f\n",
		name, res.Conns, res.Payload, mode,
		res.Duration.Seconds(),
		group(res.Messages), group(int64(res.MsgsPerSec)), res.MBPerSec,
		res.errorText(),
		res.Latency.P50, res.Latency.P90, res.Latency.P99, res.Latency.P999, res.Latency.Max, res.Latency.Mean)
	return err
}

// errorText says what the errors of res were: "0", or their count and then
// each kind on a line of its own.
func (res Result) errorText() string {
	if res.Errors == 0 {
		return "0"
	}
	s := group(res.Errors)
	for _, e := range []struct {
		n          int64
		noun, what string // "connection", "closed by …": the noun takes an s unless n is 1
	}{
		{res.ClosedEarly, "connection", "closed by the server before any echo (connection limit?)"},
		{res.ClosedLater, "connection", "closed by the server after echoing (idle timeout? stopped?)"},
		{res.Rejected, "echo", "not in the wire format (connection closed)"},
		{res.Mismatches, "echo", "unlike the message sent"},
		{res.Unanswered, "message", "never answered"},
	} {
		if e.n > 0 {
			noun := e.noun + "s"
			if e.n == 1 {
				noun = e.noun
			}
			s += fmt.Sprintf("\n    %s %s %s", group(e.n), noun, e.what)
		}
	}
	return s
}

// group formats n with commas between groups of three digits.
func group(n int64) string {
	s := fmt.Sprint(n)
	start := 0
	if n < 0 {
		start = 1
	}
	for i := len(s) - 3; i > start; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
