package engine_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/netsys-go/netsys/engine"
	"github.com/netsys-go/netsys/internal/nettest"
	"github.com/netsys-go/netsys/session"
)

// chatServer is a chat server with rooms: "join ROOM", "say TEXT" (to the
// room, refused until joined), "/who" (the room's size and names, through
// the Server's group queries).
func chatServer(srv *atomic.Pointer[engine.Server]) engine.Handler {
	return engine.HandlerFuncs{
		Message: func(s *session.Session, msg []byte) {
			cmd, arg, _ := strings.Cut(string(msg), " ")
			room, _ := s.Get("room")
			switch cmd {
			case "name":
				s.Set("name", arg)
			case "join":
				if r, ok := room.(string); ok {
					s.Leave(r)
				}
				s.Set("room", arg)
				s.Join(arg)
			case "say":
				r, ok := room.(string)
				if !ok {
					_ = s.Reply([]byte("join a room first"))
					return
				}
				name, _ := s.Get("name")
				_, _ = srv.Load().BroadcastGroup(r, fmt.Appendf(nil, "%v: %s", name, arg))
			case "/who":
				r, _ := room.(string)
				var names []string
				srv.Load().RangeGroup(r, func(m *session.Session) bool {
					n, _ := m.Get("name")
					names = append(names, fmt.Sprint(n))
					return true
				})
				slices.Sort(names)
				_ = s.Reply(fmt.Appendf(nil, "%d in %s: %s", srv.Load().GroupLen(r), r, strings.Join(names, ",")))
			}
		},
	}
}

// A client that (re)joins in OnConnect: after a server restart, what it
// queued while disconnected goes out after the re-join, so none of it is
// refused; /who answers from the Server's group query.
func TestChatRoomsAndRejoin(t *testing.T) {
	var srvp atomic.Pointer[engine.Server]
	srv1, addr := start(t, chatServer(&srvp))
	srvp.Store(srv1)

	var mu sync.Mutex
	var got []string
	joiner := func(name string) engine.Handler {
		return engine.HandlerFuncs{
			Connect: func(s *session.Session) { // sends go out before anything queued
				_ = s.Send([]byte("name " + name))
				_ = s.Send([]byte("join lobby"))
			},
			Message: func(_ *session.Session, msg []byte) {
				mu.Lock()
				got = append(got, name+"<"+string(msg))
				mu.Unlock()
			},
		}
	}
	waitFor := func(line string) {
		t.Helper()
		deadline := time.Now().Add(nettest.Timeout)
		for {
			mu.Lock()
			ok, all := slices.Contains(got, line), slices.Clone(got)
			mu.Unlock()
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %q after %v; got %q", line, nettest.Timeout, all)
			}
			time.Sleep(time.Millisecond)
		}
	}
	rc := engine.WithReconnect(engine.Reconnect{Initial: 5 * time.Millisecond, Max: 50 * time.Millisecond})
	ada := dial(t, addr, engine.WithHandler(joiner("ada")), rc, engine.WithSendQueue(16))
	bob := dial(t, addr, engine.WithHandler(joiner("bob")))
	nettest.Eventually(t, "both in the lobby", func() error {
		if n := srv1.GroupLen("lobby"); n != 2 {
			return fmt.Errorf("%d of 2 in the lobby", n)
		}
		return nil
	})
	if err := ada.Send([]byte("/who")); err != nil {
		t.Fatal(err)
	}
	waitFor("ada<2 in lobby: ada,bob")
	if err := ada.Send([]byte("say hi")); err != nil {
		t.Fatal(err)
	}
	waitFor("bob<ada: hi")

	stop(t, srv1)
	nettest.Eventually(t, "ada disconnected", func() error {
		if ada.Connected() {
			return errors.New("ada still connected")
		}
		return nil
	})
	for _, m := range []string{"say q1", "say q2", "say q3"} {
		if err := ada.Send([]byte(m)); err != nil {
			t.Fatalf("Send(%q) while disconnected: %v", m, err)
		}
	}
	// The handler reaches the new server through srvp: set it before Start,
	// since ada reconnects at once and its first messages need it.
	srv2, err := engine.NewServer(chatServer(&srvp), engine.WithLogger(quiet), engine.WithLoops(1))
	if err != nil {
		t.Fatal(err)
	}
	srvp.Store(srv2)
	if err := srv2.Start(addr); err != nil {
		t.Fatalf("Start(%q): %v", addr, err)
	}
	t.Cleanup(func() { stop(t, srv2) })
	waitFor("ada<ada: q3") // ada hears its own room
	mu.Lock()
	defer mu.Unlock()
	for _, line := range got {
		if strings.Contains(line, "join a room first") {
			t.Errorf("a queued message was refused: %q (all: %q)", line, got)
		}
	}
	i1, i3 := slices.Index(got, "ada<ada: q1"), slices.Index(got, "ada<ada: q3")
	if i1 < 0 || i1 > i3 {
		t.Errorf("queued messages out of order or missing: %q", got)
	}
	_ = bob
}

