package engine

import (
	"errors"
	"fmt"

	"github.com/netsys-go/netsys/codec"
	"github.com/netsys-go/netsys/metrics"
	"github.com/netsys-go/netsys/pool"
	"github.com/netsys-go/netsys/session"
)

// The read side of a connection, owned by its loop.
//
// gnet reads the socket into its loop buffer and calls OnTraffic; read runs
// the codec over those bytes in place, hands each complete frame to the
// handler, and consumes everything: a frame cut off at the end of the read is
// copied into the connection's own buffer (conn.part), sized to the frame
// when the codec can tell its size from the header, and counted in the
// memory budget. So gnet never buffers input of its own, and what a peer's
// partial frames cost is bounded by the maximum frame size, the memory
// budget and the frame timeout (the sweeper closes a frame that does not
// complete in time).

// maxHeader is the slack over the largest payload that a frame's header may take.
const maxHeader = 64

// smallPart is the largest partial frame kept in a pooled buffer; larger
// ones get a buffer of their own, dropped when the frame completes.
const smallPart = 256 << 10

// read decodes and delivers what gnet has buffered for c. It returns when the
// batch began (for the latency) and how many messages were delivered.
func (c *conn) read() (start int64, msgs int) {
	t, gc := c.t, c.gc
	buffered := gc.InboundBuffered()
	if buffered == 0 {
		return 0, 0
	}
	if t.stopping.Load() {
		_, _ = gc.Discard(buffered) // when stopping, only what is queued goes out
		return 0, 0
	}
	if t.workers != nil && c.paused() {
		// The session's worker queue is full: leave the input in gnet's
		// buffer until a worker drains the queue and wakes the loop. gnet
		// keeps reading the socket meanwhile, so bound what it may hold.
		if buffered > t.o.maxFrame+maxHeader {
			c.overflow(fmt.Sprintf("%d bytes arrived while its queue was full", buffered))
		}
		return 0, 0
	}
	start = t.clock.now()
	buf, _ := gc.Peek(-1) // valid until Discard: every use of it ends below
	rest, msgs, inBytes, full, err := c.decode(buf, start)
	if full || err != nil {
		// A full worker queue leaves the rest in gnet's buffer; an error
		// closes the session, and the rest goes with it.
		buf = buf[:len(buf)-len(rest)]
	}
	if len(buf) > 0 {
		_, _ = gc.Discard(len(buf)) // never Discard(0): gnet reads n <= 0 as "everything"
	}
	c.delivered(msgs, inBytes, start)
	if err != nil {
		c.decodeFailed(err)
	}
	return start, msgs
}

// decode runs the codec over src, the session's input (gnet's buffer, or the
// plaintext TLS yielded), after the partial frame kept from before, hands
// each complete frame to the handler and copies a frame cut off at the end
// into conn.part. It returns the bytes of src it did not consume (only when
// a worker queue is full or on an error), the messages and payload bytes
// delivered, and whether the queue filled.
func (c *conn) decode(src []byte, start int64) (rest []byte, msgs, inBytes int, full bool, err error) {
	t := c.t
	rest = src
	if c.part != nil {
		rest, msgs, inBytes, full, err = c.completePart(rest, start)
	}
	if err == nil && !full && len(rest) > 0 && c.s.State() == session.StateConnected {
		off, m, b, f, ferr := t.frames(c, rest)
		msgs, inBytes, full, err = msgs+m, inBytes+b, f, ferr
		rest = rest[off:]
		if err == nil && !full && len(rest) > 0 && c.s.State() == session.StateConnected {
			err = c.keepPart(rest, start)
			rest = nil
		}
	}
	return rest, msgs, inBytes, full, err
}

// delivered counts msgs messages of inBytes payload bytes delivered at start.
func (c *conn) delivered(msgs, inBytes int, start int64) {
	if msgs > 0 {
		c.sc.CountIn(msgs, inBytes)
		c.loop.shard.MessagesIn(msgs, inBytes)
		c.sc.Touch(start)
	}
}

// decodeFailed closes the session for an error found in its input.
func (c *conn) decodeFailed(err error) {
	kind := metrics.Other
	switch {
	case errors.Is(err, ErrMemoryLimit):
		kind = metrics.MemoryLimit
	case errors.Is(err, codec.ErrFrameTooLarge):
		kind = metrics.FrameTooLarge
	case errors.Is(err, codec.ErrBadLength):
		kind = metrics.BadLength
	}
	c.fail(err, kind)
}

