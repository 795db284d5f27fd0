package engine_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/netsys-go/netsys/codec"
	"github.com/netsys-go/netsys/engine"
	"github.com/netsys-go/netsys/internal/nettest"
	"github.com/netsys-go/netsys/session"
)

var quiet = nettest.Quiet

// start runs a server on a loopback port 0 and stops it when the test ends.
func start(t testing.TB, h engine.Handler, opts ...engine.Option) (*engine.Server, string) {
	t.Helper()
	srv := nettest.StartServer(t, h, opts...)
	return srv, srv.Addr().String()
}

func TestStartStop(t *testing.T) {
	rec := &nettest.Recorder{}
	srv, err := engine.NewServer(rec, engine.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("Start: %v", err)
	}
	addr, ok := srv.Addr().(*net.TCPAddr)
	if !ok || addr.Port == 0 {
		t.Fatalf("Addr() = %v; want a real port", srv.Addr())
	}
	if err := srv.Start("127.0.0.1:0"); !errors.Is(err, engine.ErrAlreadyRunning) {
		t.Errorf("second Start = %v; want ErrAlreadyRunning", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), nettest.Timeout)
	defer cancel()
	if err := srv.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := srv.Wait(); err != nil {
		t.Errorf("Wait: %v", err)
	}
	if _, err := net.Dial("tcp", addr.String()); err == nil {
		t.Errorf("dial after Stop succeeded; want refused")
	}
	if err := srv.Stop(ctx); !errors.Is(err, engine.ErrNotRunning) {
		t.Errorf("Stop after Stop = %v; want ErrNotRunning", err)
	}
}

func TestStartErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tests := []struct {
		name string
		addr string
		want error
	}{
		{name: "port in use", addr: ln.Addr().String(), want: syscall.EADDRINUSE},
		{name: "no port", addr: "127.0.0.1", want: engine.ErrBadAddress},
		{name: "udp", addr: "udp://127.0.0.1:0", want: engine.ErrBadAddress},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := engine.NewServer(&nettest.Recorder{}, engine.WithLogger(quiet))
			if err != nil {
				t.Fatal(err)
			}
			err = srv.Start(tt.addr)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Start(%q) = %v; want %v", tt.addr, err, tt.want)
			}
		})
	}
}

func TestConnectAndMessagesBothWays(t *testing.T) {
	rec := &nettest.Recorder{Echo: true}
	srv, addr := start(t, rec)
	c := nettest.Dial(t, addr)
	s := rec.WaitCount(t, "connect", 1)[0].Session
	if got := srv.Count(); got != 1 {
		t.Errorf("Count() = %d; want 1", got)
	}
	if srv.Session(s.ID()) != s {
		t.Errorf("Session(%d) did not find the connected session", s.ID())
	}
	if s.State() != session.StateConnected {
		t.Errorf("State() = %v; want connected", s.State())
	}

	// client to server, and the echo back
	c.Send(t, []byte("hello"))
	if got := c.Recv(t); string(got) != "hello" {
		t.Errorf("echo = %q; want %q", got, "hello")
	}
	// server to client, pushed from a goroutine that is not the loop
	if err := s.Send([]byte("push")); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := c.Recv(t); string(got) != "push" {
		t.Errorf("push = %q; want %q", got, "push")
	}
	st := s.Stats()
	if st.MessagesIn != 1 || st.BytesIn != 5 || st.MessagesOut != 2 || st.BytesOut != 9 {
		t.Errorf("Stats() = %+v; want 1 in (5 B), 2 out (9 B)", st)
	}
	c.Close()
	if err := rec.Disconnect(t, s.ID()); !errors.Is(err, engine.ErrPeerClosed) {
		t.Errorf("disconnect reason = %v; want ErrPeerClosed", err)
	}
	if srv.Session(s.ID()) != nil || srv.Count() != 0 {
		t.Errorf("session still registered after disconnect")
	}
}

