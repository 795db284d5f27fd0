package engine_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/netsys-go/netsys/codec"
	"github.com/netsys-go/netsys/engine"
	"github.com/netsys-go/netsys/internal/certs"
	"github.com/netsys-go/netsys/internal/nettest"
	"github.com/netsys-go/netsys/session"
)

// tlsPeer is a test peer speaking the default wire format over crypto/tls,
// with the raw TCP connection under it for writing bad input.
type tlsPeer struct {
	raw net.Conn
	tc  *tls.Conn
	r   *bufio.Reader
}

func bundle(t testing.TB) *certs.Bundle {
	t.Helper()
	b, err := certs.SelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dialTLS connects to addr over TLS with cfg and completes the handshake.
func dialTLS(t testing.TB, addr string, cfg *tls.Config) *tlsPeer {
	t.Helper()
	p, err := tryDialTLS(addr, cfg)
	if err != nil {
		t.Fatalf("TLS dial %s: %v", addr, err)
	}
	t.Cleanup(func() { p.raw.Close() })
	return p
}

func tryDialTLS(addr string, cfg *tls.Config) (*tlsPeer, error) {
	raw, err := net.DialTimeout("tcp", addr, nettest.Timeout)
	if err != nil {
		return nil, err
	}
	tc := tls.Client(raw, cfg)
	_ = tc.SetDeadline(time.Now().Add(nettest.Timeout))
	if err := tc.Handshake(); err != nil {
		raw.Close()
		return nil, err
	}
	_ = tc.SetDeadline(time.Time{})
	return &tlsPeer{raw: raw, tc: tc, r: bufio.NewReader(tc)}, nil
}

func (p *tlsPeer) send(t testing.TB, payload []byte) {
	t.Helper()
	if _, err := p.tc.Write(nettest.Frame(payload)); err != nil {
		t.Fatalf("TLS send: %v", err)
	}
}

func (p *tlsPeer) recv(t testing.TB) []byte {
	t.Helper()
	_ = p.tc.SetReadDeadline(time.Now().Add(nettest.Timeout))
	var hdr [4]byte
	if _, err := io.ReadFull(p.r, hdr[:]); err != nil {
		t.Fatalf("TLS recv: %v", err)
	}
	b := make([]byte, binary.BigEndian.Uint32(hdr[:]))
	if _, err := io.ReadFull(p.r, b); err != nil {
		t.Fatalf("TLS recv: %v", err)
	}
	return b
}

// echo checks that p's session still echoes.
func (p *tlsPeer) echo(t testing.TB, msg string) {
	t.Helper()
	p.send(t, []byte(msg))
	if got := p.recv(t); string(got) != msg {
		t.Fatalf("echo = %q; want %q", got, msg)
	}
}

// waitClosed waits until the server closes raw (EOF, reset or an alert).
func waitClosed(t testing.TB, raw net.Conn) {
	t.Helper()
	_ = raw.SetReadDeadline(time.Now().Add(nettest.Timeout))
	_, err := io.Copy(io.Discard, raw)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v", nettest.Timeout)
	}
}

func TestTLSEcho(t *testing.T) {
	b := bundle(t)
	rec := &nettest.Recorder{Echo: true}
	srvCfg := b.ServerConfig()
	srvCfg.NextProtos = []string{"netsys/1"}
	srv, addr := start(t, rec, engine.WithTLS(srvCfg))
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		cfg := b.ClientConfig()
		cfg.MinVersion, cfg.MaxVersion, cfg.NextProtos = v, v, []string{"netsys/1"}
		p := dialTLS(t, addr, cfg)
		for _, size := range []int{1, 4 << 10, 100 << 10} {
			msg := bytes.Repeat([]byte{byte(size)}, size)
			p.send(t, msg)
			if got := p.recv(t); !bytes.Equal(got, msg) {
				t.Fatalf("version %x: echo of %d bytes differs (%d bytes back)", v, size, len(got))
			}
		}
		// 50 pipelined messages in one write
		var batch []byte
		for i := range 50 {
			batch = append(batch, nettest.Frame([]byte{byte(i)})...)
		}
		if _, err := p.tc.Write(batch); err != nil {
			t.Fatal(err)
		}
		for i := range 50 {
			if got := p.recv(t); len(got) != 1 || got[0] != byte(i) {
				t.Fatalf("pipelined message %d = %v", i, got)
			}
		}
	}
	evs := rec.WaitCount(t, "connect", 2)
	for i, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		st := evs[i].Session.TLS()
		if st == nil {
			t.Fatalf("session %d: TLS() = nil", i)
		}
		if st.Version != v || st.NegotiatedProtocol != "netsys/1" || !st.HandshakeComplete {
			t.Errorf("session %d: version %x ALPN %q complete %v; want %x netsys/1 true",
				i, st.Version, st.NegotiatedProtocol, st.HandshakeComplete, v)
		}
	}
	if hs := srv.Monitor().Snapshot().Total.Handshake; hs == nil {
		t.Error("no handshake latency in the monitor")
	}
	if n := srv.Count(); n != 2 {
		t.Errorf("Count = %d; want 2", n)
	}
}

