package session

import (
	"crypto/tls"
	"net"
	"time"

	"github.com/netsys-go/netsys/internal/sess"
)

func init() {
	sess.NewOuter = func() (any, *sess.Core) {
		s := new(Session)
		return s, &s.c
	}
	sess.CoreOf = func(outer any) *sess.Core { return &outer.(*Session).c }
	sess.ErrClosed = ErrClosed
}

// State is the lifecycle state of a session. States only move forward:
// connecting, connected, closing, closed.
type State uint32

// The states of a session, in the order it goes through them.
const (
	StateConnecting State = iota // accepted, OnConnect not yet done
	StateConnected               // open for messages
	StateClosing                 // Close called or the transport is closing; sends fail with ErrClosed
	StateClosed                  // the connection is gone
)

// String returns the state's name in lower case, such as "connected".
func (s State) String() string { return sess.State(s).String() }

// Stats are a session's traffic counters.
type Stats struct {
	MessagesIn  uint64 `json:"messages_in"`  // messages received
	MessagesOut uint64 `json:"messages_out"` // messages sent
	BytesIn     uint64 `json:"bytes_in"`     // bytes of the messages received
	BytesOut    uint64 `json:"bytes_out"`    // bytes of the messages sent
	Errors      uint64 `json:"errors"`       // errors counted by the transport
}

// Session is one connection, made by the transport when the connection opens
// and given to every handler call for it. Every method is safe for concurrent
// use from any goroutine, except Reply (see its doc).
type Session struct {
	c sess.Core
}

// ID returns the session's ID, unique among the sessions the transport holds
// and never 0. A closed session's ID is not given to the next connection on
// the same file descriptor, so an ID kept after its session closed finds
// nothing (Server.Send returns an error for it).
func (s *Session) ID() uint64 { return s.c.ID() }

// FD returns the file descriptor of the session's connection. The kernel
// reuses it for a later connection once this one closes: use ID to name a
// session.
func (s *Session) FD() int { return s.c.FD() }

// RemoteAddr returns the peer's address.
func (s *Session) RemoteAddr() net.Addr { return s.c.RemoteAddr() }

// LocalAddr returns the local address of the connection.
func (s *Session) LocalAddr() net.Addr { return s.c.LocalAddr() }

// State returns the session's current state.
func (s *Session) State() State { return State(s.c.State()) }

// ConnectedAt returns the time the connection was accepted (or dialled).
func (s *Session) ConnectedAt() time.Time { return s.c.ConnectedAt() }

// LastActive returns the time the transport last read messages from the
// connection, or ConnectedAt if it has read none.
func (s *Session) LastActive() time.Time { return s.c.LastActive() }

// Stats returns the session's counters. Each counter is loaded atomically;
// the set is not a single snapshot while traffic flows.
func (s *Session) Stats() Stats { return Stats(s.c.Stats()) }

// Send frames payload with the transport's codec and queues it. It returns
// ErrClosed once the session is closing or closed. The caller may reuse
// payload as soon as Send returns.
func (s *Session) Send(payload []byte) error { return s.c.Send(payload) }

// Reply is Send, named for a handler answering the message it is given: the
// reply takes the same place in the session's output as a Send made at that
// moment would, and it is safe from any goroutine, like Send. Made on the
// event loop while it serves this session, it costs no buffer of its own.
// Like Send, Reply returns ErrClosed once the session is closing or the server
// is stopping.
func (s *Session) Reply(payload []byte) error { return s.c.Reply(payload) }

// SendRaw queues b as is, without framing. It returns ErrClosed once the
// session is closing or closed. The caller may reuse b as soon as SendRaw
// returns.
func (s *Session) SendRaw(b []byte) error { return s.c.SendRaw(b) }

// Close moves the session to StateClosing and asks the transport to close the
// connection; reason reaches Handler.OnDisconnect. Only the first call on a
// connecting or connected session does anything; later calls are no-ops.
// Close does not wait for the connection to close.
func (s *Session) Close(reason error) { s.c.Close(reason) }

// Set stores v under key in the session's data.
func (s *Session) Set(key string, v any) { s.c.Set(key, v) }

// Get returns the value stored under key and whether there was one.
func (s *Session) Get(key string) (any, bool) { return s.c.Get(key) }

// Delete removes key from the session's data.
func (s *Session) Delete(key string) { s.c.Delete(key) }

// Clear removes every key from the session's data.
func (s *Session) Clear() { s.c.Clear() }

// Join adds the session to group, creating the group if needed. Joining a
// group twice, or joining once the session is closing or closed, is a no-op.
// A session leaves all its groups when it closes. The transport's server
// answers group queries (members, counts) and broadcasts to a group.
func (s *Session) Join(group string) { s.c.Join(group) }

// Leave removes the session from group; an emptied group is deleted.
// Leaving a group the session is not in is a no-op.
func (s *Session) Leave(group string) { s.c.Leave(group) }

// InGroup reports whether the session is a member of group.
func (s *Session) InGroup(group string) bool { return s.c.InGroup(group) }

// Groups returns the groups the session is in, in the order joined, as a new
// slice the caller owns; nil if none.
func (s *Session) Groups() []string { return s.c.Groups() }

// TLS returns the connection's TLS state (version, cipher suite, ALPN
// protocol, server name, the peer's certificates), or nil on a plaintext
// connection. The caller must not modify it.
func (s *Session) TLS() *tls.ConnectionState { return s.c.TLS() }
