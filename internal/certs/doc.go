// Package certs generates certificates in memory for tests, for `make demo`
// and for `echo serve -tls-self-signed`: a certificate authority, server
// certificates and client certificates (for mutual TLS), all ECDSA P-256, and
// PEM helpers to write them out for other tools (openssl s_client, curl).
//
// Nothing here is meant for production certificates: keys are generated on
// the spot, never stored unless a caller writes them, and the authority signs
// whatever it is asked to.
//
// Typical use in a test:
//
//	b, err := certs.SelfSigned("localhost", "127.0.0.1")
//	if err != nil {
//		t.Fatal(err)
//	}
//	srv := b.ServerConfig()       // presents b.Server
//	cli := b.ClientConfig()       // trusts b.CA, ServerName "localhost"
//	mSrv := b.MutualServerConfig() // also requires a client certificate from b.CA
//	mCli := b.MutualClientConfig() // also presents b.Client
//
// For the command line, [ServerFiles] and [ClientFiles] turn the PEM files of
// `-tls-cert`, `-tls-key`, `-tls-client-ca`, `-tls-ca` and `-tls-insecure` into
// a *tls.Config; the server's certificate is served through a [Rotating], whose
// GetCertificate lets a new certificate be stored while the server runs.
//
// Concurrency: an [Authority] may issue certificates from several goroutines
// at once; a [Bundle] is read-only after [SelfSigned] returns, and each of its
// Config methods returns a fresh *tls.Config; a [Rotating] is safe for
// concurrent use.
package certs
