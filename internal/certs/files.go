package certs

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync/atomic"
)

// ServerFiles names the PEM files of a server's TLS configuration, as given to
// `echo serve -tls-cert -tls-key [-tls-client-ca]`.
type ServerFiles struct {
	// Cert and Key are the server's certificate chain and private key.
	Cert, Key string
	// ClientCA, when set, makes the server require client certificates
	// issued by the CAs it holds (mutual TLS).
	ClientCA string
}

// Config loads the files into a server configuration (TLS 1.2 at least). Its
// certificate is served through a [Rotating], returned too, so the caller can
// reload it without a restart.
func (f ServerFiles) Config() (*tls.Config, *Rotating, error) {
	r := &Rotating{}
	if err := r.LoadFiles(f.Cert, f.Key); err != nil {
		return nil, nil, err
	}
	cfg := &tls.Config{GetCertificate: r.GetCertificate, MinVersion: tls.VersionTLS12}
	if f.ClientCA != "" {
		pool, err := loadPool(f.ClientCA)
		if err != nil {
			return nil, nil, err
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, r, nil
}

// ClientFiles names the PEM files of a client's TLS configuration, as given to
// `echo load -tls [-tls-ca FILE | -tls-insecure]`.
type ClientFiles struct {
	// CA holds the roots to trust; empty means the system's.
	CA string
	// Cert and Key, when set, are a client certificate for mutual TLS.
	Cert, Key string
	// ServerName is the name to verify (and send as SNI); empty means the
	// host of the address dialled, which the caller sets.
	ServerName string
	// Insecure skips verification of the server's certificate (tests only).
	Insecure bool
}

// Config loads the files into a client configuration (TLS 1.2 at least).
func (f ClientFiles) Config() (*tls.Config, error) {
	cfg := &tls.Config{ServerName: f.ServerName, InsecureSkipVerify: f.Insecure, MinVersion: tls.VersionTLS12}
	if f.CA != "" {
		pool, err := loadPool(f.CA)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if f.Cert != "" || f.Key != "" {
		c, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			return nil, fmt.Errorf("certs: client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	return cfg, nil
}

func loadPool(file string) (*x509.CertPool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%w: %s", ErrNoCertificates, file)
	}
	return pool, nil
}

// Rotating holds the certificate a server presents and lets it change while
// the server runs: put its GetCertificate in tls.Config, then Store or
// LoadFiles a new one; handshakes after that present it, established
// connections are untouched. Safe for concurrent use.
type Rotating struct {
	cur atomic.Pointer[tls.Certificate]
}

// NewRotating returns a Rotating presenting c.
func NewRotating(c tls.Certificate) *Rotating {
	r := &Rotating{}
	r.Store(c)
	return r
}

// Store makes c the certificate of the next handshakes.
func (r *Rotating) Store(c tls.Certificate) { r.cur.Store(&c) }

// LoadFiles loads a PEM certificate chain and key and stores them; on error
// the current certificate stays.
func (r *Rotating) LoadFiles(certFile, keyFile string) error {
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	r.Store(c)
	return nil
}

// GetCertificate is a tls.Config.GetCertificate that returns the current
// certificate.
func (r *Rotating) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c := r.cur.Load()
	if c == nil {
		return nil, ErrNoKey
	}
	return c, nil
}