func TestSplitAndCoalescedFrames(t *testing.T) {
	rec := &nettest.Recorder{Echo: true}
	_, addr := start(t, rec)
	c := nettest.Dial(t, addr)

	// one frame written a byte at a time
	for _, b := range nettest.Frame([]byte("split-frame")) {
		if _, err := c.Write([]byte{b}); err != nil {
			t.Fatal(err)
		}
	}
	if got := c.Recv(t); string(got) != "split-frame" {
		t.Fatalf("echo = %q; want split-frame", got)
	}
	// many frames in one write, with a frame straddling two writes at the end
	var batch []byte
	for i := range 200 {
		batch = append(batch, nettest.Frame([]byte("m"+strconv.Itoa(i)))...)
	}
	last := nettest.Frame([]byte("straddle"))
	batch = append(batch, last[:5]...)
	if _, err := c.Write(batch); err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		if got, want := string(c.Recv(t)), "m"+strconv.Itoa(i); got != want {
			t.Fatalf("message %d = %q; want %q", i, got, want)
		}
	}
	if _, err := c.Write(last[5:]); err != nil {
		t.Fatal(err)
	}
	if got := c.Recv(t); string(got) != "straddle" {
		t.Fatalf("echo = %q; want straddle", got)
	}
}

func TestLargeFrameInPieces(t *testing.T) {
	rec := &nettest.Recorder{Echo: true}
	_, addr := start(t, rec)
	c := nettest.Dial(t, addr)
	payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	go func() { _, _ = c.Write(nettest.Frame(payload)) }()
	if got := c.Recv(t); !bytes.Equal(got, payload) {
		t.Fatalf("1 MiB echo differs (got %d bytes)", len(got))
	}
}

func TestMaxConns(t *testing.T) {
	const limit = 3
	rec := &nettest.Recorder{Echo: true}
	srv, addr := start(t, rec, engine.WithMaxConns(limit))
	var admitted []*nettest.Client
	for range limit {
		admitted = append(admitted, nettest.Dial(t, addr))
	}
	rec.WaitCount(t, "connect", limit)

	extra := nettest.Dial(t, addr)
	extra.WaitClosed(t)
	if got := srv.Monitor().Snapshot().Total.Connections.Rejected; got != 1 {
		t.Errorf("rejected = %d; want 1", got)
	}
	for i, c := range admitted {
		c.Send(t, []byte("still here"))
		if got := c.Recv(t); string(got) != "still here" {
			t.Errorf("admitted client %d echo = %q", i, got)
		}
	}
	if got := rec.Count("connect"); got != limit {
		t.Errorf("connects = %d; want %d (the extra one must not become a session)", got, limit)
	}
	// a place freed by a disconnect can be taken again
	admitted[0].Close()
	rec.WaitCount(t, "disconnect", 1)
	again := nettest.Dial(t, addr)
	again.Send(t, []byte("back"))
	if got := again.Recv(t); string(got) != "back" {
		t.Errorf("echo after a place was freed = %q", got)
	}
}

func TestFrameTooLargeClosesOnlyThatSession(t *testing.T) {
	rec := &nettest.Recorder{Echo: true}
	_, addr := start(t, rec, engine.WithMaxFrameSize(1024))
	good := nettest.Dial(t, addr)
	bad := nettest.Dial(t, addr)
	rec.WaitCount(t, "connect", 2)

	// a header alone announcing 4 GiB: refused before any body arrives
	if _, err := bad.Write([]byte{0xff, 0xff, 0xff, 0xff}); err != nil {
		t.Fatal(err)
	}
	bad.WaitClosed(t)
	ev := rec.WaitCount(t, "disconnect", 1)[0]
	if !errors.Is(ev.Err, codec.ErrFrameTooLarge) {
		t.Errorf("reason = %v; want codec.ErrFrameTooLarge", ev.Err)
	}
	good.Send(t, []byte("fine"))
	if got := good.Recv(t); string(got) != "fine" {
		t.Errorf("healthy session echo = %q", got)
	}
}

