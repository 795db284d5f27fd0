package certs_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/netsys-go/netsys/internal/certs"
)

// handshake runs both sides over TCP loopback (buffered, unlike net.Pipe, so
// a failing side's alert never blocks) and returns the client's and the
// server's errors.
func handshake(t *testing.T, srv, cli *tls.Config) (cliErr, srvErr error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	deadline := time.Now().Add(10 * time.Second)
	done := make(chan error, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer nc.Close()
		_ = nc.SetDeadline(deadline)
		s := tls.Server(nc, srv)
		err = s.Handshake()
		if err == nil {
			// A TLS 1.3 server learns of a rejected certificate on its
			// first read.
			_, err = s.Read(make([]byte, 1))
		}
		done <- err
	}()
	nc, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(deadline)
	c := tls.Client(nc, cli)
	cliErr = c.Handshake()
	if cliErr == nil {
		// Likewise a TLS 1.3 client learns of its own rejection on read;
		// one byte from it lets the server's read return.
		_, cliErr = c.Write([]byte{1})
		if cliErr == nil {
			_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			if _, rerr := c.Read(make([]byte, 1)); rerr != nil && rerr != io.EOF && !isTimeout(rerr) {
				cliErr = rerr
			}
		}
	}
	nc.Close()
	return cliErr, <-done
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestSelfSignedHandshake(t *testing.T) {
	b, err := certs.SelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	if c, s := handshake(t, b.ServerConfig(), b.ClientConfig()); c != nil || s != nil {
		t.Fatalf("handshake: client %v, server %v", c, s)
	}
	if c, s := handshake(t, b.MutualServerConfig(), b.MutualClientConfig()); c != nil || s != nil {
		t.Fatalf("mutual handshake: client %v, server %v", c, s)
	}
	// Mutual TLS without a client certificate must fail on the server.
	if _, s := handshake(t, b.MutualServerConfig(), b.ClientConfig()); s == nil {
		t.Fatal("server accepted a client without a certificate")
	}
	if got := b.Server.Leaf.DNSNames; len(got) != 1 || got[0] != "localhost" {
		t.Fatalf("server DNS names %v", got)
	}
	if got := b.Server.Leaf.IPAddresses; len(got) != 2 {
		t.Fatalf("server IP addresses %v", got)
	}
}

func TestUnknownAuthority(t *testing.T) {
	b, err := certs.SelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	other, err := certs.SelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	c, _ := handshake(t, b.ServerConfig(), other.ClientConfig())
	var ua x509.UnknownAuthorityError
	if !errors.As(c, &ua) {
		t.Fatalf("client error %v, want x509.UnknownAuthorityError", c)
	}
}

func TestExpired(t *testing.T) {
	b, err := certs.SelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	old, err := b.CA.Issue(certs.Leaf{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	srv := &tls.Config{Certificates: []tls.Certificate{old}}
	c, _ := handshake(t, srv, b.ClientConfig())
	var inv x509.CertificateInvalidError
	if !errors.As(c, &inv) || inv.Reason != x509.Expired {
		t.Fatalf("client error %v, want an expired certificate", c)
	}
}

func TestWriteFiles(t *testing.T) {
	b, err := certs.SelfSigned("example.test")
	if err != nil {
		t.Fatal(err)
	}
	f, err := b.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := tls.LoadX509KeyPair(f.ServerCert, f.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.LoadX509KeyPair(f.ClientCert, f.ClientKey); err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(f.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.pem holds no certificate")
	}
	cli := &tls.Config{RootCAs: pool, ServerName: "example.test"}
	if c, s := handshake(t, &tls.Config{Certificates: []tls.Certificate{srv}}, cli); c != nil || s != nil {
		t.Fatalf("handshake from files: client %v, server %v", c, s)
	}
	st, err := os.Stat(f.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v, want 0600", st.Mode().Perm())
	}
}

func TestKeyPEMNoKey(t *testing.T) {
	if _, err := certs.KeyPEM(tls.Certificate{}); !errors.Is(err, certs.ErrNoKey) {
		t.Fatalf("KeyPEM of an empty certificate: %v, want ErrNoKey", err)
	}
}
