package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/netsys-go/netsys/internal/sess"
	"github.com/netsys-go/netsys/metrics"
	"github.com/netsys-go/netsys/session"
)

// Client is a framed TCP connection to a server, run by a gnet client event
// loop with the same transport as the Server: the same codec options, batched
// writes, write high-water mark, metrics (as metrics.KindClient) and
// disconnect reasons. Make one with Dial, or take one from a Pool.
//
// Every method is safe from any goroutine. Handler callbacks (WithHandler) run
// on the client's event loop and must not block, so they must not call
// Request; ReconnectHandler callbacks run on the reconnect goroutine. Close
// waits for the event loop to stop and must not be called from a Handler
// callback.
type Client struct {
	t       *transport
	h       Handler // the user's handler; never nil
	loops   *loops
	owned   bool       // Close stops loops; false in a Pool, which owns them
	pool    *Pool      // nil unless the client belongs to a Pool
	network string     // "tcp" or "unix"
	addr    string     // host:port, or the socket's path
	rc      *Reconnect // nil: no reconnecting
	ctx     context.Context
	cancel  context.CancelFunc // ends ctx on Close or give-up: stops reconnect waits and dials

	mu      sync.Mutex
	s       *session.Session                // guarded by mu: the current session, nil while disconnected
	shard   *metrics.Shard                  // guarded by mu: the metrics shard of the current connection's loop
	queue   [][]byte                        // guarded by mu: framed messages sent while disconnected
	pending fifo[*request]                  // guarded by mu: requests waiting for their reply, in send order
	npend   atomic.Int32                    // len(pending), raised before a request's Send: OnMessage skips mu while 0
	cur     atomic.Pointer[session.Session] // s, for OnMessage's check without mu
	closed  bool                            // guarded by mu: Close was called
	replay  bool                            // guarded by mu: OnConnect runs before the queue is written
	loopG   atomic.Uint64                   // the goroutine of the current connection's loop (see onLoop)
	dead    error                           // guarded by mu: why sends fail for good (closed, gave up); nil while usable
	leased  bool                            // guarded by Pool.mu: handed out by Pool.Get
}

// Dial connects to addr ("127.0.0.1:9000" or "tcp://[::1]:9000") and returns
// a connected Client. It honours ctx and the connect timeout
// (WithConnectTimeout). Errors say what failed and wrap the cause: a refused
// connection matches syscall.ECONNREFUSED, a timeout context.DeadlineExceeded,
// an unusable address ErrBadAddress.
//
// Dial tries once, unless WithReconnect's Reconnect.RetryDial is set: then it
// retries with the reconnect backoff until it connects, ctx ends or
// Reconnect.MaxAttempts attempts have failed. WithReconnect applies to
// connections lost afterwards. "unix:///path" dials a Unix socket.
func Dial(ctx context.Context, addr string, opts ...Option) (*Client, error) {
	network, address, err := parseAddr(addr)
	if err != nil {
		return nil, err
	}
	o, err := buildOptions(forClient, opts)
	if err != nil {
		return nil, err
	}
	o.loops = 1
	l, err := startLoops(o, &clientEvents{})
	if err != nil {
		return nil, err
	}
	cl := newClient(network, address, o, l, "client")
	cl.owned = true
	if err := cl.dial(ctx); err != nil {
		_ = cl.close()
		return nil, err
	}
	return cl, nil
}

// dial makes the first connection: once, or with the reconnect backoff if
// Reconnect.RetryDial is set.
func (cl *Client) dial(ctx context.Context) error {
	err := cl.connect(ctx)
	if err == nil || cl.rc == nil || !cl.rc.RetryDial {
		return err
	}
	for attempt := 1; cl.rc.MaxAttempts == 0 || attempt <= cl.rc.MaxAttempts; attempt++ {
		timer := time.NewTimer(cl.rc.delay(attempt))
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("%w (last attempt: %w)", ctx.Err(), err)
		}
		if err = cl.connect(ctx); err == nil {
			return nil
		}
	}
	return fmt.Errorf("%w after %d attempts: %w", ErrGaveUp, cl.rc.MaxAttempts+1, err)
}

