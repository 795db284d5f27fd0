package engine

import (
	"context"
	"sync"
	"time"

	"github.com/valyala/bytebufferpool"
	"golang.org/x/sys/unix"

	"github.com/netsys-go/netsys/pool"
)

// waiter watches the sockets that gnet does not: it wakes the loop of a
// connection whose socket buffer was full once it drains (conn.settle), and
// it finishes lingering closes (conn.endWrites) entirely off the loops. One
// goroutine per server or client runs it, started on first use.
//
// A lingering close owns a duplicate of the connection's fd and the bytes
// the peer has not taken: it writes them as the socket drains, then shuts
// down the write side (FIN after the last byte) and reads and discards what
// the peer still sends until the peer closes too. If the linger ends first,
// the connection is reset: the peer never takes a cut-off frame for a clean
// end of stream.
type waiter struct {
	t *transport

	mu        sync.Mutex
	p         *poller           // guarded by mu; made on first use
	live      map[int]*conn     // guarded by mu: fds whose loop wants a wake-up when writable
	lingering map[int]*lingerer // guarded by mu: duplicated fds finishing a close
	running   bool              // guarded by mu: the goroutine runs
	stopped   bool              // guarded by mu: shut down for good
	drained   chan struct{}     // guarded by mu: closed when lingering empties; nil if nobody waits
	scratch   [4096]byte        // guarded by mu: what lingering closes read and discard
}

// lingerer is one closing connection the waiter finishes.
type lingerer struct {
	fd       int
	buf      *bytebufferpool.ByteBuffer // data's buffer, from the pool, or nil
	data     []byte                     // the bytes to write, from off on
	off      int
	held     int64 // bytes counted in the memory budget
	deadline time.Time
	shut     bool // all written and the write side shut down: reading until the peer closes
}

// maxLingering bounds the closes a waiter finishes at once; past it a
// closing connection with unsent bytes is reset.
const maxLingering = 4096

func newWaiter(t *transport) *waiter {
	return &waiter{t: t, live: make(map[int]*conn), lingering: make(map[int]*lingerer)}
}

// start makes the poller and starts the goroutine if they are not there.
// Called with mu held; false if the waiter cannot run.
func (w *waiter) start() bool {
	if w.stopped {
		return false
	}
	if w.running {
		return true
	}
	p, err := newPoller()
	if err != nil {
		w.t.o.logger.Error("netsys: cannot watch sockets for writability", "err", err)
		return false
	}
	w.p, w.running = p, true
	go w.run(p)
	return true
}

// await asks for c's loop to be woken once c's socket takes bytes again. It
// runs on c's loop.
func (w *waiter) await(c *conn) {
	w.mu.Lock()
	ok := w.start()
	if ok {
		w.live[c.fd] = c
		ok = w.p.watch(c.fd, true, false) == nil
	}
	w.mu.Unlock()
	if !ok {
		_ = c.gc.Wake(nil) // try again on the next turn of the loop
	}
}

// forget stops watching c's socket. It runs on c's loop before the fd closes.
func (w *waiter) forget(c *conn) {
	w.mu.Lock()
	if w.live[c.fd] == c {
		delete(w.live, c.fd)
		w.p.forget(c.fd)
	}
	w.mu.Unlock()
}

