package tlsio

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"
)

// Cause classifies a TLS failure, for metrics (handshake failures by cause).
type Cause uint8

// The causes [Classify] tells apart.
const (
	// CauseNone is the cause of a nil error.
	CauseNone Cause = iota
	// CauseTimeout: the handshake did not finish in time.
	CauseTimeout
	// CauseNotTLS: the peer does not speak TLS (a plaintext client) or sent
	// a malformed, oversized or undecryptable record.
	CauseNotTLS
	// CauseBadCertificate: a certificate was rejected (expired, wrong host,
	// wrong usage, bad signature), locally or by the peer.
	CauseBadCertificate
	// CauseUnknownCA: a certificate chain did not lead to a trusted root.
	CauseUnknownCA
	// CauseNoClientCert: the server requires a client certificate and the
	// client sent none.
	CauseNoClientCert
	// CauseBusy: the handshake was refused because the pool was full.
	CauseBusy
	// CauseClosed: the connection was closed during the handshake.
	CauseClosed
	// CauseOther: any other failure (no common version or cipher, ALPN
	// mismatch, an internal error).
	CauseOther
	numCauses
)

var causeNames = [numCauses]string{
	CauseNone:           "none",
	CauseTimeout:        "timeout",
	CauseNotTLS:         "not_tls",
	CauseBadCertificate: "bad_certificate",
	CauseUnknownCA:      "unknown_ca",
	CauseNoClientCert:   "no_client_certificate",
	CauseBusy:           "busy",
	CauseClosed:         "closed",
	CauseOther:          "other",
}

// String returns a short snake_case name fit for a metric label.
func (c Cause) String() string {
	if c < numCauses {
		return causeNames[c]
	}
	return fmt.Sprintf("cause(%d)", uint8(c))
}

// Causes lists every cause but CauseNone, in order: the label values of a
// failures-by-cause counter.
func Causes() []Cause {
	out := make([]Cause, 0, numCauses-1)
	for c := CauseTimeout; c < numCauses; c++ {
		out = append(out, c)
	}
	return out
}

// HandshakeError is the error onDone receives when a handshake fails.
// errors.Is(err, ErrHandshake) holds, and errors.As reaches the crypto/tls or
// crypto/x509 error in Err.
type HandshakeError struct {
	// Cause classifies Err.
	Cause Cause
	// Err is the failure: crypto/tls's error, ErrHandshakeTimeout or
	// ErrClosed.
	Err error
}

// Error implements error.
func (e *HandshakeError) Error() string {
	return "tlsio: handshake failed (" + e.Cause.String() + "): " + e.Err.Error()
}

// Unwrap returns ErrHandshake and Err.
func (e *HandshakeError) Unwrap() []error { return []error{ErrHandshake, e.Err} }

// TLS alert codes (RFC 8446 section 6) that Classify maps; crypto/tls does not
// export its alert type, so the codes are read from the error's value.
const (
	alertUnexpectedMessage     = 10
	alertBadRecordMAC          = 20
	alertRecordOverflow        = 22
	alertBadCertificate        = 42
	alertUnsupportedCert       = 43
	alertCertificateRevoked    = 44
	alertCertificateExpired    = 45
	alertCertificateUnknown    = 46
	alertUnknownCA             = 48
	alertDecodeError           = 50
	alertProtocolVersion       = 70
	alertCertificateRequired   = 116
	errTextNoClientCertificate = "client didn't provide a certificate"
)

// Classify returns the cause of a TLS failure: a handshake error, or an error
// from Feed. It looks through wrapping.
func Classify(err error) Cause {
	if err == nil {
		return CauseNone
	}
	var he *HandshakeError
	if errors.As(err, &he) {
		return he.Cause
	}
	switch {
	case errors.Is(err, ErrHandshakeTimeout):
		return CauseTimeout
	case errors.Is(err, ErrBusy):
		return CauseBusy
	case errors.Is(err, ErrClosed):
		return CauseClosed
	case errors.Is(err, ErrInputLimit):
		return CauseNotTLS
	}
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) {
		return CauseNotTLS
	}
	var ua x509.UnknownAuthorityError
	if errors.As(err, &ua) {
		return CauseUnknownCA
	}
	var ci x509.CertificateInvalidError
	var hn x509.HostnameError
	var cv *tls.CertificateVerificationError
	if errors.As(err, &ci) || errors.As(err, &hn) || errors.As(err, &cv) {
		return CauseBadCertificate
	}
	var ae tls.AlertError
	if errors.As(err, &ae) {
		return alertCause(uint8(ae))
	}
	var op *net.OpError
	if errors.As(err, &op) && (op.Op == "remote error" || op.Op == "local error") && op.Err != nil {
		// crypto/tls's unexported alert type is a uint8.
		if v := reflect.ValueOf(op.Err); v.Kind() == reflect.Uint8 {
			return alertCause(uint8(v.Uint()))
		}
	}
	if strings.Contains(err.Error(), errTextNoClientCertificate) {
		return CauseNoClientCert
	}
	return CauseOther
}

func alertCause(code uint8) Cause {
	switch code {
	case alertUnknownCA:
		return CauseUnknownCA
	case alertBadCertificate, alertUnsupportedCert, alertCertificateRevoked,
		alertCertificateExpired, alertCertificateUnknown:
		return CauseBadCertificate
	case alertCertificateRequired:
		return CauseNoClientCert
	case alertUnexpectedMessage, alertBadRecordMAC, alertRecordOverflow,
		alertDecodeError, alertProtocolVersion:
		return CauseNotTLS
	}
	return CauseOther
}
