package tlsio_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/netsys-go/netsys/internal/certs"
	"github.com/netsys-go/netsys/internal/tlsio"
)

func TestHandshakeState(t *testing.T) {
	for _, ver := range versions {
		t.Run(ver.name, func(t *testing.T) {
			srvCfg, cliCfg := configs(t, ver.v)
			srvCfg.NextProtos = []string{"netsys/1", "h2"}
			cliCfg.NextProtos = []string{"netsys/1"}
			p := newPair(t, nil, srvCfg, cliCfg)
			p.mustHandshake()
			for name, st := range map[string]tls.ConnectionState{
				"server onDone": p.sres.st, "client onDone": p.cres.st,
				"server ConnectionState": p.srv.ConnectionState(), "client ConnectionState": p.cli.ConnectionState(),
			} {
				if !st.HandshakeComplete || st.Version != ver.v || st.CipherSuite == 0 {
					t.Errorf("%s: complete %v version %x cipher %x", name, st.HandshakeComplete, st.Version, st.CipherSuite)
				}
				if st.NegotiatedProtocol != "netsys/1" {
					t.Errorf("%s: ALPN %q, want netsys/1", name, st.NegotiatedProtocol)
				}
				if st.ServerName != "localhost" {
					t.Errorf("%s: SNI %q, want localhost", name, st.ServerName)
				}
			}
			if len(p.cres.st.PeerCertificates) != 1 || p.cres.st.PeerCertificates[0].Subject.CommonName != "netsys-server" {
				t.Errorf("client sees peer certificates %v", p.cres.st.PeerCertificates)
			}
			if len(p.sres.st.PeerCertificates) != 0 {
				t.Errorf("server sees %d client certificates without mTLS", len(p.sres.st.PeerCertificates))
			}
			// Both directions carry data.
			for _, dir := range []struct {
				from, to *tlsio.Conn
				pp       *pipe
			}{{p.cli, p.srv, p.c2s}, {p.srv, p.cli, p.s2c}} {
				msg := []byte("hello over TLS")
				pt, err := dir.to.Feed(records(t, dir.from, dir.pp, msg))
				if err != nil || !bytes.Equal(pt, msg) {
					t.Fatalf("round trip: %q, %v", pt, err)
				}
			}
		})
	}
}

// TestPinTemporaryResume pins the behaviour the design rests on: after the
// handshake, a read that finds no bytes gets a temporary net.Error, and
// crypto/tls keeps the partial record and resumes on the next read. Every
// split point of a record, across two Feeds, for TLS 1.2 and 1.3.
func TestPinTemporaryResume(t *testing.T) {
	for _, ver := range versions {
		t.Run(ver.name, func(t *testing.T) {
			srvCfg, cliCfg := configs(t, ver.v)
			p := newPair(t, nil, srvCfg, cliCfg)
			p.mustHandshake()
			msg := bytes.Repeat([]byte("0123456789abcdef"), 8) // 128 B
			first := records(t, p.srv, p.s2c, msg)
			n := len(first)
			if pt, err := p.cli.Feed(first); err != nil || !bytes.Equal(pt, msg) {
				t.Fatalf("whole record: %q, %v", pt, err)
			}
			if pt, err := p.cli.Feed(nil); err != nil || len(pt) != 0 {
				t.Fatalf("empty Feed: %q, %v", pt, err)
			}
			for i := 0; i <= n; i++ {
				rec := append([]byte(nil), records(t, p.srv, p.s2c, msg)...)
				if len(rec) != n {
					t.Fatalf("record length changed: %d, then %d", n, len(rec))
				}
				pt, err := p.cli.Feed(rec[:i])
				if err != nil {
					t.Fatalf("split at %d: first Feed: %v", i, err)
				}
				got := append([]byte(nil), pt...)
				pt, err = p.cli.Feed(rec[i:])
				if err != nil {
					t.Fatalf("split at %d: second Feed: %v", i, err)
				}
				got = append(got, pt...)
				if !bytes.Equal(got, msg) {
					t.Fatalf("split at %d: got %d bytes %q", i, len(got), got)
				}
				if i < n && i > 0 && len(got) != len(pt) {
					t.Fatalf("split at %d: the first half yielded plaintext", i)
				}
			}
			// And one byte per Feed.
			rec := append([]byte(nil), records(t, p.srv, p.s2c, msg)...)
			var got []byte
			for i := range rec {
				pt, err := p.cli.Feed(rec[i : i+1])
				if err != nil {
					t.Fatalf("byte %d: %v", i, err)
				}
				got = append(got, pt...)
			}
			if !bytes.Equal(got, msg) {
				t.Fatalf("byte by byte: %q", got)
			}
		})
	}
}

