package tlsio_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/netsys-go/netsys/internal/tlsio"
)

// loop plays an event loop for one Conn over a real socket: a reader
// goroutine hands it copies of what the socket yields, onDone wakes it, and
// it calls the Conn only from its own goroutine.
type loop struct {
	t     *testing.T
	nc    net.Conn
	c     *tlsio.Conn
	state chan tls.ConnectionState // the state on success
	plain chan []byte              // copies of the plaintext Feed returns
	errs  chan error
	send  chan []byte   // payloads the loop Writes
	bye   chan struct{} // the loop sends close_notify and closes the socket
}

func runLoop(t *testing.T, h *tlsio.Handshaker, nc net.Conn, c *tlsio.Conn, echo bool) *loop {
	l := &loop{t: t, nc: nc, c: c, state: make(chan tls.ConnectionState, 1), plain: make(chan []byte, 64), errs: make(chan error, 4), send: make(chan []byte), bye: make(chan struct{})}
	type done struct {
		st  tls.ConnectionState
		err error
	}
	wake := make(chan done, 1)
	if err := c.Start(h, func(st tls.ConnectionState, err error) { wake <- done{st, err} }); err != nil {
		t.Fatal(err)
	}
	reads := make(chan []byte, 16)
	go func() {
		defer close(reads)
		buf := make([]byte, 32<<10)
		for {
			n, err := nc.Read(buf)
			if n > 0 {
				reads <- append([]byte(nil), buf[:n]...)
			}
			if err != nil {
				return
			}
		}
	}()
	go func() {
		defer c.Close()
		deliver := func(pt []byte, err error) bool {
			if len(pt) > 0 {
				if echo {
					if werr := c.Write(pt); werr != nil {
						l.errs <- werr
						return false
					}
				} else {
					l.plain <- append([]byte(nil), pt...)
				}
			}
			if err != nil {
				l.errs <- err
				return false
			}
			return true
		}
		for {
			select {
			case d := <-wake:
				if d.err != nil {
					l.errs <- d.err
					return
				}
				l.state <- d.st
				if !deliver(c.Activate()) {
					return
				}
			case <-l.bye:
				if err := c.CloseNotify(); err != nil {
					l.errs <- err
				}
				nc.Close()
				return
			case p := <-l.send:
				if err := c.Write(p); err != nil {
					l.errs <- err
					return
				}
			case b, ok := <-reads:
				if !ok {
					return
				}
				if !deliver(c.Feed(b)) {
					return
				}
			}
		}
	}()
	return l
}

// socketOut writes records straight to the socket (a test stand-in for the
// engine's outbound batch).
func socketOut(t *testing.T, nc *net.Conn) func([]byte) {
	return func(p []byte) {
		if _, err := (*nc).Write(p); err != nil {
			t.Logf("socket write: %v", err)
		}
	}
}

