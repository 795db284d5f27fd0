package engine

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/valyala/bytebufferpool"
	"golang.org/x/sys/unix"

	"github.com/netsys-go/netsys/codec"
	"github.com/netsys-go/netsys/metrics"
	"github.com/netsys-go/netsys/pool"
	"github.com/netsys-go/netsys/session"
)

// transport is the event logic that servers and clients share: it turns gnet's
// readiness events into sessions, decoded messages and batched writes.
type transport struct {
	o     options
	h     Handler
	kind  metrics.Kind
	reg   *session.Registry
	src   *metrics.Source
	sizer codec.Sizer // o.codec as a Sizer, or nil

	workers *workerPool // nil: handlers run on the loops
	clock   clock

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
	out   *bytebufferpool.ByteBuffer // the replies (Session.Reply) of the connection in OnTraffic
}

// clock tells the time in Unix nanoseconds with one monotonic clock read:
// the wall time when it was made plus the monotonic time since. time.Now
// reads two clocks, and the loop needs the time twice per batch (for the
// latency, and for LastActive). Wall-clock steps do not move it, so the idle
// sweep, which uses it too, is not fooled by them either.
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

// maxLoopOut is the most reply buffer a loop keeps between batches; a larger
// one goes back to the pool after its batch is written.
const maxLoopOut = 256 << 10

// reuse empties l.out after its batch was handed to gnet.
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
		reg:   session.NewRegistry(),
		src:   o.monitor.Source(kind, name, o.loops),
		loops: make(map[gnet.EventLoop]*loop, o.loops),
		clock: newClock(),
	}
	t.sizer, _ = o.codec.(codec.Sizer)
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

// admit reserves a place for a new session, or reports that the limit is reached.
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

// open makes the session of a new connection and tells the handler. It runs on
// the connection's loop and returns nil if the connection must be refused.
func (t *transport) open(gc gnet.Conn) *conn {
	if t.stopping.Load() {
		return nil
	}
	if !t.admit() {
		t.src.ConnRejected()
		return nil
	}
	t.applySocketOptions(gc)
	c := &conn{gc: gc, t: t, loop: t.loopOf(gc)}
	c.s = t.reg.Register(gc.Fd(), c, gc.LocalAddr(), gc.RemoteAddr())
	c.s.Touch(t.clock.now())
	c.s.SetState(session.StateConnected)
	gc.SetContext(c)
	t.src.ConnOpened()
	if t.workers != nil {
		t.workers.post(c, job{kind: jobConnect})
	} else {
		t.guard(c, func() { t.h.OnConnect(c.s) })
	}
	return c
}

func (t *transport) applySocketOptions(gc gnet.Conn) {
	log := func(what string, err error) {
		if err != nil {
			t.o.logger.Warn("netsys: socket option", "option", what, "remote", gc.RemoteAddr(), "err", err)
		}
	}
	log("TCP_NODELAY", gc.SetNoDelay(t.o.noDelay))
	if t.o.recvBuf > 0 {
		log("SO_RCVBUF", gc.SetReadBuffer(t.o.recvBuf))
	}
	if t.o.sendBuf > 0 {
		log("SO_SNDBUF", gc.SetWriteBuffer(t.o.sendBuf))
	}
}

