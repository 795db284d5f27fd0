package engine

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/valyala/bytebufferpool"

	"github.com/netsys-go/netsys/internal/sess"
	"github.com/netsys-go/netsys/internal/tlsio"
	"github.com/netsys-go/netsys/metrics"
	"github.com/netsys-go/netsys/pool"
	"github.com/netsys-go/netsys/session"
)

// TLS on the event loops (see docs/tls.md).
//
// Each connection of a transport with WithTLS has a tlsio.Conn: the standard
// crypto/tls over an in-memory net.Conn that the loop drives. The handshake
// runs on a goroutine of the transport's tlsio.Handshaker (bounded by
// WithMaxHandshakes and WithHandshakeTimeout); meanwhile the session is
// registered but StateConnecting, sends to it are refused, and the loop only
// hands the bytes it reads to the handshake. The records the handshake writes
// go to conn.raw under conn.mu, and the handshake goroutine wakes the loop
// like a send made off the loop. When it ends, onDone stores its result and
// wakes the loop; the loop then closes the connection (a failure never
// reaches the handler: it is counted by cause and logged, rate-limited) or
// runs OnConnect and switches the tlsio.Conn to loop mode.
//
// From then on everything is on the loop. Read: the ciphertext gnet buffered
// is decrypted into the loop's plaintext buffer (loop.plain) and decoded by
// conn.decode, the same code as plaintext input, so the frame limit, partial
// frames, the memory budget and the frame timeout apply unchanged. Write:
// sends queue plaintext into conn.out as without TLS; flush encrypts the
// whole batch with one tls.Conn.Write into the loop's ciphertext buffer
// (loop.seal: records reach it through out while sealing is set) and writes
// that to the socket. What the socket does not take is ciphertext in the
// write queue, so the write high-water mark and the memory budget count it.

// WithTLS makes a Server accept, and a Client (Dial, NewPool) dial, TLS
// connections with cfg (TLS 1.2 and 1.3, ALPN, SNI, client certificates,
// GetCertificate for rotation: whatever cfg says). The handshake runs off
// the event loops (see WithMaxHandshakes, WithHandshakeTimeout); OnConnect
// runs once it has succeeded, and Session.TLS returns the negotiated state.
// A failed handshake never reaches the handler: it is counted by cause
// (Server.HandshakeFailures, the monitor's "handshake" errors) and logged.
// A client's Dial returns the failure, wrapping ErrTLSHandshake. While its
// handshake runs, a server's connection is a session in StateConnecting:
// Server.Count and Sessions include it, and sends to it fail with
// ErrNotConnected. On a client,
// an empty cfg.ServerName is taken from the address dialled (unless
// cfg.InsecureSkipVerify is set). Default nil: plaintext.
func WithTLS(cfg *tls.Config) Option {
	return func(o *options) { o.use("WithTLS", forAll); o.tls = cfg }
}

// WithHandshakeTimeout bounds a TLS handshake, from the connection's open to
// its end, time waiting for a handshake slot included; past it the
// connection is closed with ErrTLSHandshake (cause "timeout"). Default
// DefaultHandshakeTimeout (10 s). With WithTLS only.
func WithHandshakeTimeout(d time.Duration) Option {
	return func(o *options) {
		o.use("WithHandshakeTimeout", forAll)
		o.notNegativeDuration("WithHandshakeTimeout", d)
		o.hsTimeout = d
	}
}

// WithMaxHandshakes bounds the TLS handshakes in progress: running at once,
// each on a goroutine of its own that exists only while it runs (default
// DefaultMaxHandshakes), and waiting for one of those in order (default
// DefaultHandshakeQueue; negative: none). A connection beyond both is closed
// at once with ErrTLSHandshake (cause "busy"). A flood of handshakes thus
// costs the loops a copy of the bytes read per event, never a stall. With
// WithTLS only.
func WithMaxHandshakes(running, waiting int) Option {
	return func(o *options) {
		o.use("WithMaxHandshakes", forAll)
		o.notNegative("WithMaxHandshakes", int64(running))
		o.maxHandshakes, o.hsQueue = running, waiting
	}
}

