package tlsio

import "errors"

var (
	// ErrHandshake is wrapped by every error a failed handshake reports
	// through onDone (a *[HandshakeError]).
	ErrHandshake = errors.New("tlsio: handshake failed")
	// ErrHandshakeTimeout is the cause of a handshake that did not finish
	// within [Config.HandshakeTimeout] of [Conn.Start].
	ErrHandshakeTimeout = errors.New("tlsio: handshake timed out")
	// ErrBusy is returned by [Conn.Start] when [Config.MaxHandshakes]
	// handshakes are running and [Config.MaxQueue] more are waiting.
	ErrBusy = errors.New("tlsio: too many handshakes in progress")
	// ErrStarted is returned by a second [Conn.Start].
	ErrStarted = errors.New("tlsio: handshake already started")
	// ErrHandshaking is returned by Write, CloseNotify and Activate before the
	// handshake has succeeded.
	ErrHandshaking = errors.New("tlsio: handshake not complete")
	// ErrClosed is returned by every method after [Conn.Close], and is the
	// cause of a handshake ended by Close.
	ErrClosed = errors.New("tlsio: connection closed")
	// ErrInputLimit is returned by Feed when more than
	// [Config.MaxHandshakeInput] bytes wait for the handshake goroutine or
	// for [Conn.Activate].
	ErrInputLimit = errors.New("tlsio: too much input before the handshake completed")
	// ErrCloseNotify is returned by Feed when the peer sent a close_notify
	// alert: an orderly TLS close. It is not io.EOF on purpose: if the
	// engine's codec holds part of a frame, the stream was truncated.
	ErrCloseNotify = errors.New("tlsio: peer sent close_notify")
	// ErrRead wraps the crypto/tls error that made Feed fail (a bad record,
	// an oversized record, an alert from the peer); the connection is
	// unusable afterwards.
	ErrRead = errors.New("tlsio: read")
	// ErrWrite wraps the crypto/tls error that made Write fail.
	ErrWrite = errors.New("tlsio: write")
)
