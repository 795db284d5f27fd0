package engine

import (
	"fmt"

	"github.com/valyala/bytebufferpool"
	"golang.org/x/sys/unix"

	"github.com/netsys-go/netsys/metrics"
	"github.com/netsys-go/netsys/pool"
	"github.com/netsys-go/netsys/session"
)

// The write side of a connection.
//
// Any goroutine queues bytes (Send, Reply, SendRaw, broadcasts) into conn.out
// under conn.mu. The loop takes the whole queue at the end of each OnTraffic
// (flush) and writes it to the socket itself, with one write(2); what the
// socket does not take stays in the loop's write queue (conn.wq), counted in
// the memory budget, and the poller wakes the loop when the socket drains.
// gnet's own outbound buffer is never used, so the engine always knows, down
// to the byte, what a peer has not been sent yet: a connection that closes
// with bytes unsent hands them to the poller to finish off the loop
// (endWrites), or is reset, never ended with a clean FIN after a cut-off frame.
//
// A send made while the loop is not in OnTraffic for this connection (busy is
// false) wakes the loop once (gnet's Wake runs OnTraffic again); further sends
// before that wake-up ride on it, so sends off the loop cost one wake-up per
// batch, not per message. busy is stored by the loop before it takes the queue
// under mu, and read by senders under mu: either the loop takes a send, or the
// sender sees busy false and wakes the loop.
//
// While busy, the queue is the loop's own buffer, lent to this connection
// (loop.out): the loop serves one connection at a time, and takes it back in
// flush, so replies during OnTraffic cost no pool round trip.

// Send frames payload with the codec and queues it. It is safe from any
// goroutine; the payload is copied before Send returns.
func (c *conn) Send(payload []byte) error {
	if err := c.t.o.checkPayload(len(payload)); err != nil {
		return err
	}
	return c.queue(payload, true)
}

// Reply is Send: the queue is the same, whoever calls it.
func (c *conn) Reply(payload []byte) error { return c.Send(payload) }

// SendRaw queues b as is, without framing. It is safe from any goroutine.
func (c *conn) SendRaw(b []byte) error { return c.queue(b, false) }