func newClient(network, address string, o options, l *loops, name string) *Client {
	o.tls = clientTLS(o.tls, network, address)
	cl := &Client{h: o.handler, loops: l, network: network, addr: address, rc: o.reconnect}
	if cl.h == nil {
		cl.h = HandlerFuncs{}
	}
	cl.ctx, cl.cancel = context.WithCancel(context.Background())
	cl.t = newTransport(o, hooks{cl}, metrics.KindClient, name)
	return cl
}

// connect dials and hands the connection to the event loop. It returns once
// OnConnect has run.
func (cl *Client) connect(ctx context.Context) error {
	o := &cl.t.o
	dctx, cancel := context.WithTimeout(ctx, o.connectTimeout)
	defer cancel()
	d := net.Dialer{KeepAlive: -1, Control: o.socketControl(false)} // KeepAlive -1: WithKeepAlive's default, the system's
	if o.keepAlive > 0 {
		d.KeepAlive = o.keepAlive
	}
	nc, err := d.DialContext(dctx, cl.network, cl.addr)
	if err != nil {
		cl.t.src.ConnFailed()
		cl.t.src.Error(metrics.Connect)
		return dialError(cl.addr, err)
	}
	cl.t.active.Add(1) // given back when the session closes, or by open if it never opens
	ep := &endpoints{local: nc.LocalAddr(), remote: nc.RemoteAddr(), client: cl}
	if o.tls != nil {
		ep.ready, ep.conn = make(chan error, 1), new(atomic.Pointer[conn])
	}
	if err := cl.loops.enroll(nc, ep); err != nil {
		cl.t.active.Add(-1)
		return err
	}
	if cl.ctx.Err() != nil {
		return ErrClientClosed // closed while connecting: the connection was refused at open
	}
	if ep.ready != nil {
		return cl.handshake(dctx, ep)
	}
	return nil
}

// handshake waits for the TLS handshake of a connection just enrolled: its
// failure, or OnConnect. If ctx ends first, the connection is closed.
func (cl *Client) handshake(ctx context.Context, ep *endpoints) error {
	select {
	case err := <-ep.ready:
		return err
	case <-ctx.Done():
	}
	c := ep.conn.Load()
	if c == nil { // refused at open: the loop is closing
		return ErrClientClosed
	}
	c.Close(fmt.Errorf("%w: %w", ErrTLSHandshake, ctx.Err()))
	if err := <-ep.ready; err != nil {
		return err
	}
	// It succeeded just as ctx ended, and the Close above ends it.
	return fmt.Errorf("%w: %w", ErrTLSHandshake, ctx.Err())
}

// dialError says what failed in a dial, wrapping the cause.
func dialError(addr string, err error) error {
	var ae *net.AddrError
	var de *net.DNSError
	switch {
	case errors.As(err, &ae), errors.As(err, &de) && de.IsNotFound:
		return fmt.Errorf("%w: %q: %w", ErrBadAddress, addr, err)
	case errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, context.DeadlineExceeded):
		// net reports a timeout as os.ErrDeadlineExceeded or as the
		// context's error, depending on which timer fires first.
		return fmt.Errorf("engine: %w (%w)", err, context.DeadlineExceeded)
	}
	return fmt.Errorf("engine: %w", err)
}

// Send frames payload with the codec and queues it for writing, batched like
// a session's sends. The payload may be reused as soon as Send returns.
// While the client is disconnected, Send queues the message if WithSendQueue
// allows (ErrQueueFull past the bound) and fails with ErrNotConnected if not.
// After Close it fails with ErrClientClosed.
func (cl *Client) Send(payload []byte) error { return cl.send(payload, true) }

// SendRaw queues b for writing as is, without framing, like Send otherwise.
func (cl *Client) SendRaw(b []byte) error { return cl.send(b, false) }

func (cl *Client) send(p []byte, frame bool) error {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.dead != nil {
		return cl.dead
	}
	if cl.s != nil && (!cl.replay || cl.onLoop()) {
		var err error
		if frame {
			err = cl.s.Send(p)
		} else {
			err = cl.s.SendRaw(p)
		}
		if !errors.Is(err, session.ErrClosed) {
			return err
		}
		// The connection is closing: the message waits for the next one.
	}
	return cl.enqueue(p, frame)
}

