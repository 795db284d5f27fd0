package engine_test

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/netsys-go/netsys/engine"
	"github.com/netsys-go/netsys/internal/nettest"
)

// newPool makes a pool of size clients to addr and closes it when the test ends.
func newPool(t testing.TB, addr string, size int, opts ...engine.Option) *engine.Pool {
	t.Helper()
	opts = append([]engine.Option{engine.WithLogger(quiet)}, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), nettest.Timeout)
	defer cancel()
	p, err := engine.NewPool(ctx, addr, size, opts...)
	if err != nil {
		t.Fatalf("NewPool(%q, %d): %v", addr, size, err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func TestPoolConcurrentRequests(t *testing.T) {
	srvRec := &nettest.Recorder{Echo: true}
	_, addr := start(t, srvRec)
	p := newPool(t, addr, 8)
	ctx, cancel := context.WithTimeout(context.Background(), nettest.Timeout)
	defer cancel()

	const n = 1000
	requestAll(t, n, func(b []byte) ([]byte, error) { return p.Request(ctx, b) })

	if got := srvRec.Count("connect"); got != 8 {
		t.Errorf("server saw %d connections; want 8", got)
	}
	st := p.Stats()
	if st.Size != 8 || st.Idle != 8 || st.InUse != 0 || st.Connected != 8 || st.WaitTimeouts != 0 {
		t.Errorf("Stats() = %+v; want 8 clients, all idle and connected, no wait timeouts", st)
	}
	var total uint64
	for _, s := range p.Monitor().Snapshot().Sources {
		total += s.Latency.SinceStart.Count
	}
	if total != n {
		t.Errorf("round trips recorded by the pool's clients = %d; want %d", total, n)
	}
}

func TestPoolGetWaitsAndTimesOut(t *testing.T) {
	_, addr := echoServer(t)
	p := newPool(t, addr, 1)
	ctx := context.Background()

	c1, err := p.Get(ctx)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if _, err := p.Get(short); !errors.Is(err, engine.ErrPoolExhausted) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Get on an exhausted pool = %v; want ErrPoolExhausted and DeadlineExceeded", err)
	}
	if st := p.Stats(); st.InUse != 1 || st.Idle != 0 || st.Waits != 1 || st.WaitTimeouts != 1 {
		t.Errorf("Stats() = %+v; want 1 in use, 1 wait, 1 wait timeout", st)
	}

	// A waiting Get gets the client that is put back.
	got := make(chan *engine.Client, 1)
	go func() {
		c, err := p.Get(ctx)
		if err != nil {
			t.Errorf("waiting Get: %v", err)
		}
		got <- c
	}()
	nettest.Eventually(t, "a second waiting Get", func() error {
		if w := p.Stats().Waits; w != 2 {
			return fmt.Errorf("%d Gets waited; want 2", w)
		}
		return nil
	})
	p.Put(c1)
	if c := <-got; c != c1 {
		t.Errorf("waiting Get = %p; want the client put back, %p", c, c1)
	}
	p.Put(c1)
	p.Put(c1) // not out any more: ignored
	if st := p.Stats(); st.Idle != 1 || st.InUse != 0 {
		t.Errorf("Stats() after a double Put = %+v; want 1 idle, 0 in use", st)
	}
}

func TestPoolTimeoutOption(t *testing.T) {
	_, addr := echoServer(t)
	p := newPool(t, addr, 1, engine.WithPoolTimeout(10*time.Millisecond))
	if _, err := p.Get(context.Background()); err != nil {
		t.Fatalf("Get: %v", err)
	}
	if _, err := p.Request(context.Background(), []byte("x")); !errors.Is(err, engine.ErrPoolExhausted) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Request on an exhausted pool = %v; want ErrPoolExhausted after the pool timeout", err)
	}
}

