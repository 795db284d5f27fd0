package envelope

import (
	"fmt"
	"testing"

	"github.com/klauspost/compress/s2"

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
	// The server's CPU per 1 KiB JSON-like request, echoed, with and without
	// S2 both ways (decompress the request, compress the reply).
	for _, compressed := range []bool{false, true} {
		name := map[bool]string{false: "server-request-1KiB-json-plain", true: "server-request-1KiB-json-s2"}[compressed]
		b.Run(name, func(b *testing.B) {
			e := newEndpoint(r, buildConfig(nil))
			s := sess.Connected(3, &fakeWriter{}).Outer().(*session.Session)
			e.OnConnect(s)
			hello := Hello{Version: Version}
			h := Header{Kind: KindRequest, ID: 1}
			body := jsonLike(1024)
			if compressed {
				hello.Features = FeatureS2
				h.Compressed = true
				body = s2.Encode(nil, body)
			}
			e.OnMessage(s, AppendHello(nil, hello))
			req := append(AppendHeader(nil, h), body...)
			b.ReportAllocs()
			for b.Loop() {
				e.OnMessage(s, req)
			}
		})
	}
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

// jsonLike returns about n bytes of chat-like JSON, varied enough not to be
// trivially compressible.
func jsonLike(n int) []byte {
	var b []byte
	b = append(b, '[')
	for i := 0; len(b) < n-80; i++ {
		b = fmt.Appendf(b, `{"id":%d,"room":"room-%d","from":"user%03d","text":"message number %d, seen %x"},`,
			i*7919, i%5, (i*37)%1000, i, i*2654435761)
	}
	b[len(b)-1] = ']'
	return b
}

// JSONLike is jsonLike for the external tests.
var JSONLike = jsonLike
