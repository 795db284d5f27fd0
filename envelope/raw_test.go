package envelope_test

import (
	"bytes"
	"testing"

	"github.com/netsys-go/netsys/envelope"
	"github.com/netsys-go/netsys/internal/nettest"
)

// rawPeer is a hand-driven envelope client on a plain socket, for feeding the
// server bytes that envelope.Client would never send.
type rawPeer struct{ *nettest.Client }

// rawDial connects, checks the server's hello and sends hello (nil: version
// 1 accepting nothing).
func rawDial(t testing.TB, addr string, hello []byte) *rawPeer {
	t.Helper()
	c := &rawPeer{nettest.Dial(t, addr)}
	got := c.Recv(t)
	h, body, err := envelope.ParseHeader(got)
	if err != nil || h.Kind != envelope.KindHello {
		t.Fatalf("first frame % x: %v; want a hello", got, err)
	}
	if hl, err := envelope.ParseHello(body); err != nil || hl.Version != envelope.Version {
		t.Fatalf("server hello %+v, %v", hl, err)
	}
	if hello == nil {
		hello = envelope.AppendHello(nil, envelope.Hello{Version: envelope.Version})
	}
	c.Send(t, hello)
	return c
}

// frame returns the payload of a frame with header h and body.
func frame(h envelope.Header, body []byte) []byte {
	return append(envelope.AppendHeader(nil, h), body...)
}

// recvFrame reads one frame and parses it.
func (c *rawPeer) recvFrame(t testing.TB) (envelope.Header, []byte) {
	t.Helper()
	p := c.Recv(t)
	h, body, err := envelope.ParseHeader(p)
	if err != nil {
		t.Fatalf("frame from the server % x: %v", p, err)
	}
	return h, bytes.Clone(body)
}

// expectRefusal reads frames until the connection-level error (ID 0), checks
// its code, then waits for the close.
func (c *rawPeer) expectRefusal(t testing.TB, code envelope.Code) *envelope.RemoteError {
	t.Helper()
	for {
		h, body := c.recvFrame(t)
		if h.Kind != envelope.KindError || h.ID != 0 {
			continue
		}
		re, err := envelope.ParseError(body)
		if err != nil {
			t.Fatal(err)
		}
		if re.Code != code {
			t.Errorf("refusal %v; want code %v", re, code)
		}
		c.WaitClosed(t)
		return re
	}
}
