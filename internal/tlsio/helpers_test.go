package tlsio_test

import (
	"crypto/tls"
	"sync"
	"testing"
	"time"

	"github.com/netsys-go/netsys/internal/certs"
	"github.com/netsys-go/netsys/internal/tlsio"
)

// bundle is generated once: key generation is slow under -race.
var (
	bundleOnce sync.Once
	bundleVal  *certs.Bundle
	bundleErr  error
)

func testBundle(t testing.TB) *certs.Bundle {
	t.Helper()
	bundleOnce.Do(func() { bundleVal, bundleErr = certs.SelfSigned() })
	if bundleErr != nil {
		t.Fatal(bundleErr)
	}
	return bundleVal
}

// versions are the TLS versions every behaviour is pinned for.
var versions = []struct {
	name string
	v    uint16
}{{"TLS12", tls.VersionTLS12}, {"TLS13", tls.VersionTLS13}}

// configs returns a server and a client configuration fixed to version v.
func configs(t testing.TB, v uint16) (srv, cli *tls.Config) {
	b := testBundle(t)
	srv, cli = b.ServerConfig(), b.ClientConfig()
	srv.MinVersion, srv.MaxVersion = v, v
	cli.MinVersion, cli.MaxVersion = v, v
	return srv, cli
}

// pipe collects what one side's out writes. take swaps two buffers, so the
// bytes it returns stay valid while the other side feeds them and the writer
// writes more.
type pipe struct {
	mu   sync.Mutex
	bufs [2][]byte
	cur  int
	sig  chan struct{}
}

func newPipe() *pipe { return &pipe{sig: make(chan struct{}, 1)} }

func (p *pipe) out(b []byte) {
	p.mu.Lock()
	p.bufs[p.cur] = append(p.bufs[p.cur], b...)
	p.mu.Unlock()
	select {
	case p.sig <- struct{}{}:
	default:
	}
}

func (p *pipe) take() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.bufs[p.cur]
	p.cur ^= 1
	p.bufs[p.cur] = p.bufs[p.cur][:0]
	return b
}

type result struct {
	st   tls.ConnectionState
	err  error
	done bool
}

// pair is a server and a client Conn wired back to back in memory; the test
// goroutine plays both event loops.
type pair struct {
	t        testing.TB
	h        *tlsio.Handshaker
	srv, cli *tlsio.Conn
	s2c, c2s *pipe
	sres     result
	cres     result
}

func newPair(t testing.TB, h *tlsio.Handshaker, srvCfg, cliCfg *tls.Config) *pair {
	if h == nil {
		h = tlsio.NewHandshaker(tlsio.Config{})
	}
	p := &pair{t: t, h: h, s2c: newPipe(), c2s: newPipe()}
	p.srv = tlsio.NewServer(srvCfg, p.s2c.out)
	p.cli = tlsio.NewClient(cliCfg, p.c2s.out)
	return p
}

// handshake runs both handshakes to completion (success or failure), feeding
// each side what the other wrote; on success it activates both sides and
// exchanges what is left (session tickets).
func (p *pair) handshake() {
	t := p.t
	t.Helper()
	sd, cd := make(chan result, 1), make(chan result, 1)
	if err := p.srv.Start(p.h, func(st tls.ConnectionState, err error) { sd <- result{st, err, true} }); err != nil {
		t.Fatalf("server Start: %v", err)
	}
	if err := p.cli.Start(p.h, func(st tls.ConnectionState, err error) { cd <- result{st, err, true} }); err != nil {
		t.Fatalf("client Start: %v", err)
	}
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	var grace <-chan time.Time
	for !p.sres.done || !p.cres.done {
		select {
		case <-p.s2c.sig:
			_, _ = p.cli.Feed(p.s2c.take())
		case <-p.c2s.sig:
			_, _ = p.srv.Feed(p.c2s.take())
		case p.sres = <-sd:
			if p.sres.err != nil && grace == nil {
				grace = time.After(2 * time.Second)
			}
		case p.cres = <-cd:
			if p.cres.err != nil && grace == nil {
				grace = time.After(2 * time.Second)
			}
		case <-grace:
			// One side failed and the other waits for bytes that will
			// not come: close it (its cause becomes CauseClosed).
			p.srv.Close()
			p.cli.Close()
		case <-deadline.C:
			t.Fatal("handshake did not finish in 20 s")
		}
	}
	if p.sres.err != nil || p.cres.err != nil {
		return
	}
	if pt, err := p.srv.Activate(); err != nil || len(pt) != 0 {
		t.Fatalf("server Activate: %q, %v", pt, err)
	}
	if pt, err := p.cli.Activate(); err != nil || len(pt) != 0 {
		t.Fatalf("client Activate: %q, %v", pt, err)
	}
	p.settle()
}

// settle feeds each side what the other wrote until nothing moves, and fails
// the test if that yields plaintext.
func (p *pair) settle() {
	p.t.Helper()
	for i := 0; i < 8; i++ {
		a, b := p.s2c.take(), p.c2s.take()
		if len(a) == 0 && len(b) == 0 {
			return
		}
		if pt, err := p.cli.Feed(a); err != nil || len(pt) != 0 {
			p.t.Fatalf("client settle: %q, %v", pt, err)
		}
		if pt, err := p.srv.Feed(b); err != nil || len(pt) != 0 {
			p.t.Fatalf("server settle: %q, %v", pt, err)
		}
	}
}

// mustHandshake is handshake that requires success on both sides.
func (p *pair) mustHandshake() {
	p.t.Helper()
	p.handshake()
	if p.sres.err != nil || p.cres.err != nil {
		p.t.Fatalf("handshake: server %v, client %v", p.sres.err, p.cres.err)
	}
}

// records returns the ciphertext of a Write of msg by from, taken from its pipe.
func records(t testing.TB, from *tlsio.Conn, pp *pipe, msg []byte) []byte {
	t.Helper()
	if err := from.Write(msg); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return pp.take()
}

// waitFor polls cond for up to 5 s.
func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5 s")
		}
		time.Sleep(time.Millisecond)
	}
}
