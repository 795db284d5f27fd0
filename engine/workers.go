package engine

import (
	"fmt"
	"sync"

	"github.com/valyala/bytebufferpool"

	"github.com/netsys-go/netsys/metrics"
	"github.com/netsys-go/netsys/pool"
)

// DefaultWorkerQueue is the default number of messages a session may have
// waiting for a worker before back-pressure applies.
const DefaultWorkerQueue = 256

// Overflow says what happens to a session whose worker queue is full.
type Overflow int

const (
	// OverflowPause stops decoding the session's input until its queue has
	// drained to half. Bytes the peer sends meanwhile wait in gnet's buffer,
	// up to the maximum frame size; past that the session is closed with
	// ErrQueueOverflow. This is the default.
	OverflowPause Overflow = iota
	// OverflowClose closes the session with ErrQueueOverflow at once.
	OverflowClose
)

// WithWorkers runs the handler on a pool of n goroutines instead of the event
// loops, for handlers that block. A session's events are handled in order, one
// at a time; different sessions run in parallel. Each message is copied into
// a pooled buffer for the worker. Default 0: handlers run on the loops.
func WithWorkers(n int) Option {
	return func(o *options) {
		o.use("WithWorkers", forServer)
		o.notNegative("WithWorkers", int64(n))
		o.workers = n
	}
}

// WithWorkerQueue bounds the messages a session may have waiting for a worker
// (default DefaultWorkerQueue) and says what happens past the bound (default
// OverflowPause). It applies only with WithWorkers.
func WithWorkerQueue(messages int, overflow Overflow) Option {
	return func(o *options) {
		o.use("WithWorkerQueue", forServer)
		o.notNegative("WithWorkerQueue", int64(messages))
		if overflow != OverflowPause && overflow != OverflowClose {
			o.bad("WithWorkerQueue", fmt.Sprintf("unknown Overflow %d", overflow))
		}
		o.workerQueue, o.workerOverflow = messages, overflow
	}
}

// job is one handler call waiting for a worker.
type job struct {
	kind   jobKind
	msg    *bytebufferpool.ByteBuffer // for jobMessage: a copy the job owns
	reason error                      // for jobDisconnect
}

type jobKind uint8

const (
	jobConnect jobKind = iota
	jobMessage
	jobDisconnect
)

// inbox is a session's queue of jobs. All fields are guarded by conn.wmu.
type inbox struct {
	jobs      fifo[job]
	messages  int  // jobMessage entries in jobs
	scheduled bool // the conn is in the run queue or a worker is handling it
	paused    bool // the loop stopped decoding because the queue was full
}

// workerPool runs handler calls for sessions, one session at a time per
// worker, in the order each session's events arrived.
type workerPool struct {
	t *transport

	mu      sync.Mutex
	cond    sync.Cond   // signalled when ready grows or the pool closes
	ready   fifo[*conn] // guarded by mu: sessions with jobs and no worker
	closing bool        // guarded by mu
	wg      sync.WaitGroup
}

// batchPerTurn bounds the jobs a worker takes from one session before it
// lets the other sessions waiting have a turn.
const batchPerTurn = 64

func newWorkerPool(t *transport, n int) *workerPool {
	p := &workerPool{t: t}
	p.cond.L = &p.mu
	p.wg.Add(n)
	for range n {
		go p.work()
	}
	return p
}

// post queues a job for c; it reports whether c's queue is now full. It runs
// on the loop.
func (p *workerPool) post(c *conn, j job) (full bool) {
	c.wmu.Lock()
	c.in.jobs.push(j)
	if j.kind == jobMessage {
		c.in.messages++
	}
	full = c.in.messages >= p.t.o.workerQueue
	if full && p.t.o.workerOverflow == OverflowPause {
		c.in.paused = true
	}
	schedule := !c.in.scheduled
	c.in.scheduled = true
	c.wmu.Unlock()
	if schedule {
		p.mu.Lock()
		p.ready.push(c)
		p.mu.Unlock()
		p.cond.Signal()
	}
	return full
}

// paused reports whether the loop must leave c's input undecoded.
func (c *conn) paused() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.in.paused
}

func (p *workerPool) work() {
	defer p.wg.Done()
	for {
		p.mu.Lock()
		for p.ready.len() == 0 && !p.closing {
			p.cond.Wait()
		}
		c, ok := p.ready.pop()
		p.mu.Unlock()
		if !ok {
			return
		}
		p.serve(c)
	}
}

// serve handles up to batchPerTurn of c's jobs, then gives c back to the run
// queue if more are waiting.
func (p *workerPool) serve(c *conn) {
	for range batchPerTurn {
		c.wmu.Lock()
		j, ok := c.in.jobs.pop()
		if !ok {
			c.in.scheduled = false
			c.wmu.Unlock()
			return
		}
		resume := false
		if j.kind == jobMessage {
			c.in.messages--
			if c.in.paused && c.in.messages <= p.t.o.workerQueue/2 {
				c.in.paused, resume = false, true
			}
		}
		c.wmu.Unlock()
		if resume {
			// Level-triggered: the bytes left in gnet's buffer raise no
			// event of their own, so wake the loop to decode them.
			_ = c.gc.Wake(nil)
		}
		p.run(c, j)
	}
	p.mu.Lock()
	p.ready.push(c)
	p.mu.Unlock()
	p.cond.Signal()
}

func (p *workerPool) run(c *conn, j job) {
	t := p.t
	switch j.kind {
	case jobConnect:
		t.guard(c, func() { t.h.OnConnect(c.s) })
	case jobMessage:
		t.deliver(c, j.msg.B)
		pool.PutFrame(j.msg)
	case jobDisconnect:
		t.guard(c, func() { t.h.OnDisconnect(c.s, j.reason) })
	}
}

// close lets the workers finish every queued job, then ends them.
func (p *workerPool) close() {
	p.mu.Lock()
	p.closing = true
	p.mu.Unlock()
	p.cond.Broadcast()
	p.wg.Wait()
}

// overflow closes c because its worker queue is full or because its peer kept
// sending while it was paused.
func (c *conn) overflow(detail string) {
	c.fail(fmt.Errorf("%w: %s", ErrQueueOverflow, detail), metrics.Other)
}
