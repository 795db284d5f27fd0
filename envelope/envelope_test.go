package envelope_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netsys-go/netsys/engine"
	"github.com/netsys-go/netsys/envelope"
	"github.com/netsys-go/netsys/internal/nettest"
	"github.com/netsys-go/netsys/session"
)

func TestRequestReply(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []engine.Option
	}{
		{"inline", nil},
		{"workers", []engine.Option{engine.WithWorkers(2)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, addr := serve(t, echoRouter(), nil, tc.opts...)
			c := dial(t, addr)
			for i := range 20 {
				body := []byte(fmt.Sprintf("ping %d", i))
				got, err := c.Request(testCtx(t), body)
				if err != nil || !bytes.Equal(got, body) {
					t.Fatalf("Request(%q) = %q, %v; want %q", body, got, err, body)
				}
			}
		})
	}
}

// TestConcurrentRequestsAnyOrder answers 64 concurrent requests in reverse
// order, from another goroutine: each caller gets its own reply.
func TestConcurrentRequestsAnyOrder(t *testing.T) {
	const n = 64
	d := &deferrer{}
	r := envelope.NewRouter(nil)
	r.HandleUntyped(d.handle)
	_, addr := serve(t, r, nil)
	c := dial(t, addr)

	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := fmt.Sprintf("req %d", i)
			got, err := c.Request(testCtx(t), []byte(body))
			if err != nil || string(got) != "re: "+body {
				errs <- fmt.Errorf("Request(%q) = %q, %v", body, got, err)
			}
		}()
	}
	nettest.Eventually(t, "all requests deferred", func() error { return d.want(n) })
	resps, bodies := d.take()
	for i := n - 1; i >= 0; i-- {
		if err := resps[i].Reply(append([]byte("re: "), bodies[i]...)); err != nil {
			t.Fatalf("Reply: %v", err)
		}
		if err := resps[i].Reply(nil); !errors.Is(err, envelope.ErrAnswered) {
			t.Fatalf("second Reply = %v; want ErrAnswered", err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestPushesInterleave has the server push two one-way messages before
// each reply: the replies reach their requests, the pushes the client's
// router.
func TestPushesInterleave(t *testing.T) {
	r := envelope.NewRouter(nil)
	r.HandleUntyped(func(m *envelope.Msg) {
		_ = m.Peer().SendType(7, []byte("push 1"))
		_ = m.Peer().SendType(7, []byte("push 2"))
		_ = m.Reply(append([]byte("reply to "), m.Body()...))
	})
	_, addr := serve(t, r, nil)

	var mu sync.Mutex
	var pushes []string
	cr := envelope.NewRouter(nil)
	cr.HandleRaw(7, func(m *envelope.Msg) {
		mu.Lock()
		pushes = append(pushes, string(m.Body()))
		mu.Unlock()
	})
	c := dial(t, addr, envelope.WithRouter(cr))
	for i := range 10 {
		body := fmt.Sprintf("q%d", i)
		got, err := c.Request(testCtx(t), []byte(body))
		if err != nil || string(got) != "reply to "+body {
			t.Fatalf("Request(%q) = %q, %v", body, got, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(pushes) != 20 || pushes[0] != "push 1" || pushes[1] != "push 2" {
		t.Errorf("pushes = %q; want 20 in order", pushes)
	}
}

func TestErrorReplies(t *testing.T) {
	r := envelope.NewRouter(nil)
	r.HandleRaw(1, func(m *envelope.Msg) { _ = m.Error(404, "no such room") })
	r.HandleRaw(2, func(m *envelope.Msg) { _ = m.Fail(errors.New("boom")) })
	r.HandleRaw(3, func(m *envelope.Msg) {}) // never answers
	envelope.Handle(r, 4, func(m *envelope.Msg, v *struct{ A int }) { _ = m.ReplyValue(v.A) })
	h, addr := serve(t, r, nil)
	c := dial(t, addr)

	_, err := c.RequestType(testCtx(t), 1, nil)
	var re *envelope.RemoteError
	if !errors.As(err, &re) || re.Code != 404 || re.Message != "no such room" {
		t.Errorf("type 1: %v; want RemoteError 404 no such room", err)
	}
	_, err = c.RequestType(testCtx(t), 2, nil)
	if !errors.As(err, &re) || re.Code != envelope.CodeApplication || re.Message != "boom" {
		t.Errorf("type 2: %v; want RemoteError application boom", err)
	}
	if _, err = c.RequestType(testCtx(t), 3, nil); !errors.Is(err, envelope.ErrNoReply) {
		t.Errorf("type 3: %v; want ErrNoReply", err)
	}
	if _, err = c.RequestType(testCtx(t), 99, nil); !errors.Is(err, envelope.ErrUnknownType) {
		t.Errorf("type 99: %v; want ErrUnknownType", err)
	}
	if _, err = c.Request(testCtx(t), nil); !errors.Is(err, envelope.ErrUnknownType) {
		t.Errorf("untyped: %v; want ErrUnknownType", err)
	}
	if _, err = c.RequestType(testCtx(t), 4, []byte("{")); !errors.Is(err, envelope.ErrBadBody) {
		t.Errorf("type 4, bad JSON: %v; want ErrBadBody", err)
	}
	var got int
	if err = c.Call(testCtx(t), 4, struct{ A int }{A: 42}, &got); err != nil || got != 42 {
		t.Errorf("Call = %d, %v; want 42", got, err)
	}
	if st := h.Stats(); st.Refused != 3 || st.Closed != 0 {
		t.Errorf("server stats %+v; want 3 refused, none closed", st)
	}
}

// TestServerRequestsClient: the server asks the client, which answers from
// its router, while the client's own requests go on.
func TestServerRequestsClient(t *testing.T) {
	peers := make(chan *envelope.Peer, 1)
	_, addr := serve(t, echoRouter(), []envelope.Option{envelope.OnConnect(func(p *envelope.Peer) { peers <- p })})
	cr := envelope.NewRouter(nil)
	cr.HandleUntyped(func(m *envelope.Msg) { _ = m.Reply(bytes.ToUpper(m.Body())) })
	c := dial(t, addr, envelope.WithRouter(cr))
	p := <-peers

	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the client's requests meanwhile
		defer wg.Done()
		for range 20 {
			if got, err := c.Request(testCtx(t), []byte("x")); err != nil || string(got) != "x" {
				t.Errorf("client Request = %q, %v", got, err)
				return
			}
		}
	}()
	for i := range 20 {
		body := fmt.Sprintf("who are you %d", i)
		got, err := envelope.Request(testCtx(t), p.Session(), []byte(body))
		if err != nil || string(got) != strings.ToUpper(body) {
			t.Fatalf("server Request = %q, %v; want %q", got, err, strings.ToUpper(body))
		}
	}
	wg.Wait()
}

// TestCancelledRequest: a cancelled request frees its slot at once, and its
// late reply is dropped and counted.
func TestCancelledRequest(t *testing.T) {
	d := &deferrer{}
	r := envelope.NewRouter(nil)
	r.HandleRaw(1, d.handle)
	r.HandleRaw(2, func(m *envelope.Msg) { _ = m.Reply([]byte("fast")) })
	_, addr := serve(t, r, nil)
	c := dial(t, addr, envelope.WithMaxInFlight(1))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.RequestType(ctx, 1, []byte("slow"))
		done <- err
	}()
	nettest.Eventually(t, "the request deferred", func() error { return d.want(1) })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Request = %v; want context.Canceled", err)
	}
	// The only slot is free again.
	if got, err := c.RequestType(testCtx(t), 2, nil); err != nil || string(got) != "fast" {
		t.Fatalf("Request after cancel = %q, %v", got, err)
	}
	resps, _ := d.take()
	if err := resps[0].Reply([]byte("too late")); err != nil {
		t.Fatal(err)
	}
	if err := c.Sync(testCtx(t)); err != nil { // the late reply was read before the pong
		t.Fatal(err)
	}
	if st := c.Stats(); st.LateReplies != 1 || st.UnknownReplies != 0 {
		t.Errorf("client stats %+v; want 1 late reply", st)
	}
	if got, err := c.RequestType(testCtx(t), 2, nil); err != nil || string(got) != "fast" {
		t.Fatalf("Request after the late reply = %q, %v", got, err)
	}
}

// TestBoundWaits: past WithMaxInFlight, Request waits for a slot, and gives
// up with its context.
func TestBoundWaits(t *testing.T) {
	d := &deferrer{}
	r := envelope.NewRouter(nil)
	r.HandleUntyped(d.handle)
	_, addr := serve(t, r, nil)
	c := dial(t, addr, envelope.WithMaxInFlight(2))
	results := make(chan error, 3)
	for range 3 {
		go func() {
			_, err := c.Request(testCtx(t), []byte("x"))
			results <- err
		}()
	}
	nettest.Eventually(t, "two requests deferred", func() error { return d.want(2) })
	ctx, cancel := context.WithTimeout(context.Background(), 0)
	defer cancel()
	if _, err := c.Request(ctx, []byte("x")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Request over the bound = %v; want DeadlineExceeded", err)
	}
	resps, _ := d.take()
	for _, w := range resps {
		_ = w.Reply(nil)
	}
	nettest.Eventually(t, "the third request deferred", func() error { return d.want(1) })
	resps, _ = d.take()
	_ = resps[0].Reply(nil)
	for range 3 {
		if err := <-results; err != nil {
			t.Error(err)
		}
	}
}

// TestCompression: bodies over the threshold go compressed both ways, only
// to a peer whose hello accepts it, and arrive intact.
func TestCompression(t *testing.T) {
	big := bytes.Repeat([]byte(`{"user":"alice","text":"hello, room"},`), 100)
	for _, tc := range []struct {
		name       string
		clientOpts []envelope.Option
		compressed bool
	}{
		{"accepted", nil, true},
		{"client refuses", []envelope.Option{envelope.WithCompression(false)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, addr := serve(t, echoRouter(), nil)
			c := dial(t, addr, tc.clientOpts...)
			for _, body := range [][]byte{big, big[:100], bytes.Repeat([]byte{0}, 600)} {
				got, err := c.Request(testCtx(t), body)
				if err != nil || !bytes.Equal(got, body) {
					t.Fatalf("Request of %d bytes = %d bytes, %v", len(body), len(got), err)
				}
			}
			cs, ss := c.Stats(), h.Stats()
			want := uint64(0)
			if tc.compressed {
				want = 2
			}
			if cs.CompressedOut != want || ss.CompressedIn != want || ss.CompressedOut != want || cs.CompressedIn != want {
				t.Errorf("client %+v server %+v; want %d compressed each way", cs, ss, want)
			}
		})
	}
}

// TestFlush: everything sent before Flush has been read by the server when
// it returns.
func TestFlush(t *testing.T) {
	var mu sync.Mutex
	n := 0
	r := envelope.NewRouter(nil)
	r.HandleUntyped(func(*envelope.Msg) { mu.Lock(); n++; mu.Unlock() })
	_, addr := serve(t, r, nil)
	c := dial(t, addr)
	for range 500 {
		if err := c.Send([]byte("one-way")); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Sync(testCtx(t)); err != nil { // the server has read the 500
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if n != 500 {
		t.Errorf("server saw %d messages at Flush's return; want 500", n)
	}
}

// TestDisconnectFailsPending: requests waiting when the session closes fail
// with its reason; the server's OnDisconnect sees the peer.
func TestDisconnectFailsPending(t *testing.T) {
	d := &deferrer{}
	r := envelope.NewRouter(nil)
	r.HandleUntyped(d.handle)
	gone := make(chan error, 1)
	_, addr := serve(t, r, []envelope.Option{envelope.OnDisconnect(func(p *envelope.Peer, reason error) { gone <- reason })})
	c := dial(t, addr)
	done := make(chan error, 1)
	go func() { _, err := c.Request(context.Background(), nil); done <- err }()
	nettest.Eventually(t, "deferred", func() error { return d.want(1) })
	resps, _ := d.take()
	resps[0].Peer().Session().Close(errors.New("bye"))
	if err := <-done; !errors.Is(err, engine.ErrPeerClosed) {
		t.Errorf("pending Request = %v; want ErrPeerClosed", err)
	}
	if err := <-gone; err == nil || err.Error() != "bye" {
		t.Errorf("OnDisconnect reason %v; want bye", err)
	}
	if err := resps[0].Reply(nil); !errors.Is(err, envelope.ErrNotConnected) {
		t.Errorf("Reply after close = %v; want ErrNotConnected", err)
	}
}

var _ engine.Handler = (*envelope.ServerHandler)(nil)
var _ = session.ErrClosed

// TestBoundManyWaiters: 64 goroutines share 4 slots; every request
// completes (no lost wake-up) and the bound holds on the server's side too.
func TestBoundManyWaiters(t *testing.T) {
	var mu sync.Mutex
	inFlight, most := 0, 0
	r := envelope.NewRouter(nil)
	r.HandleUntyped(func(m *envelope.Msg) {
		w, _ := m.Defer()
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		mu.Unlock()
		go func() {
			mu.Lock()
			inFlight--
			mu.Unlock()
			_ = w.Reply([]byte("ok"))
		}()
	})
	_, addr := serve(t, r, nil)
	c := dial(t, addr, envelope.WithMaxInFlight(4))
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if got, err := c.Request(testCtx(t), []byte("x")); err != nil || string(got) != "ok" {
					t.Errorf("Request = %q, %v", got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if most > 4 {
		t.Errorf("the server saw %d requests in flight; the client's bound is 4", most)
	}
}

// TestReconnect: a client that reconnects (engine.WithReconnect) exchanges
// hellos again and serves requests on the new connection; a request pending
// on the lost one failed with the reason.
func TestReconnect(t *testing.T) {
	peers := make(chan *envelope.Peer, 2)
	_, addr := serve(t, echoRouter(), []envelope.Option{envelope.OnConnect(func(p *envelope.Peer) { peers <- p })})
	c := dial(t, addr, envelope.WithEngineOptions(engine.WithReconnect(engine.Reconnect{Initial: time.Millisecond})))
	first := <-peers
	if got, err := c.Request(testCtx(t), []byte("a")); err != nil || string(got) != "a" {
		t.Fatalf("Request = %q, %v", got, err)
	}
	first.Session().Close(errors.New("kicked"))
	second := <-peers
	if second == first {
		t.Fatal("no new peer after the reconnect")
	}
	nettest.Eventually(t, "requests on the new connection", func() error {
		got, err := c.Request(testCtx(t), []byte("b"))
		if err != nil {
			return fmt.Errorf("Request: %w", err)
		}
		if string(got) != "b" {
			return fmt.Errorf("Request(b) = %q", got)
		}
		return nil
	})
	p, err := c.Peer()
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Ready():
	default:
		t.Error("the new peer's hello has not arrived, yet a request went through")
	}
}
