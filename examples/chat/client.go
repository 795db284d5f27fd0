package chat

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/netsys-go/netsys/envelope"
	"github.com/netsys-go/netsys/envelope/msgpser"
)

// Client is a chat user's connection.
type Client struct {
	c       *envelope.Client
	name    string
	said    chan Said
	dropped atomic.Uint64

	mu     sync.Mutex
	status string // guarded by mu
}

// Dial connects as user name; opts go to envelope.Dial. Lines pushed by the
// server arrive on Messages.
func Dial(ctx context.Context, addr, name string, opts ...envelope.Option) (*Client, error) {
	c := &Client{name: name, said: make(chan Said, 1024), status: "here"}
	r := envelope.NewRouter(msgpser.Serializer{})
	envelope.Handle(r, TypeSaid, func(_ *envelope.Msg, v *Said) {
		select {
		case c.said <- *v:
		default:
			c.dropped.Add(1) // the reader fell behind: never block the loop
		}
	})
	envelope.Handle(r, TypeStatus, func(m *envelope.Msg, _ *Status) {
		c.mu.Lock()
		st := StatusReply{Text: c.status}
		c.mu.Unlock()
		_ = m.ReplyValue(&st)
	})
	ec, err := envelope.Dial(ctx, addr, append([]envelope.Option{envelope.WithRouter(r)}, opts...)...)
	if err != nil {
		return nil, err
	}
	c.c = ec
	return c, nil
}

// Join enters room and returns its members.
func (c *Client) Join(ctx context.Context, room string) ([]string, error) {
	var m Members
	err := c.c.Call(ctx, TypeJoin, &Join{Room: room, Name: c.name}, &m)
	return m.Names, err
}

// Leave leaves room.
func (c *Client) Leave(ctx context.Context, room string) error {
	return c.c.Call(ctx, TypeLeave, &Leave{Room: room}, nil)
}

// Say sends a line to room, one-way: it comes back on Messages, as to every
// member.
func (c *Client) Say(room, text string) error {
	return c.c.SendValue(TypeSay, &Say{Room: room, Text: text})
}

// Who returns room's members.
func (c *Client) Who(ctx context.Context, room string) ([]string, error) {
	var m Members
	err := c.c.Call(ctx, TypeWho, &Who{Room: room}, &m)
	return m.Names, err
}

// SetStatus sets the line this client answers the server's Status with.
func (c *Client) SetStatus(text string) {
	c.mu.Lock()
	c.status = text
	c.mu.Unlock()
}

// Messages returns the lines pushed by the server. It holds up to 1,024;
// lines that find it full are dropped and counted (Dropped).
func (c *Client) Messages() <-chan Said { return c.said }

// Dropped returns the number of lines dropped because Messages was full.
func (c *Client) Dropped() uint64 { return c.dropped.Load() }

// Close closes the connection.
func (c *Client) Close() error { return c.c.Close() }