func listen(t *testing.T) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// TestLoopbackStdClient: a standard crypto/tls client (tls.Dial) against a
// tlsio server over TCP loopback, echoing messages of several sizes.
func TestLoopbackStdClient(t *testing.T) {
	for _, ver := range versions {
		t.Run(ver.name, func(t *testing.T) {
			srvCfg, cliCfg := configs(t, ver.v)
			srvCfg.NextProtos, cliCfg.NextProtos = []string{"netsys/1"}, []string{"netsys/1"}
			ln := listen(t)
			h := tlsio.NewHandshaker(tlsio.Config{})
			accepted := make(chan *loop, 1)
			go func() {
				nc, err := ln.Accept()
				if err != nil {
					return
				}
				c := tlsio.NewServer(srvCfg, socketOut(t, &nc))
				c.SetAddr(nc.LocalAddr(), nc.RemoteAddr())
				accepted <- runLoop(t, h, nc, c, true)
			}()
			d := &net.Dialer{Timeout: 5 * time.Second}
			cc, err := tls.DialWithDialer(d, "tcp", ln.Addr().String(), cliCfg)
			if err != nil {
				t.Fatal(err)
			}
			defer cc.Close()
			_ = cc.SetDeadline(time.Now().Add(20 * time.Second))
			srv := <-accepted
			defer srv.nc.Close()
			for _, size := range []int{1, 64, 4096, 16384, 100 << 10} {
				msg := bytes.Repeat([]byte{byte(size)}, size)
				if _, err := cc.Write(msg); err != nil {
					t.Fatal(err)
				}
				got := make([]byte, size)
				if _, err := io.ReadFull(cc, got); err != nil {
					t.Fatalf("echo of %d B: %v", size, err)
				}
				if !bytes.Equal(got, msg) {
					t.Fatalf("echo of %d B differs", size)
				}
			}
			st := <-srv.state
			if st.Version != ver.v || st.NegotiatedProtocol != "netsys/1" || st.ServerName != "localhost" {
				t.Fatalf("server state: version %x ALPN %q SNI %q", st.Version, st.NegotiatedProtocol, st.ServerName)
			}
			// An orderly close from the client reaches the loop as ErrCloseNotify.
			if err := cc.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-srv.errs:
				if !errors.Is(err, tlsio.ErrCloseNotify) {
					t.Fatalf("after close_notify: %v, want ErrCloseNotify", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("close_notify not seen")
			}
		})
	}
}

// TestLoopbackStdServer: a tlsio client against a standard crypto/tls server
// (tls.Server over the accepted net.Conn, echoing with io.Copy), mutual TLS.
func TestLoopbackStdServer(t *testing.T) {
	b := testBundle(t)
	for _, ver := range versions {
		t.Run(ver.name, func(t *testing.T) {
			srvCfg, cliCfg := b.MutualServerConfig(), b.MutualClientConfig()
			srvCfg.MinVersion, srvCfg.MaxVersion = ver.v, ver.v
			ln := listen(t)
			peer := make(chan tls.ConnectionState, 1)
			go func() {
				nc, err := ln.Accept()
				if err != nil {
					return
				}
				defer nc.Close()
				_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
				sc := tls.Server(nc, srvCfg)
				if err := sc.Handshake(); err != nil {
					t.Errorf("std server handshake: %v", err)
					return
				}
				peer <- sc.ConnectionState()
				_, _ = io.Copy(sc, sc)
			}()
			nc, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			c := tlsio.NewClient(cliCfg, socketOut(t, &nc))
			l := runLoop(t, tlsio.NewHandshaker(tlsio.Config{}), nc, c, false)
			var st tls.ConnectionState
			select {
			case st = <-l.state:
			case err := <-l.errs:
				t.Fatalf("client handshake: %v", err)
			case <-time.After(20 * time.Second):
				t.Fatal("no handshake")
			}
			if st.Version != ver.v || len(st.PeerCertificates) == 0 {
				t.Fatalf("client state: version %x, %d peer certificates", st.Version, len(st.PeerCertificates))
			}
			if ps := <-peer; len(ps.PeerCertificates) != 1 || ps.PeerCertificates[0].Subject.CommonName != "netsys-client" {
				t.Fatalf("std server sees client certificates %v", ps.PeerCertificates)
			}
			var want []byte
			for i := 0; i < 20; i++ {
				want = append(want, fmt.Sprintf("message %d|", i)...)
			}
			want = append(want, bytes.Repeat([]byte{'z'}, 50<<10)...)
			_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
			l.send <- want // the loop goroutine owns c
			var got []byte
			for len(got) < len(want) {
				select {
				case p := <-l.plain:
					got = append(got, p...)
				case err := <-l.errs:
					t.Fatalf("client: %v after %d bytes", err, len(got))
				case <-time.After(20 * time.Second):
					t.Fatalf("echo stalled at %d of %d bytes", len(got), len(want))
				}
			}
			if !bytes.Equal(got, want) {
				t.Fatal("echo differs")
			}
		})
	}
}
