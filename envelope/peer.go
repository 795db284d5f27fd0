package envelope

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/s2"

	"github.com/netsys-go/netsys/codec"
	"github.com/netsys-go/netsys/internal/sess"
	"github.com/netsys-go/netsys/pool"
	"github.com/netsys-go/netsys/session"
)

// maxScratch is the largest scratch buffer a peer keeps between messages.
const maxScratch = 64 << 10

// Peer is the envelope's side of one session: what this end knows of the
// other (its hello), the requests it sent that wait for an answer, and the
// requests of the other end whose answers were deferred. Every exported
// method is safe from any goroutine, but Request, Call and Sync wait for the
// peer and must not be called from a handler running on the event loop (start
// a goroutine, or use WithWorkers).
type Peer struct {
	s      *session.Session // fixed at connect
	ep     *endpoint        // fixed at connect
	ctx    context.Context  // ends, with the disconnect reason as cause, when the session closes
	cancel context.CancelCauseFunc
	ready  chan struct{} // closed when the peer's hello arrived
	remote atomic.Uint32 // the features of the peer's hello, once ready is closed
	nserve atomic.Int32  // len(served), read without mu on the fast path

	// Owned by the goroutine running OnMessage for the session.
	helloSeen bool
	req       Msg    // the message being handled
	out       []byte // frames answered during the call
	val       []byte // values marshalled during the call
	in        []byte // decompressed bodies

	mu        sync.Mutex
	calls     callTable           // guarded by mu: our requests waiting for an answer
	wbuf      []byte              // guarded by mu: the frame of the request being sent
	abandoned map[uint32]struct{} // guarded by mu: IDs of our cancelled requests whose answer has not come
	served    map[uint32]struct{} // guarded by mu: the peer's requests with a deferred answer
	next      uint32              // guarded by mu: the last ID given out
	err       error               // guarded by mu: why the session closed; nil while open
	waiting   int                 // guarded by mu: Requests waiting for a slot
	freed     chan struct{}       // guarded by mu: closed (and replaced) when a slot frees or the session closes while some wait
}

func newPeer(s *session.Session, ep *endpoint) *Peer {
	p := &Peer{
		s:         s,
		ep:        ep,
		ready:     make(chan struct{}),
		freed:     make(chan struct{}),
		abandoned: make(map[uint32]struct{}),
		served:    make(map[uint32]struct{}),
	}
	p.ctx, p.cancel = context.WithCancelCause(context.Background())
	return p
}

// PeerOf returns the envelope peer of a session served by a ServerHandler
// (or of a Client's session), or nil if the session has none.
func PeerOf(s *session.Session) *Peer {
	if s == nil {
		return nil
	}
	p, _ := sess.CoreOf(s).Owner.Load().(*Peer)
	return p
}

// Request sends body as an untyped request to the other end of s, which
// must be a session of a ServerHandler, and returns the answer: see
// Peer.Request. It is how a server asks a client.
func Request(ctx context.Context, s *session.Session, body []byte) ([]byte, error) {
	p := PeerOf(s)
	if p == nil {
		return nil, ErrNoPeer
	}
	return p.Request(ctx, body)
}

// Session returns the peer's session.
func (p *Peer) Session() *session.Session { return p.s }

// Context returns a context that ends when the peer's session closes; its
// cause (context.Cause) is the reason.
func (p *Peer) Context() context.Context { return p.ctx }

// Ready returns a channel closed once the peer's hello has arrived.
func (p *Peer) Ready() <-chan struct{} { return p.ready }

// AcceptsCompression reports whether the peer's hello accepted S2 bodies; false
// until the hello has arrived.
func (p *Peer) AcceptsCompression() bool { return p.remote.Load()&FeatureS2 != 0 }

// Send sends body as an untyped one-way message.
func (p *Peer) Send(body []byte) error { return p.send(Header{Kind: KindMessage}, body) }

// SendType sends body as a one-way message of type typ.
func (p *Peer) SendType(typ uint32, body []byte) error {
	return p.send(Header{Kind: KindMessage, Typed: true, Type: typ}, body)
}

// SendValue marshals v with the router's serializer and sends it as a
// one-way message of type typ.
func (p *Peer) SendValue(typ uint32, v any) error {
	b := pool.GetFrame()
	defer pool.PutFrame(b)
	var err error
	if b.B, err = p.ep.r.ser.Marshal(b.B[:0], v); err != nil {
		return err
	}
	return p.SendType(typ, b.B)
}