// frames decodes the frames at the start of buf until one is incomplete or
// the session is no longer connected, and hands each to the handler on the
// loop or, with workers, queues a copy for the session's worker (full reports
// a full queue, which also stops it). It returns the bytes and messages
// consumed and any codec error. A handler panic closes only this session: the
// frames consumed until then stay consumed. One recover covers the whole
// batch, not each message.
func (t *transport) frames(c *conn, buf []byte) (off, msgs, inBytes int, full bool, err error) {
	defer func() {
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
		if t.workers == nil {
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

// keepPart copies rest, the start of a frame that is not complete, into c's
// own buffer, and reserves the frame's memory in the budget.
func (c *conn) keepPart(rest []byte, now int64) error {
	t := c.t
	size := len(rest)
	if t.sizer != nil {
		n, err := t.sizer.FrameSize(rest)
		if err != nil {
			return err
		}
		if n > 0 {
			c.need, size = n, n
		}
	}
	if size > t.o.maxFrame+maxHeader {
		return fmt.Errorf("%w: a frame of %d bytes, limit %d", codec.ErrFrameTooLarge, size, t.o.maxFrame)
	}
	if err := c.reserve(int64(size)); err != nil {
		return err
	}
	c.part = pool.GetFrame()
	if size > smallPart {
		c.part.B = make([]byte, 0, size) // exactly the frame: a 1 MiB frame costs 1 MiB
	}
	c.part.B = append(c.part.B[:0], rest...)
	c.partAt.Store(now)
	return nil
}

// completePart adds buf's bytes to the partial frame and delivers what it
// completes. It returns the bytes of buf it did not use.
func (c *conn) completePart(buf []byte, now int64) (rest []byte, msgs, inBytes int, full bool, err error) {
	t := c.t
	if t.sizer == nil {
		// The codec cannot tell a frame's size: gather everything and decode
		// from the copy, keeping what is left.
		p := append(c.part.B, buf...)
		c.part.B = p
		if len(p) > t.o.maxFrame+maxHeader {
			return nil, 0, 0, false, fmt.Errorf("%w: %d bytes buffered without a complete frame", codec.ErrFrameTooLarge, len(p))
		}
		if err := c.reserve(int64(len(p))); err != nil {
			return nil, 0, 0, false, err
		}
		off, m, b, f, ferr := t.frames(c, p)
		if off == len(p) {
			c.dropPartial()
		} else if off > 0 { // what is left begins a new frame
			c.part.B = p[:copy(p, p[off:])]
			c.partAt.Store(now)
		}
		return nil, m, b, f, ferr
	}
	if c.need == 0 { // the header itself was cut off
		k := min(len(buf), maxHeader)
		c.part.B = append(c.part.B, buf[:k]...)
		size, err := t.sizer.FrameSize(c.part.B)
		if err != nil {
			return buf, 0, 0, false, err
		}
		if size == 0 {
			return buf[k:], 0, 0, false, nil
		}
		if extra := len(c.part.B) - size; extra > 0 { // those bytes start the next frame
			c.part.B = c.part.B[:size]
			k -= extra
		}
		buf = buf[k:]
		if size > t.o.maxFrame+maxHeader {
			return buf, 0, 0, false, fmt.Errorf("%w: a frame of %d bytes, limit %d", codec.ErrFrameTooLarge, size, t.o.maxFrame)
		}
		if err := c.reserve(int64(size)); err != nil {
			return buf, 0, 0, false, err
		}
		if size > smallPart && cap(c.part.B) < size {
			c.part.B = append(make([]byte, 0, size), c.part.B...)
		}
		c.need = size
	}
	k := min(c.need-len(c.part.B), len(buf))
	c.part.B = append(c.part.B, buf[:k]...)
	buf = buf[k:]
	if len(c.part.B) < c.need {
		return buf, 0, 0, false, nil
	}
	_, m, b, f, ferr := t.frames(c, c.part.B)
	c.dropPartial()
	return buf, m, b, f, ferr
}

// reserve makes the budget hold n bytes for c's partial frame in all.
func (c *conn) reserve(n int64) error {
	if d := n - c.partBytes.Load(); d > 0 {
		if !c.t.mem.add(d, n+c.unsent.Load()) {
			c.t.mem.add(-d, 0)
			return fmt.Errorf("%w: a partial frame of %d bytes", ErrMemoryLimit, n)
		}
		c.partBytes.Store(n)
	}
	return nil
}

// dropPartial forgets the partial frame and gives back its memory.
func (c *conn) dropPartial() {
	if c.part != nil {
		if cap(c.part.B) > smallPart {
			c.part.B = nil // the runtime takes it back; the pool keeps small ones only
			c.t.mem.freed(c.partBytes.Load())
		}
		pool.PutFrame(c.part)
		c.part = nil
	}
	c.need = 0
	c.partAt.Store(0)
	if n := c.partBytes.Load(); n != 0 {
		c.t.mem.add(-n, 0)
		c.partBytes.Store(0)
	}
}