// enqueue keeps a message sent while disconnected, framed, for the next
// connection. Called with mu held.
func (cl *Client) enqueue(p []byte, frame bool) error {
	limit := cl.t.o.sendQueue
	if (cl.rc == nil || limit <= 0) && !cl.replay {
		return ErrNotConnected
	}
	if len(cl.queue) >= limit {
		return fmt.Errorf("%w: %d messages waiting for the connection", ErrQueueFull, len(cl.queue))
	}
	if !frame {
		cl.queue = append(cl.queue, bytes.Clone(p))
		return nil
	}
	if err := cl.t.o.checkPayload(len(p)); err != nil {
		return err
	}
	b, err := cl.t.o.codec.Append(nil, p)
	if err != nil {
		return err
	}
	cl.queue = append(cl.queue, b)
	return nil
}

// flushQueue hands the messages queued while disconnected to the new session
// s, in order. Messages s refuses stay queued for the next connection. Called
// with mu held, on the loop.
func (cl *Client) flushQueue(s *session.Session) {
	for i, b := range cl.queue {
		// Queued messages are framed already; the session counts their
		// bytes with the frame header.
		err := s.SendRaw(b)
		if err == nil {
			continue
		}
		if errors.Is(err, ErrSlowConsumer) {
			i++ // this one is in the batch written as the session closes
		}
		n := copy(cl.queue, cl.queue[i:])
		clear(cl.queue[n:])
		cl.queue = cl.queue[:n]
		return
	}
	clear(cl.queue)
	cl.queue = cl.queue[:0]
}

