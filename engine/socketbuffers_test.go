package engine

import (
	"context"
	"io"
	"log/slog"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/netsys-go/netsys/internal/sess"
	"github.com/netsys-go/netsys/session"
)

// TestSocketBuffersBeforeHandshake checks that WithSocketBuffers is set on
// the listening socket, before any handshake, so that accepted connections
// have it from their first segment (tcp(7)); set after the handshake, a
// smaller receive buffer than the window already offered made the kernel
// drop data and the peer back off for seconds (seen in make soak). Both the
// server's and the client's side of a connection have the sizes.
func TestSocketBuffersBeforeHandshake(t *testing.T) {
	const recv, send = 24 << 10, 40 << 10
	// What the kernel makes of the sizes asked (Linux doubles them).
	probe, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]int{}
	for opt, v := range map[int]int{unix.SO_RCVBUF: recv, unix.SO_SNDBUF: send} {
		if err := unix.SetsockoptInt(probe, unix.SOL_SOCKET, opt, v); err != nil {
			t.Fatal(err)
		}
		want[opt], _ = unix.GetsockoptInt(probe, unix.SOL_SOCKET, opt)
	}
	_ = unix.Close(probe)
	check := func(what string, fd int) {
		t.Helper()
		for opt, name := range map[int]string{unix.SO_RCVBUF: "SO_RCVBUF", unix.SO_SNDBUF: "SO_SNDBUF"} {
			if got, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, opt); err != nil || got != want[opt] {
				t.Errorf("%s: %s = %d, %v; want %d", what, name, got, err, want[opt])
			}
		}
	}

	quiet := WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	connected := make(chan struct{}, 1)
	srv, err := NewServer(HandlerFuncs{Connect: func(*session.Session) { connected <- struct{}{} }},
		WithSocketBuffers(recv, send), quiet)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	rc, err := srv.acc.ln.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	_ = rc.Control(func(fd uintptr) { check("listener", int(fd)) })

	cl, err := Dial(context.Background(), srv.Addr().String(), WithSocketBuffers(recv, send), quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	<-connected
	for what, tr := range map[string]*transport{"accepted connection": srv.t, "client connection": cl.t} {
		n := 0
		tr.rangeConns(func(_ *sess.Core, c *conn) bool { check(what, c.fd); n++; return true })
		if n != 1 {
			t.Errorf("%d %ss; want 1", n, what)
		}
	}
}
