package engine

import (
	"sync"
	"sync/atomic"

	"github.com/panjf2000/gnet/v2"
	"github.com/valyala/bytebufferpool"

	"github.com/netsys-go/netsys/metrics"
	"github.com/netsys-go/netsys/pool"
	"github.com/netsys-go/netsys/session"
)

// conn is the engine's state for one connection. It is the session's Writer and
// rides in the gnet.Conn's context.
//
// Outbound bytes sent with Send or SendRaw (by a handler on the loop, by other
// goroutines, by broadcasts) are appended to one pending batch under mu. The
// loop writes the batch with one Write at the end of each OnTraffic. A send made
// while the loop is not inside OnTraffic for this connection (busy is false)
// wakes the loop once (gnet's Wake runs OnTraffic again); further sends before
// that wake-up ride on it, so off-loop sends cost one wake-up per batch, not
// per message.
//
// busy and queued pair up without a lock: a send stores queued and then loads
// busy, the loop stores busy = false and then loads queued, and Go's atomics
// are sequentially consistent, so at least one of them sees the other: the
// send wakes the loop, or the loop, as it leaves OnTraffic, wakes itself. The
// loop's side costs two atomic stores per OnTraffic, and the lock only when
// something is pending.
//
// Replies (Session.Reply) made by a handler on the loop while it decodes a
// batch go to the loop's reply buffer instead (loop.out: one connection is in
// OnTraffic at a time), which only the loop touches, so they skip the lock and
// the pool. To keep the session's output in the order it was queued, a reply
// takes that path only while nothing is pending under mu (queued is false);
// after that it is queued like any Send, and flush writes the replies before
// pending.
type conn struct {
	gc   gnet.Conn        // fixed at open
	s    *session.Session // fixed at open
	t    *transport       // fixed at open
	loop *loop            // fixed at open: what this conn's event loop shares

	need     int          // owned by the loop: bytes the partial frame at the head needs, 0 if unknown
	unsent   atomic.Int64 // gnet's unsent bytes for this conn as the loop last saw them
	busy     atomic.Bool  // written by the loop: it is in OnTraffic for this conn and will write what is queued
	queued   atomic.Bool  // pending != nil; written under mu, read by the loop and Reply without it
	replying bool         // owned by the loop: it is running inline OnMessage calls for this conn
	outMsgs  int          // owned by the loop: replies of this conn in loop.out
	outBytes int          // owned by the loop: their payload bytes

	wmu sync.Mutex // guards in
	in  inbox      // jobs waiting for a worker (WithWorkers only)

	mu           sync.Mutex
	pending      *bytebufferpool.ByteBuffer // guarded by mu: bytes not yet handed to gnet
	pendingMsgs  int                        // guarded by mu
	pendingBytes int                        // guarded by mu: payload bytes in pending
	wakeQueued   bool                       // guarded by mu: a Wake is on its way to the loop
	closing      bool                       // guarded by mu: no more sends are accepted
	reason       error                      // guarded by mu: why the engine or application closed it
}

// Send frames payload with the codec and queues it. It is safe from any
// goroutine; the payload is copied before Send returns.
func (c *conn) Send(payload []byte) error {
	if err := c.t.o.checkPayload(len(payload)); err != nil {
		return err
	}
	return c.queue(payload, true)
}

// Reply queues payload like Send; on the loop, during inline OnMessage calls
// for c, with nothing pending and the server not stopping, it appends to out
// without taking the lock. Session.Reply states who may call it: replying is
// read without synchronisation because only the loop, which writes it, may
// call Reply while it can be true.
func (c *conn) Reply(payload []byte) error {
	if !c.replying || c.queued.Load() || c.t.stopping.Load() {
		return c.Send(payload) // refuses once Stop has begun, as Send does
	}
	if err := c.t.o.checkPayload(len(payload)); err != nil {
		return err
	}
	out := c.loop.out
	b, err := c.t.o.codec.Append(out.B, payload)
	if err != nil {
		return err
	}
	out.B = b
	c.outMsgs++
	c.outBytes += len(payload)
	if len(b) > c.t.o.writeHighWater {
		c.fail(ErrSlowConsumer, metrics.SlowConsumer)
		return ErrSlowConsumer
	}
	return nil
}

// SendRaw queues b as is, without framing. It is safe from any goroutine.
func (c *conn) SendRaw(b []byte) error { return c.queue(b, false) }

func (c *conn) queue(p []byte, frame bool) error {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return session.ErrClosed
	}
	if c.pending == nil {
		c.pending = pool.GetBatch()
		c.queued.Store(true)
	}
	if frame {
		b, err := c.t.o.codec.Append(c.pending.B, p)
		if err != nil {
			c.mu.Unlock()
			return err
		}
		c.pending.B = b
	} else {
		c.pending.B = append(c.pending.B, p...)
	}
	c.pendingMsgs++
	c.pendingBytes += len(p)
	over := len(c.pending.B) > c.t.o.writeHighWater
	wake := !over && !c.busy.Load() && c.claimWake() // busy after queued's store: see conn
	c.mu.Unlock()

	if over {
		c.fail(ErrSlowConsumer, metrics.SlowConsumer)
		return ErrSlowConsumer
	}
	if wake {
		// Wake fails only when the loop is gone, and then OnClose has run or
		// is about to and takes care of what is pending.
		_ = c.gc.Wake(nil)
	}
	return nil
}