// Request sends body as an untyped request and waits for its answer: the
// reply's body, a copy the caller owns, or a *RemoteError for an error reply.
// Requests on one connection may be concurrent and are answered in any order;
// one-way messages in either direction interleave with them freely. Request
// waits for a free slot while WithMaxInFlight requests are in flight. It
// returns ctx's error if ctx ends first: the slot is freed at once and a late
// reply is dropped and counted (Stats.LateReplies). If the session closes
// first, it returns the reason.
func (p *Peer) Request(ctx context.Context, body []byte) ([]byte, error) {
	return p.call(ctx, Header{Kind: KindRequest}, body, nil)
}

// RequestType is Request with a message type.
func (p *Peer) RequestType(ctx context.Context, typ uint32, body []byte) ([]byte, error) {
	return p.call(ctx, Header{Kind: KindRequest, Typed: true, Type: typ}, body, nil)
}

// Call marshals req with the router's serializer, sends it as a request of
// type typ and decodes the reply into resp (nil: the reply's body is
// ignored). Errors are Request's, or ErrBadBody if the reply does not decode.
func (p *Peer) Call(ctx context.Context, typ uint32, req, resp any) error {
	b := pool.GetFrame()
	defer pool.PutFrame(b)
	var err error
	if b.B, err = p.ep.r.ser.Marshal(b.B[:0], req); err != nil {
		return err
	}
	if resp == nil {
		resp = discard{}
	}
	_, err = p.call(ctx, Header{Kind: KindRequest, Typed: true, Type: typ}, b.B, resp)
	return err
}

// discard is the resp of a Call that ignores the reply.
type discard struct{}

// Sync returns once the peer has read everything sent on this session before
// the call: it sends a ping and waits for the pong, which the peer's envelope
// answers on its own, after every earlier frame. That is more than handing
// the bytes to the kernel (a client's Flush), and costs one round trip.
func (p *Peer) Sync(ctx context.Context) error {
	_, err := p.call(ctx, Header{Kind: KindPing}, nil, discard{})
	return err
}

// call is one request of ours waiting for its answer.
type call struct {
	into any                           // decode the reply into this (Call); nil: copy the body
	fn   func(reply []byte, err error) // Go's callback; nil for a waiting caller
	done chan result                   // capacity 1; receives the answer once
}

type result struct {
	body []byte
	err  error
}

var calls = sync.Pool{New: func() any { return &call{done: make(chan result, 1)} }}

func (p *Peer) call(ctx context.Context, h Header, body []byte, into any) ([]byte, error) {
	if len(body) > p.ep.cfg.maxBody {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrBodyTooLarge, len(body), p.ep.cfg.maxBody)
	}
	c := calls.Get().(*call)
	c.into = into
	p.mu.Lock()
	for p.calls.n >= p.ep.cfg.maxInFlight && p.err == nil {
		// Every slot is taken: wait for one to free, under the same lock
		// that frees them, so no wake-up is lost.
		freed := p.freed
		p.waiting++
		p.mu.Unlock()
		var err error
		select {
		case <-freed:
		case <-ctx.Done():
			err = ctx.Err()
		}
		p.mu.Lock()
		p.waiting--
		if err != nil {
			p.mu.Unlock()
			c.into = nil
			calls.Put(c)
			return nil, err
		}
	}
	id, err := p.start(h, body, c)
	p.mu.Unlock()
	if err != nil {
		c.into = nil
		calls.Put(c)
		return nil, err
	}

	var r result
	select {
	case r = <-c.done:
	case <-ctx.Done():
		p.mu.Lock()
		mine := p.calls.get(id) == c
		if mine {
			p.remove(id)
			if len(p.abandoned) >= maxAbandoned {
				clear(p.abandoned) // their late replies will count as unknown
			}
			p.abandoned[id] = struct{}{}
		}
		p.mu.Unlock()
		if mine {
			c.into = nil
			calls.Put(c)
			return nil, ctx.Err()
		}
		r = <-c.done // the answer is being delivered
	}
	c.into = nil
	calls.Put(c)
	return r.body, r.err
}

