package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/netsys-go/netsys/engine"
	"github.com/netsys-go/netsys/internal/certs"
)

// serveTLS holds the TLS flags of `echo serve`.
type serveTLS struct {
	cert, key, clientCA *string
	selfSigned          *bool
	hsTimeout           *time.Duration
	maxHandshakes       *int
}

func addServeTLSFlags(fs *flag.FlagSet) *serveTLS {
	return &serveTLS{
		cert:          fs.String("tls-cert", "", "serve TLS with this PEM certificate chain (with -tls-key)"),
		key:           fs.String("tls-key", "", "the PEM private key of -tls-cert"),
		clientCA:      fs.String("tls-client-ca", "", "require client certificates issued by the CAs in this PEM file (mutual TLS)"),
		selfSigned:    fs.Bool("tls-self-signed", false, "serve TLS with a CA and certificates generated on the spot (written to a temporary directory; its ca.pem is logged)"),
		hsTimeout:     fs.Duration("tls-handshake-timeout", engine.DefaultHandshakeTimeout, "close a TLS connection whose handshake takes longer"),
		maxHandshakes: fs.Int("tls-max-handshakes", engine.DefaultMaxHandshakes, "TLS handshakes running at once (more wait, up to 1024, then are refused)"),
	}
}

// options returns the engine options the flags ask for (none without TLS),
// and a function that removes what -tls-self-signed wrote.
func (f *serveTLS) options(log *slog.Logger) ([]engine.Option, func(), error) {
	files := certs.ServerFiles{Cert: *f.cert, Key: *f.key, ClientCA: *f.clientCA}
	cleanup := func() {}
	switch {
	case *f.selfSigned && (files.Cert != "" || files.Key != ""):
		return nil, cleanup, errors.New("-tls-self-signed and -tls-cert/-tls-key exclude each other")
	case *f.selfSigned:
		b, err := certs.SelfSigned()
		if err != nil {
			return nil, cleanup, err
		}
		dir, err := os.MkdirTemp("", "netsys-tls-")
		if err != nil {
			return nil, cleanup, err
		}
		cleanup = func() { _ = os.RemoveAll(dir) }
		written, err := b.WriteFiles(dir)
		if err != nil {
			cleanup()
			return nil, func() {}, err
		}
		files.Cert, files.Key = written.ServerCert, written.ServerKey
		log.Info("netsys: self-signed TLS certificate (for localhost, 127.0.0.1, ::1)",
			"ca", written.CA, "client_cert", written.ClientCert, "client_key", written.ClientKey)
	case files.Cert == "" && files.Key == "":
		if files.ClientCA != "" {
			return nil, cleanup, errors.New("-tls-client-ca needs -tls-cert and -tls-key (or -tls-self-signed)")
		}
		return nil, cleanup, nil
	case files.Cert == "" || files.Key == "":
		return nil, cleanup, errors.New("-tls-cert and -tls-key go together")
	}
	if *f.hsTimeout <= 0 || *f.maxHandshakes < 1 {
		cleanup()
		return nil, func() {}, fmt.Errorf("-tls-handshake-timeout must be positive and -tls-max-handshakes at least 1")
	}
	cfg, _, err := files.Config()
	if err != nil {
		cleanup()
		return nil, func() {}, err
	}
	return []engine.Option{
		engine.WithTLS(cfg),
		engine.WithHandshakeTimeout(*f.hsTimeout),
		engine.WithMaxHandshakes(*f.maxHandshakes, 0),
	}, cleanup, nil
}

// loadTLS holds the TLS flags of `echo load`.
type loadTLS struct {
	on, insecure      *bool
	ca, cert, key, sn *string
}

func addLoadTLSFlags(fs *flag.FlagSet) *loadTLS {
	return &loadTLS{
		on:       fs.Bool("tls", false, "connect over TLS"),
		ca:       fs.String("tls-ca", "", "with -tls: trust the CAs in this PEM file (default: the system's)"),
		insecure: fs.Bool("tls-insecure", false, "with -tls: do not verify the server's certificate"),
		cert:     fs.String("tls-cert", "", "with -tls: present this PEM client certificate (mutual TLS, with -tls-key)"),
		key:      fs.String("tls-key", "", "the PEM private key of -tls-cert"),
		sn:       fs.String("tls-server-name", "", "with -tls: the name to verify and send as SNI (default: the host of -addr)"),
	}
}

// config returns the client TLS configuration for addr, or nil without -tls.
func (f *loadTLS) config(addr string) (*tls.Config, error) {
	if !*f.on {
		if *f.ca != "" || *f.insecure || *f.cert != "" || *f.key != "" || *f.sn != "" {
			return nil, errors.New("the -tls-* flags need -tls")
		}
		return nil, nil
	}
	if *f.ca != "" && *f.insecure {
		return nil, errors.New("-tls-ca and -tls-insecure exclude each other")
	}
	files := certs.ClientFiles{CA: *f.ca, Cert: *f.cert, Key: *f.key, ServerName: *f.sn, Insecure: *f.insecure}
	if files.ServerName == "" {
		if host, _, err := net.SplitHostPort(addr); err == nil {
			files.ServerName = host
		}
	}
	return files.Config()
}