// Flush returns once everything sent on the client before the call has been
// handed to the kernel: written to the connection's socket, from where the
// kernel delivers it as the server reads. It does not wait for the server to
// read it (the envelope's Client.Sync does). It returns ctx's error if ctx
// ends first; ErrNotConnected while the client is disconnected or
// reconnecting (what was sent meanwhile goes out once OnConnect has run), or wrapped with the reason if the
// connection closes before its queue is written; the reason Sends fail for
// good once the client is closed or gave up. Called from a Handler callback on
// this client's event loop, which it would wait for, it returns ErrInHandler.
func (cl *Client) Flush(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if cl.onLoop() {
		return ErrInHandler
	}
	cl.mu.Lock()
	s, err, replay := cl.s, cl.dead, cl.replay
	cl.mu.Unlock()
	switch {
	case err != nil:
		return err
	case s == nil || replay: // replay: reconnecting, the sends made meanwhile are not queued on it yet
		return ErrNotConnected
	}
	c, _ := sess.CoreOf(s).Writer().(*conn)
	if c == nil {
		return ErrNotConnected
	}
	done, err := c.awaitDrain()
	if err != nil {
		return ErrNotConnected
	}
	select {
	case err = <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Request matches replies to requests in strict FIFO order, so it breaks
// when the server also pushes messages: use the envelope package's Client for
// request/reply beside server push. Request sends payload and waits for the
// next message the server sends, taking it as the reply. It returns the
// reply, a copy the caller owns, or ctx's error if ctx ends first (counted as
// a request timeout). A reply that arrives after its request gave up is
// discarded, and the next request still gets its own reply. Concurrent
// Requests are fine: replies are matched in the order the requests were
// sent. While a request is waiting, incoming messages answer requests and do
// not reach the handler's OnMessage.
//
// Request fails with ErrNotConnected while the client is disconnected, and
// with the disconnect reason (ErrPeerClosed, ErrClientClosed, ...) if the
// connection is lost before the reply comes. Called from a Handler callback
// on this client's event loop, which could not deliver the reply while it
// waits, it returns ErrInHandler at once.
func (cl *Client) Request(ctx context.Context, payload []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if cl.onLoop() {
		return nil, ErrInHandler
	}
	r := requests.Get().(*request)
	cl.mu.Lock()
	err := cl.dead
	switch {
	case err != nil:
	case cl.s == nil:
		err = ErrNotConnected
	default:
		r.start = time.Now()
		// Send and enqueue under one lock: the FIFO's order is the wire's.
		// npend rises before the Send, so that the loop, which may read the
		// reply before Send returns, takes the slow path and waits for mu.
		cl.npend.Add(1)
		if err = cl.s.Send(payload); err == nil {
			cl.pending.push(r)
		} else {
			cl.npend.Add(-1)
			if errors.Is(err, session.ErrClosed) {
				err = ErrNotConnected
			}
		}
	}
	cl.mu.Unlock()
	if err != nil {
		requests.Put(r)
		return nil, err
	}

	select {
	case rep := <-r.done:
		requests.Put(r)
		return rep.msg, rep.err
	case <-ctx.Done():
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	select {
	case rep := <-r.done: // answered as ctx ended
		requests.Put(r)
		return rep.msg, rep.err
	default:
		r.abandoned = true // stays in the FIFO: the loop drops its reply
		cl.t.src.Error(metrics.RequestTimeout)
		return nil, ctx.Err()
	}
}

// request is a Request waiting for its reply.
type request struct {
	start     time.Time  // when it was sent; set under Client.mu before it is queued
	done      chan reply // capacity 1: receives the reply or the error, once
	abandoned bool       // guarded by Client.mu: the caller stopped waiting
}

type reply struct {
	msg []byte
	err error
}

// requests recycles the requests that got their answer; abandoned ones are
// left to the garbage collector.
var requests = sync.Pool{New: func() any { return &request{done: make(chan reply, 1)} }}

// Session returns the session of the current connection, or nil while the
// client is disconnected. A reconnect makes a new session.
func (cl *Client) Session() *session.Session {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.s
}

// Connected reports whether the client has a connection at the moment.
func (cl *Client) Connected() bool { return cl.Session() != nil }

// Monitor returns the monitor the client records into (WithMonitor, or its
// own). A client's latencies are its Request round trips.
func (cl *Client) Monitor() *metrics.Monitor { return cl.t.o.monitor }

// Close closes the client for good: it stops reconnecting, closes the
// connection (OnDisconnect sees ErrClientClosed, pending Requests fail with
// it), lets what was sent before it reach the server (waiting at most the
// linger, WithLinger, for a server that does not read), stops the event loop
// and returns once OnDisconnect has run. Messages
// still queued from a disconnected period are discarded: Close then returns
// an error wrapping ErrSendsDropped that says how many. Later calls return
// nil. Called from a Handler callback on the client's event loop, Close does
// not wait: the loop stops once the callback returns. Close on a client of a
// Pool returns ErrPooledClient and does nothing.
func (cl *Client) Close() error {
	if cl.pool != nil {
		return ErrPooledClient
	}
	return cl.close()
}

func (cl *Client) close() error {
	cl.mu.Lock()
	if cl.closed {
		cl.mu.Unlock()
		return nil
	}
	cl.closed = true
	if cl.dead == nil {
		cl.dead = ErrClientClosed
	}
	dropped := len(cl.queue)
	cl.queue = nil
	s := cl.s
	cl.mu.Unlock()
	cl.cancel()
	if s != nil {
		s.Close(ErrClientClosed)
	}
	if cl.owned {
		stop := func() {
			ctx, cancel := context.WithTimeout(context.Background(), cl.t.o.linger)
			cl.t.waiter.waitLingering(ctx) // what was queued before Close still goes out
			cancel()
			cl.loops.stop()
			cl.t.waiter.shutdown()
		}
		if cl.onLoop() {
			go stop() // the loop ends once this handler returns
		} else {
			stop()
		}
	}
	if dropped > 0 {
		return fmt.Errorf("%w: %d", ErrSendsDropped, dropped)
	}
	return nil
}

// hooks is the handler of a client's transport: it matches replies to
// requests, flushes the send queue on connect, starts reconnecting on a loss,
// and passes everything else to the user's handler. Its methods run on the
// loop.
type hooks struct{ cl *Client }

func (h hooks) OnConnect(s *session.Session) {
	cl := h.cl
	cl.mu.Lock()
	if cl.closed {
		cl.mu.Unlock()
		s.Close(ErrClientClosed) // Close came first: never announced
		return
	}
	cl.s = s
	cl.cur.Store(s)
	cl.replay = len(cl.queue) > 0
	cl.mu.Unlock()
	// OnConnect first (a client that re-joins or re-authenticates there has
	// what it sends go out first), then what was queued while disconnected.
	cl.callback(func() { cl.h.OnConnect(s) })
	cl.mu.Lock()
	if cl.s == s {
		cl.flushQueue(s)
	}
	cl.replay = false
	cl.mu.Unlock()
	if cl.pool != nil {
		cl.pool.available()
	}
}

// callback runs one of the user handler's callbacks on the loop, marking the
// loop as inside a callback (see onLoop).
func (cl *Client) callback(fn func()) {
	cl.loops.inCallback.Add(1)
	defer cl.loops.inCallback.Add(-1)
	fn()
}

// onLoop reports whether the caller is a handler callback running on the
// event loop of the client's current connection. It is cheap unless some
// callback is running on the client's loops.
func (cl *Client) onLoop() bool {
	return cl.loops.inCallback.Load() > 0 && goroutineID() == cl.loopG.Load()
}

func (h hooks) OnMessage(s *session.Session, msg []byte) {
	cl := h.cl
	if cl.npend.Load() == 0 && cl.cur.Load() == s {
		// No request waits: the message is the handler's, and the loop is
		// marked as in a callback by OnTraffic (a worker is not the loop).
		cl.h.OnMessage(s, msg)
		return
	}
	cl.mu.Lock()
	if s != cl.s {
		cl.mu.Unlock()
		return // a connection Close refused
	}
	if r, ok := cl.pending.pop(); ok {
		cl.npend.Add(-1)
		cl.shard.Latency(time.Since(r.start), 1)
		if !r.abandoned {
			r.done <- reply{msg: bytes.Clone(msg)}
		}
		cl.mu.Unlock()
		return
	}
	cl.mu.Unlock()
	cl.callback(func() { cl.h.OnMessage(s, msg) })
}

func (h hooks) OnDisconnect(s *session.Session, reason error) {
	cl := h.cl
	cl.mu.Lock()
	if s != cl.s {
		cl.mu.Unlock()
		return
	}
	cl.s = nil
	cl.cur.Store(nil)
	for r, ok := cl.pending.pop(); ok; r, ok = cl.pending.pop() {
		cl.npend.Add(-1)
		if !r.abandoned {
			r.done <- reply{err: reason}
		}
	}
	retry := cl.rc != nil && cl.dead == nil
	cl.mu.Unlock()
	if retry {
		// After the handler has heard of the loss, even if it panics.
		defer func() { go cl.reconnect(reason) }()
	}
	cl.callback(func() { cl.h.OnDisconnect(s, reason) })
}

// clientEvents is the gnet.EventHandler of client loops. A connection's
// context is its *endpoints until open, naming its client, then its *conn,
// whose transport is the client's: that is how loops shared by a Pool find
// each connection's client.
type clientEvents struct{ gnet.BuiltinEventEngine }

func (*clientEvents) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	ep, _ := gc.Context().(*endpoints)
	if ep == nil || ep.client == nil {
		return nil, gnet.Close
	}
	cl := ep.client
	if !cl.opening(gc) {
		cl.t.active.Add(-1)
		return nil, gnet.Close
	}
	if cl.t.open(gc, ep) == nil {
		return nil, gnet.Close
	}
	return nil, gnet.None
}

// OnTraffic marks the loop as in a handler callback (see onLoop) for the
// whole event, not for each message.
func (*clientEvents) OnTraffic(gc gnet.Conn) gnet.Action {
	c, _ := gc.Context().(*conn)
	if c == nil {
		return gnet.Close
	}
	if h, ok := c.t.h.(hooks); ok {
		h.cl.loops.inCallback.Add(1)
		defer h.cl.loops.inCallback.Add(-1)
	}
	return c.t.traffic(gc)
}

func (*clientEvents) OnClose(gc gnet.Conn, err error) gnet.Action {
	if c, _ := gc.Context().(*conn); c != nil {
		c.t.closed(gc, err)
	}
	return gnet.None
}

// opening records the loop shard of a new connection, or reports false if the
// client is closed.
func (cl *Client) opening(gc gnet.Conn) bool {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.closed {
		return false
	}
	cl.shard = cl.t.loopOf(gc).shard
	cl.loopG.Store(goroutineID()) // OnOpen runs on the loop
	return true
}
