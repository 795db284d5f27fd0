// Package session is the handler's view of a connection: one Session per
// connection, made by the transport (package engine) when the connection
// opens and given to every handler call for it.
//
// A handler reads the session's ID, addresses, state, times and counters,
// keeps per-connection data, joins named groups, and sends:
//
//	func (h *chat) OnMessage(s *session.Session, msg []byte) {
//		name, ok := s.Get("name")
//		if !ok {
//			s.Set("name", string(msg)) // the first message names the user
//			s.Join("lobby")
//			_ = s.Reply([]byte("welcome"))
//			return
//		}
//		if string(msg) == "/quit" {
//			s.Close(errors.New("quit"))
//			return
//		}
//		line := fmt.Appendf(nil, "%s: %s", name, msg)
//		_, _ = h.srv.BroadcastGroup("lobby", line) // the server answers for groups
//	}
//
// Sends return ErrClosed once the session is closing. A session leaves all its
// groups when its connection closes; the server (engine.Server) lists a
// group's members, counts them and broadcasts to them.
//
// # IDs
//
// The kernel hands a closed file descriptor to the next accepted connection,
// so an fd alone does not name a session. A session's ID counts the sessions
// made on its fd: an ID kept by a handler after its connection closed never
// reaches the next session on the same fd, and a lookup by it
// (engine.Server.Session, Send, Join) finds nothing.
//
// # Concurrency
//
// Every method of Session is safe for concurrent use from any goroutine. A
// reply made for another session, or from another goroutine while a handler
// runs, lands in that session's output and nowhere else. State, times and
// counters are atomics; session data and the session's group list are guarded by the
// session's own mutex. Send, Reply, SendRaw and Close queue and return without
// waiting for the write.
package session
