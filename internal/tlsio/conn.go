package tlsio

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Conn states. Transitions: new -> handshaking -> done -> open, any -> failed
// (handshake or read error), any -> closed.
const (
	stNew int32 = iota
	stHandshaking
	stDone // handshake succeeded; Activate not called yet
	stOpen
	stFailed
	stClosed
)

// minRoom is the free space Feed keeps in the plaintext buffer before each
// tls.Conn.Read, and growRoom how much it adds when there is less.
const (
	minRoom  = 512
	growRoom = 2 * minRoom
)

// Conn is one TLS connection driven by an event loop: a tls.Conn over an
// in-memory net.Conn. See the package documentation for the contract.
type Conn struct {
	tc    *tls.Conn
	m     memConn
	state atomic.Int32

	mu      sync.Mutex // guards the handshake fields below and m's handshake fields
	h       *Handshaker
	onDone  func(tls.ConnectionState, error)
	timer   *time.Timer
	queued  bool // guarded by h.mu, not mu
	hsErr   error
	started time.Time

	// Loop-only after the handshake.
	plain   []byte        // Feed's buffer
	readErr error         // sticky error of Feed
	scan    recordScanner // record boundaries of all bytes fed
}

// NewServer returns the server side of a TLS connection that sends its
// records through out. out is called with each record (or flight of records)
// crypto/tls writes: on the handshake goroutine during the handshake, and on
// the caller's goroutine from Write, Feed and CloseNotify afterwards. The
// slice is only valid during the call: out must copy it (append it to the
// session's outbound batch). out must not block and must not call methods of
// the Conn.
func NewServer(cfg *tls.Config, out func([]byte)) *Conn {
	c := &Conn{}
	c.m.c, c.m.out = c, out
	c.tc = tls.Server(&c.m, cfg)
	return c
}

// NewClient returns the client side of a TLS connection; see [NewServer].
// cfg must set ServerName or InsecureSkipVerify.
func NewClient(cfg *tls.Config, out func([]byte)) *Conn {
	c := &Conn{}
	c.m.c, c.m.out = c, out
	c.tc = tls.Client(&c.m, cfg)
	return c
}

// SetAddr sets the addresses the connection reports to crypto/tls (seen by
// GetCertificate and GetConfigForClient through ClientHelloInfo.Conn). Call it
// before Start; without it both are a placeholder "memory" address.
func (c *Conn) SetAddr(local, remote net.Addr) {
	c.m.local, c.m.remote = local, remote
}

// Start begins the handshake on h's pool. onDone is called exactly once if
// Start returns nil: with the negotiated state on success, or with a
// *[HandshakeError] (see [Classify]) on failure, timeout or Close. It is
// called on a goroutine of h, or on the goroutine that calls Close or whose
// timer expires while the handshake is still queued; it must not block and
// must not call methods of the Conn (post a wake-up to the event loop, then
// call [Conn.Activate] there). After onDone returns, out is never called from
// the handshake goroutine again.
//
// Start returns [ErrBusy] when h is full (then onDone is never called; close
// the connection) and [ErrStarted] on a second call.
func (c *Conn) Start(h *Handshaker, onDone func(tls.ConnectionState, error)) error {
	c.mu.Lock()
	if c.state.Load() != stNew {
		c.mu.Unlock()
		if c.state.Load() == stClosed {
			return ErrClosed
		}
		return ErrStarted
	}
	c.state.Store(stHandshaking)
	c.h, c.onDone = h, onDone
	c.m.blocking = true
	c.m.wake = make(chan struct{}, 1)
	c.started = time.Now()
	c.timer = time.AfterFunc(h.cfg.HandshakeTimeout, c.expire)
	c.mu.Unlock()
	if err := h.submit(c); err != nil {
		c.mu.Lock()
		c.timer.Stop()
		c.timer = nil
		c.onDone = nil
		c.hsErr = &HandshakeError{Cause: CauseBusy, Err: err}
		c.state.Store(stFailed)
		c.mu.Unlock()
		return err
	}
	return nil
}

// handshake runs on a goroutine of the pool.
func (c *Conn) handshake() {
	c.mu.Lock()
	err := c.m.err
	c.mu.Unlock()
	if err == nil {
		err = c.tc.Handshake()
	}
	c.finish(err)
}

// expire is the handshake timer's function.
func (c *Conn) expire() {
	if c.h.remove(c) {
		c.finish(ErrHandshakeTimeout)
		return
	}
	c.mu.Lock()
	if c.m.err == nil && c.state.Load() == stHandshaking {
		c.m.err = ErrHandshakeTimeout
		c.m.signal()
	}
	c.mu.Unlock()
}