func TestSeveralRecordsInOneFeed(t *testing.T) {
	for _, ver := range versions {
		t.Run(ver.name, func(t *testing.T) {
			srvCfg, cliCfg := configs(t, ver.v)
			p := newPair(t, nil, srvCfg, cliCfg)
			p.mustHandshake()
			var want, wire []byte
			for i := 0; i < 50; i++ {
				msg := []byte(fmt.Sprintf("message %d;", i))
				want = append(want, msg...)
				wire = append(wire, records(t, p.cli, p.c2s, msg)...)
			}
			// A write larger than a record becomes several records.
			big := bytes.Repeat([]byte{'x'}, 100<<10)
			want = append(want, big...)
			wire = append(wire, records(t, p.cli, p.c2s, big)...)
			// Feed it in uneven pieces that cut records anywhere.
			var got []byte
			for off, step := 0, 1; off < len(wire); off, step = off+step, step*3+1 {
				end := min(off+step, len(wire))
				pt, err := p.srv.Feed(wire[off:end])
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, pt...)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("got %d bytes, want %d", len(got), len(want))
			}
			// All at once.
			wire = wire[:0]
			for i := 0; i < 50; i++ {
				wire = append(wire, records(t, p.cli, p.c2s, []byte(fmt.Sprintf("message %d;", i)))...)
			}
			wire = append(wire, records(t, p.cli, p.c2s, big)...)
			pt, err := p.srv.Feed(wire)
			if err != nil || !bytes.Equal(pt, want) {
				t.Fatalf("one Feed: %d bytes, %v", len(pt), err)
			}
		})
	}
}

// TestOversizedRecord: a record header announcing more than crypto/tls's
// limit (16 KiB of plaintext plus expansion) fails at the header, before
// the body arrives, and the peer gets a record_overflow alert.
func TestOversizedRecord(t *testing.T) {
	for _, ver := range versions {
		t.Run(ver.name, func(t *testing.T) {
			srvCfg, cliCfg := configs(t, ver.v)
			p := newPair(t, nil, srvCfg, cliCfg)
			p.mustHandshake()
			hdr := []byte{23, 3, 3, 0x48, 0x01} // application data, 18433 bytes
			_, err := p.srv.Feed(hdr)
			var rh tls.RecordHeaderError
			if !errors.Is(err, tlsio.ErrRead) || !errors.As(err, &rh) {
				t.Fatalf("Feed: %v, want ErrRead wrapping tls.RecordHeaderError", err)
			}
			t.Logf("oversized record: %v", err)
			if c := tlsio.Classify(err); c != tlsio.CauseNotTLS {
				t.Fatalf("cause %v", c)
			}
			// The alert reaches the client as an error it can classify.
			_, cerr := p.cli.Feed(p.s2c.take())
			if !errors.Is(cerr, tlsio.ErrRead) || tlsio.Classify(cerr) != tlsio.CauseNotTLS {
				t.Fatalf("client after the alert: %v (cause %v)", cerr, tlsio.Classify(cerr))
			}
			t.Logf("peer sees: %v", cerr)
			// Errors are sticky.
			if _, err2 := p.srv.Feed([]byte{1}); !errors.Is(err2, tlsio.ErrRead) {
				t.Fatalf("Feed after the error: %v", err2)
			}
			if err := p.srv.Write([]byte("x")); err != nil {
				t.Logf("Write after a read error: %v", err)
			}
		})
	}
}

