package envelope

import (
	"context"
	"fmt"

	"github.com/netsys-go/netsys/pool"
	"github.com/netsys-go/netsys/session"
)

// Msg is a message or request being handled: what a handler receives.
// It is valid only during the handler's call and only on the goroutine running
// it (the session's loop, or its worker): to answer later, or from another
// goroutine, take a Responder with Defer.
type Msg struct {
	p     *Peer
	h     Header
	body  []byte
	state uint8 // open, answered or deferred
}

const (
	reqOpen uint8 = iota
	reqAnswered
	reqDeferred
)

// Peer returns the peer the request came from.
func (r *Msg) Peer() *Peer { return r.p }

// Session returns the session the request came on.
func (r *Msg) Session() *session.Session { return r.p.s }

// Context returns the peer's context, which ends when the session closes.
func (r *Msg) Context() context.Context { return r.p.ctx }

// OneWay reports whether this is a one-way message, which takes no answer.
func (r *Msg) OneWay() bool { return r.h.Kind == KindMessage }

// ID returns the request's correlation ID, 0 for a one-way message.
func (r *Msg) ID() uint32 { return r.h.ID }

// Type returns the message type, and false if the frame carried none.
func (r *Msg) Type() (uint32, bool) { return r.h.Type, r.h.Typed }

// Body returns the body, decompressed. It aliases the engine's read buffer or
// the peer's scratch and is valid only during the handler's call.
func (r *Msg) Body() []byte { return r.body }

func (r *Msg) answer() error {
	switch {
	case r.p == nil:
		return fmt.Errorf("%w: Msg used after its handler returned (use Defer)", ErrAnswered)
	case r.h.Kind != KindRequest:
		return ErrOneWay
	case r.state != reqOpen:
		return ErrAnswered
	}
	r.state = reqAnswered
	return nil
}

// Reply answers the request with body, during the handler's call. It goes out
// in the same write as the session's other replies of the batch, without a
// lock or an allocation.
func (r *Msg) Reply(body []byte) error {
	if err := r.answer(); err != nil {
		return err
	}
	return r.p.reply(Header{Kind: KindReply, ID: r.h.ID}, body)
}

// ReplyValue marshals v with the router's serializer and replies with it.
func (r *Msg) ReplyValue(v any) error {
	if err := r.answer(); err != nil {
		return err
	}
	p := r.p
	var err error
	if p.val, err = p.ep.r.ser.Marshal(p.val[:0], v); err != nil {
		r.state = reqOpen
		return err
	}
	return p.reply(Header{Kind: KindReply, ID: r.h.ID}, p.val)
}

// Error answers the request with an error reply; the caller's Request returns
// a *RemoteError with code and msg.
func (r *Msg) Error(code Code, msg string) error {
	if err := r.answer(); err != nil {
		return err
	}
	return r.p.replyError(r.h.ID, code, msg, true)
}

// Fail answers the request with an error reply of CodeApplication carrying
// err's text.
func (r *Msg) Fail(err error) error { return r.Error(CodeApplication, err.Error()) }

// Defer hands the answer over to a Responder, for an answer made after the
// handler returns or from another goroutine. The request counts against the
// peer's WithMaxInFlight until the Responder answers or the session closes.
func (r *Msg) Defer() (Responder, error) {
	if err := r.answer(); err != nil {
		return Responder{}, err
	}
	r.state = reqDeferred
	p := r.p
	p.mu.Lock()
	p.served[r.h.ID] = struct{}{}
	p.nserve.Store(int32(len(p.served)))
	p.mu.Unlock()
	return Responder{p: p, id: r.h.ID}, nil
}

// Responder answers one deferred request, once, from any goroutine.
type Responder struct {
	p  *Peer
	id uint32
}

// ID returns the request's correlation ID.
func (w Responder) ID() uint32 { return w.id }

// Peer returns the peer that sent the request.
func (w Responder) Peer() *Peer { return w.p }

// take removes the request from the peer's deferred set, or reports that it
// was answered already (or its session closed).
func (w Responder) take() error {
	if w.p == nil {
		return ErrAnswered
	}
	p := w.p
	p.mu.Lock()
	_, ok := p.served[w.id]
	if ok {
		delete(p.served, w.id)
		p.nserve.Store(int32(len(p.served)))
	}
	err := p.err
	p.mu.Unlock()
	switch {
	case err != nil:
		return fmt.Errorf("%w: %w", ErrNotConnected, err)
	case !ok:
		return ErrAnswered
	}
	return nil
}

// Reply answers the request with body.
func (w Responder) Reply(body []byte) error {
	if err := w.take(); err != nil {
		return err
	}
	return w.p.send(Header{Kind: KindReply, ID: w.id}, body)
}

// ReplyValue marshals v with the router's serializer and replies with it.
func (w Responder) ReplyValue(v any) error {
	if w.p == nil {
		return ErrAnswered
	}
	b := pool.GetFrame()
	defer pool.PutFrame(b)
	var err error
	if b.B, err = w.p.ep.r.ser.Marshal(b.B[:0], v); err != nil {
		return err
	}
	return w.Reply(b.B)
}

// Error answers the request with an error reply.
func (w Responder) Error(code Code, msg string) error {
	if err := w.take(); err != nil {
		return err
	}
	return w.p.replyError(w.id, code, msg, false)
}

// Fail answers the request with an error reply of CodeApplication.
func (w Responder) Fail(err error) error { return w.Error(CodeApplication, err.Error()) }
