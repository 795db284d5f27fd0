// Package sess is the transport's side of package session: the Core state of
// each session, the Writer the engine implements for it, and the Registry that
// indexes sessions by file descriptor and keeps their groups.
//
// Package session wraps a Core in each session.Session and exposes only what a
// handler author uses; the engine alone registers sessions, moves their state,
// counts their traffic and reaches their Writer, through this package. It never
// imports package session: session sets NewOuter in its init, and Register
// calls it to make the session.Session and its Core in one allocation.
//
//	reg := sess.NewRegistry()
//	c := reg.Register(fd, w, local, remote) // on accept
//	c.SetState(sess.StateConnected)
//	s := c.Outer().(*session.Session)      // what the handler is given
//	c.CountIn(1, len(msg))                 // per message: direct calls
//	reg.Unregister(c)                      // on close: leaves all groups
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
// Every method of Core and Registry is safe for concurrent use from any
// goroutine, except Core.Reply: it belongs to the goroutine running the
// handler's OnMessage for that session, during the call. Register and
// Unregister run on the transport's event loops, several at once. Lookups
// (Registry.Get, ByFD, Range) take no lock. Session state, timestamps and
// counters are atomics; session data and the session's group list are guarded
// by the session's own mutex; the group index is guarded by one read-write
// mutex in the registry, which RangeGroup holds only to take its snapshot,
// never while calling back. Send, Reply, SendRaw and Close hand off to the
// Writer, which queues and returns without waiting for the write.
package sess