func TestGarbageRecord(t *testing.T) {
	for _, ver := range versions {
		t.Run(ver.name, func(t *testing.T) {
			srvCfg, cliCfg := configs(t, ver.v)
			p := newPair(t, nil, srvCfg, cliCfg)
			p.mustHandshake()
			// A well-formed header with a body that does not decrypt.
			rec := append([]byte{23, 3, 3, 0, 64}, bytes.Repeat([]byte{0xAB}, 64)...)
			pt, err := p.srv.Feed(rec)
			if len(pt) != 0 || !errors.Is(err, tlsio.ErrRead) || tlsio.Classify(err) != tlsio.CauseNotTLS {
				t.Fatalf("Feed: %q, %v (cause %v)", pt, err, tlsio.Classify(err))
			}
			t.Logf("garbage record: %v", err)
			// The server answered with a bad_record_mac alert; the client
			// reads it as a remote error of the same cause.
			_, cerr := p.cli.Feed(p.s2c.take())
			if !errors.Is(cerr, tlsio.ErrRead) || tlsio.Classify(cerr) != tlsio.CauseNotTLS {
				t.Fatalf("client after the alert: %v (cause %v)", cerr, tlsio.Classify(cerr))
			}
			t.Logf("peer sees: %v", cerr)
			// A valid record before the garbage still arrives.
			p2 := newPair(t, nil, srvCfg, cliCfg)
			p2.mustHandshake()
			wire := append(append([]byte(nil), records(t, p2.cli, p2.c2s, []byte("good"))...), rec...)
			pt, err = p2.srv.Feed(wire)
			if string(pt) != "good" || !errors.Is(err, tlsio.ErrRead) {
				t.Fatalf("good then garbage: %q, %v", pt, err)
			}
			// Garbage of a type that does not exist.
			p3 := newPair(t, nil, srvCfg, cliCfg)
			p3.mustHandshake()
			if _, err := p3.srv.Feed([]byte{99, 3, 3, 0, 1, 0}); !errors.Is(err, tlsio.ErrRead) {
				t.Fatalf("unknown record type: %v", err)
			}
		})
	}
}

// TestCloseNotifyMidFrame: a close_notify after part of an application frame
// yields the bytes before it, then ErrCloseNotify (not io.EOF): the engine
// sees its codec holding a partial frame and reports a truncated stream.
func TestCloseNotifyMidFrame(t *testing.T) {
	for _, ver := range versions {
		t.Run(ver.name, func(t *testing.T) {
			srvCfg, cliCfg := configs(t, ver.v)
			p := newPair(t, nil, srvCfg, cliCfg)
			p.mustHandshake()
			half := []byte{0, 0, 0, 100, 'h', 'a', 'l', 'f'} // a 100-byte frame, 4 bytes of it
			wire := append([]byte(nil), records(t, p.cli, p.c2s, half)...)
			if err := p.cli.CloseNotify(); err != nil {
				t.Fatal(err)
			}
			wire = append(wire, p.c2s.take()...)
			pt, err := p.srv.Feed(wire)
			if !bytes.Equal(pt, half) || !errors.Is(err, tlsio.ErrCloseNotify) {
				t.Fatalf("Feed: %q, %v; want the half frame and ErrCloseNotify", pt, err)
			}
			if _, err := p.srv.Feed(nil); !errors.Is(err, tlsio.ErrCloseNotify) {
				t.Fatalf("Feed after close_notify: %v", err)
			}
			if err := p.cli.Write([]byte("more")); err == nil {
				t.Fatal("Write after CloseNotify succeeded")
			}
			// close_notify split from the data, in its own Feed.
			p2 := newPair(t, nil, srvCfg, cliCfg)
			p2.mustHandshake()
			pt, err = p2.srv.Feed(records(t, p2.cli, p2.c2s, half))
			if !bytes.Equal(pt, half) || err != nil {
				t.Fatalf("data: %q, %v", pt, err)
			}
			if err := p2.cli.CloseNotify(); err != nil {
				t.Fatal(err)
			}
			cn := p2.c2s.take()
			if _, err := p2.srv.Feed(cn[:3]); err != nil {
				t.Fatalf("partial alert: %v", err)
			}
			if _, err := p2.srv.Feed(cn[3:]); !errors.Is(err, tlsio.ErrCloseNotify) {
				t.Fatalf("rest of the alert: %v", err)
			}
		})
	}
}