func (c *conn) queue(p []byte, frame bool) error {
	c.mu.Lock()
	if c.closing || c.hold {
		hold := c.hold && !c.closing
		c.mu.Unlock()
		if hold {
			return ErrNotConnected // the TLS handshake is not done
		}
		return session.ErrClosed
	}
	busy := c.busy.Load()
	if c.out == nil {
		if busy {
			c.out, c.lent = c.loop.out, true
		} else {
			c.out = pool.GetBatch()
		}
	}
	if frame {
		b, err := c.t.o.codec.Append(c.out.B, p)
		if err != nil {
			c.mu.Unlock()
			return err
		}
		c.out.B = b
	} else {
		c.out.B = append(c.out.B, p...)
	}
	c.outMsgs++
	c.outBytes += len(p)
	over := int64(len(c.out.B))+c.unsent.Load() > int64(c.t.o.writeHighWater)
	wake := !over && !busy && c.claimWake()
	c.mu.Unlock()

	if over {
		c.fail(ErrSlowConsumer, metrics.SlowConsumer)
		return ErrSlowConsumer
	}
	if wake {
		// Wake fails only when the loop is gone, and then OnClose has run or
		// is about to and takes care of what is queued.
		_ = c.gc.Wake(nil)
	}
	return nil
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

// flush takes what is queued and writes it, after anything the socket did
// not take before. It runs on the loop at the end of OnTraffic. It reports
// false if the socket failed: the connection must close, c.reason says why.
func (c *conn) flush() bool {
	c.busy.Store(false) // before the take: a later send wakes the loop
	c.mu.Lock()
	b, raw, lent, msgs, bytes := c.out, c.raw, c.lent, c.outMsgs, c.outBytes
	c.out, c.raw, c.lent, c.outMsgs, c.outBytes = nil, nil, false, 0, 0
	c.wakeQueued = false // this write covers what a wake-up was for
	c.takeDrains()
	c.mu.Unlock()
	if b == nil && raw == nil && c.wqOff == len(c.wq) {
		c.drained(nil)
		return true
	}
	if c.tls != nil && (b != nil || raw != nil) {
		return c.flushSealed(b, raw, lent, msgs, bytes)
	}
	if b != nil {
		c.count(msgs, bytes)
		if c.wqOff == len(c.wq) {
			// Nothing waits before this batch: write it from its own buffer.
			n, err := c.t.write(c, b.B)
			if err != nil {
				c.release(b, lent)
				return c.broken(err)
			}
			c.take(b, lent, n)
		} else {
			c.take(b, lent, 0)
			if err := c.writeQueue(); err != nil {
				return c.broken(err)
			}
		}
	} else if err := c.writeQueue(); err != nil {
		return c.broken(err)
	}
	c.settle()
	return true
}

// count adds msgs messages of bytes payload bytes to what was sent.
func (c *conn) count(msgs, bytes int) {
	c.loop.shard.MessagesOut(msgs, bytes)
	c.sc.CountOut(msgs, bytes)
}

// take keeps b.B[from:], the part of a batch the socket did not take, in
// the write queue, and gives b back. A pooled buffer becomes the queue when
// the queue is empty; the loop's own buffer is always copied.
func (c *conn) take(b *bytebufferpool.ByteBuffer, lent bool, from int) {
	rest := b.B[from:]
	switch {
	case len(rest) == 0:
	case c.wqOff == len(c.wq) && !lent:
		c.dropQueue()
		c.wqBuf, c.wq, c.wqOff = b, b.B, from
		return
	default:
		c.appendQueue(rest)
	}
	c.release(b, lent)
}

// appendQueue copies rest to the end of the write queue.
func (c *conn) appendQueue(rest []byte) {
	if len(rest) == 0 {
		return
	}
	if c.wqOff > 0 && c.wqOff >= len(c.wq)/2 { // move the rest down before growing
		n := copy(c.wq, c.wq[c.wqOff:])
		c.wq, c.wqOff = c.wq[:n], 0
	}
	if c.wq == nil {
		c.wqBuf = pool.GetBatch()
		c.wq = c.wqBuf.B[:0]
	}
	c.wq = append(c.wq, rest...)
}

// release gives a batch buffer back: to the loop if it was lent, else to the pool.
func (c *conn) release(b *bytebufferpool.ByteBuffer, lent bool) {
	if lent {
		c.loop.reuse()
		return
	}
	pool.PutBatch(b)
}

// writeQueue writes the write queue until the socket takes no more.
func (c *conn) writeQueue() error {
	n, err := c.t.write(c, c.wq[c.wqOff:])
	c.wqOff += n
	return err
}

// writeSome writes p to the non-blocking socket fd until it is all written
// or the socket takes no more, and returns how much was written. EAGAIN is
// not an error.
func writeSome(fd int, p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := unix.Write(fd, p[n:])
		if m > 0 {
			n += m
		}
		switch err {
		case nil:
			if m == 0 {
				return n, nil
			}
		case unix.EINTR:
		case unix.EAGAIN:
			return n, nil
		default:
			return n, err
		}
	}
	return n, nil
}

// broken records a failed write as the reason to close and counts it.
func (c *conn) broken(err error) bool {
	c.setReason(writeFailed(err))
	c.t.src.Error(metrics.Write)
	return false
}

// settle brings the counts of what waits in the write queue up to date after
// a write: the unsent count that senders and Stop read, the memory budget, the
// write high-water mark; and asks the poller to wake the loop once the socket
// drains.
func (c *conn) settle() {
	left := int64(len(c.wq) - c.wqOff)
	if left == 0 {
		c.dropQueue()
		c.drained(nil)
	}
	if d := left - c.unsent.Load(); d != 0 {
		c.unsent.Store(left) // also what the memory budget counts for c's write queue
		if !c.t.mem.add(d, left) {
			c.fail(fmt.Errorf("%w: %d bytes unsent to this peer", ErrMemoryLimit, left), metrics.MemoryLimit)
			return
		}
	}
	if left == 0 {
		return
	}
	if left > int64(c.t.o.writeHighWater) {
		c.fail(ErrSlowConsumer, metrics.SlowConsumer)
		return
	}
	c.t.waiter.await(c)
}

