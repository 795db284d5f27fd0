package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/netsys-go/netsys/engine"
	"github.com/netsys-go/netsys/envelope"
)

// MaxRequestBody is the largest body LoadRequests sends: the envelope's
// default body limit.
const MaxRequestBody = envelope.DefaultMaxBodySize

// MinRequestBody is the smallest body LoadRequests sends: its first 8 bytes
// carry the send time, which the echo returns.
const MinRequestBody = 8

// RequestLoadConfig describes a request/reply load run against an envelope
// echo server (`echo serve -envelope`, which answers each request with its
// body). The zero value of each field means its default, given in its
// comment.
type RequestLoadConfig struct {
	Name    string // copied to Result.Name; default "requests"
	Addr    string // host:port of the server; required
	Conns   int    // connections; default 1
	Payload int    // body bytes per request, MinRequestBody to MaxRequestBody; default 64
	// Requests is the requests in flight per connection, kept so by sending
	// the next one from each answer's callback. Default 1.
	Requests int
	Warmup   time.Duration // traffic before the measured window, checked but not measured; default none
	Duration time.Duration // the measured window; default 10s
	// Status, if not nil, is called about once a second and at each change
	// of phase, on the goroutine that called LoadRequests. Default nil.
	Status func(Progress)
}

// withDefaults validates c and fills in its defaults.
func (c RequestLoadConfig) withDefaults() (RequestLoadConfig, error) {
	if c.Name == "" {
		c.Name = "requests"
	}
	if c.Conns == 0 {
		c.Conns = 1
	}
	if c.Payload == 0 {
		c.Payload = 64
	}
	if c.Requests == 0 {
		c.Requests = 1
	}
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	switch {
	case c.Addr == "":
		return c, fmt.Errorf("%w: no address", ErrConfig)
	case c.Conns < 0:
		return c, fmt.Errorf("%w: Conns %d: want 1 or more", ErrConfig, c.Conns)
	case c.Requests < 0:
		return c, fmt.Errorf("%w: Requests %d: want 1 or more", ErrConfig, c.Requests)
	case c.Warmup < 0:
		return c, fmt.Errorf("%w: Warmup %v: want 0 or more", ErrConfig, c.Warmup)
	case c.Duration < 0:
		return c, fmt.Errorf("%w: Duration %v: want more than 0", ErrConfig, c.Duration)
	case c.Payload < MinRequestBody || c.Payload > MaxRequestBody:
		return c, fmt.Errorf("%w: body of %d bytes; want %d to %d", ErrConfig, c.Payload, MinRequestBody, MaxRequestBody)
	}
	return c, nil
}

// LoadRequests drives request/reply load against the envelope echo server
// at cfg.Addr and returns what it measured, in the Result that Load returns:
// Messages counts the answers to requests sent in the measured window,
// InFlight is cfg.Requests. Each connection is an envelope.Client (with its
// own event loop) that keeps cfg.Requests requests in flight with
// Client.Go: each answer's callback, on the client's loop, records the
// round trip (the send time travels in the body's first 8 bytes and comes
// back in the echo) and sends the next request. Every answer is checked
// against the body sent; an error reply counts as a mismatch.
//
// Cancelling ctx during the measured window ends it early and LoadRequests
// still returns the result; cancelling it before returns ctx's error. A
// connection that cannot be opened fails the run with an error wrapping
// ErrConnect.
func LoadRequests(ctx context.Context, cfg RequestLoadConfig) (Result, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Result{}, err
	}
	r := &reqRun{cfg: cfg, window: newWindow(cfg.Warmup, cfg.Status), pattern: newPayloads(cfg.Payload).pattern[:cfg.Payload]}
	r.start.Store(math.MaxInt64)
	r.measStart.Store(math.MaxInt64)
	r.measEnd.Store(math.MaxInt64)
	defer r.close()

	r.report(PhaseConnect)
	if err := r.connect(ctx); err != nil {
		return Result{}, err
	}
	start := r.now()
	r.start.Store(start)
	r.measStart.Store(start + int64(cfg.Warmup))
	r.measEnd.Store(start + int64(cfg.Warmup+cfg.Duration))
	r.begin()
	if err := r.wait(ctx, r.report); err != nil {
		return Result{}, err
	}
	r.drain()
	t, h := r.gather(true)
	res := r.result(t, h)
	r.report(PhaseDone)
	return res, nil
}

// reqRun is the state of one LoadRequests call.
type reqRun struct {
	cfg     RequestLoadConfig
	pattern []byte // the body sent, less its first 8 bytes (the send time)
	conns   []*reqConn
	window

	stopped atomic.Bool // the run is over: connection closes are expected
}

// reqConn is one connection of a request run.
type reqConn struct {
	r      *reqRun
	c      *envelope.Client
	body   []byte                        // used by the callbacks that send, which run in order on the client's loop
	onDone func(reply []byte, err error) // c.answered, bound once
	out    atomic.Int64                  // requests sent and not yet answered

	mu       sync.Mutex // guards the fields below: a failed request's callback may run off the loop
	tally    tally
	hist     *hdrhistogram.Histogram
	answered bool // an answer has come
	lost     bool // the connection was lost (counted once)
}