// Defaults of the TLS options.
const (
	DefaultHandshakeTimeout = tlsio.DefaultHandshakeTimeout // 10 s
	DefaultMaxHandshakes    = tlsio.DefaultMaxHandshakes    // 256
	DefaultHandshakeQueue   = tlsio.DefaultMaxQueue         // 1024
)

// tlsConn is a connection's TLS state. Fields are the loop's unless said.
type tlsConn struct {
	tc      *tlsio.Conn
	res     atomic.Pointer[hsResult] // set once by onDone (any goroutine), taken by the loop
	started time.Time                // set before the handshake starts
	ready   chan error               // a client's connect waits on it (capacity 1); nil on a server
	live    bool                     // the handshake succeeded and OnConnect ran; read by out before onDone
	sealing bool                     // out appends to loop.seal; read by out before onDone
	counted bool                     // a handshake failure was counted and logged
	closed  atomic.Bool              // set by endTLS: the connection closed before the handshake's result was used
	told    atomic.Bool              // ready was sent its one value
	pend    []byte                   // plaintext not decoded because the worker queue filled
	err     error                    // Feed's error, kept until pend is decoded
}

type hsResult struct {
	st  tls.ConnectionState
	err error
}

// newHandshaker makes the transport's handshake pool, or nil without TLS.
func newHandshaker(o *options) *tlsio.Handshaker {
	if o.tls == nil {
		return nil
	}
	return tlsio.NewHandshaker(tlsio.Config{
		MaxHandshakes:    o.maxHandshakes,
		MaxQueue:         o.hsQueue,
		HandshakeTimeout: o.hsTimeout,
	})
}

// clientTLS returns cfg with ServerName set to the host of address when cfg
// names none and verifies the server.
func clientTLS(cfg *tls.Config, network, address string) *tls.Config {
	if cfg == nil || cfg.ServerName != "" || cfg.InsecureSkipVerify || network != "tcp" {
		return cfg
	}
	host, _, err := net.SplitHostPort(address)
	if err != nil || host == "" {
		return cfg
	}
	cfg = cfg.Clone()
	cfg.ServerName = host
	return cfg
}

// startTLS gives c its TLS state and starts the handshake. It runs on the
// loop in open, before the session is published.
func (c *conn) startTLS(ep *endpoints) {
	t := c.t
	x := &tlsConn{started: time.Now(), ready: ep.ready}
	c.tls, c.hold = x, true
	if ep.client != nil {
		x.tc = tlsio.NewClient(t.o.tls, c.tlsOut)
	} else {
		x.tc = tlsio.NewServer(t.o.tls, c.tlsOut)
	}
	x.tc.SetAddr(ep.local, ep.remote)
}

// runTLS starts the handshake of c, published already.
func (c *conn) runTLS() {
	x := c.tls
	if err := x.tc.Start(c.t.hs, c.handshook); err != nil {
		err = &tlsio.HandshakeError{Cause: tlsio.Classify(err), Err: err}
		x.tell(fmt.Errorf("%w: %w", ErrTLSHandshake, err)) // onDone never runs
		c.handshakeFailed(err)
	}
}

// handshook is tlsio's onDone: it runs once, on a handshake goroutine (or the
// goroutine that closed the connection), and hands the result to the loop.
func (c *conn) handshook(st tls.ConnectionState, err error) {
	x := c.tls
	x.res.Store(&hsResult{st: st, err: err})
	switch {
	case err != nil:
		// A client's Dial hears of it even if the connection closed first.
		x.tell(fmt.Errorf("%w: %w", ErrTLSHandshake, err))
	case x.closed.Load():
		x.tell(fmt.Errorf("%w: %w", ErrTLSHandshake, tlsio.ErrClosed))
	}
	_ = c.gc.Wake(nil) // a closed connection ignores it
}

