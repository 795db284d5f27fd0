package envelope

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/netsys-go/netsys/internal/sess"
	"github.com/netsys-go/netsys/pool"
	"github.com/netsys-go/netsys/session"
)

// Stats count what the envelope dropped, refused and compressed, over all the
// sessions of a ServerHandler or all the connections of a Client.
type Stats struct {
	LateReplies    uint64 `json:"late_replies"`    // answers to requests cancelled before they came; dropped
	UnknownReplies uint64 `json:"unknown_replies"` // answers to IDs not in flight; dropped
	Busy           uint64 `json:"busy"`            // requests refused with CodeBusy
	Refused        uint64 `json:"refused"`         // requests and messages refused for an unknown type or a bad body
	Closed         uint64 `json:"closed"`          // sessions closed by the envelope for bad input
	CompressedIn   uint64 `json:"compressed_in"`   // compressed frames received
	CompressedOut  uint64 `json:"compressed_out"`  // compressed frames sent
}

type stats struct {
	lateReplies, unknownReplies, busy, refused, closed atomic.Uint64
	compressedIn, compressedOut                        atomic.Uint64
}

func (s *stats) snapshot() Stats {
	return Stats{
		LateReplies:    s.lateReplies.Load(),
		UnknownReplies: s.unknownReplies.Load(),
		Busy:           s.busy.Load(),
		Refused:        s.refused.Load(),
		Closed:         s.closed.Load(),
		CompressedIn:   s.compressedIn.Load(),
		CompressedOut:  s.compressedOut.Load(),
	}
}

// endpoint is the engine.Handler of both sides: it keeps a Peer per session,
// exchanges hellos, matches answers to requests and hands messages and
// requests to the router.
type endpoint struct {
	r     *Router
	cfg   config
	hello []byte // this side's hello frame
	stats stats

	connected    func(p *Peer) // set by Dial before the first connection; nil on servers
	disconnected func(p *Peer) // set by Dial; nil on servers
}

func newEndpoint(r *Router, cfg config) *endpoint {
	if r == nil {
		r = NewRouter(nil)
	}
	h := Hello{Version: Version}
	if !cfg.noCompress {
		h.Features |= FeatureS2
	}
	return &endpoint{r: r, cfg: cfg, hello: AppendHello(nil, h)}
}

// ServerHandler is the engine.Handler of an envelope server: give it to
// engine.NewServer. Its methods run where the engine runs handlers (the
// session's event loop, or its worker with engine.WithWorkers), in order per
// session.
type ServerHandler struct{ ep *endpoint }

// NewServerHandler returns a handler that speaks the envelope on every
// session and hands messages and requests to r's handlers.
func NewServerHandler(r *Router, opts ...Option) *ServerHandler {
	cfg := buildConfig(opts)
	return &ServerHandler{ep: newEndpoint(r, cfg)}
}

// OnConnect makes the session's Peer and sends this side's hello.
func (h *ServerHandler) OnConnect(s *session.Session) { h.ep.OnConnect(s) }

// OnMessage handles one envelope frame.
func (h *ServerHandler) OnMessage(s *session.Session, msg []byte) { h.ep.OnMessage(s, msg) }

// OnDisconnect fails the peer's pending requests and tells OnDisconnect's function.
func (h *ServerHandler) OnDisconnect(s *session.Session, reason error) {
	h.ep.OnDisconnect(s, reason)
}

// Stats returns the handler's counters over all its sessions.
func (h *ServerHandler) Stats() Stats { return h.ep.stats.snapshot() }

func (e *endpoint) OnConnect(s *session.Session) {
	p := newPeer(s, e)
	sess.CoreOf(s).Owner.Store(p)
	if e.connected != nil {
		e.connected(p)
	}
	if err := s.Send(e.hello); err != nil {
		return // closing already
	}
	if e.cfg.onConnect != nil {
		e.cfg.onConnect(p)
	}
}

func (e *endpoint) OnDisconnect(s *session.Session, reason error) {
	p := e.peer(s)
	if p == nil {
		return
	}
	if e.disconnected != nil {
		e.disconnected(p)
	}
	p.closed(reason)
	if e.cfg.onDisconnect != nil {
		e.cfg.onDisconnect(p, reason)
	}
}

// peer returns the Peer of s, or nil.
func (e *endpoint) peer(s *session.Session) *Peer { return PeerOf(s) }

