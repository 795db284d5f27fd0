package engine_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/netsys-go/netsys/engine"
	"github.com/netsys-go/netsys/internal/nettest"
	"github.com/netsys-go/netsys/metrics"
	"github.com/netsys-go/netsys/session"
)

// dial connects a client to addr and closes it when the test ends.
func dial(t testing.TB, addr string, opts ...engine.Option) *engine.Client {
	t.Helper()
	opts = append([]engine.Option{engine.WithLogger(quiet)}, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), nettest.Timeout)
	defer cancel()
	cl, err := engine.Dial(ctx, addr, opts...)
	if err != nil {
		t.Fatalf("Dial(%q): %v", addr, err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// serveAt runs a server on addr and stops it when the test ends.
func serveAt(t testing.TB, h engine.Handler, addr string) *engine.Server {
	t.Helper()
	srv, err := engine.NewServer(h, engine.WithLogger(quiet), engine.WithLoops(1))
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	if err := srv.Start(addr); err != nil {
		t.Fatalf("Start(%q): %v", addr, err)
	}
	t.Cleanup(func() { stop(t, srv) })
	return srv
}

// stop stops srv and waits for the end; a server already stopped is fine.
func stop(t testing.TB, srv *engine.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), nettest.Timeout)
	defer cancel()
	if err := srv.Stop(ctx); err != nil && !errors.Is(err, engine.ErrNotRunning) {
		t.Errorf("Stop: %v", err)
	}
}

// echoServer runs a server that sends every message back.
func echoServer(t testing.TB, opts ...engine.Option) (*engine.Server, string) {
	t.Helper()
	return start(t, engine.HandlerFuncs{
		Message: func(s *session.Session, msg []byte) { _ = s.Send(msg) },
	}, opts...)
}

// reconnectRecorder is a client handler that also records reconnecting. If
// gate is set, OnReconnecting waits for it to close before attempt 1.
type reconnectRecorder struct {
	nettest.Recorder
	gate chan struct{}

	mu       sync.Mutex
	attempts []int
	lastErrs []error
	gaveUp   []error
}

func (r *reconnectRecorder) OnReconnecting(attempt int, _ time.Duration, lastErr error) {
	if attempt == 1 && r.gate != nil {
		<-r.gate
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts = append(r.attempts, attempt)
	r.lastErrs = append(r.lastErrs, lastErr)
}

func (r *reconnectRecorder) OnGiveUp(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gaveUp = append(r.gaveUp, err)
}

func (r *reconnectRecorder) reconnects() (attempts []int, lastErrs, gaveUp []error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.attempts...), append([]error(nil), r.lastErrs...), append([]error(nil), r.gaveUp...)
}

func messages(events []nettest.Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, string(e.Msg))
	}
	return out
}