// finish ends the handshake and calls onDone, once.
func (c *Conn) finish(err error) {
	c.mu.Lock()
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	if c.m.err != nil && (err == nil || errors.Is(err, c.m.err)) {
		// A timeout or Close wins over what crypto/tls made of the
		// interrupted read; a failure crypto/tls found itself (a rejected
		// certificate, with its alert sent) stays the cause even if the
		// connection closed meanwhile.
		err = c.m.err
	}
	onDone := c.onDone
	c.onDone = nil
	if err == nil {
		c.state.Store(stDone)
		c.m.blocking = false
	} else {
		if c.state.Load() != stClosed {
			c.state.Store(stFailed)
		}
		err = &HandshakeError{Cause: Classify(err), Err: err}
		c.hsErr = err
		c.m.in, c.m.r = nil, 0
	}
	c.m.wake = nil
	c.mu.Unlock()
	if onDone == nil {
		return
	}
	if err != nil {
		onDone(tls.ConnectionState{}, err)
		return
	}
	onDone(c.tc.ConnectionState(), nil)
}

// Activate switches the connection to the event loop once onDone reported
// success: call it on the loop, before the first Feed that should yield
// plaintext. It returns the plaintext of bytes that arrived during or right
// after the handshake (TLS 1.3 clients may send data with their Finished),
// valid until the next Feed or Activate; it may be non-empty together with an
// error, as with Feed. Before Activate, Feed only buffers.
func (c *Conn) Activate() ([]byte, error) {
	c.mu.Lock()
	switch c.state.Load() {
	case stDone:
	case stClosed:
		c.mu.Unlock()
		return nil, ErrClosed
	case stFailed:
		err := c.hsErr
		if err == nil {
			err = c.readErr
		}
		c.mu.Unlock()
		return nil, err
	default:
		c.mu.Unlock()
		return nil, ErrHandshaking
	}
	c.state.Store(stOpen)
	pending := c.m.in[c.m.r:]
	c.m.in, c.m.r = nil, 0
	c.mu.Unlock()
	// Read until crypto/tls asks for more, even with nothing pending: the
	// handshake goroutine may have pulled the first records into its buffer
	// already. The scanner saw pending in feedSlow.
	pt, err := c.read(c.plain[:0], pending, 0, true)
	c.plain = pt
	if len(pt) == 0 {
		c.plain = nil // keep nothing an idle connection does not need
	}
	return pt, err
}

// Feed hands the connection bytes just read from the socket and returns the
// plaintext they complete, without blocking. The plaintext aliases a buffer of
// the Conn, valid until the next Feed; use [Conn.FeedAppend] to decode into a
// buffer of your own instead. Feed may return plaintext and an error together:
// use the plaintext first. Errors are final: ErrCloseNotify for an orderly
// close by the peer, an error wrapping ErrRead and crypto/tls's error for a bad
// record, ErrInputLimit, ErrClosed, or the handshake's error.
//
// Before [Conn.Activate] (during the handshake), Feed copies the bytes for the
// handshake goroutine and returns (nil, nil).
func (c *Conn) Feed(ciphertext []byte) ([]byte, error) {
	pt, err := c.FeedAppend(c.plain[:0], ciphertext)
	c.plain = pt
	return pt, err
}

// FeedAppend is [Conn.Feed] that appends the plaintext to dst and returns the
// extended slice, for an engine that decodes from a buffer of its own (a
// per-loop scratch buffer keeps idle connections small).
func (c *Conn) FeedAppend(dst, ciphertext []byte) ([]byte, error) {
	if c.state.Load() != stOpen {
		return dst, c.feedSlow(ciphertext)
	}
	if c.readErr != nil {
		return dst, c.readErr
	}
	return c.read(dst, ciphertext, c.scan.scan(ciphertext), false)
}

// read drives tls.Conn.Read over src until the records completed by src
// (complete of them) are read and src is used up, or until crypto/tls asks
// for more bytes (errWouldBlock). With probe set it reads until
// errWouldBlock, whatever complete says.
//
// Counting records saves the last Read, the one that would find nothing:
// crypto/tls allocates 24 bytes (its atLeastReader) each time it pulls bytes
// from the net.Conn, including when there are none. A Read that returns less
// than the room it was given drained a record; it may have consumed more (a
// TLS 1.3 session ticket or key update before the data), never fewer, so
// after complete such Reads nothing complete is left.
func (c *Conn) read(dst, src []byte, complete int, probe bool) ([]byte, error) {
	c.m.src = src
	drained := 0
	for probe || drained < complete || len(c.m.src) > 0 {
		if cap(dst)-len(dst) < minRoom {
			dst = slices.Grow(dst, max(growRoom, len(src)))
		}
		room := cap(dst) - len(dst)
		n, err := c.tc.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if err == nil {
			if n < room {
				drained++
			}
			continue
		}
		c.m.src = nil
		if err == errWouldBlock {
			return dst, nil
		}
		if err == io.EOF {
			c.readErr = ErrCloseNotify
		} else {
			c.readErr = fmt.Errorf("%w: %w", ErrRead, err)
		}
		c.state.Store(stFailed)
		return dst, c.readErr
	}
	c.m.src = nil
	return dst, nil
}

