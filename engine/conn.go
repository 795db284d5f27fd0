package engine

import (
	"crypto/tls"
	"sync"
	"sync/atomic"

	"github.com/panjf2000/gnet/v2"
	"github.com/valyala/bytebufferpool"

	"github.com/netsys-go/netsys/internal/sess"
	"github.com/netsys-go/netsys/metrics"
	"github.com/netsys-go/netsys/session"
)

// conn is the engine's state for one connection: the session's Writer, riding
// in the gnet.Conn's context. Its read side (read.go) is owned by the loop;
// its write side (write.go) takes bytes from any goroutine under mu and is
// written to the socket by the loop.
type conn struct {
	gc   gnet.Conn        // fixed at open
	fd   int              // fixed at open: gc.Fd()
	s    *session.Session // fixed at open: what handlers are given
	sc   *sess.Core       // fixed at open: s's transport side (counters, state, registry)
	t    *transport       // fixed at open
	loop *loop            // fixed at open: what this conn's event loop shares

	tls      *tlsConn                            // fixed at open: the TLS state (tls.go); nil without TLS
	tlsState atomic.Pointer[tls.ConnectionState] // set once after the handshake succeeded (Session.TLS)

	// Read side, owned by the loop (read.go).
	part      *bytebufferpool.ByteBuffer // the frame at the head of the input, copied out of gnet's buffer; nil if none
	need      int                        // the whole size of that frame when the codec knows it; 0 if not yet
	partBytes atomic.Int64               // written by the loop: bytes of the memory budget held for it
	partAt    atomic.Int64               // when it began (clock time), read by the sweeper; 0: none

	// Write side (write.go).
	busy   atomic.Bool                // written by the loop: it is in OnTraffic for this conn and will write what is queued
	unsent atomic.Int64               // written by the loop: bytes taken from the queue that the socket has not taken yet, as counted in the memory budget
	wq     []byte                     // owned by the loop: those bytes, from wqOff on
	wqOff  int                        // owned by the loop
	wqBuf  *bytebufferpool.ByteBuffer // owned by the loop: wq's buffer when it came from the pool

	wmu sync.Mutex // guards in
	in  inbox      // jobs waiting for a worker (WithWorkers only)

	mu         sync.Mutex
	out        *bytebufferpool.ByteBuffer // guarded by mu: bytes queued and not yet taken by the loop
	raw        *bytebufferpool.ByteBuffer // guarded by mu: TLS records written outside flush (handshake, alerts); nil if none
	hold       bool                       // guarded by mu: the TLS handshake is not done; sends are refused
	lent       bool                       // guarded by mu: out is the loop's own buffer, lent while busy
	outMsgs    int                        // guarded by mu
	outBytes   int                        // guarded by mu: payload bytes in out
	wakeQueued bool                       // guarded by mu: a Wake is on its way to the loop
	closing    bool                       // guarded by mu: no more sends are accepted
	reason     error                      // guarded by mu: why the engine or application closed it
	drains     atomic.Pointer[drains]     // Client.Flush's waiters (write.go): set once, under mu, by the first

	failed atomic.Bool // fail has closed the session
}

// Close closes the connection asynchronously; reason reaches OnDisconnect.
// It is safe from any goroutine and only the first reason counts.
func (c *conn) Close(reason error) {
	if reason == nil {
		reason = ErrClosedByApp
	}
	c.setReason(reason)
	_ = c.gc.Close()
}

// setReason records why the connection closes, unless a reason is recorded
// already, and stops further sends.
func (c *conn) setReason(reason error) {
	c.mu.Lock()
	if c.reason == nil {
		c.reason = reason
	}
	c.closing = true
	c.mu.Unlock()
}

// fail closes the session for a reason the engine found, and counts it,
// once: a later failure of a closing session is neither counted nor logged.
func (c *conn) fail(reason error, kind metrics.ErrorKind) {
	if !c.failed.CompareAndSwap(false, true) {
		return
	}
	c.t.src.Error(kind)
	c.sc.CountError()
	c.s.Close(reason)
}

// finish stops all sending and moves what is still queued to the loop's
// write queue. It runs on the loop when the connection closes, and returns
// the reason recorded by Close or fail, if any.
func (c *conn) finish() error {
	c.mu.Lock()
	b, lent, msgs, bytes, reason := c.out, c.lent, c.outMsgs, c.outBytes, c.reason
	raw := c.raw
	c.out, c.lent, c.outMsgs, c.outBytes, c.raw = nil, false, 0, 0, nil
	c.closing = true
	c.takeDrains()
	c.mu.Unlock()
	if c.tls != nil {
		c.finishTLS(b, raw, lent, msgs, bytes, reason)
		return reason
	}
	if b != nil {
		c.count(msgs, bytes)
		c.take(b, lent, 0)
	}
	return reason
}

// TLS returns the negotiated TLS state, or nil without TLS or before the
// handshake succeeded: what Session.TLS reports.
func (c *conn) TLS() *tls.ConnectionState { return c.tlsState.Load() }