func TestMutualTLS(t *testing.T) {
	b := testBundle(t)
	for _, ver := range versions {
		t.Run(ver.name, func(t *testing.T) {
			srvCfg, cliCfg := b.MutualServerConfig(), b.MutualClientConfig()
			srvCfg.MinVersion, srvCfg.MaxVersion = ver.v, ver.v
			p := newPair(t, nil, srvCfg, cliCfg)
			p.mustHandshake()
			pc := p.sres.st.PeerCertificates
			if len(pc) != 1 || pc[0].Subject.CommonName != "netsys-client" {
				t.Fatalf("server sees client certificates %v", pc)
			}
			if len(p.sres.st.VerifiedChains) != 1 {
				t.Fatalf("verified chains %d", len(p.sres.st.VerifiedChains))
			}
		})
	}
}

// TestCertificateRotation: GetCertificate is asked at every handshake, so a
// server swaps certificates without a restart.
func TestCertificateRotation(t *testing.T) {
	b := testBundle(t)
	second, err := b.CA.Issue(certs.Leaf{CommonName: "rotated"})
	if err != nil {
		t.Fatal(err)
	}
	var cur atomic.Pointer[tls.Certificate]
	cur.Store(&b.Server)
	var sni atomic.Value
	srvCfg := &tls.Config{GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		sni.Store(hello.ServerName)
		if hello.Conn == nil || hello.Conn.RemoteAddr() == nil {
			return nil, errors.New("no Conn in ClientHelloInfo")
		}
		return cur.Load(), nil
	}}
	h := tlsio.NewHandshaker(tlsio.Config{})
	for i, want := range []string{"netsys-server", "rotated"} {
		if i == 1 {
			cur.Store(&second)
		}
		p := newPair(t, h, srvCfg, b.ClientConfig())
		p.mustHandshake()
		if got := p.cres.st.PeerCertificates[0].Subject.CommonName; got != want {
			t.Fatalf("handshake %d: server presented %q, want %q", i, got, want)
		}
		if got := sni.Load(); got != "localhost" {
			t.Fatalf("GetCertificate saw SNI %v", got)
		}
	}
}

// TestEarlyData: a TLS 1.3 client's first data may arrive with (or right
// after) its Finished, while the server's handshake is still running; the
// server buffers it and Activate returns it.
func TestEarlyData(t *testing.T) {
	srvCfg, cliCfg := configs(t, tls.VersionTLS13)
	p := newPair(t, nil, srvCfg, cliCfg)
	sd, cd := make(chan result, 1), make(chan result, 1)
	if err := p.srv.Start(p.h, func(st tls.ConnectionState, err error) { sd <- result{st, err, true} }); err != nil {
		t.Fatal(err)
	}
	if err := p.cli.Start(p.h, func(st tls.ConnectionState, err error) { cd <- result{st, err, true} }); err != nil {
		t.Fatal(err)
	}
	// Pump by hand, and deliver the client's Finished together with its
	// first data only once both are written.
	var sdone, cdone bool
	for !sdone || !cdone {
		select {
		case <-p.s2c.sig:
			if _, err := p.cli.Feed(p.s2c.take()); err != nil {
				t.Fatal(err)
			}
		case <-p.c2s.sig:
			if !cdone {
				select {
				case r := <-cd:
					cdone = true
					if r.err != nil {
						t.Fatal(r.err)
					}
					if err := p.cli.Write([]byte("first")); err != nil {
						t.Fatal(err)
					}
				default:
				}
			}
			if _, err := p.srv.Feed(p.c2s.take()); err != nil {
				t.Fatal(err)
			}
		case r := <-cd:
			cdone = true
			if r.err != nil {
				t.Fatal(r.err)
			}
			if err := p.cli.Write([]byte("first")); err != nil {
				t.Fatal(err)
			}
			if _, err := p.srv.Feed(p.c2s.take()); err != nil {
				t.Fatal(err)
			}
		case r := <-sd:
			sdone = true
			if r.err != nil {
				t.Fatal(r.err)
			}
		}
	}
	pt, err := p.srv.Activate()
	if err != nil || string(pt) != "first" {
		t.Fatalf("server Activate: %q, %v; want the client's first data", pt, err)
	}
	if _, err := p.srv.Activate(); err == nil {
		t.Fatal("second Activate succeeded")
	}
}

