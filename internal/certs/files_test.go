package certs_test

import (
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/netsys-go/netsys/internal/certs"
)

func TestConfigsFromFiles(t *testing.T) {
	b, err := certs.SelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	f, err := b.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv, rot, err := certs.ServerFiles{Cert: f.ServerCert, Key: f.ServerKey, ClientCA: f.CA}.Config()
	if err != nil {
		t.Fatal(err)
	}
	if srv.ClientAuth != tls.RequireAndVerifyClientCert {
		t.Fatalf("ClientAuth %v with a client CA", srv.ClientAuth)
	}
	cli, err := certs.ClientFiles{CA: f.CA, Cert: f.ClientCert, Key: f.ClientKey, ServerName: "localhost"}.Config()
	if err != nil {
		t.Fatal(err)
	}
	if c, s := handshake(t, srv, cli); c != nil || s != nil {
		t.Fatalf("mutual TLS from files: client %v, server %v", c, s)
	}
	// Without its certificate the client is refused.
	bare, err := certs.ClientFiles{CA: f.CA, ServerName: "localhost"}.Config()
	if err != nil {
		t.Fatal(err)
	}
	if _, s := handshake(t, srv, bare); s == nil {
		t.Fatal("server accepted a client without a certificate")
	}
	// Rotation: the next handshake presents the new certificate.
	next, err := b.CA.Issue(certs.Leaf{CommonName: "next"})
	if err != nil {
		t.Fatal(err)
	}
	rot.Store(next)
	var seen string
	cli.VerifyConnection = func(cs tls.ConnectionState) error {
		seen = cs.PeerCertificates[0].Subject.CommonName
		return nil
	}
	if c, s := handshake(t, srv, cli); c != nil || s != nil {
		t.Fatalf("after rotation: client %v, server %v", c, s)
	}
	if seen != "next" {
		t.Fatalf("after rotation the server presented %q", seen)
	}
	// A failed reload keeps the current certificate.
	if err := rot.LoadFiles(f.ServerCert, f.ClientKey); err == nil {
		t.Fatal("LoadFiles accepted a key that does not match")
	}
	if c, _ := rot.GetCertificate(nil); c.Leaf == nil || c.Leaf.Subject.CommonName != "next" {
		t.Fatal("a failed reload replaced the certificate")
	}
	// Insecure skips verification: a client trusting nothing connects.
	ins, err := certs.ClientFiles{Insecure: true}.Config()
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := handshake(t, b.ServerConfig(), ins); c != nil {
		t.Fatalf("insecure client: %v", c)
	}
}

func TestConfigFileErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.pem")
	if err := os.WriteFile(empty, []byte("not PEM"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := (certs.ClientFiles{CA: empty}).Config(); !errors.Is(err, certs.ErrNoCertificates) {
		t.Fatalf("CA file without certificates: %v", err)
	}
	if _, err := (certs.ClientFiles{CA: filepath.Join(dir, "missing.pem")}).Config(); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing CA file: %v", err)
	}
	if _, _, err := (certs.ServerFiles{Cert: empty, Key: empty}).Config(); err == nil {
		t.Fatal("server config from garbage files")
	}
}