func TestTLSClientDial(t *testing.T) {
	b := bundle(t)
	rec := &nettest.Recorder{Echo: true}
	_, addr := start(t, rec, engine.WithTLS(b.MutualServerConfig()))

	// ServerName from the address: the server certificate covers 127.0.0.1.
	cfg := b.MutualClientConfig()
	cfg.ServerName = ""
	cl, err := engine.Dial(context.Background(), addr, engine.WithTLS(cfg), engine.WithLogger(quiet))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer cl.Close()
	if st := cl.Session().TLS(); st == nil || len(st.PeerCertificates) == 0 {
		t.Fatalf("client session TLS state = %v; want the server's certificate", st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), nettest.Timeout)
	defer cancel()
	for _, size := range []int{5, 40 << 10} {
		msg := bytes.Repeat([]byte("m"), size)
		got, err := cl.Request(ctx, msg)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("Request of %d bytes: %d bytes, %v", size, len(got), err)
		}
	}
	ev := rec.WaitCount(t, "connect", 1)[0]
	if st := ev.Session.TLS(); st == nil || len(st.PeerCertificates) == 0 ||
		st.PeerCertificates[0].Subject.CommonName != "netsys-client" {
		t.Errorf("server does not see the client certificate: %v", st)
	}

	// Without a client certificate the server refuses it; in TLS 1.2 the
	// client's handshake fails too.
	noCert := b.ClientConfig()
	noCert.MaxVersion = tls.VersionTLS12
	_, err = engine.Dial(context.Background(), addr, engine.WithTLS(noCert), engine.WithLogger(quiet))
	if !errors.Is(err, engine.ErrTLSHandshake) {
		t.Errorf("Dial without a client certificate: %v; want ErrTLSHandshake", err)
	}

	// Unknown CA: Dial fails with the x509 error inside.
	other := bundle(t)
	_, err = engine.Dial(context.Background(), addr, engine.WithTLS(other.MutualClientConfig()), engine.WithLogger(quiet))
	if !errors.Is(err, engine.ErrTLSHandshake) || !errors.As(err, new(*tls.CertificateVerificationError)) {
		t.Errorf("Dial with an unknown CA: %v; want ErrTLSHandshake wrapping a certificate error", err)
	}
	if n := rec.Count("connect"); n != 1 {
		t.Errorf("connect events = %d; failed handshakes must not reach the handler", n)
	}
}

// failHandshake runs a crypto/tls client handshake with cfg that must fail
// on one side or the other, then waits for the server to close.
func failHandshake(t *testing.T, addr string, cfg *tls.Config) {
	t.Helper()
	c := nettest.Dial(t, addr)
	tc := tls.Client(c.Conn, cfg)
	_ = tc.SetDeadline(time.Now().Add(nettest.Timeout))
	if err := tc.Handshake(); err == nil {
		// TLS 1.3: the client finishes before the server has checked its
		// certificate; the server's verdict comes as an alert.
		_, err = tc.Read(make([]byte, 1))
		if err == nil {
			t.Fatal("handshake and read succeeded")
		}
	}
	c.WaitClosed(t)
}

