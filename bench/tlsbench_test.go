package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/netsys-go/netsys/codec"
	"github.com/netsys-go/netsys/internal/certs"
)

// startNetTLS runs ServeNetTLS on a loopback port until the test ends, and
// returns its listener (wrapped by wrap, when not nil) and address.
func startNetTLS(t *testing.T, cfg *tls.Config, wrap func(net.Listener) net.Listener) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var served net.Listener = ln
	if wrap != nil {
		served = wrap(ln)
	}
	done := make(chan error, 1)
	go func() { done <- ServeNetTLS(served, codec.Default(), cfg) }()
	t.Cleanup(func() {
		_ = ln.Close()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("ServeNetTLS after its listener closed = %v; want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("ServeNetTLS did not return after its listener closed")
		}
	})
	return ln.Addr().String()
}

// TestServeNetTLS echoes a stream of small and large frames (larger than a
// TLS record and than the connection's read buffer) written whole and in
// pieces over crypto/tls, checks that TLS 1.3 was negotiated, and that a
// plaintext client gets no echo.
func TestServeNetTLS(t *testing.T) {
	b, err := certs.SelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	addr := startNetTLS(t, b.ServerConfig(), nil)
	large := bytes.Repeat([]byte("0123456789abcdef"), 9000) // 144,000 bytes
	stream := frames(t, codec.Default(), []byte("a"), large, []byte{}, []byte("b"), large[:5000], []byte("c"))
	for _, piece := range []int{len(stream), 1000, 7} {
		c, err := tls.Dial("tcp", addr, b.ClientConfig())
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if v := c.ConnectionState().Version; v != tls.VersionTLS13 {
			t.Errorf("negotiated %s; want TLS 1.3", tls.VersionName(v))
		}
		go func() {
			for rest := stream; len(rest) > 0; rest = rest[min(piece, len(rest)):] {
				if _, err := c.Write(rest[:min(piece, len(rest))]); err != nil {
					return
				}
			}
		}()
		got := make([]byte, len(stream))
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatalf("written %d bytes at a time: reading the echo: %v", piece, err)
		}
		if !bytes.Equal(got, stream) {
			t.Errorf("written %d bytes at a time: echo differs from the %d bytes sent", piece, len(stream))
		}
		_ = c.Close()
	}

	plain, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	_ = plain.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := plain.Write(frames(t, codec.Default(), []byte("hello"))); err != nil {
		t.Fatal(err)
	}
	reply, err := io.ReadAll(plain)
	if bytes.Contains(reply, []byte("hello")) {
		t.Errorf("a plaintext client got %q back (%v); want no echo", reply, err)
	}
}

// pendingListener counts the connections it accepted whose TLS handshake has
// not reached its end yet (done, called from the server's VerifyConnection,
// marks one that has), and the most at once.
type pendingListener struct {
	net.Listener
	mu            sync.Mutex
	pending, most int
}

func (l *pendingListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.pending++
		l.most = max(l.most, l.pending)
		l.mu.Unlock()
	}
	return nc, err
}

func (l *pendingListener) done(tls.ConnectionState) error {
	l.mu.Lock()
	l.pending--
	l.mu.Unlock()
	return nil
}

// TestLoadTLSPacesHandshakes runs an idle TLS load of more connections than
// dialConcurrency against ServeNetTLS, counting the handshakes in progress
// on the server (from accept to the server's VerifyConnection, which
// crypto/tls calls at the end of a TLS 1.3 server handshake): the load
// generator keeps at most about dialConcurrency of them at once (a connect
// holds its slot until its handshake ends), so that a server capping the
// handshakes in progress, as the engine does, refuses none.
func TestLoadTLSPacesHandshakes(t *testing.T) {
	if testing.Short() {
		t.Skip("hundreds of TLS handshakes")
	}
	b, err := certs.SelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	var pl *pendingListener
	cfg := b.ServerConfig()
	cfg.VerifyConnection = func(cs tls.ConnectionState) error { return pl.done(cs) }
	addr := startNetTLS(t, cfg, func(ln net.Listener) net.Listener {
		pl = &pendingListener{Listener: ln}
		return pl
	})
	const conns = 3 * dialConcurrency
	res, err := Load(context.Background(), LoadConfig{Addr: addr, Conns: conns, Idle: true, TLS: b.ClientConfig(),
		Duration: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if res.Conns != conns || res.Errors != 0 {
		t.Errorf("held %d connections with %d errors; want %d and none", res.Conns, res.Errors, conns)
	}
	pl.mu.Lock()
	defer pl.mu.Unlock()
	t.Logf("%d connections, at most %d handshakes in progress on the server at once", conns, pl.most)
	if pl.most > dialConcurrency+dialConcurrency/4 {
		t.Errorf("%d handshakes in progress at once on the server; want at most about %d", pl.most, dialConcurrency)
	}
}

// TestTLSScenarios checks the TLS set: TLS on, engine and net only, valid
// load configurations, names of their own, and none of them in the default,
// quick or fixed-load sets.
func TestTLSScenarios(t *testing.T) {
	others := map[string]bool{}
	for _, s := range append(append(Scenarios(false), Scenarios(true)...), FixedScenarios()...) {
		others[s.Name] = true
		if s.TLS {
			t.Errorf("%s: a TLS scenario outside TLSScenarios", s.Name)
		}
	}
	seen := map[string]bool{}
	for _, s := range TLSScenarios() {
		if seen[s.Name] || others[s.Name] {
			t.Errorf("%s: name used twice", s.Name)
		}
		seen[s.Name] = true
		if !s.TLS || !s.RunsOn("engine") || !s.RunsOn("net") || s.RunsOn("gnet") || s.RunsOn("nbio") {
			t.Errorf("%s: TLS %v, servers %q; want TLS against engine and net only", s.Name, s.TLS, s.Servers)
		}
		if _, err := s.LoadConfig("127.0.0.1:1").withDefaults(); err != nil {
			t.Errorf("%s: %v", s.Name, err)
		}
	}
	for _, name := range []string{"idle-tls-10000c", "pipelined-tls-100c-16x-1KiB", "fixed-pipelined-tls-100c-16x-1KiB"} {
		if !seen[name] {
			t.Errorf("no TLS scenario %s", name)
		}
	}
}
