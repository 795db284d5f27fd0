package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netsys-go/netsys/metrics"
)

// Pool is a fixed number of clients connected to one address, sharing one set
// of event loops (at most one loop per client; see WithLoops). Get hands out a
// free, connected client and Put takes it back. A client whose connection is
// lost reconnects by itself in the background, with the backoff of
// WithReconnect (default: 100 ms doubling to 10 s, 20% jitter), and never
// gives up while the pool is open; meanwhile Get hands out the others.
//
// All methods are safe from any goroutine. The options of NewPool apply to
// every client; WithHandler's callbacks run on the loops, as for a Client.
type Pool struct {
	loops   *loops
	clients []*Client // fixed at NewPool
	timeout time.Duration
	monitor *metrics.Monitor

	waits, waitTimeouts, replaced atomic.Uint64

	mu      sync.Mutex
	idle    []*Client      // guarded by mu: clients not handed out, connected or not, oldest first
	waiters []chan *Client // guarded by mu: Gets waiting for a client, oldest first
	closed  bool           // guarded by mu
}

// PoolStats are a Pool's figures at one moment.
type PoolStats struct {
	Size         int    // clients in the pool
	Idle         int    // clients not handed out
	InUse        int    // clients handed out by Get and not yet Put back
	Connected    int    // clients with a connection
	Waits        uint64 // Gets that found no free connected client and waited
	WaitTimeouts uint64 // waits that ended with the context or the pool timeout
	Replaced     uint64 // lost connections re-established in the background
}

// NewPool connects size clients to addr and returns the pool once all are
// connected, or the first connection error (see Dial for the errors).
func NewPool(ctx context.Context, addr string, size int, opts ...Option) (*Pool, error) {
	if size < 1 {
		return nil, fmt.Errorf("engine: pool size %d: want at least 1", size)
	}
	network, address, err := parseAddr(addr)
	if err != nil {
		return nil, err
	}
	o, err := buildOptions(forPool, opts)
	if err != nil {
		return nil, err
	}
	o.loops = min(o.loops, size)
	if o.monitor == nil {
		o.monitor = metrics.NewMonitor()
	}
	r := Reconnect{Jitter: 0.2}.withDefaults()
	if o.reconnect != nil {
		r = *o.reconnect
	}
	r.MaxAttempts = 0
	o.reconnect = &r
	name := cmp.Or(o.name, "client")

	l, err := startLoops(o, &clientEvents{})
	if err != nil {
		return nil, err
	}
	p := &Pool{loops: l, timeout: o.poolTimeout, monitor: o.monitor}
	for i := range size {
		cl := newClient(network, address, o, l, fmt.Sprintf("%s/%d", name, i))
		cl.pool = p
		p.clients = append(p.clients, cl)
		if err := cl.dial(ctx); err != nil {
			_ = p.Close()
			return nil, err
		}
		p.mu.Lock()
		p.idle = append(p.idle, cl)
		p.mu.Unlock()
	}
	return p, nil
}

// Get returns a free, connected client, waiting for one until ctx ends or the
// pool timeout (WithPoolTimeout) passes; then it returns an error wrapping
// ErrPoolExhausted and the context's error. Give the client back with Put.
// After Close, Get returns ErrPoolClosed.
func (p *Pool) Get(ctx context.Context) (*Client, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrPoolClosed
	}
	if cl := p.takeIdle(); cl != nil {
		p.mu.Unlock()
		return cl, nil
	}
	ch := make(chan *Client, 1)
	p.waiters = append(p.waiters, ch)
	p.mu.Unlock()
	p.waits.Add(1)

	if p.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.timeout)
		defer cancel()
	}
	select {
	case cl := <-ch:
		return p.handed(cl)
	case <-ctx.Done():
	}
	p.mu.Lock()
	if i := slices.Index(p.waiters, ch); i >= 0 {
		p.waiters = slices.Delete(p.waiters, i, i+1)
		p.mu.Unlock()
		p.waitTimeouts.Add(1)
		return nil, fmt.Errorf("%w (%d clients): %w", ErrPoolExhausted, len(p.clients), ctx.Err())
	}
	p.mu.Unlock()
	return p.handed(<-ch) // a client was handed over as ctx ended
}

