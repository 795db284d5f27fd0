package envelope_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/netsys-go/netsys/engine"
	"github.com/netsys-go/netsys/envelope"
	"github.com/netsys-go/netsys/internal/nettest"
	"github.com/netsys-go/netsys/session"
)

// window keeps a number of requests in flight until n have been answered,
// issuing each next request from the callback of an answered one: no
// goroutine per request, as a load generator does.
type window struct {
	send func(seq uint64) error // issues request seq

	mu   sync.Mutex
	n    int
	sent int
	got  int
	err  error
	done chan struct{}
}

func newWindow(n int, send func(seq uint64) error) *window {
	return &window{n: n, send: send, done: make(chan struct{})}
}

// start issues the first inFlight requests.
func (w *window) start(inFlight int) {
	for range inFlight {
		w.mu.Lock()
		w.sent++
		seq := w.sent
		w.mu.Unlock()
		if err := w.send(uint64(seq)); err != nil {
			w.answered(err)
			return
		}
	}
}

// answered counts an answer and issues the next request, if any is left.
func (w *window) answered(err error) {
	w.mu.Lock()
	if w.err != nil {
		w.mu.Unlock()
		return
	}
	if err != nil {
		w.err = err
		close(w.done)
		w.mu.Unlock()
		return
	}
	w.got++
	if w.got == w.n {
		close(w.done)
	}
	next := w.sent < w.n
	if next {
		w.sent++
	}
	seq := w.sent
	w.mu.Unlock()
	if next {
		if err := w.send(uint64(seq)); err != nil {
			w.answered(err)
		}
	}
}

func (w *window) wait(tb testing.TB) {
	tb.Helper()
	select {
	case <-w.done:
	case <-testCtx(tb).Done():
		tb.Fatal("window timed out")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		tb.Fatal(w.err)
	}
}

// goWindow runs n requests of 64 B through c with Go, inFlight at a time,
// checking that each reply echoes its own request: requests are numbered
// under the same lock that sends them, so they go out in number order, and
// the echo server answers in order, so reply k must carry number k.
func goWindow(tb testing.TB, c *envelope.Client, inFlight, n int) {
	var w *window
	var next uint64 // owned by the client's loop, where callbacks run in order
	cb := func(reply []byte, err error) {
		next++
		if err == nil && (len(reply) != 64 || binary.BigEndian.Uint64(reply) != next) {
			err = fmt.Errorf("reply %d: % x", next, reply)
		}
		w.answered(err)
	}
	var body [64]byte
	var bmu sync.Mutex // guards body and seq, shared by the starter and the loop
	var seq uint64
	w = newWindow(n, func(uint64) error {
		bmu.Lock()
		defer bmu.Unlock()
		seq++
		binary.BigEndian.PutUint64(body[:], seq)
		return c.Go(body[:], cb)
	})
	w.start(inFlight)
	w.wait(tb)
}

func TestGo(t *testing.T) {
	_, addr := serve(t, echoRouter(), nil)
	c := dial(t, addr)
	goWindow(t, c, 64, 5000)
	if st := c.Stats(); st.UnknownReplies != 0 || st.LateReplies != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestGoBusyAndErrors: Go refuses past the bound without waiting, delivers
// error replies as *RemoteError and fails what is pending when the session
// closes.
func TestGoBusyAndErrors(t *testing.T) {
	d := &deferrer{}
	r := envelope.NewRouter(nil)
	r.HandleUntyped(d.handle)
	_, addr := serve(t, r, nil)
	c := dial(t, addr, envelope.WithMaxInFlight(2))
	answers := make(chan error, 3)
	cb := func(_ []byte, err error) { answers <- err }
	for range 2 {
		if err := c.Go([]byte("x"), cb); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Go([]byte("x"), cb); !errors.Is(err, envelope.ErrBusy) {
		t.Fatalf("third Go = %v; want ErrBusy", err)
	}
	nettest.Eventually(t, "two deferred", func() error { return d.want(2) })
	resps, _ := d.take()
	_ = resps[0].Error(123, "nope")
	var re *envelope.RemoteError
	if err := <-answers; !errors.As(err, &re) || re.Code != 123 {
		t.Fatalf("answer = %v; want RemoteError 123", err)
	}
	if err := c.Go([]byte("x"), cb); err != nil { // the slot is free again
		t.Fatal(err)
	}
	nettest.Eventually(t, "third deferred", func() error { return d.want(1) })
	resps[1].Peer().Session().Close(errors.New("gone"))
	for range 2 {
		if err := <-answers; !errors.Is(err, engine.ErrPeerClosed) {
			t.Errorf("pending Go answered %v; want ErrPeerClosed", err)
		}
	}
}

// BenchmarkWindow compares, on one connection with 64 requests of 64 B in
// flight, the plain engine echo (engine.Client resending from its handler)
// with envelope requests (Client.Go resending from the callback): the same
// loops, the same window, the envelope's cost per round trip on both sides.
func BenchmarkWindow(b *testing.B) {
	const inFlight = 64
	b.Run("engine-echo", func(b *testing.B) {
		srv := nettest.StartServer(b, engine.HandlerFuncs{Message: func(s *session.Session, m []byte) { _ = s.Reply(m) }},
			engine.WithLoops(1))
		var w *window
		var cl *engine.Client
		h := engine.HandlerFuncs{Message: func(s *session.Session, m []byte) { w.answered(nil) }}
		cl, err := engine.Dial(context.Background(), srv.Addr().String(), engine.WithHandler(h), engine.WithLogger(nettest.Quiet))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = cl.Close() })
		body := bytes.Repeat([]byte{1}, 64)
		b.ReportAllocs()
		b.ResetTimer()
		w = newWindow(b.N, func(uint64) error { return cl.Send(body) })
		w.start(min(inFlight, b.N))
		w.wait(b)
	})
	b.Run("envelope-go", func(b *testing.B) {
		_, addr := serve(b, echoRouter(), nil, engine.WithLoops(1))
		c := dial(b, addr)
		b.ReportAllocs()
		b.ResetTimer()
		goWindow(b, c, min(inFlight, b.N), b.N)
	})
	b.Run("envelope-request", func(b *testing.B) {
		_, addr := serve(b, echoRouter(), nil, engine.WithLoops(1))
		c := dial(b, addr)
		body := make([]byte, 64)
		b.ReportAllocs()
		b.SetParallelism(inFlight)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.Request(context.Background(), body); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