func TestClientMessagesBothWays(t *testing.T) {
	srvRec := &nettest.Recorder{Echo: true}
	_, addr := start(t, srvRec)
	rec := &nettest.Recorder{}
	cl := dial(t, addr, engine.WithHandler(rec))

	// Dial returns once OnConnect has run.
	if n := rec.Count("connect"); n != 1 {
		t.Fatalf("connect events after Dial = %d; want 1", n)
	}
	cs := rec.Events("connect")[0].Session
	if !cl.Connected() || cl.Session() != cs {
		t.Fatalf("Connected() = %v, Session() = %v; want true, the session given to OnConnect", cl.Connected(), cl.Session())
	}
	ss := srvRec.WaitCount(t, "connect", 1)[0].Session

	if err := cl.Send([]byte("hello")); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if err := cl.SendRaw(nettest.Frame([]byte("raw"))); err != nil {
		t.Fatalf("SendRaw: %v", err)
	}
	if got := messages(srvRec.WaitCount(t, "message", 2)); fmt.Sprint(got) != "[hello raw]" {
		t.Errorf("server got %q; want [hello raw]", got)
	}
	if err := ss.Send([]byte("push")); err != nil {
		t.Fatalf("server Send: %v", err)
	}
	if got := messages(rec.WaitCount(t, "message", 3)); fmt.Sprint(got) != "[hello raw push]" {
		t.Errorf("client got %q; want the two echoes then the push", got)
	}

	if err := cl.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Close returns once OnDisconnect has run.
	if d := rec.Events("disconnect"); len(d) != 1 || !errors.Is(d[0].Err, engine.ErrClientClosed) {
		t.Fatalf("disconnect events after Close = %+v; want one with ErrClientClosed", d)
	}
	if err := srvRec.Disconnect(t, ss.ID()); !errors.Is(err, engine.ErrPeerClosed) {
		t.Errorf("server disconnect reason = %v; want ErrPeerClosed", err)
	}
	if cl.Connected() || cl.Session() != nil {
		t.Errorf("Connected() = true after Close")
	}
	if err := cl.Send([]byte("x")); !errors.Is(err, engine.ErrClientClosed) {
		t.Errorf("Send after Close = %v; want ErrClientClosed", err)
	}
	if _, err := cl.Request(context.Background(), []byte("x")); !errors.Is(err, engine.ErrClientClosed) {
		t.Errorf("Request after Close = %v; want ErrClientClosed", err)
	}
	if err := cl.Close(); err != nil {
		t.Errorf("second Close = %v; want nil", err)
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	return ln.Addr().String()
}

func TestDialErrors(t *testing.T) {
	closedPort := closedAddr(t)
	_, live := start(t, &nettest.Recorder{})
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()

	tests := []struct {
		name string
		ctx  context.Context
		addr string
		want error
	}{
		{name: "refused", ctx: context.Background(), addr: closedPort, want: syscall.ECONNREFUSED},
		{name: "no port", ctx: context.Background(), addr: "127.0.0.1", want: engine.ErrBadAddress},
		{name: "not tcp", ctx: context.Background(), addr: "udp://127.0.0.1:9", want: engine.ErrBadAddress},
		{name: "port out of range", ctx: context.Background(), addr: "127.0.0.1:99999", want: engine.ErrBadAddress},
		{name: "expired context", ctx: expired, addr: live, want: context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl, err := engine.Dial(tt.ctx, tt.addr, engine.WithLogger(quiet))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Dial(%q) = %v; want %v", tt.addr, err, tt.want)
			}
			if cl != nil {
				t.Errorf("Dial(%q) returned a client with its error", tt.addr)
			}
		})
	}
}

// fullListener returns the address of a loopback listener whose accept queue
// is full, so that a further connect hangs until its timeout. It skips the
// test if the kernel does not make connects hang that way.
func fullListener(t *testing.T) string {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*unix.SockaddrInet4).Port)
	for range 8 { // never accepted: fill the queue until a connect hangs
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			return addr
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Skip("connects to a listener with a full backlog do not hang here")
	return ""
}

func TestDialTimeout(t *testing.T) {
	addr := fullListener(t)
	_, err := engine.Dial(context.Background(), addr, engine.WithLogger(quiet), engine.WithConnectTimeout(50*time.Millisecond))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial(%q) with a full backlog = %v; want context.DeadlineExceeded", addr, err)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "engine: ") || !strings.Contains(msg, addr) {
		t.Errorf("Dial error %q; want it to start with \"engine: \" and name %s", msg, addr)
	}
}

