package envelope

import (
	"errors"
	"sync"
	"testing"

	"github.com/netsys-go/netsys/internal/sess"
	"github.com/netsys-go/netsys/session"
)

// fakeWriter is an in-memory session writer: it keeps what is sent and the
// close reason.
type fakeWriter struct {
	mu     sync.Mutex
	frames int
	reason error
}

func (w *fakeWriter) Send(p []byte) error    { w.mu.Lock(); w.frames++; w.mu.Unlock(); return nil }
func (w *fakeWriter) Reply(p []byte) error   { return w.Send(p) }
func (w *fakeWriter) SendRaw(b []byte) error { return w.Send(b) }
func (w *fakeWriter) Close(reason error) {
	w.mu.Lock()
	if w.reason == nil {
		w.reason = reason
	}
	w.mu.Unlock()
}

var errFuzzEnd = errors.New("end of fuzz input")

// FuzzOnMessage feeds a server endpoint a hello and then arbitrary frames,
// split from the input at length bytes: whatever they are, it must not panic,
// and the session's Peer must end closed with no request of its own waiting.
func FuzzOnMessage(f *testing.F) {
	f.Add([]byte{3, 0x02, 0x01, 'x', 2, 0x03, 0x07, 5, 0x21, 0x80, 0x80, 0x80, 0x04})
	f.Add([]byte{4, 0x12, 0x01, 0x01, '{', 2, 0x06, 0x02, 3, 0x04, 0x00, 0x07})
	f.Add([]byte{2, 0x11, 0x02, 3, 0x05, 0x02, 0x01})
	r := NewRouter(nil)
	r.HandleUntyped(func(m *Msg) {
		if !m.OneWay() && len(m.Body())%2 == 0 {
			_ = m.Reply(m.Body())
		} else if !m.OneWay() {
			w, _ := m.Defer()
			_ = w.Reply(nil)
		}
	})
	Handle(r, 1, func(m *Msg, v *struct{ A int }) { _ = m.ReplyValue(v.A) })
	f.Fuzz(func(t *testing.T, in []byte) {
		e := newEndpoint(r, buildConfig([]Option{WithMaxInFlight(4), WithMaxBodySize(1 << 16), WithLogger(quietLogger)}))
		w := &fakeWriter{}
		s := sess.Connected(3, w).Outer().(*session.Session)
		e.OnConnect(s)
		e.OnMessage(s, AppendHello(nil, Hello{Version: Version, Features: FeatureS2}))
		for len(in) > 0 {
			n := int(in[0])
			in = in[1:]
			n = min(n, len(in))
			e.OnMessage(s, in[:n])
			in = in[n:]
		}
		e.OnDisconnect(s, errFuzzEnd)
		p := PeerOf(s)
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.err != errFuzzEnd || p.ctx.Err() == nil || p.calls.n != 0 || len(p.served) != 0 {
			t.Fatalf("after disconnect: err %v, %d calls, %d served", p.err, p.calls.n, len(p.served))
		}
	})
}
