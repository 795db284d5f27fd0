package engine_test

import (
	"context"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/netsys-go/netsys/engine"
	"github.com/netsys-go/netsys/internal/nettest"
)

func TestSocketOptions(t *testing.T) {
	rec := &nettest.Recorder{}
	_, addr := start(t, rec,
		engine.WithKeepAlive(42*time.Second),
		engine.WithSocketBuffers(96<<10, 80<<10),
		engine.WithReusePort(true))
	nettest.Dial(t, addr)
	fd := rec.WaitCount(t, "connect", 1)[0].Session.FD()

	get := func(level, opt int) int {
		t.Helper()
		v, err := unix.GetsockoptInt(fd, level, opt)
		if err != nil {
			t.Fatalf("getsockopt(%d, %d): %v", level, opt, err)
		}
		return v
	}
	if get(unix.IPPROTO_TCP, unix.TCP_NODELAY) == 0 {
		t.Errorf("TCP_NODELAY off; want on by default")
	}
	if get(unix.SOL_SOCKET, unix.SO_KEEPALIVE) == 0 {
		t.Errorf("SO_KEEPALIVE off; want on")
	}
	if got := get(unix.IPPROTO_TCP, unix.TCP_KEEPIDLE); got != 42 {
		t.Errorf("TCP_KEEPIDLE = %d; want 42", got)
	}
	// Linux doubles the value for bookkeeping overhead.
	if got := get(unix.SOL_SOCKET, unix.SO_RCVBUF); got < 96<<10 {
		t.Errorf("SO_RCVBUF = %d; want >= %d", got, 96<<10)
	}
	if got := get(unix.SOL_SOCKET, unix.SO_SNDBUF); got < 80<<10 {
		t.Errorf("SO_SNDBUF = %d; want >= %d", got, 80<<10)
	}

	// SO_REUSEPORT: a second listener with the option binds the same port.
	lc := net.ListenConfig{Control: nettest.Sockopt(unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)}
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		t.Errorf("second SO_REUSEPORT listener on %s: %v; want the server's listener to share the port", addr, err)
	} else {
		ln.Close()
	}
}

func TestNoDelayOff(t *testing.T) {
	rec := &nettest.Recorder{}
	_, addr := start(t, rec, engine.WithNoDelay(false))
	nettest.Dial(t, addr)
	fd := rec.WaitCount(t, "connect", 1)[0].Session.FD()
	v, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY)
	if err != nil || v != 0 {
		t.Errorf("TCP_NODELAY = %d, %v; want 0 with WithNoDelay(false)", v, err)
	}
}