func TestClientReconnectsAfterServerRestart(t *testing.T) {
	srv1Rec := &nettest.Recorder{}
	srv1, addr := start(t, srv1Rec)
	rec := &reconnectRecorder{gate: make(chan struct{})}
	cl := dial(t, addr, engine.WithHandler(rec), engine.WithSendQueue(8),
		engine.WithReconnect(engine.Reconnect{Initial: time.Millisecond, Max: 20 * time.Millisecond, Jitter: 0.5}))
	if err := cl.Send([]byte("before")); err != nil {
		t.Fatalf("Send: %v", err)
	}
	srv1Rec.WaitCount(t, "message", 1)

	stop(t, srv1)
	if err := rec.WaitCount(t, "disconnect", 1)[0].Err; !errors.Is(err, engine.ErrPeerClosed) {
		t.Errorf("disconnect reason = %v; want ErrPeerClosed", err)
	}
	// The gate holds attempt 1, so the client is disconnected for sure (a
	// quick attempt could reach srv1's listener before Stop closes it, and
	// messages sent on that doomed connection would be lost with it): these
	// wait in the send queue.
	if cl.Connected() {
		t.Fatal("Connected() = true after the disconnect, before any attempt")
	}
	for _, m := range []string{"q1", "q2", "q3"} {
		if err := cl.Send([]byte(m)); err != nil {
			t.Fatalf("Send(%q) while disconnected = %v; want nil (queued)", m, err)
		}
	}

	srv2Rec := &nettest.Recorder{}
	serveAt(t, srv2Rec, addr)
	close(rec.gate)
	if got := messages(srv2Rec.WaitCount(t, "message", 3)); fmt.Sprint(got) != "[q1 q2 q3]" {
		t.Errorf("new server got %q; want the queued [q1 q2 q3] in order", got)
	}
	if n := rec.Count("connect"); n != 2 {
		t.Errorf("client connect events = %d; want 2", n)
	}
	if err := cl.Send([]byte("after")); err != nil {
		t.Fatalf("Send after reconnect: %v", err)
	}
	if got := messages(srv2Rec.WaitCount(t, "message", 4)); got[3] != "after" {
		t.Errorf("new server got %q; want \"after\" last", got)
	}

	attempts, lastErrs, gaveUp := rec.reconnects()
	if len(attempts) == 0 || len(gaveUp) != 0 {
		t.Fatalf("attempts %v, give-ups %v; want at least one attempt and no give-up", attempts, gaveUp)
	}
	for i, a := range attempts {
		if a != i+1 {
			t.Fatalf("attempts = %v; want 1, 2, 3...", attempts)
		}
	}
	if !errors.Is(lastErrs[0], engine.ErrPeerClosed) {
		t.Errorf("attempt 1 lastErr = %v; want the disconnect reason", lastErrs[0])
	}
	for i, err := range lastErrs[1:] {
		if err == nil {
			t.Errorf("attempt %d lastErr = nil; want why attempt %d failed", i+2, i+1)
		}
	}
}

// lostClient returns a client whose server has stopped, after its
// OnDisconnect. Its reconnect attempts are refused.
func lostClient(t *testing.T, rec *reconnectRecorder, opts ...engine.Option) *engine.Client {
	t.Helper()
	srvRec := &nettest.Recorder{}
	srv, addr := start(t, srvRec)
	cl := dial(t, addr, append(opts, engine.WithHandler(rec))...)
	// Dial returns when the kernel has the connection; a server stopped
	// before its loop took it may never close it.
	srvRec.WaitCount(t, "connect", 1)
	stop(t, srv)
	rec.WaitCount(t, "disconnect", 1)
	return cl
}