func TestPoolReplacesLostConnections(t *testing.T) {
	srv1Rec := &nettest.Recorder{}
	srv1, addr := start(t, srv1Rec)
	// MaxAttempts 1 would end a Client at its second failure; a pool's
	// clients never give up. The gate holds the first attempts until srv1
	// has stopped (see TestClientReconnectsAfterServerRestart).
	rec := &reconnectRecorder{gate: make(chan struct{})}
	p := newPool(t, addr, 2, engine.WithHandler(rec),
		engine.WithReconnect(engine.Reconnect{Initial: time.Millisecond, Max: 5 * time.Millisecond, MaxAttempts: 1}))
	srv1Rec.WaitCount(t, "connect", 2) // see lostClient
	stop(t, srv1)
	close(rec.gate)
	nettest.Eventually(t, "two failed attempts per client", func() error {
		for i, s := range p.Monitor().Snapshot().Sources {
			if s.Connections.Failed < 2 {
				return fmt.Errorf("source %d: %d failed attempts", i, s.Connections.Failed)
			}
		}
		return nil
	})
	if st := p.Stats(); st.Connected != 0 {
		t.Fatalf("Stats() = %+v with the server down; want none connected", st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), nettest.Timeout)
	defer cancel()
	short, cancelShort := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancelShort()
	if _, err := p.Request(short, []byte("x")); !errors.Is(err, engine.ErrPoolExhausted) {
		t.Errorf("Request with no client connected = %v; want ErrPoolExhausted", err)
	}

	srv2Rec := &nettest.Recorder{Echo: true}
	serveAt(t, srv2Rec, addr)
	nettest.Eventually(t, "both connections replaced", func() error {
		if st := p.Stats(); st.Replaced < 2 || st.Connected != 2 {
			return fmt.Errorf("%d replaced, %d connected; want 2, 2", st.Replaced, st.Connected)
		}
		return nil
	})
	for i := range 4 {
		want := fmt.Sprint(i)
		if got, err := p.Request(ctx, []byte(want)); err != nil || string(got) != want {
			t.Fatalf("Request(%q) after replacement = %q, %v; want the echo", want, got, err)
		}
	}
	if got := srv2Rec.Count("connect"); got != 2 {
		t.Errorf("new server saw %d connections; want 2", got)
	}
}

func TestPoolClose(t *testing.T) {
	_, addr := echoServer(t)
	p := newPool(t, addr, 1)
	ctx := context.Background()
	c, err := p.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); !errors.Is(err, engine.ErrPooledClient) {
		t.Errorf("Close on a pooled client = %v; want ErrPooledClient", err)
	}
	if !c.Connected() {
		t.Errorf("a pooled client's Close closed it")
	}

	waiting := make(chan error, 1)
	go func() { _, err := p.Get(ctx); waiting <- err }()
	nettest.Eventually(t, "a waiting Get", func() error {
		if w := p.Stats().Waits; w != 1 {
			return fmt.Errorf("%d Gets waited; want 1", w)
		}
		return nil
	})
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-waiting; !errors.Is(err, engine.ErrPoolClosed) {
		t.Errorf("waiting Get at Close = %v; want ErrPoolClosed", err)
	}
	if _, err := p.Get(ctx); !errors.Is(err, engine.ErrPoolClosed) {
		t.Errorf("Get after Close = %v; want ErrPoolClosed", err)
	}
	if err := c.Send([]byte("x")); !errors.Is(err, engine.ErrClientClosed) {
		t.Errorf("Send on a client of a closed pool = %v; want ErrClientClosed", err)
	}
	p.Put(c) // after Close: ignored
	if err := p.Close(); err != nil {
		t.Errorf("second Close = %v; want nil", err)
	}
}

func TestNewPoolErrors(t *testing.T) {
	_, live := echoServer(t)
	tests := []struct {
		name string
		addr string
		size int
		want error // nil: any error
	}{
		{name: "size 0", addr: live, size: 0},
		{name: "bad address", addr: "nowhere", size: 2, want: engine.ErrBadAddress},
		{name: "refused", addr: closedAddr(t), size: 2, want: syscall.ECONNREFUSED},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := engine.NewPool(context.Background(), tt.addr, tt.size, engine.WithLogger(quiet))
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("NewPool(%q, %d) = %v; want %v", tt.addr, tt.size, err, tt.want)
			}
			if p != nil {
				t.Errorf("NewPool(%q, %d) returned a pool with its error", tt.addr, tt.size)
			}
		})
	}
}