func TestIdleTimeout(t *testing.T) {
	rec := &nettest.Recorder{Echo: true}
	_, addr := start(t, rec, engine.WithIdleTimeout(100*time.Millisecond))
	idle := nettest.Dial(t, addr)
	// a partial frame is not a message: it does not keep the session alive
	if _, err := idle.Write([]byte{0, 0, 0, 9, 'x'}); err != nil {
		t.Fatal(err)
	}
	idle.WaitClosed(t)
	ev := rec.WaitCount(t, "disconnect", 1)[0]
	if !errors.Is(ev.Err, engine.ErrIdleTimeout) {
		t.Errorf("reason = %v; want ErrIdleTimeout", ev.Err)
	}
}

func TestSlowConsumer(t *testing.T) {
	rec := &nettest.Recorder{}
	_, addr := start(t, rec, engine.WithWriteHighWater(256<<10), engine.WithSocketBuffers(32<<10, 32<<10))
	slow := nettest.Dial(t, addr)
	healthy := nettest.Dial(t, addr)
	evs := rec.WaitCount(t, "connect", 2)
	slowS, healthyS := evs[0].Session, evs[1].Session
	if slowS.RemoteAddr().String() != slow.LocalAddr().String() {
		slowS, healthyS = healthyS, slowS
	}
	if tc, ok := slow.Conn.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(16 << 10)
	}
	// the slow peer never reads; the server pushes until the engine cuts it off
	chunk := bytes.Repeat([]byte("x"), 16<<10)
	var sendErr error
	for i := 0; i < 10_000 && sendErr == nil; i++ {
		sendErr = slowS.Send(chunk)
		if i%64 == 0 {
			if err := healthyS.Send([]byte("tick")); err != nil {
				t.Fatalf("healthy Send: %v", err)
			}
			if got := healthy.Recv(t); string(got) != "tick" {
				t.Fatalf("healthy got %q", got)
			}
		}
	}
	if err := rec.Disconnect(t, slowS.ID()); !errors.Is(err, engine.ErrSlowConsumer) {
		t.Fatalf("slow reason = %v; want ErrSlowConsumer", err)
	}
	healthy.Send(t, []byte("after"))
	if err := healthyS.Send([]byte("after")); err != nil {
		t.Fatalf("healthy Send after: %v", err)
	}
	if got := healthy.Recv(t); string(got) != "after" {
		t.Errorf("healthy session got %q after the slow one closed", got)
	}
}

func TestBroadcastAndGroups(t *testing.T) {
	rec := &nettest.Recorder{}
	srv, addr := start(t, rec)
	const n = 6
	clients := make(map[string]*nettest.Client)
	for range n {
		c := nettest.Dial(t, addr)
		clients[c.LocalAddr().String()] = c
	}
	evs := rec.WaitCount(t, "connect", n)
	members := map[string]bool{}
	for i, e := range evs {
		if i%2 == 0 {
			e.Session.Join("even")
			members[e.Session.RemoteAddr().String()] = true
		}
	}
	got, err := srv.BroadcastGroup("even", []byte("to-even"))
	if err != nil || got != n/2 {
		t.Fatalf("BroadcastGroup = %d, %v; want %d, nil", got, err, n/2)
	}
	got, err = srv.Broadcast([]byte("to-all"))
	if err != nil || got != n {
		t.Fatalf("Broadcast = %d, %v; want %d, nil", got, err, n)
	}
	for addr, c := range clients {
		first := string(c.Recv(t))
		if members[addr] {
			if first != "to-even" {
				t.Errorf("member %s first got %q; want to-even", addr, first)
			}
			first = string(c.Recv(t))
		}
		if first != "to-all" {
			t.Errorf("client %s got %q; want to-all", addr, first)
		}
	}
	// a closed member leaves its groups
	for _, e := range evs {
		if e.Session.RemoteAddr().String() == evs[0].Session.RemoteAddr().String() {
			clients[e.Session.RemoteAddr().String()].Close()
			rec.Disconnect(t, e.Session.ID())
		}
	}
	if got, _ := srv.BroadcastGroup("even", []byte("x")); got != n/2-1 {
		t.Errorf("BroadcastGroup after a member left = %d; want %d", got, n/2-1)
	}
}