// Close closes the connection asynchronously; reason reaches OnDisconnect.
// It is safe from any goroutine and only the first reason counts.
func (c *conn) Close(reason error) {
	if reason == nil {
		reason = ErrClosedByApp
	}
	c.mu.Lock()
	if c.reason == nil {
		c.reason = reason
	}
	c.closing = true
	c.mu.Unlock()
	_ = c.gc.Close()
}

// fail closes the session for a reason the engine found, and counts it.
func (c *conn) fail(reason error, kind metrics.ErrorKind) {
	c.t.src.Error(kind)
	c.s.CountError()
	c.s.Close(reason)
}

// claimWake reports whether the caller is to wake the loop: only if no wake-up
// is on its way already, so that sends cost one wake-up per batch. Called with
// mu held.
func (c *conn) claimWake() bool {
	if c.wakeQueued {
		return false
	}
	c.wakeQueued = true
	return true
}

// beginTraffic marks the loop as inside OnTraffic for this connection: sends
// from now on are written by endTraffic without a wake-up.
func (c *conn) beginTraffic() { c.busy.Store(true) }

// endTraffic hands the replies and the pending batch to gnet and leaves
// OnTraffic. It runs on the loop. It reports false if the write closed the
// connection.
func (c *conn) endTraffic() bool {
	if !c.flush() {
		return false
	}
	c.busy.Store(false)
	if c.queued.Load() { // after busy's store: see conn
		// A send came in after flush took the batch, and may have seen busy
		// and not woken the loop. Wake it rather than write here: a steady
		// sender must not keep the loop on one connection.
		c.mu.Lock()
		wake := c.pending != nil && c.claimWake()
		c.mu.Unlock()
		if wake {
			_ = c.gc.Wake(nil) // fails only when the loop is gone: see queue
		}
	}
	return true
}

// flush hands the replies in the loop's buffer and the pending batch to gnet
// in one Write and records how much gnet has left unsent. It reports false if
// the write closed the connection.
func (c *conn) flush() bool {
	var p *bytebufferpool.ByteBuffer
	var msgs, bytes int
	if c.queued.Load() {
		c.mu.Lock()
		p, msgs, bytes = c.pending, c.pendingMsgs, c.pendingBytes
		c.pending, c.pendingMsgs, c.pendingBytes = nil, 0, 0
		c.queued.Store(false)
		c.wakeQueued = false // this write covers what the wake-up was for
		c.mu.Unlock()
	}
	var out []byte
	if c.outMsgs > 0 {
		lo := c.loop.out
		if p != nil { // sends queued after the replies go after them
			lo.B = append(lo.B, p.B...)
			pool.PutBatch(p)
			p = nil
		}
		out = lo.B
		msgs, bytes = msgs+c.outMsgs, bytes+c.outBytes
		c.outMsgs, c.outBytes = 0, 0
	} else if p != nil {
		out = p.B
	}
	if out != nil {
		c.loop.shard.MessagesOut(msgs, bytes)
		c.s.CountOut(msgs, bytes)
		// A failed Write closes the connection inside Write: OnClose has run
		// when it returns, and the conn must not be used again.
		_, err := c.gc.Write(out)
		if p != nil {
			pool.PutBatch(p)
		} else {
			c.loop.reuse()
		}
		if err != nil {
			return false
		}
	}
	unsent := c.gc.OutboundBuffered()
	if int64(unsent) != c.unsent.Load() {
		c.unsent.Store(int64(unsent))
	}
	if out != nil && unsent > c.t.o.writeHighWater {
		c.fail(ErrSlowConsumer, metrics.SlowConsumer)
	}
	return true
}

// hasUnsent reports whether c has bytes queued in the engine, is in an
// OnTraffic that will write them, or had bytes unsent in gnet when its loop
// last looked.
func (c *conn) hasUnsent() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pending != nil || c.busy.Load() || c.unsent.Load() > 0
}

// takePending stops all sending and returns what is still queued; the caller
// owns the buffer. It runs on the loop when the connection closes. Replies
// are never left: flush takes them before its Write, the one call of an
// OnTraffic that can close the connection at once.
func (c *conn) takePending() (b *bytebufferpool.ByteBuffer, msgs, bytes int, reason error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, msgs, bytes, reason = c.pending, c.pendingMsgs, c.pendingBytes, c.reason
	c.pending, c.pendingMsgs, c.pendingBytes = nil, 0, 0
	c.queued.Store(false)
	c.closing = true
	return b, msgs, bytes, reason
}