// start gives request h an ID, sends it and records c as waiting under the
// ID. It runs with mu held: IDs go on the wire in the order they are given,
// and the answer, which complete takes under mu, always finds c.
func (p *Peer) start(h Header, body []byte, c *call) (uint32, error) {
	if p.err != nil {
		return 0, p.err
	}
	p.calls.reserve()
	h.ID = p.nextID()
	p.wbuf = p.appendFrame(p.wbuf[:0], h, body)
	err := p.s.Send(p.wbuf)
	if cap(p.wbuf) > maxScratch {
		p.wbuf = nil
	}
	if err != nil {
		if errors.Is(err, session.ErrClosed) {
			err = fmt.Errorf("%w: %w", ErrNotConnected, err)
		}
		return 0, err
	}
	p.calls.put(h.ID, c)
	return h.ID, nil
}

// remove takes request id out of the requests in flight, freeing its slot,
// and wakes the Requests waiting for one. Called with mu held.
func (p *Peer) remove(id uint32) {
	p.calls.remove(id)
	if p.waiting > 0 {
		close(p.freed)
		p.freed = make(chan struct{})
	}
}

// nextID returns an ID that is neither 0 nor in use, by a request in flight
// or by a cancelled one whose reply may still come, and whose slot in the
// call table is free. IDs count up and wrap; the table is at most half full
// (reserve) and the abandoned set holds at most maxAbandoned IDs, so the loop
// ends. Called with mu held, after p.calls.reserve.
func (p *Peer) nextID() uint32 {
	for {
		p.next++
		id := p.next
		if id == 0 || !p.calls.free(id) {
			continue
		}
		if _, used := p.abandoned[id]; used {
			continue
		}
		return id
	}
}

// complete delivers an answer (reply, error or pong) to the request it is
// for. It runs on the session's OnMessage goroutine.
func (p *Peer) complete(h Header, body []byte) {
	p.mu.Lock()
	c := p.calls.get(h.ID)
	if c != nil {
		p.remove(h.ID)
	} else if _, ok := p.abandoned[h.ID]; ok {
		delete(p.abandoned, h.ID)
		p.ep.stats.lateReplies.Add(1)
	} else {
		p.ep.stats.unknownReplies.Add(1)
	}
	p.mu.Unlock()
	if c == nil {
		return
	}
	if c.fn != nil {
		p.finish(c, h, body)
		return
	}
	var r result
	switch {
	case h.Kind == KindError:
		re, err := ParseError(body)
		if err != nil {
			r.err = err
		} else {
			r.err = re
		}
	case c.into == nil:
		r.body = bytes.Clone(body)
	case c.into == discard{}:
	default:
		if err := p.ep.r.ser.Unmarshal(body, c.into); err != nil {
			r.err = fmt.Errorf("%w: reply: %w", ErrBadBody, err)
		}
	}
	c.done <- r
}

// closed fails every request of ours still waiting and ends the peer's
// context. It runs once, at disconnect.
func (p *Peer) closed(reason error) {
	p.mu.Lock()
	p.err = reason
	waiting := p.calls.takeAll()
	if p.waiting > 0 {
		close(p.freed) // the waiters see err
		p.freed = make(chan struct{})
	}
	clear(p.served)
	p.nserve.Store(0)
	p.mu.Unlock()
	for _, c := range waiting {
		if c.fn != nil {
			fn := c.fn
			c.fn = nil
			calls.Put(c)
			fn(nil, reason)
			continue
		}
		c.done <- result{err: reason}
	}
	p.cancel(reason)
}

// Go sends body as an untyped request without waiting: done receives the
// answer, on the goroutine that runs the connection's handlers (its event
// loop, unless engine.WithWorkers), so it must not block; reply aliases the
// read buffer and is valid only during the call. An error reply comes as a
// *RemoteError; if the session closes first, done gets the reason. Go does not
// wait for a slot: with WithMaxInFlight requests in flight it returns ErrBusy
// and done is never called; otherwise done is called exactly once. done may
// call Go again (the answered request's slot is free by then): that keeps a
// window of requests in flight with no goroutine per request, as a load
// generator does. There is no per-request deadline; requests end at the
// latest with the session.
func (p *Peer) Go(body []byte, done func(reply []byte, err error)) error {
	return p.goRequest(Header{Kind: KindRequest}, body, done)
}

// GoType is Go with a message type.
func (p *Peer) GoType(typ uint32, body []byte, done func(reply []byte, err error)) error {
	return p.goRequest(Header{Kind: KindRequest, Typed: true, Type: typ}, body, done)
}