// TestTLSCertificateFailures: an unknown CA, an expired server or client
// certificate and a missing client certificate each fail the handshake,
// counted by cause, and never reach the handler.
func TestTLSCertificateFailures(t *testing.T) {
	b := bundle(t)
	rec := &nettest.Recorder{Echo: true}
	srv, addr := start(t, rec, engine.WithTLS(b.MutualServerConfig()))
	healthy := dialTLS(t, addr, b.MutualClientConfig())
	healthy.echo(t, "hello")

	past := time.Now().Add(-48 * time.Hour)
	expired, err := b.CA.Issue(certs.Leaf{CommonName: "old", Client: true, NotBefore: past, NotAfter: past.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	expiredSrv, err := b.CA.Issue(certs.Leaf{CommonName: "old-server", NotBefore: past, NotAfter: past.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	expiredCfg := b.MutualServerConfig()
	expiredCfg.Certificates = []tls.Certificate{expiredSrv}
	srv2, addr2 := start(t, rec, engine.WithTLS(expiredCfg))

	for _, tc := range []struct {
		name, cause string
		srv         *engine.Server
		addr        string
		cfg         func() *tls.Config
	}{
		{"unknown CA", "bad_certificate", srv, addr, func() *tls.Config { return bundle(t).MutualClientConfig() }},
		{"client certificate from an unknown CA", "unknown_ca", srv, addr, func() *tls.Config {
			c := b.ClientConfig()
			c.Certificates = []tls.Certificate{bundle(t).Client}
			return c
		}},
		{"expired client certificate", "bad_certificate", srv, addr, func() *tls.Config {
			c := b.ClientConfig()
			c.Certificates = []tls.Certificate{expired}
			return c
		}},
		{"missing client certificate", "no_client_certificate", srv, addr, b.ClientConfig},
		{"expired server certificate", "bad_certificate", srv2, addr2, b.MutualClientConfig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.srv.HandshakeFailures()[tc.cause]
			failHandshake(t, tc.addr, tc.cfg())
			nettest.Eventually(t, "a "+tc.cause+" failure", func() error {
				if f := tc.srv.HandshakeFailures(); f[tc.cause] <= before {
					return fmt.Errorf("failures by cause: %v", f)
				}
				return nil
			})
		})
	}
	healthy.echo(t, "still here")
	if n := rec.Count("connect"); n != 1 {
		t.Errorf("connect events = %d; want 1", n)
	}
}

// TestTLSClientAgainstCryptoTLS runs the engine's client against a server on
// crypto/tls (goroutine per connection) echoing frames.
func TestTLSClientAgainstCryptoTLS(t *testing.T) {
	b := bundle(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", b.ServerConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c) // frames echo as they are
			}()
		}
	}()
	cfg := b.ClientConfig()
	cfg.ServerName = ""
	cl, err := engine.Dial(context.Background(), ln.Addr().String(), engine.WithTLS(cfg), engine.WithLogger(quiet))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), nettest.Timeout)
	defer cancel()
	for _, size := range []int{1, 20 << 10, 200 << 10} {
		msg := bytes.Repeat([]byte("z"), size)
		got, err := cl.Request(ctx, msg)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("Request of %d bytes: %d bytes back, %v", size, len(got), err)
		}
	}
}