// handed returns what a waiting Get received: a client, or nil when the pool
// closed.
func (p *Pool) handed(cl *Client) (*Client, error) {
	if cl == nil {
		return nil, ErrPoolClosed
	}
	return cl, nil
}

// takeIdle removes and returns the oldest idle client that is connected, or
// nil. Called with mu held.
func (p *Pool) takeIdle() *Client {
	for i, cl := range p.idle {
		if cl.Connected() {
			p.idle = slices.Delete(p.idle, i, i+1)
			cl.leased = true
			return cl
		}
	}
	return nil
}

// dispatch hands idle connected clients to waiting Gets, oldest first. Called
// with mu held.
func (p *Pool) dispatch() {
	for len(p.waiters) > 0 {
		cl := p.takeIdle()
		if cl == nil {
			return
		}
		p.waiters[0] <- cl
		p.waiters = slices.Delete(p.waiters, 0, 1)
	}
}

// available is called when one of the pool's clients has connected.
func (p *Pool) available() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.dispatch()
	}
}

// Put gives back a client that Get returned. Putting a client that is not
// out of this pool (never handed out, already put back, or of another pool)
// does nothing. A client may be put back disconnected: it reconnects by
// itself, and Get skips it meanwhile.
func (p *Pool) Put(cl *Client) {
	if cl == nil || cl.pool != p {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !cl.leased {
		return
	}
	cl.leased = false
	if p.closed {
		return
	}
	p.idle = append(p.idle, cl)
	p.dispatch()
}

// Request takes a client with Get, makes the Request on it and puts it back.
// ctx bounds both the wait for a client and the request.
func (p *Pool) Request(ctx context.Context, payload []byte) ([]byte, error) {
	cl, err := p.Get(ctx)
	if err != nil {
		return nil, err
	}
	defer p.Put(cl)
	return cl.Request(ctx, payload)
}

// Stats returns the pool's current figures.
func (p *Pool) Stats() PoolStats {
	st := PoolStats{
		Size:         len(p.clients),
		Waits:        p.waits.Load(),
		WaitTimeouts: p.waitTimeouts.Load(),
		Replaced:     p.replaced.Load(),
	}
	for _, cl := range p.clients {
		if cl.Connected() {
			st.Connected++
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	st.Idle = len(p.idle)
	for _, cl := range p.clients {
		if cl.leased {
			st.InUse++
		}
	}
	return st
}

// Monitor returns the monitor the pool's clients record into, one source per
// client, named "client/0", "client/1"... (or after WithName).
func (p *Pool) Monitor() *metrics.Monitor { return p.monitor }

// Close closes every client (see Client.Close), including those handed out,
// wakes waiting Gets with ErrPoolClosed and stops the event loops. It returns
// the clients' errors, joined (queued messages dropped). Later calls return
// nil. Like Client.Close, it must not be called from a Handler callback.
func (p *Pool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	for _, ch := range p.waiters {
		close(ch)
	}
	p.waiters, p.idle = nil, nil
	p.mu.Unlock()
	var errs []error
	for _, cl := range p.clients {
		errs = append(errs, cl.close())
	}
	if len(p.clients) > 0 { // what was queued before Close still goes out, within the linger
		ctx, cancel := context.WithTimeout(context.Background(), p.clients[0].t.o.linger)
		for _, cl := range p.clients {
			cl.t.waiter.waitLingering(ctx)
		}
		cancel()
	}
	p.loops.stop()
	for _, cl := range p.clients {
		cl.t.waiter.shutdown()
	}
	return errors.Join(errs...)
}