func (p *Peer) goRequest(h Header, body []byte, done func([]byte, error)) error {
	if len(body) > p.ep.cfg.maxBody {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrBodyTooLarge, len(body), p.ep.cfg.maxBody)
	}
	c := calls.Get().(*call)
	c.fn = done
	p.mu.Lock()
	var err error
	if n := p.calls.n; n >= p.ep.cfg.maxInFlight && p.err == nil {
		err = fmt.Errorf("%w: %d requests in flight", ErrBusy, n)
	} else {
		_, err = p.start(h, body, c)
	}
	p.mu.Unlock()
	if err != nil {
		c.fn = nil
		calls.Put(c)
	}
	return err
}

// finish answers a Go request: it frees the slot, recycles the call and runs
// the callback. It runs on the session's OnMessage goroutine.
func (p *Peer) finish(c *call, h Header, body []byte) {
	fn := c.fn
	c.fn = nil
	calls.Put(c)
	if h.Kind == KindError {
		re, err := ParseError(body)
		if err != nil {
			fn(nil, err)
		} else {
			fn(nil, re)
		}
		return
	}
	fn(body, nil)
}

// compress reports whether a body of n bytes is to be compressed for this peer.
func (p *Peer) compress(k Kind, n int) bool {
	return n >= p.ep.cfg.threshold && !p.ep.cfg.noCompress && p.AcceptsCompression() &&
		(k == KindMessage || k == KindRequest || k == KindReply)
}

// appendFrame appends the frame of h and body to dst, compressing the body
// if the peer accepts it and it is over the threshold and shrinks.
func (p *Peer) appendFrame(dst []byte, h Header, body []byte) []byte {
	start := len(dst)
	dst = AppendHeader(dst, h)
	if p.compress(h.Kind, len(body)) {
		hl := len(dst)
		need := hl + s2.MaxEncodedLen(len(body))
		dst = slices.Grow(dst, need-hl)
		enc := s2.Encode(dst[hl:need], body)
		if len(enc) < len(body) {
			dst[start] |= flagCompressed
			p.ep.stats.compressedOut.Add(1)
			return dst[:hl+len(enc)]
		}
	}
	return append(dst, body...)
}

// send frames h and body and sends them with Session.Send, from any goroutine.
func (p *Peer) send(h Header, body []byte) error {
	if len(body) > p.ep.cfg.maxBody {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrBodyTooLarge, len(body), p.ep.cfg.maxBody)
	}
	b := pool.GetFrame()
	b.B = p.appendFrame(b.B[:0], h, body)
	err := p.s.Send(b.B)
	pool.PutFrame(b)
	return err
}

// reply frames h and body into the loop's scratch and sends them with
// Session.Reply. It runs on the session's OnMessage goroutine, during the call.
func (p *Peer) reply(h Header, body []byte) error {
	if len(body) > p.ep.cfg.maxBody {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrBodyTooLarge, len(body), p.ep.cfg.maxBody)
	}
	p.out = p.appendFrame(p.out[:0], h, body)
	err := p.s.Reply(p.out)
	if cap(p.out) > maxScratch {
		p.out = nil
	}
	return err
}

// decompress returns the decoded body of a compressed frame, in the peer's
// scratch buffer. A decoded length over the body limit is refused from the
// block's header, before anything is allocated for it.
func (p *Peer) decompress(body []byte) ([]byte, error) {
	n, err := s2.DecodedLen(body)
	if err != nil {
		return nil, fmt.Errorf("%w: S2 block: %w", ErrBadBody, err)
	}
	if n > p.ep.cfg.maxBody {
		return nil, fmt.Errorf("%w: compressed body decodes to %d bytes, limit %d",
			codec.ErrFrameTooLarge, n, p.ep.cfg.maxBody)
	}
	if cap(p.in) < n {
		p.in = make([]byte, n)
	}
	out, err := s2.Decode(p.in[:cap(p.in)], body)
	if err != nil {
		return nil, fmt.Errorf("%w: S2 block: %w", ErrBadBody, err)
	}
	p.ep.stats.compressedIn.Add(1)
	return out, nil
}

// trimScratch drops a decompression buffer grown past maxScratch.
func (p *Peer) trimScratch() {
	if cap(p.in) > maxScratch {
		p.in = nil
	}
	if cap(p.val) > maxScratch {
		p.val = nil
	}
}
