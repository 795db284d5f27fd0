// Package session holds one lightweight Session per connection, the Registry
// that indexes them by file descriptor, and named groups of sessions.
//
// The package knows nothing of gnet: the transport (the engine) implements
// Writer for each connection, registers the session when the connection
// opens and unregisters it when it closes. Handlers then use the session to
// send, close, keep per-connection data and join groups:
//
//	reg := session.NewRegistry()
//	s := reg.Register(fd, w, local, remote) // by the transport, on accept
//	s.SetState(session.StateConnected)
//
//	s.Set("user", "ada")
//	s.Join("room:1")
//	reg.RangeGroup("room:1", func(m *session.Session) bool {
//		_ = m.Send([]byte("hello")) // ErrClosed once m is closing
//		return true
//	})
//
//	reg.Unregister(s) // by the transport, on close: leaves all groups
//
// # IDs and fd reuse
//
// The kernel hands a closed fd to the very next accepted connection, so an fd
// alone does not name a session. Each fd slot of the registry counts
// generations, and a session's ID is generation<<32 | fd: a stale ID, kept by
// a handler after its connection closed, never reaches the next session on the
// same fd. Registry.Get returns nil for it.
//
// # Concurrency
//
// Every method of Session and Registry is safe for concurrent use from any
// goroutine, except Session.Reply: it belongs to the goroutine running the
// handler's OnMessage for that session, during the call (see its doc).
// Register and Unregister run on the transport's event loops, several at
// once. Lookups (Registry.Get, ByFD, Range) take no lock. Session
// state, timestamps and counters are atomics; session data and the session's
// group list are guarded by the session's own mutex; the group index is
// guarded by one read-write mutex in the registry, which RangeGroup holds only
// to take its snapshot, never while calling back. Send, Reply, SendRaw and Close
// hand off to the Writer, which queues and returns without waiting for the write.
package session