// traffic decodes every complete frame buffered for gc, hands each to the
// handler, and writes all replies in one Write. It runs on the loop, for read
// events and for wake-ups from off-loop sends.
func (t *transport) traffic(gc gnet.Conn) gnet.Action {
	c, _ := gc.Context().(*conn)
	if c == nil {
		return gnet.Close
	}
	c.beginTraffic()
	start, msgs := t.decode(c)
	if !c.endTraffic() {
		return gnet.None // the write failed and gnet has closed the connection
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

// decode runs the codec over gnet's buffered bytes in place, in a loop until a
// frame is incomplete: with level-triggered readiness, bytes left behind would
// not raise another event.
func (t *transport) decode(c *conn) (start int64, msgs int) {
	gc := c.gc
	buffered := gc.InboundBuffered()
	if buffered == 0 || buffered < c.need || t.stopping.Load() {
		return start, 0 // when stopping, only what is already queued goes out
	}
	if t.workers != nil && c.paused() {
		// The session's worker queue is full: leave the input in gnet's
		// buffer until a worker drains the queue and wakes the loop. gnet
		// keeps reading the socket meanwhile, so bound what it may hold.
		if buffered > t.o.maxFrame+maxHeader {
			c.overflow(fmt.Sprintf("%d bytes arrived while its queue was full", buffered))
		}
		return start, 0
	}
	start = t.clock.now()
	buf, _ := gc.Peek(-1) // valid until Discard: every use of it ends below
	off, msgs, inBytes, queueFull, ferr := t.frames(c, buf)
	c.need = 0
	if rest := buf[off:]; ferr == nil && !queueFull && len(rest) > 0 {
		if t.sizer != nil {
			c.need, ferr = t.sizer.FrameSize(rest)
		}
		if ferr == nil && len(rest) > t.o.maxFrame+maxHeader {
			ferr = fmt.Errorf("%w: %d bytes buffered without a complete frame", codec.ErrFrameTooLarge, len(rest))
		}
	}
	if off > 0 {
		_, _ = gc.Discard(off) // never Discard(0): gnet reads n <= 0 as "everything"
	}
	if msgs > 0 {
		c.s.CountIn(msgs, inBytes)
		c.loop.shard.MessagesIn(msgs, inBytes)
		c.s.Touch(start)
	}
	if ferr != nil {
		kind := metrics.Other
		switch {
		case errors.Is(ferr, codec.ErrFrameTooLarge):
			kind = metrics.FrameTooLarge
		case errors.Is(ferr, codec.ErrBadLength):
			kind = metrics.BadLength
		}
		c.fail(ferr, kind)
	}
	return start, msgs
}

// maxHeader is the slack over the largest payload that a frame's header may take.
const maxHeader = 64

// frames decodes the frames at the start of buf until one is incomplete or
// the session is no longer connected, and hands each to the handler on the
// loop or, with workers, queues a copy for the session's worker (full reports
// a full queue, which also stops it). It returns the bytes and messages
// consumed and any codec error. A handler panic closes only this session: the
// frames consumed until then stay consumed. One recover covers the whole
// batch, not each message.
func (t *transport) frames(c *conn, buf []byte) (off, msgs, inBytes int, full bool, err error) {
	inline := t.workers == nil
	if inline {
		c.replying = true // Session.Reply may take the loop's path
	}
	defer func() {
		if inline { // with workers, Reply reads replying on their goroutines
			c.replying = false
		}
		if r := recover(); r != nil {
			t.handlerPanicked(c, r)
		}
	}()
	for off < len(buf) && c.s.State() == session.StateConnected {
		payload, n, derr := t.o.codec.Decode(buf[off:])
		if derr != nil || n == 0 {
			return off, msgs, inBytes, false, derr
		}
		off += n
		msgs++
		inBytes += len(payload)
		if inline {
			t.h.OnMessage(c.s, payload)
			continue
		}
		b := pool.GetFrame()
		b.B = append(b.B[:0], payload...)
		if full = t.workers.post(c, job{kind: jobMessage, msg: b}); full {
			if t.o.workerOverflow == OverflowClose {
				c.overflow(fmt.Sprintf("%d messages waiting for a worker", t.o.workerQueue))
			}
			return off, msgs, inBytes, true, nil
		}
	}
	return off, msgs, inBytes, false, nil
}

// deliver hands one message to the handler, containing a panic to its session.
func (t *transport) deliver(c *conn, payload []byte) {
	defer func() {
		if r := recover(); r != nil {
			t.handlerPanicked(c, r)
		}
	}()
	t.h.OnMessage(c.s, payload)
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

// closed ends the session of gc: it writes what is still queued, unregisters
// the session and tells the handler why. It runs on the loop, inside OnClose,
// before gnet flushes its own buffer and closes the fd.
func (t *transport) closed(gc gnet.Conn, err error) {
	c, _ := gc.Context().(*conn)
	if c == nil {
		return // refused at open: never a session
	}
	gc.SetContext(nil)
	b, msgs, bytes, reason := c.takePending()
	if b != nil {
		c.loop.shard.MessagesOut(msgs, bytes)
		c.s.CountOut(msgs, bytes)
		_, _ = gc.Write(b.B)
		pool.PutBatch(b)
	}
	if reason == nil {
		reason = t.reasonFor(err)
	}
	if lingers(reason) {
		t.linger(gc)
	}
	c.s.SetState(session.StateClosing)
	t.reg.Unregister(c.s)
	t.active.Add(-1)
	t.src.ConnClosed()
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
	var se *os.SyscallError
	if errors.As(err, &se) && (se.Syscall == "write" || se.Syscall == "writev") {
		t.src.Error(metrics.Write)
	}
	return fmt.Errorf("%w: %w", ErrPeerClosed, err)
}

// lingers reports whether a session closed for reason may still have a
// reader for what it has queued.
func lingers(reason error) bool {
	switch {
	case errors.Is(reason, ErrSlowConsumer), errors.Is(reason, ErrServerStopping):
		return false // not reading, or already drained by Stop
	case errors.Is(reason, ErrPeerClosed):
		// A bare ErrPeerClosed is a clean end of input (the peer may have
		// only half-closed); a wrapped one is a reset or a socket error.
		return reason == ErrPeerClosed
	}
	return true
}

// lingerStep is how long a closing session may go without the peer taking
// any of its unsent bytes before the loop gives up on them. It is what a
// peer that stops reading can cost its loop, once; it must also cover a
// reader that is a scheduling delay away from its next read.
const lingerStep = 50 * time.Millisecond

// linger keeps writing gc's unsent bytes while the peer takes them, for at
// most the configured linger, before gnet closes the fd. gnet's own flush at
// close stops at the first full socket buffer, which would cut off replies to
// a peer that half-closed after a burst of requests. It runs on the loop,
// inside OnClose.
func (t *transport) linger(gc gnet.Conn) {
	left := gc.OutboundBuffered()
	if left == 0 {
		return
	}
	deadline := time.Now().Add(t.o.linger)
	fds := []unix.PollFd{{Fd: int32(gc.Fd()), Events: unix.POLLOUT}}
	for left > 0 {
		wait := min(lingerStep, time.Until(deadline)) // the deadline is at most the linger away
		if wait <= 0 {
			return
		}
		fds[0].Revents = 0
		n, err := unix.Poll(fds, int(wait.Milliseconds()))
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 || fds[0].Revents&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) != 0 {
			return // no progress within a step, or the socket is gone
		}
		if err := gc.Flush(); err != nil {
			return
		}
		left = gc.OutboundBuffered()
	}
}
