package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// DefaultHosts are the names a server certificate covers when none are given.
var DefaultHosts = []string{"localhost", "127.0.0.1", "::1"}

// DefaultValidity is how long issued certificates are valid when a [Leaf]
// gives no NotAfter.
const DefaultValidity = 7 * 24 * time.Hour

// Authority is a certificate authority held in memory.
type Authority struct {
	// Cert is the authority's self-signed certificate.
	Cert *x509.Certificate
	// Key signs the certificates the authority issues.
	Key *ecdsa.PrivateKey
}

// Leaf describes a certificate to issue.
type Leaf struct {
	// CommonName is the subject's common name; "netsys" when empty.
	CommonName string
	// Hosts are DNS names and IP addresses put in the subject alternative
	// names. A server certificate with none gets [DefaultHosts].
	Hosts []string
	// Client makes a client certificate (ExtKeyUsageClientAuth) instead of a
	// server certificate (ExtKeyUsageServerAuth).
	Client bool
	// NotBefore and NotAfter bound validity; zero means an hour ago and
	// NotBefore+[DefaultValidity]. Tests make expired certificates with them.
	NotBefore, NotAfter time.Time
}

// NewCA generates an authority whose certificate has the given common name.
func NewCA(name string) (*Authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("%w: CA key: %w", ErrGenerate, err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"netsys test CA"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * DefaultValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("%w: CA certificate: %w", ErrGenerate, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("%w: CA certificate: %w", ErrGenerate, err)
	}
	return &Authority{Cert: cert, Key: key}, nil
}

// Issue generates a key and a certificate for it signed by a. The result's
// Certificate chain holds the leaf only (clients trust a.Cert directly) and
// its Leaf field is set.
func (a *Authority) Issue(l Leaf) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%w: key: %w", ErrGenerate, err)
	}
	cn := l.CommonName
	if cn == "" {
		cn = "netsys"
	}
	nb, na := l.NotBefore, l.NotAfter
	if nb.IsZero() {
		nb = time.Now().Add(-time.Hour)
	}
	if na.IsZero() {
		na = nb.Add(DefaultValidity)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    nb,
		NotAfter:     na,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if l.Client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	hosts := l.Hosts
	if len(hosts) == 0 && !l.Client {
		hosts = DefaultHosts
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.Cert, &key.PublicKey, a.Key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%w: certificate: %w", ErrGenerate, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%w: certificate: %w", ErrGenerate, err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// Pool returns a new pool holding only a's certificate, for RootCAs or
// ClientCAs.
func (a *Authority) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(a.Cert)
	return p
}

// CertPEM returns a's certificate in PEM.
func (a *Authority) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.Cert.Raw})
}

// Bundle is an authority with one server and one client certificate it
// issued: everything a test or a demo needs for TLS and mutual TLS.
type Bundle struct {
	// CA issued Server and Client.
	CA *Authority
	// Server covers the hosts given to [SelfSigned].
	Server tls.Certificate
	// Client is a client certificate with common name "netsys-client".
	Client tls.Certificate
}

// SelfSigned generates a fresh authority, a server certificate for hosts
// ([DefaultHosts] when none) and a client certificate.
func SelfSigned(hosts ...string) (*Bundle, error) {
	ca, err := NewCA("netsys test CA")
	if err != nil {
		return nil, err
	}
	srv, err := ca.Issue(Leaf{CommonName: "netsys-server", Hosts: hosts})
	if err != nil {
		return nil, err
	}
	cli, err := ca.Issue(Leaf{CommonName: "netsys-client", Client: true})
	if err != nil {
		return nil, err
	}
	return &Bundle{CA: ca, Server: srv, Client: cli}, nil
}

// ServerConfig returns a server configuration presenting b.Server.
func (b *Bundle) ServerConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{b.Server}, MinVersion: tls.VersionTLS12}
}

// ClientConfig returns a client configuration that trusts b.CA and expects
// the server name "localhost".
func (b *Bundle) ClientConfig() *tls.Config {
	return &tls.Config{RootCAs: b.CA.Pool(), ServerName: "localhost", MinVersion: tls.VersionTLS12}
}

// MutualServerConfig is [Bundle.ServerConfig] that also requires and
// verifies a client certificate issued by b.CA.
func (b *Bundle) MutualServerConfig() *tls.Config {
	c := b.ServerConfig()
	c.ClientAuth = tls.RequireAndVerifyClientCert
	c.ClientCAs = b.CA.Pool()
	return c
}

// MutualClientConfig is [Bundle.ClientConfig] that also presents b.Client.
func (b *Bundle) MutualClientConfig() *tls.Config {
	c := b.ClientConfig()
	c.Certificates = []tls.Certificate{b.Client}
	return c
}

// WritePEM writes der as one PEM block of the given type ("CERTIFICATE",
// "PRIVATE KEY").
func WritePEM(w io.Writer, blockType string, der []byte) error {
	return pem.Encode(w, &pem.Block{Type: blockType, Bytes: der})
}

// CertPEM returns the chain of c in PEM, leaf first.
func CertPEM(c tls.Certificate) []byte {
	var out []byte
	for _, der := range c.Certificate {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	return out
}

// KeyPEM returns the private key of c as PKCS #8 in PEM.
func KeyPEM(c tls.Certificate) ([]byte, error) {
	k, ok := c.PrivateKey.(crypto.Signer)
	if !ok || k == nil {
		return nil, ErrNoKey
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoKey, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// Files are the paths [Bundle.WriteFiles] wrote.
type Files struct {
	// CA is the authority's certificate (for -tls-ca, -tls-client-ca, -CAfile).
	CA string
	// ServerCert and ServerKey are for -tls-cert and -tls-key.
	ServerCert, ServerKey string
	// ClientCert and ClientKey are the client certificate for mutual TLS.
	ClientCert, ClientKey string
}

// WriteFiles writes the bundle as PEM files into dir (ca.pem, server.pem,
// server-key.pem, client.pem, client-key.pem); keys are written mode 0600.
func (b *Bundle) WriteFiles(dir string) (Files, error) {
	f := Files{
		CA:         filepath.Join(dir, "ca.pem"),
		ServerCert: filepath.Join(dir, "server.pem"),
		ServerKey:  filepath.Join(dir, "server-key.pem"),
		ClientCert: filepath.Join(dir, "client.pem"),
		ClientKey:  filepath.Join(dir, "client-key.pem"),
	}
	sk, err := KeyPEM(b.Server)
	if err != nil {
		return Files{}, err
	}
	ck, err := KeyPEM(b.Client)
	if err != nil {
		return Files{}, err
	}
	for _, w := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{f.CA, b.CA.CertPEM(), 0o644},
		{f.ServerCert, CertPEM(b.Server), 0o644},
		{f.ServerKey, sk, 0o600},
		{f.ClientCert, CertPEM(b.Client), 0o644},
		{f.ClientKey, ck, 0o600},
	} {
		if err := os.WriteFile(w.path, w.data, w.mode); err != nil {
			return Files{}, fmt.Errorf("certs: write %s: %w", w.path, err)
		}
	}
	return f, nil
}

// serial returns a random 127-bit serial number.
func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		// crypto/rand.Read does not fail on supported platforms (Go 1.24+).
		return big.NewInt(time.Now().UnixNano())
	}
	return n
}