// TestTLSBadInput sends each kind of bad input on its own connection to a
// TLS server and checks that only that connection closes, with a clear
// reason, while a healthy TLS session keeps echoing.
func TestTLSBadInput(t *testing.T) {
	b := bundle(t)
	rec := &nettest.Recorder{Echo: true}
	srv, addr := start(t, rec, engine.WithTLS(b.ServerConfig()), engine.WithHandshakeTimeout(400*time.Millisecond))
	healthy := dialTLS(t, addr, b.ClientConfig())
	healthy.echo(t, "hello")
	connects := 1

	// established returns a TLS peer whose session echoed once, and its session.
	established := func(t *testing.T) (*tlsPeer, *session.Session) {
		p := dialTLS(t, addr, b.ClientConfig())
		p.echo(t, "first")
		connects++
		evs := rec.WaitCount(t, "connect", connects)
		for _, e := range evs {
			if e.Session.RemoteAddr().String() == p.raw.LocalAddr().String() {
				return p, e.Session
			}
		}
		t.Fatal("no session for the peer")
		return nil, nil
	}
	failures := func(cause string) uint64 { return srv.HandshakeFailures()[cause] }

	t.Run("plaintext client", func(t *testing.T) {
		c := nettest.Dial(t, addr)
		if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		c.WaitClosed(t)
		nettest.Eventually(t, "a not_tls failure", func() error {
			if n := failures("not_tls"); n < 1 {
				return fmt.Errorf("%d not_tls failures", n)
			}
			return nil
		})
	})

	t.Run("garbage record", func(t *testing.T) {
		p, s := established(t)
		garbage := append([]byte{23, 3, 3, 0, 40}, bytes.Repeat([]byte{0xAB}, 40)...)
		if _, err := p.raw.Write(garbage); err != nil {
			t.Fatal(err)
		}
		waitClosed(t, p.raw)
		if err := rec.Disconnect(t, s.ID()); !errors.Is(err, engine.ErrTLS) {
			t.Errorf("reason = %v; want ErrTLS", err)
		}
	})

	t.Run("oversized record", func(t *testing.T) {
		p, s := established(t)
		if _, err := p.raw.Write([]byte{23, 3, 3, 0x48, 0x01}); err != nil { // 18,433 bytes announced
			t.Fatal(err)
		}
		waitClosed(t, p.raw)
		err := rec.Disconnect(t, s.ID())
		var rh tls.RecordHeaderError
		if !errors.Is(err, engine.ErrTLS) || !errors.As(err, &rh) {
			t.Errorf("reason = %v; want ErrTLS wrapping tls.RecordHeaderError", err)
		}
	})

	t.Run("handshake that never finishes", func(t *testing.T) {
		c := nettest.Dial(t, addr)
		before := failures("timeout")
		hello := []byte{22, 3, 1, 0, 200, 1, 0, 0, 196, 3, 3}
		start := time.Now()
		closed := make(chan struct{})
		go func() {
			defer close(closed)
			_ = c.SetReadDeadline(time.Now().Add(nettest.Timeout))
			_, _ = io.Copy(io.Discard, c)
		}()
	trickle:
		for _, x := range hello {
			if _, err := c.Write([]byte{x}); err != nil {
				break
			}
			select {
			case <-closed:
				break trickle
			case <-time.After(100 * time.Millisecond):
			}
		}
		<-closed
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("closed after %v; want about the 400 ms handshake timeout", d)
		}
		nettest.Eventually(t, "a timeout failure", func() error {
			if n := failures("timeout"); n <= before {
				return fmt.Errorf("%d timeout failures, %d before", n, before)
			}
			return nil
		})
	})

	t.Run("close_notify mid-frame", func(t *testing.T) {
		p, s := established(t)
		if _, err := p.tc.Write(nettest.Frame(make([]byte, 100))[:12]); err != nil {
			t.Fatal(err)
		}
		if err := p.tc.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		err := rec.Disconnect(t, s.ID())
		if !errors.Is(err, engine.ErrTLS) {
			t.Errorf("reason = %v; want ErrTLS (close_notify in the middle of a frame)", err)
		}
	})

	t.Run("close_notify between frames", func(t *testing.T) {
		p, s := established(t)
		if err := p.tc.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		if err := rec.Disconnect(t, s.ID()); err != engine.ErrPeerClosed {
			t.Errorf("reason = %v; want a clean ErrPeerClosed", err)
		}
		// The server answers with its own close_notify: the client reads EOF.
		_ = p.tc.SetReadDeadline(time.Now().Add(nettest.Timeout))
		if _, err := p.tc.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("client read after the close = %v; want io.EOF (close_notify)", err)
		}
	})

	t.Run("reset mid-record", func(t *testing.T) {
		p, s := established(t)
		if _, err := p.raw.Write([]byte{23, 3, 3, 1, 0, 1, 2, 3}); err != nil { // 8 of 261 bytes
			t.Fatal(err)
		}
		if tc, ok := p.raw.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		p.raw.Close()
		if err := rec.Disconnect(t, s.ID()); !errors.Is(err, engine.ErrPeerClosed) {
			t.Errorf("reason = %v; want ErrPeerClosed", err)
		}
	})

	healthy.echo(t, "still here")
	if n := rec.Count("connect"); n != connects {
		t.Errorf("connect events = %d; want %d (failed handshakes never reach the handler)", n, connects)
	}
	if n := srv.Monitor().Snapshot().Total.Errors["handshake"]; n < 2 {
		t.Errorf("handshake errors in the monitor = %d; want at least 2", n)
	}
}

