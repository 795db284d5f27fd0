package envelope

import (
	"testing"

	"github.com/netsys-go/netsys/internal/sess"
	"github.com/netsys-go/netsys/session"
)

// BenchmarkEndpoint measures the envelope's own CPU per message, without
// sockets: a server endpoint handling a request answered during the call, and
// a client peer's Go plus the handling of its reply.
func BenchmarkEndpoint(b *testing.B) {
	r := NewRouter(nil)
	r.HandleUntyped(func(m *Msg) { _ = m.Reply(m.Body()) })
	body := make([]byte, 64)
	b.Run("server-request", func(b *testing.B) {
		e := newEndpoint(r, buildConfig(nil))
		s := sess.Connected(3, &fakeWriter{}).Outer().(*session.Session)
		e.OnConnect(s)
		e.OnMessage(s, AppendHello(nil, Hello{Version: Version}))
		req := append(AppendHeader(nil, Header{Kind: KindRequest, ID: 1}), body...)
		b.ReportAllocs()
		for b.Loop() {
			e.OnMessage(s, req)
		}
	})
	b.Run("client-go-reply", func(b *testing.B) {
		e := newEndpoint(r, buildConfig(nil))
		s := sess.Connected(3, &fakeWriter{}).Outer().(*session.Session)
		e.OnConnect(s)
		e.OnMessage(s, AppendHello(nil, Hello{Version: Version}))
		p := e.peer(s)
		cb := func([]byte, error) {}
		rep := AppendHeader(nil, Header{Kind: KindReply, ID: 1})
		rep = append(rep, body...)
		b.ReportAllocs()
		for b.Loop() {
			_ = p.Go(body, cb)
			id := p.next
			rep[1] = byte(id & 0x7f) // IDs stay under 128 with a one-byte varint
			if id >= 127 {
				p.next = 0
			}
			e.OnMessage(s, rep)
		}
	})
}
