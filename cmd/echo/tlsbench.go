package main

import (
	"crypto/tls"
	"errors"
	"os"
	"slices"

	"github.com/netsys-go/netsys/bench"
	"github.com/netsys-go/netsys/internal/certs"
)

// The TLS scenarios of `echo compare -tls`: one self-signed CA and server
// certificate per compare run, written to a temporary directory removed
// afterwards; each server child gets -tls-cert and -tls-key, the load child
// -tls -tls-ca.

// tlsConnectsPerSecond is how many TLS connections, handshake included, the
// load generator opens a second, for the estimate of a run's time: about
// 10,000 in 20 s against either server on the 2-core reference machine.
const tlsConnectsPerSecond = 500

// tlsScenarios is the set `compare -tls` runs; tests replace it to run the
// scenarios with fewer connections.
var tlsScenarios = bench.TLSScenarios

// baselineTLS returns the crypto/tls configuration of `echo baseline
// -tls-cert -tls-key`, nil without them.
func baselineTLS(kind, cert, key string) (*tls.Config, error) {
	switch {
	case cert == "" && key == "":
		return nil, nil
	case cert == "" || key == "":
		return nil, errors.New("-tls-cert and -tls-key go together")
	case kind != "net":
		return nil, errors.New("-tls-cert: only -kind net serves TLS (bare gnet and nbio have none)")
	}
	cfg, _, err := certs.ServerFiles{Cert: cert, Key: key}.Config()
	return cfg, err
}

// compareCerts writes a fresh CA and server certificate for the TLS
// scenarios of plan into a temporary directory, and returns their files and a
// function that removes them; with no TLS scenario in plan, nil and a no-op.
func compareCerts(plan []planned) (*certs.Files, func(), error) {
	if !slices.ContainsFunc(plan, func(p planned) bool { return p.scenario.TLS }) {
		return nil, func() {}, nil
	}
	b, err := certs.SelfSigned()
	if err != nil {
		return nil, func() {}, err
	}
	dir, err := os.MkdirTemp("", "netsys-compare-tls-")
	if err != nil {
		return nil, func() {}, err
	}
	cleanup := func() { _ = os.RemoveAll(dir) }
	f, err := b.WriteFiles(dir)
	if err != nil {
		cleanup()
		return nil, func() {}, err
	}
	return &f, cleanup, nil
}

// serverTLSArgs returns the flags that make a server child of a TLS scenario
// serve TLS with f's certificate (none for a plaintext scenario).
func serverTLSArgs(sc bench.Scenario, f *certs.Files) []string {
	if !sc.TLS || f == nil {
		return nil
	}
	return []string{"-tls-cert", f.ServerCert, "-tls-key", f.ServerKey}
}

// loadTLSArgs returns the flags that make the load child of a TLS scenario
// connect over TLS, trusting f's CA (none for a plaintext scenario).
func loadTLSArgs(sc bench.Scenario, f *certs.Files) []string {
	if !sc.TLS || f == nil {
		return nil
	}
	return []string{"-tls", "-tls-ca", f.CA}
}