// TestTLSLimits checks that the engine's limits hold on TLS sessions: the
// frame size, the memory budget, the frame and idle timeouts, the write
// high-water mark (counting ciphertext), each closing only its session.
func TestTLSLimits(t *testing.T) {
	b := bundle(t)
	for _, tc := range []struct {
		name  string
		opts  []engine.Option
		input []byte // the bad session's plaintext
		want  error
	}{
		{"frame too large", []engine.Option{engine.WithMaxFrameSize(1024)}, []byte{0, 0x10, 0, 0}, codec.ErrFrameTooLarge},
		{"memory budget", []engine.Option{engine.WithMemoryLimit(1 << 20)}, append([]byte{0, 0x20, 0, 0}, make([]byte, 100)...), engine.ErrMemoryLimit},
		{"frame timeout", []engine.Option{engine.WithFrameTimeout(200 * time.Millisecond)}, []byte{0, 0, 0, 50, 1, 2}, engine.ErrFrameTimeout},
		{"idle timeout", []engine.Option{engine.WithIdleTimeout(300 * time.Millisecond)}, nil, engine.ErrIdleTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &nettest.Recorder{Echo: true}
			_, addr := start(t, rec, append(tc.opts, engine.WithTLS(b.ServerConfig()))...)
			bad := dialTLS(t, addr, b.ClientConfig())
			if tc.input != nil {
				if _, err := bad.tc.Write(tc.input); err != nil {
					t.Fatal(err)
				}
			}
			ev := rec.WaitCount(t, "connect", 1)[0]
			if tc.want != engine.ErrIdleTimeout {
				healthy := dialTLS(t, addr, b.ClientConfig())
				healthy.echo(t, "hello")
				defer healthy.echo(t, "after")
			}
			if err := rec.Disconnect(t, ev.Session.ID()); !errors.Is(err, tc.want) {
				t.Errorf("reason = %v; want %v", err, tc.want)
			}
			waitClosed(t, bad.raw)
		})
	}

	t.Run("slow consumer", func(t *testing.T) {
		rec := &nettest.Recorder{}
		_, addr := start(t, rec, engine.WithTLS(b.ServerConfig()),
			engine.WithWriteHighWater(256<<10), engine.WithSocketBuffers(32<<10, 32<<10))
		slow := dialTLS(t, addr, b.ClientConfig())
		if tc, ok := slow.raw.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(16 << 10)
		}
		slowS := rec.WaitCount(t, "connect", 1)[0].Session
		healthy := dialTLS(t, addr, b.ClientConfig())
		healthyS := rec.WaitCount(t, "connect", 2)[1].Session
		chunk := bytes.Repeat([]byte("x"), 16<<10)
		var err error
		for i := 0; i < 10_000 && err == nil; i++ {
			err = slowS.Send(chunk)
			if i%64 == 0 {
				if err := healthyS.Send([]byte("tick")); err != nil {
					t.Fatalf("healthy Send: %v", err)
				}
				if got := healthy.recv(t); string(got) != "tick" {
					t.Fatalf("healthy got %q", got)
				}
			}
		}
		if err := rec.Disconnect(t, slowS.ID()); !errors.Is(err, engine.ErrSlowConsumer) {
			t.Fatalf("slow reason = %v; want ErrSlowConsumer", err)
		}
		if err := healthyS.Send([]byte("after")); err != nil {
			t.Fatal(err)
		}
		if got := healthy.recv(t); string(got) != "after" {
			t.Errorf("healthy got %q", got)
		}
	})
}