func TestStateErrors(t *testing.T) {
	srvCfg, cliCfg := configs(t, tls.VersionTLS13)
	p := newPair(t, nil, srvCfg, cliCfg)
	if err := p.srv.Write([]byte("x")); !errors.Is(err, tlsio.ErrHandshaking) {
		t.Fatalf("Write before Start: %v", err)
	}
	if _, err := p.srv.Activate(); !errors.Is(err, tlsio.ErrHandshaking) {
		t.Fatalf("Activate before Start: %v", err)
	}
	if err := p.srv.CloseNotify(); !errors.Is(err, tlsio.ErrHandshaking) {
		t.Fatalf("CloseNotify before Start: %v", err)
	}
	p.mustHandshake()
	if err := p.srv.Start(p.h, func(tls.ConnectionState, error) {}); !errors.Is(err, tlsio.ErrStarted) {
		t.Fatalf("second Start: %v", err)
	}
	p.srv.Close()
	p.srv.Close()
	if _, err := p.srv.Feed([]byte{1}); !errors.Is(err, tlsio.ErrClosed) {
		t.Fatalf("Feed after Close: %v", err)
	}
	if err := p.srv.Write([]byte("x")); !errors.Is(err, tlsio.ErrClosed) {
		t.Fatalf("Write after Close: %v", err)
	}
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		err  error
		want tlsio.Cause
	}{
		{nil, tlsio.CauseNone},
		{tlsio.ErrHandshakeTimeout, tlsio.CauseTimeout},
		{fmt.Errorf("x: %w", tlsio.ErrBusy), tlsio.CauseBusy},
		{tlsio.ErrClosed, tlsio.CauseClosed},
		{tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, tlsio.CauseNotTLS},
		{x509.UnknownAuthorityError{}, tlsio.CauseUnknownCA},
		{x509.CertificateInvalidError{Reason: x509.Expired}, tlsio.CauseBadCertificate},
		{tls.AlertError(48), tlsio.CauseUnknownCA},
		{tls.AlertError(116), tlsio.CauseNoClientCert},
		{tls.AlertError(40), tlsio.CauseOther},
		{&tlsio.HandshakeError{Cause: tlsio.CauseTimeout, Err: errors.New("x")}, tlsio.CauseTimeout},
		{errors.New("something else"), tlsio.CauseOther},
	} {
		if got := tlsio.Classify(c.err); got != c.want {
			t.Errorf("Classify(%v) = %v, want %v", c.err, got, c.want)
		}
	}
	if n := len(tlsio.Causes()); n != 8 {
		t.Errorf("Causes() has %d entries", n)
	}
	for _, c := range tlsio.Causes() {
		if s := c.String(); s == "" || s[0] == 'c' && s[1] == 'a' {
			t.Errorf("cause %d has no name: %q", c, s)
		}
	}
}

// TestCloseMidRecord: the socket resets with half a record buffered; Close
// releases the Conn and later calls fail cleanly.
func TestCloseMidRecord(t *testing.T) {
	for _, ver := range versions {
		t.Run(ver.name, func(t *testing.T) {
			srvCfg, cliCfg := configs(t, ver.v)
			p := newPair(t, nil, srvCfg, cliCfg)
			p.mustHandshake()
			rec := records(t, p.cli, p.c2s, bytes.Repeat([]byte{'r'}, 1000))
			if pt, err := p.srv.Feed(rec[:500]); err != nil || len(pt) != 0 {
				t.Fatalf("half a record: %q, %v", pt, err)
			}
			p.srv.Close()
			if _, err := p.srv.Feed(rec[500:]); !errors.Is(err, tlsio.ErrClosed) {
				t.Fatalf("Feed after Close: %v", err)
			}
			if err := p.srv.CloseNotify(); !errors.Is(err, tlsio.ErrClosed) {
				t.Fatalf("CloseNotify after Close: %v", err)
			}
		})
	}
}