func TestClientSendWhileDisconnected(t *testing.T) {
	later := engine.WithReconnect(engine.Reconnect{Initial: time.Hour}) // no attempt during the test
	t.Run("no queue", func(t *testing.T) {
		cl := lostClient(t, &reconnectRecorder{}, later)
		if err := cl.Send([]byte("x")); !errors.Is(err, engine.ErrNotConnected) {
			t.Errorf("Send = %v; want ErrNotConnected", err)
		}
		if _, err := cl.Request(context.Background(), []byte("x")); !errors.Is(err, engine.ErrNotConnected) {
			t.Errorf("Request = %v; want ErrNotConnected", err)
		}
		if err := cl.Close(); err != nil {
			t.Errorf("Close = %v; want nil", err)
		}
	})
	t.Run("queue full, then dropped by Close", func(t *testing.T) {
		cl := lostClient(t, &reconnectRecorder{}, later, engine.WithSendQueue(2))
		for _, m := range []string{"a", "b"} {
			if err := cl.Send([]byte(m)); err != nil {
				t.Fatalf("Send(%q) = %v; want nil (queued)", m, err)
			}
		}
		if err := cl.Send([]byte("c")); !errors.Is(err, engine.ErrQueueFull) {
			t.Errorf("Send over the bound = %v; want ErrQueueFull", err)
		}
		if _, err := cl.Request(context.Background(), []byte("r")); !errors.Is(err, engine.ErrNotConnected) {
			t.Errorf("Request = %v; want ErrNotConnected (requests are never queued)", err)
		}
		err := cl.Close()
		if !errors.Is(err, engine.ErrSendsDropped) || !strings.HasSuffix(err.Error(), ": 2") {
			t.Errorf("Close = %v; want ErrSendsDropped for 2 messages", err)
		}
	})
	t.Run("without reconnect", func(t *testing.T) {
		cl := lostClient(t, &reconnectRecorder{}, engine.WithSendQueue(2))
		if err := cl.Send([]byte("x")); !errors.Is(err, engine.ErrNotConnected) {
			t.Errorf("Send = %v; want ErrNotConnected (nothing would flush a queue)", err)
		}
	})
}

func TestClientGivesUp(t *testing.T) {
	rec := &reconnectRecorder{gate: make(chan struct{})}
	cl := lostClient(t, rec, engine.WithSendQueue(4),
		engine.WithReconnect(engine.Reconnect{Initial: time.Millisecond, MaxAttempts: 3}))
	if err := cl.Send([]byte("queued")); err != nil {
		t.Fatalf("Send = %v; want nil (queued)", err)
	}
	close(rec.gate) // let the attempts run
	nettest.Eventually(t, "OnGiveUp", func() error {
		if _, _, g := rec.reconnects(); len(g) == 0 {
			return errors.New("OnGiveUp not called")
		}
		return nil
	})

	attempts, _, gaveUp := rec.reconnects()
	if fmt.Sprint(attempts) != "[1 2 3]" || len(gaveUp) != 1 {
		t.Fatalf("attempts %v, give-ups %d; want [1 2 3] and one", attempts, len(gaveUp))
	}
	err := gaveUp[0]
	for _, want := range []error{engine.ErrGaveUp, syscall.ECONNREFUSED, engine.ErrSendsDropped} {
		if !errors.Is(err, want) {
			t.Errorf("OnGiveUp(%v): want it to wrap %v", err, want)
		}
	}
	if !strings.HasSuffix(err.Error(), ": 1") {
		t.Errorf("OnGiveUp(%v): want it to say 1 message was dropped", err)
	}
	if err := cl.Send([]byte("x")); !errors.Is(err, engine.ErrGaveUp) {
		t.Errorf("Send after give-up = %v; want ErrGaveUp", err)
	}
	if err := cl.Close(); err != nil {
		t.Errorf("Close after give-up = %v; want nil (the drop was reported once)", err)
	}
}