// TestTLSHandshakeCap: with one handshake slot and no queue, a handshake
// that stalls holds the slot and the next is refused (cause "busy"), while
// an established session keeps echoing.
func TestTLSHandshakeCap(t *testing.T) {
	b := bundle(t)
	rec := &nettest.Recorder{Echo: true}
	srv, addr := start(t, rec, engine.WithTLS(b.ServerConfig()), engine.WithMaxHandshakes(1, -1))
	healthy := dialTLS(t, addr, b.ClientConfig())
	healthy.echo(t, "hello")
	staller := nettest.Dial(t, addr)
	if _, err := staller.Write([]byte{22, 3, 1}); err != nil {
		t.Fatal(err)
	}
	// The staller's handshake may start after the next one's: retry until
	// one is refused.
	nettest.Eventually(t, "a busy refusal", func() error {
		c := nettest.Dial(t, addr)
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		_, err := io.Copy(io.Discard, c)
		c.Close()
		if err != nil {
			return fmt.Errorf("the refused connection ended with %v, not a clean close", err)
		}
		if n := srv.HandshakeFailures()["busy"]; n == 0 {
			return fmt.Errorf("no busy refusal counted")
		}
		return nil
	})
	healthy.echo(t, "still here")
}

// TestTLSWorkers runs the handler on workers over TLS, with a queue small
// enough that the session pauses.
func TestTLSWorkers(t *testing.T) {
	b := bundle(t)
	rec := &nettest.Recorder{Echo: true}
	_, addr := start(t, rec, engine.WithTLS(b.ServerConfig()), engine.WithWorkers(2), engine.WithWorkerQueue(4, engine.OverflowPause))
	p := dialTLS(t, addr, b.ClientConfig())
	var batch []byte
	for i := range 300 {
		batch = append(batch, nettest.Frame([]byte{byte(i), byte(i >> 8)})...)
	}
	go func() { _, _ = p.tc.Write(batch) }()
	for i := range 300 {
		if got := p.recv(t); len(got) != 2 || int(got[0])|int(got[1])<<8 != i {
			t.Fatalf("message %d = %v", i, got)
		}
	}
}

// TestTLSPool dials a Pool over mutual TLS.
func TestTLSPool(t *testing.T) {
	b := bundle(t)
	_, addr := start(t, &nettest.Recorder{Echo: true}, engine.WithTLS(b.MutualServerConfig()))
	ctx, cancel := context.WithTimeout(context.Background(), nettest.Timeout)
	defer cancel()
	p, err := engine.NewPool(ctx, addr, 3, engine.WithTLS(b.MutualClientConfig()), engine.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i := range 10 {
		msg := []byte{byte(i)}
		got, err := p.Request(ctx, msg)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("Request %d: %v, %v", i, got, err)
		}
	}
}

// TestTLSHotPathAllocs measures the allocations of a round trip of 16
// pipelined 64-byte messages over TLS 1.3 once the session is established,
// in the whole process: the server's engine path (decrypt, decode, handler,
// Send, encrypt, write) and the crypto/tls client. crypto/tls allocates 24
// bytes each time it pulls bytes from its net.Conn (see internal/tlsio), on
// both sides; nothing else may allocate.
func TestTLSHotPathAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	b := bundle(t)
	for _, reply := range []bool{false, true} {
		echo := func(s *session.Session, msg []byte) { _ = s.Send(msg) }
		if reply {
			echo = func(s *session.Session, msg []byte) { _ = s.Reply(msg) }
		}
		_, addr := start(t, engine.HandlerFuncs{Message: echo}, engine.WithLoops(1), engine.WithTLS(b.ServerConfig()))
		p := dialTLS(t, addr, b.ClientConfig())
		var out []byte
		for range 16 {
			out = append(out, nettest.Frame(make([]byte, 64))...)
		}
		in := make([]byte, len(out))
		do := func() {
			if _, err := p.tc.Write(out); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(p.tc, in); err != nil {
				t.Fatal(err)
			}
		}
		for range 100 {
			do()
		}
		allocs := testing.AllocsPerRun(300, do)
		t.Logf("Reply %v: %.2f allocations per round trip of 16 messages (%.3f per message), both sides", reply, allocs, allocs/16)
		if allocs > 2.5 {
			t.Errorf("allocations per round trip = %.2f; want at most 2 (crypto/tls's one per read, server and client)", allocs)
		}
	}
}