// dropQueue empties the write queue and gives its buffer back.
func (c *conn) dropQueue() {
	if cap(c.wq) > pool.MaxPooled {
		c.t.mem.freed(int64(cap(c.wq))) // the pool does not keep it
	}
	if c.wqBuf != nil {
		c.wqBuf.B = c.wq[:0]
		pool.PutBatch(c.wqBuf)
	}
	c.wq, c.wqOff, c.wqBuf = nil, 0, nil
}

// endWrites finishes the write side of a closing connection, on the loop,
// before gnet closes the fd. What the socket takes now is written; the rest
// is handed to the poller with a duplicate of the fd, to be written off the
// loop while the peer reads it, within the linger (WithLinger). Where the
// peer cannot be reading (a slow consumer, the memory limit, Stop) or the
// linger is off or full, the connection is reset instead: the peer sees an
// error, never a clean end of stream after part of a frame.
func (c *conn) endWrites(reason error) {
	c.t.waiter.forget(c)
	if c.wqOff < len(c.wq) {
		if err := c.writeQueue(); err != nil {
			c.abandonQueue()
			return // the socket is gone already
		}
	}
	if c.wqOff == len(c.wq) {
		c.abandonQueue()
		return
	}
	if lingers(reason) && c.t.waiter.linger(c) {
		return // the poller owns the queue now
	}
	_ = c.gc.SetLinger(0) // gnet's close then resets the connection
	c.abandonQueue()
}

// abandonQueue drops the write queue and gives back its memory.
func (c *conn) abandonQueue() {
	c.dropQueue()
	if n := c.unsent.Load(); n != 0 {
		c.t.mem.add(-n, 0)
		c.unsent.Store(0)
	}
}

// hasUnsent reports whether c has bytes queued, is in an OnTraffic that will
// write them, or had bytes unsent when its loop last wrote.
func (c *conn) hasUnsent() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out != nil || c.raw != nil || c.busy.Load() || c.unsent.Load() > 0
}

// drains are the Client.Flush calls waiting on a connection: asked, guarded
// by conn.mu, until the loop's next flush takes them with the bytes queued
// before them; then taken, owned by the loop, until the write queue is empty,
// which is when everything before them has been handed to the kernel.
type drains struct {
	asked, taken []chan error
}

// awaitDrain registers a Flush: the returned channel receives nil once
// everything queued on c before the call has been written to the socket, or
// the reason if the connection closes first. It wakes the loop if no flush
// is on its way.
func (c *conn) awaitDrain() (<-chan error, error) {
	done := make(chan error, 1)
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return nil, session.ErrClosed
	}
	d := c.drains.Load()
	if d == nil {
		d = new(drains)
		c.drains.Store(d)
	}
	d.asked = append(d.asked, done)
	wake := !c.busy.Load() && c.claimWake()
	c.mu.Unlock()
	if wake {
		_ = c.gc.Wake(nil) // fails only when the loop is gone, and then closed signals done
	}
	return done, nil
}

// takeDrains moves the Flush calls asked so far to the loop's side. Called
// with mu held, by the flush that takes the bytes queued before them.
func (c *conn) takeDrains() {
	if d := c.drains.Load(); d != nil && len(d.asked) > 0 {
		d.taken = append(d.taken, d.asked...)
		clear(d.asked)
		d.asked = d.asked[:0]
	}
}

// drained answers the Flush calls taken so far with err: nil when the write
// queue is empty, the close reason when the connection ends. It runs on the
// loop (the taken calls are the loop's).
func (c *conn) drained(err error) {
	d := c.drains.Load()
	if d == nil || len(d.taken) == 0 {
		return
	}
	for _, done := range d.taken {
		done <- err
	}
	clear(d.taken)
	d.taken = d.taken[:0]
}
