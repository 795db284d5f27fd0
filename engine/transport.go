package engine

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/valyala/bytebufferpool"

	"github.com/netsys-go/netsys/codec"
	"github.com/netsys-go/netsys/internal/sess"
	"github.com/netsys-go/netsys/internal/tlsio"
	"github.com/netsys-go/netsys/metrics"
	"github.com/netsys-go/netsys/pool"
	"github.com/netsys-go/netsys/session"
)

// transport is what servers and clients share: the options, the handler, the
// registry of sessions, the metrics source, the memory budget, the poller
// for sockets waiting to drain, and gnet's callbacks turned into the
// connection's lifecycle (open, traffic, closed). A connection's read side
// is in read.go, its write side in write.go.
type transport struct {
	o     options
	h     Handler
	kind  metrics.Kind
	reg   *sess.Registry
	src   *metrics.Source
	sizer codec.Sizer // o.codec as a Sizer, or nil

	workers    *workerPool                          // nil: handlers run on the loops
	write      func(c *conn, p []byte) (int, error) // writes to c's socket: writeSome, or a test's stand-in
	clock      clock
	mem        *budget
	waiter     *waiter
	logs       *closeLog
	hs         *tlsio.Handshaker // WithTLS: the handshake pool; nil without TLS
	hsFailures [16]atomic.Uint64 // failed TLS handshakes by tlsio.Cause

	limit    int64 // most sessions at once; 0 means no limit
	active   atomic.Int64
	stopping atomic.Bool

	loopMu sync.Mutex
	loops  map[gnet.EventLoop]*loop // guarded by loopMu
}

// loop is what the connections of one gnet event loop share. Only that loop
// uses it once it is made.
type loop struct {
	shard *metrics.Shard             // the loop's metrics shard, so that each shard has one writer
	out   *bytebufferpool.ByteBuffer // lent to the connection the loop is serving (see conn.queue)
	seal  []byte                     // TLS: the records of the batch being written (see conn.flushSealed)
	plain []byte                     // TLS: the plaintext of the input being decoded (see conn.readTLS)
}

// clock tells the time in Unix nanoseconds with one monotonic clock read:
// the wall time when it was made plus the monotonic time since. time.Now
// reads two clocks, and the loop needs the time twice per batch (for the
// latency, and for LastActive). Wall-clock steps do not move it, so the
// sweeper, which uses it too, is not fooled by them either.
type clock struct {
	base time.Time // carries a monotonic reading
	unix int64     // base in Unix nanoseconds
}

func newClock() clock {
	now := time.Now()
	return clock{base: now, unix: now.UnixNano()}
}

// now returns the current time in Unix nanoseconds.
func (k clock) now() int64 { return k.unix + int64(time.Since(k.base)) }

// maxLoopOut is the most outbound buffer a loop keeps between batches; a
// larger one goes back to the pool after its batch is written.
const maxLoopOut = 256 << 10

// reuse empties l.out after its batch was written.
func (l *loop) reuse() {
	if cap(l.out.B) > maxLoopOut {
		pool.PutBatch(l.out)
		l.out = pool.GetBatch()
		return
	}
	l.out.B = l.out.B[:0]
}

func newTransport(o options, h Handler, kind metrics.Kind, name string) *transport {
	if o.monitor == nil {
		o.monitor = metrics.NewMonitor()
	}
	if o.name != "" {
		name = o.name
	}
	t := &transport{
		o:     o,
		h:     h,
		kind:  kind,
		reg:   sess.NewRegistry(),
		src:   o.monitor.Source(kind, name, o.loops),
		loops: make(map[gnet.EventLoop]*loop, o.loops),
		clock: newClock(),
		logs:  newCloseLog(o.logger),
	}
	t.write = func(c *conn, p []byte) (int, error) { return writeSome(c.fd, p) }
	t.mem = newBudget(t, o.memoryLimit)
	t.waiter = newWaiter(t)
	t.sizer, _ = o.codec.(codec.Sizer)
	t.hs = newHandshaker(&t.o)
	return t
}