// TestTLSHandshakeFlood: 40 handshakes that never finish against 4 slots and
// a queue of 10 (the rest refused at once) cost an established session
// nothing but the loop's copies: it keeps its round trips all along.
func TestTLSHandshakeFlood(t *testing.T) {
	b := bundle(t)
	rec := &nettest.Recorder{Echo: true}
	srv, addr := start(t, rec, engine.WithTLS(b.ServerConfig()), engine.WithMaxHandshakes(4, 10), engine.WithLoops(1))
	healthy := dialTLS(t, addr, b.ClientConfig())
	healthy.echo(t, "before")
	for i := range 40 {
		c := nettest.Dial(t, addr)
		if _, err := c.Write([]byte{22, 3, 1, 0, 200, 1}); err != nil {
			t.Fatal(err)
		}
		if i%8 == 0 {
			healthy.echo(t, "during")
		}
	}
	nettest.Eventually(t, "26 busy refusals", func() error {
		if n := srv.HandshakeFailures()["busy"]; n < 26 {
			return fmt.Errorf("%d busy refusals", n)
		}
		return nil
	})
	for range 20 {
		healthy.echo(t, "after")
	}
	if n := rec.Count("connect"); n != 1 {
		t.Errorf("connect events = %d; want 1", n)
	}
}

// TestTLSCertificateRotation swaps the server's certificate through
// GetCertificate (certs.Rotating) while a session is open: new handshakes
// get the new one, the open session keeps working.
func TestTLSCertificateRotation(t *testing.T) {
	old, next := bundle(t), bundle(t)
	rot := certs.NewRotating(old.Server)
	_, addr := start(t, &nettest.Recorder{Echo: true}, engine.WithTLS(&tls.Config{GetCertificate: rot.GetCertificate}))
	p := dialTLS(t, addr, old.ClientConfig())
	p.echo(t, "old")
	rot.Store(next.Server)
	q := dialTLS(t, addr, next.ClientConfig())
	q.echo(t, "new")
	if _, err := tryDialTLS(addr, old.ClientConfig()); err == nil {
		t.Error("a client trusting only the old CA still connects after the rotation")
	}
	p.echo(t, "old session still open")
}

// BenchmarkTLSEcho reports a round trip of 16 pipelined messages over TLS 1.3
// through the engine (Reply), the crypto/tls client included, next to the
// same without TLS: read them as a ratio taken in the same run.
func BenchmarkTLSEcho(b *testing.B) {
	bun := bundle(b)
	for _, size := range []int{64, 1 << 10} {
		for _, withTLS := range []bool{false, true} {
			name := fmt.Sprintf("%dB/plain", size)
			if withTLS {
				name = fmt.Sprintf("%dB/tls", size)
			}
			b.Run(name, func(b *testing.B) {
				opts := []engine.Option{engine.WithLoops(1)}
				if withTLS {
					opts = append(opts, engine.WithTLS(bun.ServerConfig()))
				}
				_, addr := start(b, engine.HandlerFuncs{Message: func(s *session.Session, msg []byte) { _ = s.Reply(msg) }}, opts...)
				var conn io.ReadWriter
				if withTLS {
					conn = dialTLS(b, addr, bun.ClientConfig()).tc
				} else {
					conn = nettest.Dial(b, addr).Conn
				}
				var out []byte
				for range 16 {
					out = append(out, nettest.Frame(make([]byte, size))...)
				}
				in := make([]byte, len(out))
				b.ReportAllocs()
				b.SetBytes(int64(len(out)))
				for b.Loop() {
					if _, err := conn.Write(out); err != nil {
						b.Fatal(err)
					}
					if _, err := io.ReadFull(conn, in); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func TestTLSOptionErrors(t *testing.T) {
	for _, opt := range []engine.Option{engine.WithHandshakeTimeout(-time.Second), engine.WithMaxHandshakes(-1, 0)} {
		if _, err := engine.NewServer(engine.HandlerFuncs{}, opt); !errors.Is(err, engine.ErrBadOption) {
			t.Errorf("NewServer with a negative TLS option: %v; want ErrBadOption", err)
		}
	}
}