// quiet discards the load generator's engine and envelope logs: lost
// connections show in the result.
var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// connect opens the connections, one at a time (each is a client with its
// own event loop).
func (r *reqRun) connect(ctx context.Context) error {
	for id := range r.cfg.Conns {
		if err := ctx.Err(); err != nil {
			return err
		}
		c, err := envelope.Dial(ctx, r.cfg.Addr,
			envelope.WithMaxInFlight(r.cfg.Requests),
			envelope.WithCompression(false), // as the plain echo: the bodies go as they are
			envelope.WithLogger(quietLog),
			envelope.WithEngineOptions(engine.WithLogger(quietLog), engine.WithConnectTimeout(dialTimeout)))
		if err != nil {
			return fmt.Errorf("%w: connection %d of %d to %s: %w", ErrConnect, id+1, r.cfg.Conns, r.cfg.Addr, err)
		}
		rc := &reqConn{r: r, c: c, body: bytes.Clone(r.pattern), hist: newHistogram()}
		rc.onDone = rc.answer
		r.conns = append(r.conns, rc)
		if id%100 == 99 {
			r.report(PhaseConnect)
		}
	}
	return nil
}

// begin sends each connection's first cfg.Requests requests.
func (r *reqRun) begin() {
	body := bytes.Clone(r.pattern) // the starter's: the loops' callbacks use their own
	for _, c := range r.conns {
		for range r.cfg.Requests {
			if c.send(body, r.now()) != nil {
				break
			}
		}
	}
}

// send stamps body with the send time and sends it as a request.
func (c *reqConn) send(body []byte, now int64) error {
	binary.BigEndian.PutUint64(body, uint64(now))
	c.out.Add(1)
	err := c.c.Go(body, c.onDone)
	if err != nil {
		c.out.Add(-1)
		c.mu.Lock()
		c.loseLocked()
		c.mu.Unlock()
	}
	return err
}

// loseLocked counts the connection as lost, once, unless the run is over.
func (c *reqConn) loseLocked() {
	if c.lost || c.r.stopped.Load() {
		return
	}
	c.lost = true
	if c.answered {
		c.tally.closedLater++
	} else {
		c.tally.closedEarly++
	}
}

// answer is the callback of every request: it records the answer and, while
// the run sends, sends the next request.
func (c *reqConn) answer(reply []byte, err error) {
	r := c.r
	now := r.now()
	// out drops after the tally is updated, so that a drain that sees no
	// request outstanding gathers every answer.
	defer c.out.Add(-1)
	if err != nil {
		var re *envelope.RemoteError
		remote := errors.As(err, &re)
		c.mu.Lock()
		if remote {
			c.tally.mismatches++
		} else {
			c.tally.unanswered++
			c.loseLocked()
		}
		c.mu.Unlock()
		if !remote {
			return // the connection is gone: this callback may be off the loop
		}
	} else {
		ok := len(reply) == len(c.body) && bytes.Equal(reply[MinRequestBody:], r.pattern[MinRequestBody:])
		var sent int64
		if ok {
			sent = int64(binary.BigEndian.Uint64(reply))
		}
		c.mu.Lock()
		c.answered = true
		c.tally.echoes++
		switch {
		case !ok:
			c.tally.mismatches++
		case sent >= r.measStart.Load() && sent < r.measEnd.Load():
			c.tally.messages++
			c.tally.bytes += int64(len(reply))
			_ = c.hist.RecordValue(max((now-sent)/1e3, 1))
		}
		c.mu.Unlock()
	}
	if now < r.measEnd.Load() && !r.stopped.Load() {
		_ = c.send(c.body, now)
	}
}

// drain waits up to drainTimeout for the answers still due.
func (r *reqRun) drain() {
	r.report(PhaseDrain)
	deadline := time.Now().Add(drainTimeout)
	for r.outstanding() > 0 && time.Now().Before(deadline) {
		time.Sleep(drainPoll)
	}
}

// outstanding returns the requests sent and not answered, on every
// connection.
func (r *reqRun) outstanding() int64 {
	var n int64
	for _, c := range r.conns {
		n += c.out.Load()
	}
	return n
}

// close ends the run and closes the connections.
func (r *reqRun) close() {
	r.stopped.Store(true)
	for _, c := range r.conns {
		_ = c.c.Close()
	}
}

// gather sums the connections' tallies; with hist it also merges their
// histograms.
func (r *reqRun) gather(hist bool) (tally, *hdrhistogram.Histogram) {
	var (
		sum tally
		h   *hdrhistogram.Histogram
	)
	if hist {
		h = newHistogram()
	}
	for _, c := range r.conns {
		c.mu.Lock()
		sum.add(c.tally)
		if hist {
			h.Merge(c.hist)
		}
		c.mu.Unlock()
	}
	sum.outstanding = r.outstanding()
	return sum, h
}

// report calls cfg.Status, if set, with the progress so far.
func (r *reqRun) report(phase Phase) { r.window.report(phase, len(r.conns), r.gather) }

// result builds the Result from the final tally and histogram. Requests
// still outstanding count as unanswered.
func (r *reqRun) result(t tally, h *hdrhistogram.Histogram) Result {
	res := r.window.result(t, h)
	res.Name, res.Conns, res.Payload, res.InFlight = r.cfg.Name, r.cfg.Conns, r.cfg.Payload, r.cfg.Requests
	return res
}