func TestClientRequest(t *testing.T) {
	held := make(chan *session.Session, 1)
	_, addr := start(t, engine.HandlerFuncs{
		Message: func(s *session.Session, msg []byte) {
			if string(msg) == "hold" { // the test replies, or closes, later
				held <- s
				return
			}
			_ = s.Send(msg)
		},
	})
	rec := &nettest.Recorder{}
	cl := dial(t, addr, engine.WithHandler(rec))
	ctx, cancel := context.WithTimeout(context.Background(), nettest.Timeout)
	defer cancel()
	takeHeld := func() *session.Session {
		t.Helper()
		select {
		case s := <-held:
			return s
		case <-ctx.Done():
			t.Fatal("the server never got the held request")
			return nil
		}
	}
	request := func(ctx context.Context, payload string) (string, error) {
		b, err := cl.Request(ctx, []byte(payload))
		return string(b), err
	}

	if got, err := request(ctx, "one"); got != "one" || err != nil {
		t.Fatalf("Request(%q) = %q, %v; want the echo", "one", got, err)
	}

	// The reply to a timed-out request comes late and must not answer the next.
	short, cancelShort := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancelShort()
	if got, err := request(short, "hold"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Request(%q) = %q, %v; want DeadlineExceeded", "hold", got, err)
	}
	s := takeHeld()
	if err := s.Send([]byte("late")); err != nil {
		t.Fatal(err)
	}
	if got, err := request(ctx, "two"); got != "two" || err != nil {
		t.Fatalf("Request(%q) after a timed-out one = %q, %v; want its own reply", "two", got, err)
	}
	if n := rec.Count("message"); n != 0 {
		t.Errorf("OnMessage calls = %d; want 0 (replies, even late, answer requests)", n)
	}

	// With no request waiting, a message goes to the handler.
	if err := s.Send([]byte("push")); err != nil {
		t.Fatal(err)
	}
	if got := messages(rec.WaitCount(t, "message", 1)); fmt.Sprint(got) != "[push]" {
		t.Errorf("OnMessage got %q; want [push]", got)
	}

	// Client round trips are recorded: one, the late hold, two.
	if st := sourceStats(t, cl.Monitor(), "client"); st.Latency.SinceStart.Count != 3 {
		t.Errorf("client latency count = %d; want 3 round trips", st.Latency.SinceStart.Count)
	}

	// Losing the connection fails the waiting request with the reason.
	errc := make(chan error, 1)
	go func() { _, err := request(ctx, "hold"); errc <- err }()
	takeHeld().Close(nil)
	if err := <-errc; !errors.Is(err, engine.ErrPeerClosed) {
		t.Errorf("Request during connection loss = %v; want ErrPeerClosed", err)
	}
	if _, err := request(ctx, "three"); !errors.Is(err, engine.ErrNotConnected) {
		t.Errorf("Request after the loss = %v; want ErrNotConnected", err)
	}
}

func TestClientConcurrentRequests(t *testing.T) {
	_, addr := echoServer(t)
	cl := dial(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), nettest.Timeout)
	defer cancel()
	// Many requests in flight on one connection: replies pair with requests
	// through the FIFO alone.
	requestAll(t, 500, func(p []byte) ([]byte, error) { return cl.Request(ctx, p) })
}