func (e *endpoint) OnMessage(s *session.Session, msg []byte) {
	p := e.peer(s)
	if p == nil {
		return
	}
	h, body, err := ParseHeader(msg)
	if err != nil {
		p.fail(err)
		return
	}
	if !p.helloSeen {
		if h.Kind != KindHello {
			p.fail(fmt.Errorf("%w: %v before the hello", ErrProtocol, h.Kind))
			return
		}
		p.hello(body)
		return
	}
	if h.Compressed {
		if e.cfg.noCompress {
			p.fail(fmt.Errorf("%w: compressed %v, and this side's hello did not accept compression", ErrNotAccepted, h.Kind))
			return
		}
		if body, err = p.decompress(body); err != nil {
			p.fail(err)
			return
		}
		defer p.trimScratch()
	}
	switch h.Kind {
	case KindMessage, KindRequest:
		e.serve(p, h, body)
	case KindReply, KindPong:
		p.complete(h, body)
	case KindError:
		if h.ID == 0 {
			re, err := ParseError(body)
			if err != nil {
				p.fail(err)
				return
			}
			p.closeWith(fmt.Errorf("%w: %w", ErrRefused, re))
			return
		}
		p.complete(h, body)
	case KindPing:
		_ = p.reply(Header{Kind: KindPong, ID: h.ID}, nil)
	case KindHello:
		p.fail(fmt.Errorf("%w: second hello", ErrProtocol))
	}
}

// hello takes the peer's hello: it refuses a version this side does not speak.
func (p *Peer) hello(body []byte) {
	h, err := ParseHello(body)
	if err != nil {
		p.fail(err)
		return
	}
	if h.Version != Version {
		p.refuse(CodeVersion, fmt.Errorf("%w: the peer speaks version %d, this side %d", ErrVersion, h.Version, Version))
		return
	}
	p.helloSeen = true
	p.remote.Store(h.Features)
	close(p.ready)
}

// serve hands a message or request to the router and makes sure a request
// gets an answer.
func (e *endpoint) serve(p *Peer, h Header, body []byte) {
	if h.Kind == KindRequest && p.nserve.Load() > 0 {
		p.mu.Lock()
		_, dup := p.served[h.ID]
		n := len(p.served)
		p.mu.Unlock()
		if dup {
			p.fail(fmt.Errorf("%w: request %d", ErrDuplicateID, h.ID))
			return
		}
		if n >= e.cfg.maxInFlight {
			e.stats.busy.Add(1)
			_ = p.replyError(h.ID, CodeBusy, busyText, true)
			return
		}
	}
	// Field by field: assigning a whole Msg to the heap copy costs a
	// typed memory move per message.
	req := &p.req
	req.p, req.h, req.body, req.state = p, h, body, reqOpen
	err := e.r.dispatch(req)
	state := req.state
	req.p, req.body = nil, nil // a Msg kept past the call is refused (answer)
	switch {
	case err != nil && h.Kind == KindMessage:
		p.fail(err)
	case err != nil:
		e.stats.refused.Add(1)
		code := CodeBadBody
		if errors.Is(err, ErrUnknownType) {
			code = CodeUnknownType
		}
		_ = p.replyError(h.ID, code, err.Error(), true)
	case h.Kind == KindRequest && state == reqOpen:
		_ = p.replyError(h.ID, CodeNoReply, "the handler returned without answering", true)
	}
}

const busyText = "too many requests in flight"

// replyError sends an error frame; inCall says whether it runs on the
// session's OnMessage goroutine during the call (Session.Reply) or not (Send).
func (p *Peer) replyError(id uint32, code Code, msg string, inCall bool) error {
	if inCall {
		p.val = AppendError(p.val[:0], code, msg)
		return p.reply(Header{Kind: KindError, ID: id}, p.val)
	}
	b := pool.GetFrame()
	defer pool.PutFrame(b)
	b.B = AppendError(b.B[:0], code, msg)
	return p.send(Header{Kind: KindError, ID: id}, b.B)
}

// fail closes the session for bad input from the peer: it tells the peer why
// (an error frame with ID 0 and CodeProtocol, or CodeVersion), counts and logs
// it.
func (p *Peer) fail(err error) {
	p.refuse(CodeProtocol, err)
}

func (p *Peer) refuse(code Code, err error) {
	b := pool.GetFrame()
	b.B = append(b.B[:0], byte(KindError), 0)
	b.B = AppendError(b.B, code, err.Error())
	_ = p.s.Send(b.B)
	pool.PutFrame(b)
	p.closeWith(err)
}

// closeWith closes the session with err as its reason, counted and logged.
func (p *Peer) closeWith(err error) {
	p.ep.stats.closed.Add(1)
	p.ep.cfg.logger.Warn("envelope: closing session", "session", p.s.ID(), "remote", p.s.RemoteAddr(), "err", err)
	p.s.Close(err)
}