// recordScanner follows the TLS record boundaries of the bytes fed, from the
// first one: five bytes of header, then the length the header gives.
type recordScanner struct {
	hdr  [5]byte
	hn   int // header bytes seen of the current record
	left int // body bytes still to come, once hn == 5
}

// scan consumes b and returns how many records it completed.
func (s *recordScanner) scan(b []byte) int {
	n := 0
	for {
		if s.hn < len(s.hdr) {
			if len(b) == 0 {
				return n
			}
			k := copy(s.hdr[s.hn:], b)
			s.hn += k
			b = b[k:]
			if s.hn < len(s.hdr) {
				return n
			}
			s.left = int(s.hdr[3])<<8 | int(s.hdr[4])
		}
		k := min(s.left, len(b))
		s.left -= k
		b = b[k:]
		if s.left > 0 {
			return n
		}
		n++
		s.hn = 0
	}
}

// feedSlow is Feed before Activate: buffer for the handshake goroutine.
func (c *Conn) feedSlow(ciphertext []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.state.Load() {
	case stNew, stHandshaking, stDone:
	case stClosed:
		return ErrClosed
	case stFailed:
		if c.hsErr != nil {
			return c.hsErr
		}
		return c.readErr
	}
	if len(ciphertext) == 0 {
		return nil
	}
	max := defaultMaxHandshakeInput
	if c.h != nil {
		max = c.h.cfg.MaxHandshakeInput
	}
	if len(c.m.in)-c.m.r+len(ciphertext) > max {
		return ErrInputLimit
	}
	if c.m.r > 0 && c.m.r == len(c.m.in) {
		c.m.in, c.m.r = c.m.in[:0], 0
	}
	c.m.in = append(c.m.in, ciphertext...)
	c.scan.scan(ciphertext)
	if c.m.wake != nil {
		c.m.signal()
	}
	return nil
}

// Write encrypts plaintext into records and hands them to out before it
// returns; it never blocks. It is valid once onDone reported success (from
// OnConnect on, before or after Activate); before, it returns ErrHandshaking
// and sends nothing (the engine exposes no session before then, so nothing
// needs queueing). crypto/tls splits plaintext into records of at most
// 16 KiB; out is called once per record.
func (c *Conn) Write(plaintext []byte) error {
	if s := c.state.Load(); s != stOpen && s != stDone {
		return c.stateErr(s)
	}
	if _, err := c.tc.Write(plaintext); err != nil {
		return fmt.Errorf("%w: %w", ErrWrite, err)
	}
	return nil
}

// CloseNotify sends a close_notify alert through out (an orderly TLS close);
// flush it, then close the socket and call Close. Later Writes fail.
func (c *Conn) CloseNotify() error {
	if s := c.state.Load(); s != stOpen && s != stDone {
		return c.stateErr(s)
	}
	if err := c.tc.CloseWrite(); err != nil {
		return fmt.Errorf("%w: %w", ErrWrite, err)
	}
	return nil
}

func (c *Conn) stateErr(s int32) error {
	switch s {
	case stClosed:
		return ErrClosed
	case stFailed:
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.hsErr != nil {
			return c.hsErr
		}
		if c.readErr != nil {
			return c.readErr
		}
		return ErrClosed
	}
	return ErrHandshaking
}

// ConnectionState returns the negotiated version, cipher suite, ALPN
// protocol, server name and peer certificates; before the handshake completes
// they are zero. onDone receives the same value.
func (c *Conn) ConnectionState() tls.ConnectionState {
	return c.tc.ConnectionState()
}

// HandshakeStarted is when Start was called (zero before): the engine's
// handshake latency is the time from it to onDone.
func (c *Conn) HandshakeStarted() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.started
}

// Close ends the connection's TLS state and releases its buffers; it sends
// nothing (see CloseNotify). A handshake in progress or queued fails with
// cause CauseClosed, and its onDone still runs (possibly on the caller's
// goroutine, before Close returns). Close is idempotent; call it on the
// loop.
func (c *Conn) Close() {
	removed := c.h != nil && c.h.remove(c)
	c.mu.Lock()
	if c.state.Load() == stClosed {
		c.mu.Unlock()
		return
	}
	c.state.Store(stClosed)
	if c.m.err == nil {
		c.m.err = ErrClosed
	}
	if c.m.wake != nil {
		c.m.signal()
	}
	if c.timer != nil && removed {
		c.timer.Stop()
		c.timer = nil
	}
	c.m.in, c.m.r = nil, 0
	c.mu.Unlock()
	c.plain, c.m.src = nil, nil
	if removed {
		c.finish(ErrClosed)
	}
}