// requestAll makes n concurrent requests with request, each with a payload
// of its own, and fails t unless every one gets its own payload back.
func requestAll(t *testing.T, n int, request func([]byte) ([]byte, error)) {
	t.Helper()
	errs := make(chan error, n)
	var wg sync.WaitGroup
	wg.Add(n)
	for i := range n {
		go func() {
			defer wg.Done()
			want := fmt.Sprintf("request %d", i)
			got, err := request([]byte(want))
			if err == nil && string(got) != want {
				err = fmt.Errorf("Request(%q) = %q; want its own reply", want, got)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestClientRequestsInterleaved(t *testing.T) {
	type arrival struct {
		s   *session.Session
		msg []byte
	}
	arrivals := make(chan arrival, 8)
	_, addr := start(t, engine.HandlerFuncs{
		Message: func(s *session.Session, msg []byte) { arrivals <- arrival{s, append([]byte(nil), msg...)} },
	})
	cl := dial(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), nettest.Timeout)
	defer cancel()
	results := make(chan error, 5)
	request := func(payload string) {
		got, err := cl.Request(ctx, []byte(payload))
		if err == nil && string(got) != payload {
			err = fmt.Errorf("Request(%q) = %q; want its own reply", payload, got)
		}
		results <- err
	}
	// The server answers in arrival order, when the test says so.
	answer := func(n int) {
		t.Helper()
		for range n {
			select {
			case a := <-arrivals:
				if err := a.s.Send(a.msg); err != nil {
					t.Fatal(err)
				}
			case <-ctx.Done():
				t.Fatal("a request never reached the server")
			}
		}
	}
	wait := func(n int) {
		t.Helper()
		for range n {
			if err := <-results; err != nil {
				t.Fatal(err)
			}
		}
	}

	// Four requests in flight, two answered, a fifth sent while two still
	// wait: replies keep pairing with requests in wire order.
	for i := range 4 {
		go request(fmt.Sprint("r", i))
	}
	answer(2)
	wait(2)
	go request("r4")
	answer(3)
	wait(3)
}

func sourceStats(t *testing.T, m *metrics.Monitor, name string) metrics.SourceStats {
	t.Helper()
	for _, s := range m.Snapshot().Sources {
		if s.Kind == metrics.KindClient && s.Name == name {
			return s
		}
	}
	t.Fatalf("no client source %q in the monitor", name)
	return metrics.SourceStats{}
}

func TestDialSharedMonitorNames(t *testing.T) {
	_, addr := echoServer(t)
	m := metrics.NewMonitor()
	a := dial(t, addr, engine.WithMonitor(m), engine.WithName("a"))
	b := dial(t, addr, engine.WithMonitor(m), engine.WithName("b"))
	for _, cl := range []*engine.Client{a, b, a} {
		if _, err := cl.Request(context.Background(), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		name string
		want uint64
	}{{name: "a", want: 2}, {name: "b", want: 1}} {
		if got := sourceStats(t, m, tt.name).Messages.Out; got != tt.want {
			t.Errorf("source %q messages out = %d; want %d", tt.name, got, tt.want)
		}
	}
}

// TestClientFlush: Flush returns once what was sent before it is in the
// kernel, not before. Against a peer that does not read, with small socket
// buffers, 4 MiB cannot be: Flush waits until its context ends. Once the
// peer reads, it returns nil. Disconnected or closed, it says so at once.
func TestClientFlush(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		if nc, err := ln.Accept(); err == nil {
			_ = nc.(*net.TCPConn).SetReadBuffer(16 << 10)
			accepted <- nc
		}
	}()
	cl := dial(t, ln.Addr().String(), engine.WithSocketBuffers(32<<10, 32<<10))
	var peer net.Conn
	select {
	case peer = <-accepted:
		defer peer.Close()
	case <-time.After(nettest.Timeout):
		t.Fatal("no connection accepted")
	}
	if err := cl.Flush(context.Background()); err != nil {
		t.Fatalf("Flush with nothing sent = %v; want nil", err)
	}
	chunk := make([]byte, 64<<10)
	const chunks = 64 // 4 MiB: far more than the two sockets' buffers hold
	for range chunks {
		if err := cl.Send(chunk); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	err = cl.Flush(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Flush while the peer does not read = %v; want context.DeadlineExceeded", err)
	}
	read := make(chan int64, 1)
	go func() {
		var n int64
		buf := make([]byte, 64<<10)
		for {
			m, err := peer.Read(buf)
			n += int64(m)
			if err != nil {
				read <- n
				return
			}
		}
	}()
	ctx, cancel = context.WithTimeout(context.Background(), nettest.Timeout)
	defer cancel()
	if err := cl.Flush(ctx); err != nil {
		t.Fatalf("Flush while the peer reads = %v; want nil", err)
	}
	if err := cl.Close(); err != nil {
		t.Fatal(err)
	}
	// Everything was in the kernel when Flush returned, so the peer gets it
	// all before the close.
	select {
	case n := <-read:
		if want := int64(chunks * (4 + len(chunk))); n != want {
			t.Errorf("the peer read %d bytes; want %d", n, want)
		}
	case <-time.After(nettest.Timeout):
		t.Fatal("the peer's reads did not end after Close")
	}
	if err := cl.Flush(ctx); !errors.Is(err, engine.ErrClientClosed) {
		t.Errorf("Flush after Close = %v; want ErrClientClosed", err)
	}
}