// linger takes over c's write queue, with a duplicate of its fd, to finish
// the close off the loop. It runs on c's loop, inside OnClose, and reports
// false if it cannot (the linger is off, too many closes linger already, or
// no fd is free), in which case c keeps its queue.
func (w *waiter) linger(c *conn) bool {
	d := w.t.o.linger
	if d <= 0 {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.lingering) >= maxLingering || !w.start() {
		return false
	}
	fd, err := unix.FcntlInt(uintptr(c.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return false
	}
	l := &lingerer{fd: fd, buf: c.wqBuf, data: c.wq, off: c.wqOff, held: c.unsent.Load(), deadline: time.Now().Add(d)}
	c.wq, c.wqBuf, c.wqOff = nil, nil, 0
	c.unsent.Store(0) // the budget's share moves to the lingerer
	w.lingering[fd] = l
	if w.p.watch(fd, true, false) != nil {
		w.end(l, true)
	}
	w.p.interrupt() // the wait in progress has no deadline for this one yet
	return true
}

// run waits for sockets and handles them until the waiter shuts down.
func (w *waiter) run(p *poller) {
	for {
		w.mu.Lock()
		if w.stopped {
			w.running = false
			w.mu.Unlock()
			p.close()
			return
		}
		wait := -1
		if len(w.lingering) > 0 {
			wait = 1000
			for _, l := range w.lingering {
				wait = min(wait, max(int(time.Until(l.deadline).Milliseconds())+1, 0))
			}
		}
		w.mu.Unlock()
		if err := p.wait(wait, w.ready); err != nil {
			w.t.o.logger.Error("netsys: waiting for sockets", "err", err)
			time.Sleep(10 * time.Millisecond)
		}
		w.expire()
	}
}

// ready handles fd, reported writable, readable or failed.
func (w *waiter) ready(fd int) {
	w.mu.Lock()
	if c := w.live[fd]; c != nil {
		delete(w.live, fd)
		w.mu.Unlock()
		_ = c.gc.Wake(nil) // the loop writes; a closed conn ignores it
		return
	}
	if l := w.lingering[fd]; l != nil {
		w.progress(l)
	}
	w.mu.Unlock()
}

// progress writes what l's socket takes, then shuts down its write side and
// reads until the peer closes. Called with mu held.
func (w *waiter) progress(l *lingerer) {
	if !l.shut {
		n, err := writeSome(l.fd, l.data[l.off:])
		l.off += n
		if err != nil {
			w.end(l, false) // the peer is gone
			return
		}
		if l.off < len(l.data) {
			if w.p.watch(l.fd, true, false) != nil {
				w.end(l, true)
			}
			return
		}
		_ = unix.Shutdown(l.fd, unix.SHUT_WR) // FIN after the last byte
		l.shut = true
		w.release(l)
	}
	for {
		n, err := unix.Read(l.fd, w.scratch[:])
		switch {
		case n > 0:
			continue
		case n == 0 && err == nil, err != nil && err != unix.EINTR && err != unix.EAGAIN:
			w.end(l, false) // the peer closed: done
			return
		case err == unix.EAGAIN:
			if w.p.watch(l.fd, false, true) != nil {
				w.end(l, false)
			}
			return
		}
	}
}

// expire ends the lingering closes whose time is up: reset if bytes were
// still unsent.
func (w *waiter) expire() {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Now()
	for _, l := range w.lingering {
		if now.After(l.deadline) {
			w.end(l, !l.shut)
		}
	}
}

// end closes l's fd, resetting the connection if reset is set. Called with mu held.
func (w *waiter) end(l *lingerer, reset bool) {
	w.p.forget(l.fd)
	if reset {
		_ = unix.SetsockoptLinger(l.fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	}
	_ = unix.Close(l.fd)
	w.release(l)
	delete(w.lingering, l.fd)
	if len(w.lingering) == 0 && w.drained != nil {
		close(w.drained)
		w.drained = nil
	}
}

// release gives back l's bytes and their budget. Called with mu held.
func (w *waiter) release(l *lingerer) {
	if cap(l.data) > pool.MaxPooled {
		w.t.mem.freed(int64(cap(l.data))) // the pool does not keep it
	}
	if l.buf != nil {
		l.buf.B = l.data[:0]
		pool.PutBatch(l.buf)
		l.buf = nil
	}
	l.data = nil
	if l.held != 0 {
		w.t.mem.add(-l.held, 0)
		l.held = 0
	}
}

// waitLingering waits until no close lingers, or ctx ends.
func (w *waiter) waitLingering(ctx context.Context) {
	w.mu.Lock()
	if len(w.lingering) == 0 {
		w.mu.Unlock()
		return
	}
	if w.drained == nil {
		w.drained = make(chan struct{})
	}
	ch := w.drained
	w.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
	}
}

// shutdown resets the closes still lingering and stops the goroutine.
func (w *waiter) shutdown() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	for _, l := range w.lingering {
		w.end(l, !l.shut)
	}
	clear(w.live)
	w.stopped = true
	if w.running {
		w.p.interrupt()
	}
}
