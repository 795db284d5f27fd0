package tlsio_test

import (
	"crypto/tls"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/netsys-go/netsys/internal/certs"
	"github.com/netsys-go/netsys/internal/tlsio"
)

// startServer starts a server Conn on h and returns it, its pipe and the
// channel its onDone reports on.
func startServer(t *testing.T, h *tlsio.Handshaker, cfg *tls.Config) (*tlsio.Conn, *pipe, chan result) {
	t.Helper()
	pp := newPipe()
	c := tlsio.NewServer(cfg, pp.out)
	done := make(chan result, 1)
	if err := c.Start(h, func(st tls.ConnectionState, err error) { done <- result{st, err, true} }); err != nil {
		t.Fatalf("Start: %v", err)
	}
	return c, pp, done
}

func wait(t *testing.T, ch chan result, within time.Duration) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(within):
		t.Fatalf("onDone not called within %v", within)
		return result{}
	}
}

func TestHandshakePlaintextClient(t *testing.T) {
	srvCfg, _ := configs(t, tls.VersionTLS13)
	c, _, done := startServer(t, tlsio.NewHandshaker(tlsio.Config{}), srvCfg)
	if _, err := c.Feed([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatalf("Feed during the handshake: %v", err)
	}
	r := wait(t, done, 10*time.Second)
	var he *tlsio.HandshakeError
	if !errors.As(r.err, &he) || he.Cause != tlsio.CauseNotTLS || !errors.Is(r.err, tlsio.ErrHandshake) {
		t.Fatalf("onDone: %v, want a HandshakeError with cause not_tls", r.err)
	}
	var rh tls.RecordHeaderError
	if !errors.As(r.err, &rh) {
		t.Fatalf("%v does not wrap tls.RecordHeaderError", r.err)
	}
	t.Logf("plaintext client: %v", r.err)
	if _, err := c.Feed([]byte("more")); !errors.Is(err, tlsio.ErrHandshake) {
		t.Fatalf("Feed after a failed handshake: %v", err)
	}
	if _, err := c.Activate(); !errors.Is(err, tlsio.ErrHandshake) {
		t.Fatalf("Activate after a failed handshake: %v", err)
	}
}

// TestHandshakeTimeout: a handshake that never finishes (a client sending
// part of its hello, then a byte now and then) fails with cause timeout.
func TestHandshakeTimeout(t *testing.T) {
	srvCfg, cliCfg := configs(t, tls.VersionTLS13)
	h := tlsio.NewHandshaker(tlsio.Config{HandshakeTimeout: 150 * time.Millisecond})
	// A real ClientHello, fed one byte at a time but never completely.
	cp := newPipe()
	cli := tlsio.NewClient(cliCfg, cp.out)
	cdone := make(chan result, 1)
	if err := cli.Start(tlsio.NewHandshaker(tlsio.Config{}), func(st tls.ConnectionState, err error) { cdone <- result{st, err, true} }); err != nil {
		t.Fatal(err)
	}
	<-cp.sig
	hello := cp.take()
	cli.Close()
	wait(t, cdone, 5*time.Second)

	start := time.Now()
	srv, _, done := startServer(t, h, srvCfg)
	for i := 0; i < 10; i++ {
		if _, err := srv.Feed(hello[i : i+1]); err != nil {
			t.Fatal(err)
		}
	}
	r := wait(t, done, 5*time.Second)
	if tlsio.Classify(r.err) != tlsio.CauseTimeout || !errors.Is(r.err, tlsio.ErrHandshakeTimeout) {
		t.Fatalf("onDone: %v, want a timeout", r.err)
	}
	if el := time.Since(start); el < 150*time.Millisecond {
		t.Fatalf("timed out after %v, before the 150 ms timeout", el)
	}
	// The goroutine leaves the pool right after onDone returns.
	waitFor(t, func() bool { s := h.Stats(); return s.Running == 0 && s.Queued == 0 })
}

func TestHandshakeCertificateFailures(t *testing.T) {
	b := testBundle(t)
	other, err := certs.SelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	expired, err := b.CA.Issue(certs.Leaf{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	foreignClient := b.ClientConfig() // trusts the server, presents a certificate it does not trust
	foreignClient.Certificates = []tls.Certificate{other.Client}
	for _, ver := range versions {
		for _, c := range []struct {
			name     string
			srv, cli *tls.Config
			side     string // the side whose cause is asserted
			want     tlsio.Cause
		}{
			{"unknown CA at the client", b.ServerConfig(), other.ClientConfig(), "client", tlsio.CauseUnknownCA},
			{"unknown CA seen by the server", b.ServerConfig(), other.ClientConfig(), "server", tlsio.CauseBadCertificate},
			{"expired server certificate", &tls.Config{Certificates: []tls.Certificate{expired}}, b.ClientConfig(), "client", tlsio.CauseBadCertificate},
			{"wrong host name", b.ServerConfig(), &tls.Config{RootCAs: b.CA.Pool(), ServerName: "elsewhere"}, "client", tlsio.CauseBadCertificate},
			{"client certificate missing", b.MutualServerConfig(), b.ClientConfig(), "server", tlsio.CauseNoClientCert},
			{"client certificate from an unknown CA", b.MutualServerConfig(), foreignClient, "server", tlsio.CauseUnknownCA},
			{"no common ALPN", &tls.Config{Certificates: []tls.Certificate{b.Server}, NextProtos: []string{"a"}}, &tls.Config{RootCAs: b.CA.Pool(), ServerName: "localhost", NextProtos: []string{"b"}}, "server", tlsio.CauseOther},
		} {
			t.Run(ver.name+"/"+c.name, func(t *testing.T) {
				c.srv.MinVersion, c.srv.MaxVersion = ver.v, ver.v
				p := newPair(t, nil, c.srv, c.cli)
				p.handshake()
				r := p.sres
				if c.side == "client" {
					r = p.cres
				}
				if r.err == nil {
					t.Fatalf("%s handshake succeeded", c.side)
				}
				if got := tlsio.Classify(r.err); got != c.want {
					t.Fatalf("%s: cause %v, want %v (%v)", c.side, got, c.want, r.err)
				}
				t.Logf("%s: %v", c.side, r.err)
			})
		}
	}
}

// TestHandshakePoolBounds: at most MaxHandshakes goroutines, MaxQueue
// waiting, the rest refused; queued handshakes run when a slot frees, and
// time out or close from the queue promptly.
func TestHandshakePoolBounds(t *testing.T) {
	srvCfg, cliCfg := configs(t, tls.VersionTLS13)
	h := tlsio.NewHandshaker(tlsio.Config{MaxHandshakes: 1, MaxQueue: 2, HandshakeTimeout: 5 * time.Second})
	// Stalled: a server waiting for a hello that never comes holds the slot.
	stalled, _, stalledDone := startServer(t, h, srvCfg)
	q1, _, q1Done := startServer(t, h, srvCfg)
	q2 := newPair(t, h, srvCfg, cliCfg)
	if s := h.Stats(); s.Running != 1 || s.Queued != 1 {
		t.Fatalf("stats %+v, want 1 running, 1 queued", s)
	}
	// Fill the queue with q2's server, then the next Start is refused.
	q2done := make(chan result, 1)
	if err := q2.srv.Start(h, func(st tls.ConnectionState, err error) { q2done <- result{st, err, true} }); err != nil {
		t.Fatal(err)
	}
	refused := tlsio.NewServer(srvCfg, func([]byte) {})
	if err := refused.Start(h, func(tls.ConnectionState, error) { t.Error("onDone of a refused Start") }); !errors.Is(err, tlsio.ErrBusy) {
		t.Fatalf("Start on a full pool: %v, want ErrBusy", err)
	}
	if s := h.Stats(); s.Running != 1 || s.Queued != 2 || s.Refused != 1 || s.Started != 3 {
		t.Fatalf("stats %+v", s)
	}
	if _, err := refused.Feed([]byte{22}); !errors.Is(err, tlsio.ErrBusy) {
		t.Fatalf("Feed on a refused Conn: %v", err)
	}
	// Closing a queued handshake reports CauseClosed at once.
	q1.Close()
	if r := wait(t, q1Done, time.Second); tlsio.Classify(r.err) != tlsio.CauseClosed {
		t.Fatalf("queued then closed: %v", r.err)
	}
	// Closing the stalled one frees the slot; q2's server handshake runs.
	stalled.Close()
	if r := wait(t, stalledDone, 5*time.Second); tlsio.Classify(r.err) != tlsio.CauseClosed {
		t.Fatalf("running then closed: %v", r.err)
	}
	cdone := make(chan result, 1)
	if err := q2.cli.Start(tlsio.NewHandshaker(tlsio.Config{}), func(st tls.ConnectionState, err error) { cdone <- result{st, err, true} }); err != nil {
		t.Fatal(err)
	}
	var sr, cr result
	for !sr.done || !cr.done {
		select {
		case <-q2.s2c.sig:
			_, _ = q2.cli.Feed(q2.s2c.take())
		case <-q2.c2s.sig:
			_, _ = q2.srv.Feed(q2.c2s.take())
		case sr = <-q2done:
		case cr = <-cdone:
		case <-time.After(10 * time.Second):
			t.Fatal("queued handshake did not complete")
		}
	}
	if sr.err != nil || cr.err != nil {
		t.Fatalf("queued handshake: server %v, client %v", sr.err, cr.err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for h.Stats().Running != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines left: %+v", h.Stats())
		}
		time.Sleep(time.Millisecond)
	}
}

func TestQueuedHandshakeTimesOut(t *testing.T) {
	srvCfg, _ := configs(t, tls.VersionTLS13)
	h := tlsio.NewHandshaker(tlsio.Config{MaxHandshakes: 1, MaxQueue: 1, HandshakeTimeout: 100 * time.Millisecond})
	_, _, d1 := startServer(t, h, srvCfg)
	_, _, d2 := startServer(t, h, srvCfg)
	for i, d := range []chan result{d1, d2} {
		if r := wait(t, d, 5*time.Second); tlsio.Classify(r.err) != tlsio.CauseTimeout {
			t.Fatalf("handshake %d: %v, want a timeout", i, r.err)
		}
	}
}

func TestHandshakeInputLimit(t *testing.T) {
	srvCfg, _ := configs(t, tls.VersionTLS13)
	h := tlsio.NewHandshaker(tlsio.Config{MaxHandshakes: 1, MaxQueue: 1, MaxHandshakeInput: 1000})
	_, _, d1 := startServer(t, h, srvCfg)
	queued, _, d2 := startServer(t, h, srvCfg) // waits behind the first: nothing consumes its input
	if _, err := queued.Feed(make([]byte, 600)); err != nil {
		t.Fatal(err)
	}
	if _, err := queued.Feed(make([]byte, 600)); !errors.Is(err, tlsio.ErrInputLimit) {
		t.Fatalf("Feed past the limit: %v", err)
	}
	queued.Close()
	wait(t, d2, time.Second)
	_ = d1
}

// TestHandshakeFlood: a flood of handshakes that never finish holds at most
// MaxHandshakes goroutines and MaxQueue places, refuses the rest, and an
// established connection served by the same "loop" goes on meanwhile.
func TestHandshakeFlood(t *testing.T) {
	srvCfg, cliCfg := configs(t, tls.VersionTLS13)
	established := newPair(t, nil, srvCfg, cliCfg)
	established.mustHandshake()

	const maxHS, maxQ, flood = 8, 100, 300
	h := tlsio.NewHandshaker(tlsio.Config{MaxHandshakes: maxHS, MaxQueue: maxQ, HandshakeTimeout: 20 * time.Second})
	before := runtime.NumGoroutine()
	var conns []*tlsio.Conn
	done := make(chan result, flood)
	refused := 0
	for i := 0; i < flood; i++ {
		c := tlsio.NewServer(srvCfg, func([]byte) {})
		if err := c.Start(h, func(st tls.ConnectionState, err error) { done <- result{st, err, true} }); err != nil {
			if !errors.Is(err, tlsio.ErrBusy) {
				t.Fatal(err)
			}
			refused++
			continue
		}
		conns = append(conns, c)
		// Each sends the first bytes of a hello and stalls.
		if _, err := c.Feed([]byte{22, 3, 1, 0, 200}); err != nil {
			t.Fatal(err)
		}
		// The established connection is served between them.
		roundTrip(t, established, []byte("still served"))
	}
	if refused != flood-maxHS-maxQ {
		t.Fatalf("refused %d, want %d", refused, flood-maxHS-maxQ)
	}
	if s := h.Stats(); s.Running != maxHS || s.Queued != maxQ {
		t.Fatalf("stats %+v", s)
	}
	if g := runtime.NumGoroutine() - before; g > maxHS+2 {
		t.Fatalf("%d more goroutines, want at most %d", g, maxHS)
	}
	for _, c := range conns {
		c.Close()
	}
	for range conns {
		if r := wait(t, done, 10*time.Second); tlsio.Classify(r.err) != tlsio.CauseClosed {
			t.Fatalf("flooded handshake ended with %v", r.err)
		}
	}
	waitFor(t, func() bool { return h.Stats().Running == 0 })
}