// A server session's LocalAddr is the connection's own endpoint, the
// address its peer dialed, not the listening address.
func TestSessionLocalAddr(t *testing.T) {
	rec := &nettest.Recorder{}
	srv := nettest.StartServer(t, rec)
	c := nettest.Dial(t, srv.Addr().String())
	s := rec.WaitCount(t, "connect", 1)[0].Session
	if got, want := s.LocalAddr().String(), c.RemoteAddr().String(); got != want {
		t.Errorf("session LocalAddr = %s; want the client's RemoteAddr %s", got, want)
	}
	if got, want := s.RemoteAddr().String(), c.LocalAddr().String(); got != want {
		t.Errorf("session RemoteAddr = %s; want the client's LocalAddr %s", got, want)
	}
}

// Request and Flush from a handler on the client's loop fail at once with
// ErrInHandler, and Close from a handler returns instead of deadlocking.
func TestClientCallsFromHandler(t *testing.T) {
	_, addr := start(t, &nettest.Recorder{Echo: true})
	results := make(chan error, 3)
	var cl *engine.Client
	var once sync.Once
	ready := make(chan struct{})
	h := engine.HandlerFuncs{
		Message: func(_ *session.Session, msg []byte) {
			<-ready
			once.Do(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_, err := cl.Request(ctx, []byte("from the handler"))
				results <- err
				results <- cl.Flush(ctx)
				results <- cl.Close()
			})
		},
	}
	cl = dial(t, addr, engine.WithHandler(h))
	close(ready)
	if err := cl.Send([]byte("go")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-results:
		if !errors.Is(err, engine.ErrInHandler) {
			t.Errorf("Request from a handler = %v; want ErrInHandler", err)
		}
	case <-time.After(nettest.Timeout):
		t.Fatal("Request from a handler blocked")
	}
	select {
	case err := <-results:
		if !errors.Is(err, engine.ErrInHandler) {
			t.Errorf("Flush from a handler = %v; want ErrInHandler", err)
		}
	case <-time.After(nettest.Timeout):
		t.Fatal("Flush from a handler blocked")
	}
	select {
	case err := <-results:
		if err != nil {
			t.Errorf("Close from a handler = %v; want nil", err)
		}
	case <-time.After(nettest.Timeout):
		t.Fatal("Close from a handler deadlocked")
	}
	nettest.Eventually(t, "the client closed", func() error {
		if cl.Connected() {
			return errors.New("the client is still connected")
		}
		return nil
	})
}

// A server on a Unix socket: Dial and a Pool reach it, a stale socket file
// is replaced, and one a live server holds is not.
func TestUnixSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "netsys.sock")
	// A stale socket file, as a crashed server leaves it.
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	_ = ln.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("stale socket file: %v", err)
	}

	srv := nettest.StartServerAt(t, "unix://"+path, &nettest.Recorder{Echo: true})
	if got := srv.Addr().String(); got != path {
		t.Errorf("Addr() = %s; want %s", got, path)
	}
	cl := dial(t, "unix://"+path)
	ctx, cancel := context.WithTimeout(context.Background(), nettest.Timeout)
	defer cancel()
	reply, err := cl.Request(ctx, []byte("over a unix socket"))
	if err != nil || string(reply) != "over a unix socket" {
		t.Fatalf("Request = %q, %v", reply, err)
	}
	p, err := engine.NewPool(ctx, "unix://"+path, 2, engine.WithLogger(nettest.Quiet))
	if err != nil {
		t.Fatalf("NewPool: %v", err)
	}
	if reply, err := p.Request(ctx, []byte("pooled")); err != nil || string(reply) != "pooled" {
		t.Errorf("Pool.Request = %q, %v", reply, err)
	}
	_ = p.Close()

	other, err := engine.NewServer(engine.HandlerFuncs{}, engine.WithLogger(nettest.Quiet))
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Start("unix://" + path); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("Start on a live server's socket = %v; want EADDRINUSE", err)
	}
}