// loopOf returns the shared state of gc's event loop, made on first use.
func (t *transport) loopOf(gc gnet.Conn) *loop {
	el := gc.EventLoop()
	t.loopMu.Lock()
	defer t.loopMu.Unlock()
	l, ok := t.loops[el]
	if !ok {
		l = &loop{shard: t.src.Shard(len(t.loops) % t.o.loops), out: pool.GetBatch()}
		t.loops[el] = l
	}
	return l
}

// admit reserves a place for a new session, or reports that the limit is
// reached. The place is given back when the session closes (closed) or when
// the connection never becomes one (refuse).
func (t *transport) admit() bool {
	for {
		n := t.active.Load()
		if t.limit > 0 && n >= t.limit {
			return false
		}
		if t.active.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// endpoints rides in a gnet connection's context from enrollment to OnOpen:
// the addresses the net package saw, and the client the connection is for
// (nil on a server).
type endpoints struct {
	local, remote net.Addr
	client        *Client
	ready         chan error            // WithTLS on a client: the handshake's end (see Client.connect)
	conn          *atomic.Pointer[conn] // set by open when not nil
}

// open makes the session of a new connection, admitted already, and tells
// the handler. It runs on the connection's loop and returns nil if the
// connection must be refused.
func (t *transport) open(gc gnet.Conn, ep *endpoints) *conn {
	if t.stopping.Load() {
		t.active.Add(-1)
		return nil
	}
	t.setNoDelay(gc, ep.local)
	c := &conn{gc: gc, fd: gc.Fd(), t: t, loop: t.loopOf(gc)}
	if t.o.tls != nil {
		c.startTLS(ep) // before the session is published: sends wait for the handshake
	}
	c.sc = t.reg.Register(c.fd, c, ep.local, ep.remote)
	c.s = sessionOf(c.sc)
	c.sc.Touch(t.clock.now())
	gc.SetContext(c)
	t.src.ConnOpened()
	if ep.conn != nil {
		ep.conn.Store(c)
	}
	if c.tls != nil {
		c.runTLS() // OnConnect once it succeeds (readTLS)
		return c
	}
	c.sc.SetState(sess.StateConnected)
	if t.workers != nil {
		t.workers.post(c, job{kind: jobConnect})
	} else {
		t.guard(c, func() { t.h.OnConnect(c.s) })
	}
	return c
}

// setNoDelay applies WithNoDelay to a TCP connection. (Its buffer sizes were
// set before the handshake: socketControl.)
func (t *transport) setNoDelay(gc gnet.Conn, local net.Addr) {
	if _, ok := local.(*net.TCPAddr); !ok {
		return // a Unix socket has no TCP_NODELAY
	}
	if err := gc.SetNoDelay(t.o.noDelay); err != nil {
		t.o.logger.Warn("netsys: socket option", "option", "TCP_NODELAY", "remote", gc.RemoteAddr(), "err", err)
	}
}

// traffic is gnet's OnTraffic, for read events and for wake-ups from sends
// made off the loop and from the poller: it decodes and delivers what was
// read (read.go), then writes what was queued (write.go).
func (t *transport) traffic(gc gnet.Conn) gnet.Action {
	c, _ := gc.Context().(*conn)
	if c == nil {
		return gnet.Close
	}
	c.busy.Store(true) // sends from now on are written by flush without a wake-up
	var start int64
	var msgs int
	if c.tls == nil {
		start, msgs = c.read()
	} else {
		start, msgs = c.readTLS()
	}
	if !c.flush() {
		return gnet.Close // the socket failed; c.reason says how
	}
	if msgs > 0 && t.kind == metrics.KindServer {
		// A client's latencies are request round trips, recorded by Client.
		c.loop.shard.Latency(time.Duration(t.clock.now()-start), msgs)
	}
	if c.s.State() >= session.StateClosing {
		return gnet.Close
	}
	return gnet.None
}

// guard runs fn, a handler callback, containing a panic to c's session.
func (t *transport) guard(c *conn, fn func()) {
	defer func() {
		if r := recover(); r != nil {
			t.handlerPanicked(c, r)
		}
	}()
	fn()
}

func (t *transport) handlerPanicked(c *conn, r any) {
	err := fmt.Errorf("%w: %v", ErrHandlerPanic, r)
	t.o.logger.Error("netsys: handler panicked; closing its session",
		"session", c.s.ID(), "remote", c.s.RemoteAddr(), "panic", r, "stack", string(debug.Stack()))
	c.fail(err, metrics.Panic)
}

// closed ends the session of gc. It runs on the loop, inside OnClose, before
// gnet closes the fd: it writes what is still queued, hands what the socket
// does not take to the poller to finish off the loop (or resets the
// connection, so that the peer never takes a cut-off frame for a clean end),
// gives back the session's memory, unregisters it and tells the handler why.
func (t *transport) closed(gc gnet.Conn, err error) {
	c, _ := gc.Context().(*conn)
	if c == nil {
		return // refused at open: never a session
	}
	gc.SetContext(nil)
	reason := c.finish()
	if reason == nil {
		reason = t.reasonFor(err)
	}
	c.endWrites(reason)
	c.drained(fmt.Errorf("%w: %w", ErrNotConnected, reason)) // whatever endWrites did with the rest
	c.dropPartial()
	hidden := c.tls != nil && c.endTLS(reason)
	c.sc.SetState(sess.StateClosing)
	t.reg.Unregister(c.sc)
	t.active.Add(-1)
	t.src.ConnClosed()
	if hidden {
		return // the TLS handshake failed: never a session for the handler
	}
	t.logs.closed(c.s, reason)
	if t.workers != nil {
		t.workers.post(c, job{kind: jobDisconnect, reason: reason}) // after its messages
		return
	}
	t.guard(c, func() { t.h.OnDisconnect(c.s, reason) })
}

// reasonFor turns gnet's close error into the reason the handler sees.
func (t *transport) reasonFor(err error) error {
	switch {
	case t.stopping.Load():
		return ErrServerStopping
	case err == nil:
		return ErrClosedByApp
	case errors.Is(err, io.EOF):
		return ErrPeerClosed
	}
	return fmt.Errorf("%w: %w", ErrPeerClosed, err)
}

// lingers reports whether a session closed for reason may still have a
// reader for what it has queued.
func lingers(reason error) bool {
	switch {
	case errors.Is(reason, ErrSlowConsumer), errors.Is(reason, ErrServerStopping),
		errors.Is(reason, ErrMemoryLimit):
		return false // not reading, or already drained by Stop, or over budget
	case errors.Is(reason, ErrPeerClosed):
		// A bare ErrPeerClosed is a clean end of input (the peer may have
		// only half-closed); a wrapped one is a reset or a socket error.
		return reason == ErrPeerClosed
	}
	return true
}

// writeFailed reports a failed write to the socket as the reason to close.
func writeFailed(err error) error {
	return fmt.Errorf("%w: %w", ErrPeerClosed, os.NewSyscallError("write", err))
}

// sessionOf returns the session.Session that holds c: package session makes
// every Core inside one (sess.NewOuter).
func sessionOf(c *sess.Core) *session.Session { return c.Outer().(*session.Session) }

// rangeConns calls fn for every registered session and its connection, until
// fn returns false. Like Registry.Range it takes no lock. A session can be
// visited before open has set c.s and c.sc: fn reaches the session through x,
// and c only through its atomics and its mutex.
func (t *transport) rangeConns(fn func(x *sess.Core, c *conn) bool) {
	t.reg.Range(func(x *sess.Core) bool {
		c, ok := x.Writer().(*conn)
		return !ok || fn(x, c)
	})
}