// tell gives a client's connect the handshake's outcome, once.
func (x *tlsConn) tell(err error) {
	if x.ready != nil && x.told.CompareAndSwap(false, true) {
		x.ready <- err
	}
}

// tlsOut receives the records crypto/tls writes: into the loop's ciphertext
// buffer while flush seals a batch, else into conn.raw, waking the loop when
// the handshake goroutine wrote them.
func (c *conn) tlsOut(p []byte) {
	x := c.tls
	if x.sealing {
		c.loop.seal = append(c.loop.seal, p...)
		return
	}
	offLoop := !x.live
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	if c.raw == nil {
		c.raw = pool.GetBatch()
	}
	c.raw.B = append(c.raw.B, p...)
	wake := offLoop && !c.busy.Load() && c.claimWake()
	c.mu.Unlock()
	if wake {
		_ = c.gc.Wake(nil)
	}
}

// readTLS is read for a TLS connection: it ends the handshake when its
// result has come, hands the bytes read to the handshake while it runs, and
// afterwards decrypts them and decodes the plaintext.
func (c *conn) readTLS() (start int64, msgs int) {
	t, gc, x := c.t, c.gc, c.tls
	if !x.live {
		if r := x.res.Swap(nil); r != nil {
			if r.err != nil {
				c.handshakeFailed(r.err)
			} else {
				start, msgs = c.handshakeDone(r)
			}
		}
	}
	buffered := gc.InboundBuffered()
	if t.stopping.Load() || c.s.State() >= session.StateClosing {
		if buffered > 0 {
			_, _ = gc.Discard(buffered)
		}
		return start, msgs
	}
	if !x.live {
		if buffered > 0 {
			buf, _ := gc.Peek(-1)
			_, err := x.tc.FeedAppend(nil, buf) // copied for the handshake goroutine
			_, _ = gc.Discard(len(buf))
			if errors.Is(err, tlsio.ErrInputLimit) {
				c.handshakeFailed(&tlsio.HandshakeError{Cause: tlsio.Classify(err), Err: err})
			}
		}
		return start, msgs
	}
	if t.workers != nil && c.paused() {
		if buffered+len(x.pend) > t.o.maxFrame+maxHeader {
			c.overflow(fmt.Sprintf("%d bytes arrived while its queue was full", buffered+len(x.pend)))
		}
		return start, msgs
	}
	if start == 0 {
		start = t.clock.now()
	}
	if len(x.pend) > 0 {
		p := x.pend
		x.pend = nil
		m, ok := c.decodeTLS(p, start)
		msgs += m
		if !ok {
			return start, msgs
		}
	}
	if x.err != nil {
		c.tlsFailed(x.err)
		return start, msgs
	}
	if buffered == 0 {
		return start, msgs
	}
	buf, _ := gc.Peek(-1)
	pt, ferr := x.tc.FeedAppend(c.loop.plain[:0], buf)
	_, _ = gc.Discard(len(buf))
	c.loop.keepPlain(pt)
	m, ok := c.decodeTLS(pt, start)
	msgs += m
	switch {
	case ferr == nil:
	case ok:
		c.tlsFailed(ferr)
	case c.s.State() == session.StateConnected:
		x.err = ferr // the worker queue filled: after what it left undecoded
	}
	return start, msgs
}

// decodeTLS decodes plaintext pt and counts what it delivered. It reports
// false if the session failed or its worker queue filled (the rest of pt is
// kept in pend for the next turn).
func (c *conn) decodeTLS(pt []byte, start int64) (msgs int, ok bool) {
	rest, m, b, full, err := c.decode(pt, start)
	c.delivered(m, b, start)
	if err != nil {
		c.decodeFailed(err)
		return m, false
	}
	if full {
		if len(rest) > 0 {
			c.tls.pend = append([]byte(nil), rest...)
		}
		return m, false
	}
	return m, true
}

