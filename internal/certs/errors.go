package certs

import "errors"

// ErrNoKey is returned by [KeyPEM] for a certificate without a private key or
// with a key type the package cannot encode.
var ErrNoKey = errors.New("certs: certificate has no encodable private key")

// ErrGenerate wraps a failure to generate a key or to sign a certificate.
var ErrGenerate = errors.New("certs: cannot generate")

// ErrNoCertificates is returned when a CA file holds no PEM certificate.
var ErrNoCertificates = errors.New("certs: no certificate in PEM file")