func TestStaleIDNeverReachesNewSession(t *testing.T) {
	rec := &nettest.Recorder{}
	srv, addr := start(t, rec, engine.WithLoops(1))
	first := nettest.Dial(t, addr)
	old := rec.WaitCount(t, "connect", 1)[0].Session
	first.Close()
	rec.Disconnect(t, old.ID())

	// the next connection gets the freed fd back
	second := nettest.Dial(t, addr)
	fresh := rec.WaitCount(t, "connect", 2)[1].Session
	if fresh.FD() != old.FD() {
		t.Skipf("the kernel gave fd %d, not the freed %d; nothing to show", fresh.FD(), old.FD())
	}
	if fresh.ID() == old.ID() {
		t.Fatalf("new session on fd %d reuses ID %d", fresh.FD(), old.ID())
	}
	if s := srv.Session(old.ID()); s != nil {
		t.Fatalf("Session(stale ID) = session %d; want nil", s.ID())
	}
	if err := old.Send([]byte("stale")); !errors.Is(err, session.ErrClosed) {
		t.Errorf("Send on the closed session = %v; want session.ErrClosed", err)
	}
	if err := fresh.Send([]byte("fresh")); err != nil {
		t.Fatal(err)
	}
	if got := second.Recv(t); string(got) != "fresh" {
		t.Fatalf("new session received %q; want only its own message", got)
	}
}

func TestStopWithSessionsOpen(t *testing.T) {
	rec := &nettest.Recorder{Echo: true}
	srv, addr := start(t, rec)
	var clients []*nettest.Client
	for range 5 {
		clients = append(clients, nettest.Dial(t, addr))
	}
	evs := rec.WaitCount(t, "connect", 5)
	// queued just before Stop: must still be written
	for _, e := range evs {
		if err := e.Session.Send([]byte("bye")); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), nettest.Timeout)
	defer cancel()
	if err := srv.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	for i, c := range clients {
		if got := c.Recv(t); string(got) != "bye" {
			t.Errorf("client %d got %q; want bye", i, got)
		}
		c.WaitClosed(t)
	}
	for _, e := range rec.WaitCount(t, "disconnect", 5) {
		if !errors.Is(e.Err, engine.ErrServerStopping) {
			t.Errorf("reason = %v; want ErrServerStopping", e.Err)
		}
	}
}

func TestHandlerPanicClosesOnlyItsSession(t *testing.T) {
	rec := &nettest.Recorder{Echo: true}
	var panicked atomic.Int32
	h := engine.HandlerFuncs{
		Connect: rec.OnConnect,
		Message: func(s *session.Session, msg []byte) {
			if string(msg) == "boom" {
				panicked.Add(1)
				panic("boom")
			}
			rec.OnMessage(s, msg)
		},
		Disconnect: rec.OnDisconnect,
	}
	_, addr := start(t, h)
	good := nettest.Dial(t, addr)
	bad := nettest.Dial(t, addr)
	rec.WaitCount(t, "connect", 2)
	bad.Send(t, []byte("boom"))
	bad.WaitClosed(t)
	ev := rec.WaitCount(t, "disconnect", 1)[0]
	if !errors.Is(ev.Err, engine.ErrHandlerPanic) {
		t.Errorf("reason = %v; want ErrHandlerPanic", ev.Err)
	}
	good.Send(t, []byte("ok"))
	if got := good.Recv(t); string(got) != "ok" {
		t.Errorf("healthy session got %q", got)
	}
	if panicked.Load() != 1 {
		t.Errorf("handler panicked %d times; want 1", panicked.Load())
	}
}

func TestSendTooLarge(t *testing.T) {
	rec := &nettest.Recorder{}
	srv, addr := start(t, rec, engine.WithMaxFrameSize(16))
	nettest.Dial(t, addr)
	s := rec.WaitCount(t, "connect", 1)[0].Session
	if err := s.Send(make([]byte, 17)); !errors.Is(err, codec.ErrFrameTooLarge) {
		t.Errorf("Send(17 bytes) = %v; want ErrFrameTooLarge", err)
	}
	if _, err := srv.Broadcast(make([]byte, 17)); !errors.Is(err, codec.ErrFrameTooLarge) {
		t.Errorf("Broadcast(17 bytes) = %v; want ErrFrameTooLarge", err)
	}
}