// tlsFailed closes the session for an error crypto/tls found after the
// handshake. A close_notify is a clean end unless it cut a frame off.
func (c *conn) tlsFailed(err error) {
	if errors.Is(err, tlsio.ErrCloseNotify) && c.part == nil {
		c.s.Close(ErrPeerClosed)
		return
	}
	if errors.Is(err, tlsio.ErrCloseNotify) {
		err = fmt.Errorf("close_notify in the middle of a frame: %w", err)
	}
	c.fail(fmt.Errorf("%w: %w", ErrTLS, err), metrics.TLS)
}

// handshakeDone makes the session of a successful handshake: it records the
// latency and the state, opens the session to sends, runs OnConnect, then
// switches the connection to the loop and decodes what came with the
// handshake's end.
func (c *conn) handshakeDone(r *hsResult) (start int64, msgs int) {
	t, x := c.t, c.tls
	if c.s.State() >= session.StateClosing {
		return 0, 0 // closing already: the close counts it
	}
	t.src.Handshake(time.Since(x.started))
	st := r.st
	c.tlsState.Store(&st)
	x.live = true
	c.mu.Lock()
	c.hold = false
	c.mu.Unlock()
	start = t.clock.now()
	c.sc.Touch(start)
	c.sc.SetState(sess.StateConnected)
	if t.workers != nil {
		t.workers.post(c, job{kind: jobConnect})
	} else {
		t.guard(c, func() { t.h.OnConnect(c.s) })
	}
	x.tell(nil)
	pt, err := x.tc.Activate()
	msgs, ok := c.decodeTLS(pt, start)
	switch {
	case err == nil:
	case ok:
		c.tlsFailed(err)
	case c.s.State() == session.StateConnected:
		x.err = err
	}
	return start, msgs
}

// handshakeFailed closes a connection whose handshake failed, counting and
// logging the failure. The handler never hears of it.
func (c *conn) handshakeFailed(err error) {
	c.countHandshakeFailure(err)
	c.failed.Store(true)
	c.s.Close(fmt.Errorf("%w: %w", ErrTLSHandshake, err))
}

// countHandshakeFailure counts and logs a failed handshake, once.
func (c *conn) countHandshakeFailure(err error) {
	x, t := c.tls, c.t
	if x.counted {
		return
	}
	x.counted = true
	cause := tlsio.Classify(err)
	if errors.Is(err, ErrPeerClosed) {
		cause = tlsio.CauseClosed
	}
	if int(cause) < len(t.hsFailures) {
		t.hsFailures[cause].Add(1)
	}
	t.src.Error(metrics.Handshake)
	level := slog.LevelInfo
	if cause == tlsio.CauseBusy {
		level = slog.LevelWarn
	}
	t.logs.log("tls_handshake_"+cause.String(), level, "netsys: TLS handshake failed",
		"cause", cause.String(), "remote", c.s.RemoteAddr(), "err", err)
}

// endTLS ends c's TLS state as the connection closes, on the loop, and
// reports whether the handshake never succeeded: then the handler must not
// hear of the session, and the failure is counted here if it was not yet.
func (c *conn) endTLS(reason error) bool {
	x := c.tls
	x.closed.Store(!x.live)
	x.tc.Close() // a handshake still running ends; its onDone may run now
	x.pend = nil
	if x.live {
		return false
	}
	r := x.res.Load()
	if r != nil && r.err != nil {
		reason = fmt.Errorf("%w: %w", ErrTLSHandshake, r.err) // what the handshake made of it
	}
	c.countHandshakeFailure(reason)
	if r != nil && r.err == nil {
		// It succeeded, but the connection closed before the loop used it;
		// a handshake that has not ended tells connect through onDone.
		if !errors.Is(reason, ErrTLSHandshake) {
			reason = fmt.Errorf("%w: %w", ErrTLSHandshake, reason)
		}
		x.tell(reason)
	}
	return true
}

