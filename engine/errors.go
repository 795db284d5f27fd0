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
	// ErrHandlerPanic: a handler panicked while handling this session's message.
	ErrHandlerPanic = errors.New("engine: handler panicked")
)
