package engine

import "errors"

// Errors returned by the engine, and the reasons a session is closed with.
// Handler.OnDisconnect receives one of the reasons below (or a codec error such
// as codec.ErrFrameTooLarge) wrapped with detail; match them with errors.Is.
var (
	// ErrAlreadyRunning is returned by Start on a server that is already started.
	ErrAlreadyRunning = errors.New("engine: already running")
	// ErrNotRunning is returned by Stop on a server that is not running.
	ErrNotRunning = errors.New("engine: not running")
	// ErrUnknownSession is returned by the Server's methods that take a
	// session ID when no open session has it: it closed, or the ID is stale.
	ErrUnknownSession = errors.New("engine: no such session")
	// ErrBadOption is returned by NewServer, Dial and NewPool for an option
	// that does not apply to them or a value out of range; the error names
	// the option.
	ErrBadOption = errors.New("engine: bad option")
	// ErrBadAddress is returned for an address Start or Dial cannot use.
	ErrBadAddress = errors.New("engine: bad address")

	// ErrPeerClosed: the peer closed the connection or it failed (reset, broken pipe).
	ErrPeerClosed = errors.New("engine: closed by peer")
	// ErrIdleTimeout: no complete message arrived within the idle timeout.
	ErrIdleTimeout = errors.New("engine: idle timeout")
	// ErrSlowConsumer: the session's unsent bytes passed the write high-water mark.
	ErrSlowConsumer = errors.New("engine: slow consumer")
	// ErrServerStopping: the server is stopping.
	ErrServerStopping = errors.New("engine: server stopping")
	// ErrClosedByApp: the application closed the session without a reason of its own.
	ErrClosedByApp = errors.New("engine: closed by the application")
	// ErrQueueOverflow: the session's queue of messages waiting for a worker
	// overflowed (see WithWorkerQueue).
	ErrQueueOverflow = errors.New("engine: worker queue overflow")
	// ErrMemoryLimit: the server's memory budget (WithMemoryLimit) was
	// reached and this session held a large share of it: a large partial
	// frame, or many bytes its peer had not read.
	ErrMemoryLimit = errors.New("engine: memory limit")
	// ErrFrameTimeout: a frame the peer began did not complete within the
	// frame timeout (WithFrameTimeout).
	ErrFrameTimeout = errors.New("engine: frame timeout")
	// ErrHandlerPanic: a handler panicked while handling this session's message.
	ErrHandlerPanic = errors.New("engine: handler panicked")
	// ErrTLSHandshake: the TLS handshake failed, timed out or was refused
	// (too many in progress); it wraps a *tlsio.HandshakeError that wraps
	// the crypto/tls or crypto/x509 error. A server's handler never sees it
	// (the connection never became a session); a client's Dial returns it.
	ErrTLSHandshake = errors.New("engine: TLS handshake failed")
	// ErrTLS: crypto/tls rejected the peer's input after the handshake (a
	// bad or oversized record, an alert, a close_notify in the middle of a
	// frame); it wraps the crypto/tls error.
	ErrTLS = errors.New("engine: TLS error")

	// Client and Pool errors.

	// ErrNotConnected is returned by a client's Send and Request while it has no
	// connection (and, for Send, no send queue; see WithSendQueue).
	ErrNotConnected = errors.New("engine: not connected")
	// ErrQueueFull is returned by a disconnected client's Send when its send
	// queue holds WithSendQueue messages already.
	ErrQueueFull = errors.New("engine: send queue full")
	// ErrClientClosed: the client was closed. OnDisconnect sees it when
	// Client.Close (or Pool.Close) ends a connection; sends after Close fail with it.
	ErrClientClosed = errors.New("engine: client closed")
	// ErrGaveUp: the client stopped reconnecting after Reconnect.MaxAttempts
	// attempts. OnGiveUp receives it, and sends after it fail with it.
	ErrGaveUp = errors.New("engine: gave up reconnecting")
	// ErrSendsDropped reports messages that were queued while disconnected and
	// will never be written, because the client gave up or was closed. The
	// error text gives their number.
	ErrSendsDropped = errors.New("engine: queued sends dropped")
	// ErrPoolClosed is returned by Pool.Get and Pool.Request after Pool.Close.
	ErrPoolClosed = errors.New("engine: pool closed")
	// ErrPoolExhausted is returned by Pool.Get when no client became free and
	// connected before its context or the pool timeout ended.
	ErrPoolExhausted = errors.New("engine: no free client in the pool")
	// ErrInHandler is returned by Client.Request called from a handler
	// callback running on the event loop that would have to deliver its
	// reply: it could only wait until its context ended.
	ErrInHandler = errors.New("engine: called from a handler on the event loop")
	// ErrPooledClient is returned by Close on a client that belongs to a Pool:
	// close the Pool instead.
	ErrPooledClient = errors.New("engine: client belongs to a pool")
)