// sealBatch puts raw, then the plaintext batch b encrypted (and a
// close_notify if notify is set), into the loop's ciphertext buffer and
// returns it; raw and b are given back. It runs on the loop.
func (c *conn) sealBatch(b, raw *bytebufferpool.ByteBuffer, lent bool, msgs, bytes int, notify bool) ([]byte, error) {
	l, x := c.loop, c.tls
	l.seal = l.seal[:0]
	if raw != nil {
		l.seal = append(l.seal, raw.B...)
		pool.PutBatch(raw)
	}
	var err error
	if x.live && (b != nil || notify) {
		x.sealing = true
		if b != nil {
			c.count(msgs, bytes)
			err = x.tc.Write(b.B)
		}
		if notify && err == nil {
			err = x.tc.CloseNotify()
		}
		x.sealing = false
	}
	if b != nil {
		c.release(b, lent)
	}
	return l.seal, err
}

// flushSealed is flush's write of a TLS connection's batch: it is encrypted
// into the loop's ciphertext buffer, then written like a plaintext batch.
func (c *conn) flushSealed(b, raw *bytebufferpool.ByteBuffer, lent bool, msgs, bytes int) bool {
	seal, err := c.sealBatch(b, raw, lent, msgs, bytes, false)
	if err != nil {
		c.loop.keepSeal(seal)
		c.setReason(fmt.Errorf("%w: %w", ErrTLS, err))
		c.t.src.Error(metrics.TLS)
		return false
	}
	if c.wqOff == len(c.wq) {
		n, werr := c.t.write(c, seal)
		if werr != nil {
			c.loop.keepSeal(seal)
			return c.broken(werr)
		}
		c.appendQueue(seal[n:])
	} else {
		c.appendQueue(seal)
		if werr := c.writeQueue(); werr != nil {
			c.loop.keepSeal(seal)
			return c.broken(werr)
		}
	}
	c.loop.keepSeal(seal)
	c.settle()
	return true
}

// finishTLS is finish for a TLS connection: what is queued is encrypted into
// the write queue, followed by a close_notify when the peer may still read.
func (c *conn) finishTLS(b, raw *bytebufferpool.ByteBuffer, lent bool, msgs, bytes int, reason error) {
	notify := c.t.stopping.Load()
	if reason != nil {
		notify = lingers(reason) && !errors.Is(reason, ErrTLS) && !errors.Is(reason, ErrTLSHandshake)
	}
	seal, _ := c.sealBatch(b, raw, lent, msgs, bytes, notify)
	c.appendQueue(seal)
	c.loop.keepSeal(seal)
}

// keepSeal keeps seal's buffer for the loop's next batch, unless it grew large.
func (l *loop) keepSeal(seal []byte) {
	if cap(seal) > maxLoopOut {
		seal = nil
	}
	l.seal = seal[:0]
}

// keepPlain keeps pt's buffer for the loop's next read, unless it grew large.
func (l *loop) keepPlain(pt []byte) {
	if cap(pt) > maxLoopOut {
		pt = nil
	}
	l.plain = pt[:0]
}

// HandshakeFailures returns the TLS handshakes that failed, by cause
// ("timeout", "not_tls", "bad_certificate", "unknown_ca",
// "no_client_certificate", "busy", "closed", "other"); every cause is
// present, zero or not. Without WithTLS all are zero.
func (s *Server) HandshakeFailures() map[string]uint64 { return s.t.handshakeFailures() }

func (t *transport) handshakeFailures() map[string]uint64 {
	out := make(map[string]uint64)
	for _, c := range tlsio.Causes() {
		if int(c) < len(t.hsFailures) {
			out[c.String()] = t.hsFailures[c].Load()
		}
	}
	return out
}
