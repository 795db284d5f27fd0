package envelope

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/netsys-go/netsys/engine"
)

// Client is an envelope connection to a server: an engine.Client whose
// handler is the envelope's. Its methods are safe from any goroutine; those
// that wait (Request, RequestType, Call, Flush, Sync) must not be called from a
// handler of its router.
type Client struct {
	ec  *engine.Client
	ep  *endpoint
	cur atomic.Pointer[Peer] // the current connection's peer; nil while disconnected
}

// Dial connects to addr and returns once the server's hello has arrived, so
// that a server speaking another version is refused here, with an error
// wrapping ErrRefused or ErrVersion. The client's router (WithRouter) handles
// the server's pushes and requests; engine options go in WithEngineOptions.
func Dial(ctx context.Context, addr string, opts ...Option) (*Client, error) {
	cfg := buildConfig(opts)
	ep := newEndpoint(cfg.router, cfg)
	c := &Client{ep: ep}
	first := make(chan *Peer, 1)
	ep.disconnected = func(p *Peer) { c.cur.CompareAndSwap(p, nil) }
	ep.connected = func(p *Peer) {
		c.cur.Store(p)
		select {
		case first <- p:
		default: // a reconnection
		}
	}
	eopts := append(cfg.engineOpts[:len(cfg.engineOpts):len(cfg.engineOpts)], engine.WithHandler(ep))
	ec, err := engine.Dial(ctx, addr, eopts...)
	if err != nil {
		return nil, err
	}
	c.ec = ec
	var p *Peer
	select {
	case p = <-first: // engine.Dial returns after OnConnect
	default:
		_ = ec.Close()
		return nil, fmt.Errorf("%w: the connection closed at once", ErrNotConnected)
	}
	select {
	case <-p.ready:
		return c, nil
	case <-p.ctx.Done():
		err = context.Cause(p.ctx)
	case <-ctx.Done():
		err = fmt.Errorf("envelope: waiting for the server's hello: %w", ctx.Err())
	}
	_ = ec.Close()
	return nil, err
}

// Peer returns the peer of the current connection, or ErrNotConnected.
func (c *Client) Peer() (*Peer, error) {
	p := c.cur.Load()
	if p == nil {
		return nil, ErrNotConnected
	}
	return p, nil
}

// Request sends body as an untyped request and waits for its answer; see
// Peer.Request.
func (c *Client) Request(ctx context.Context, body []byte) ([]byte, error) {
	p, err := c.Peer()
	if err != nil {
		return nil, err
	}
	return p.Request(ctx, body)
}

// RequestType sends body as a request of type typ; see Peer.Request.
func (c *Client) RequestType(ctx context.Context, typ uint32, body []byte) ([]byte, error) {
	p, err := c.Peer()
	if err != nil {
		return nil, err
	}
	return p.RequestType(ctx, typ, body)
}

// Call sends req as a request of type typ and decodes the reply into resp;
// see Peer.Call.
func (c *Client) Call(ctx context.Context, typ uint32, req, resp any) error {
	p, err := c.Peer()
	if err != nil {
		return err
	}
	return p.Call(ctx, typ, req, resp)
}

// Go sends body as an untyped request without waiting; done gets the answer
// on the client's event loop. See Peer.Go.
func (c *Client) Go(body []byte, done func(reply []byte, err error)) error {
	p, err := c.Peer()
	if err != nil {
		return err
	}
	return p.Go(body, done)
}

// Send sends body as an untyped one-way message.
func (c *Client) Send(body []byte) error {
	p, err := c.Peer()
	if err != nil {
		return err
	}
	return p.Send(body)
}

// SendType sends body as a one-way message of type typ.
func (c *Client) SendType(typ uint32, body []byte) error {
	p, err := c.Peer()
	if err != nil {
		return err
	}
	return p.SendType(typ, body)
}

// SendValue marshals v and sends it as a one-way message of type typ.
func (c *Client) SendValue(typ uint32, v any) error {
	p, err := c.Peer()
	if err != nil {
		return err
	}
	return p.SendValue(typ, v)
}

// Flush returns once everything sent before the call has been handed to the
// kernel (engine.Client.Flush): it does not wait for the server. Sync waits
// until the server has read it.
func (c *Client) Flush(ctx context.Context) error { return c.ec.Flush(ctx) }

// Sync returns once the server has read everything sent before the call: see
// Peer.Sync.
func (c *Client) Sync(ctx context.Context) error {
	p, err := c.Peer()
	if err != nil {
		return err
	}
	return p.Sync(ctx)
}

// Stats returns the client's counters.
func (c *Client) Stats() Stats { return c.ep.stats.snapshot() }

// Engine returns the underlying engine client.
func (c *Client) Engine() *engine.Client { return c.ec }

// Close closes the connection; pending requests fail with
// engine.ErrClientClosed. See engine.Client.Close.
func (c *Client) Close() error { return c.ec.Close() }
