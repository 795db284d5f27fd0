package sess

import (
	"crypto/tls"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// State is the lifecycle state of a session. States only move forward:
// connecting, connected, closing, closed.
type State uint32

// The states of a session, in the order it goes through them.
const (
	StateConnecting State = iota // registered, OnConnect not yet done
	StateConnected               // open for messages
	StateClosing                 // Close called or the transport is closing; sends fail with ErrClosed
	StateClosed                  // unregistered
)

var stateNames = [...]string{"connecting", "connected", "closing", "closed"}

// String returns the state's name in lower case, such as "connected".
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "State(" + strconv.FormatUint(uint64(s), 10) + ")"
}

// Writer is the transport side of a session; the engine's conn implements it.
// Its methods must not block on the event loop, and all are safe to
// call from any goroutine.
type Writer interface {
	// Send frames payload with the codec and queues it for writing.
	// The caller may reuse payload as soon as Send returns.
	Send(payload []byte) error
	// Reply is Send for a handler replying to the message it is being given.
	Reply(payload []byte) error
	// SendRaw queues b for writing as is, without framing.
	// The caller may reuse b as soon as SendRaw returns.
	SendRaw(b []byte) error
	// Close closes the connection asynchronously; reason reaches
	// Handler.OnDisconnect.
	Close(reason error)
}

// Stats are a session's traffic counters.
type Stats struct {
	MessagesIn  uint64 `json:"messages_in"`  // messages received
	MessagesOut uint64 `json:"messages_out"` // messages sent
	BytesIn     uint64 `json:"bytes_in"`     // bytes of the messages received
	BytesOut    uint64 `json:"bytes_out"`    // bytes of the messages sent
	Errors      uint64 `json:"errors"`       // errors counted by the transport
}

// Core is the state of one session. Cores are made by Registry.Register,
// inside the value package session's constructor makes (see NewOuter); every
// method is safe for concurrent use from any goroutine.
type Core struct {
	// Set by Register before the session is published, then read only.
	id          uint64 // generation<<32 | fd
	outer       any    // the *session.Session holding this Core; the Core itself without package session
	reg         *Registry
	w           Writer
	local       net.Addr
	remote      net.Addr
	connectedAt int64 // unix nanoseconds: a time.Time is 24 bytes

	state      atomic.Uint32 // a State; only moves forward
	lastActive atomic.Int64  // unix nanoseconds
	msgsIn     atomic.Uint64
	msgsOut    atomic.Uint64
	bytesIn    atomic.Uint64
	bytesOut   atomic.Uint64
	errs       atomic.Uint64

	// Owner holds a value of the layer that speaks a protocol above the
	// engine on this session (the envelope's *Peer): stored when the session
	// opens, loaded without a lock on every message. Every value stored in
	// it must have one concrete type (a typed nil clears it).
	Owner atomic.Value

	mu     sync.Mutex
	data   map[string]any // guarded by mu; made by the first Set
	groups []string       // guarded by mu; the groups joined, in join order
}

// ID returns the session's ID: the slot generation in the high 32 bits and the
// fd in the low 32 bits. IDs of sessions registered on the same fd differ, and
// no registered session has ID 0.
func (s *Core) ID() uint64 { return s.id }

// FD returns the file descriptor of the session's connection.
func (s *Core) FD() int { return int(uint32(s.id)) }

// RemoteAddr returns the peer's address.
func (s *Core) RemoteAddr() net.Addr { return s.remote }

// LocalAddr returns the local address of the connection.
func (s *Core) LocalAddr() net.Addr { return s.local }

// State returns the session's current state.
func (s *Core) State() State { return State(s.state.Load()) }

// ConnectedAt returns the time the session was registered.
func (s *Core) ConnectedAt() time.Time { return time.Unix(0, s.connectedAt) }

// Outer returns the value this Core is held in: the *session.Session made by
// NewOuter, or the Core itself when NewOuter is nil.
func (s *Core) Outer() any { return s.outer }

// LastActive returns the time last recorded by Touch, or the time the session
// was registered if Touch was never called.
func (s *Core) LastActive() time.Time { return time.Unix(0, s.lastActive.Load()) }

// Send frames payload with the transport's codec and queues it. It returns
// ErrClosed once the session is closing or closed. The caller may reuse
// payload as soon as Send returns.
func (s *Core) Send(payload []byte) error {
	if s.state.Load() >= uint32(StateClosing) {
		return ErrClosed
	}
	return s.w.Send(payload)
}

// Reply is Send, named for a handler answering the message it is given;
// safe from any goroutine, like Send.
func (s *Core) Reply(payload []byte) error {
	if s.state.Load() >= uint32(StateClosing) {
		return ErrClosed
	}
	return s.w.Reply(payload)
}

// SendRaw queues b as is, without framing. It returns ErrClosed once the
// session is closing or closed. The caller may reuse b as soon as SendRaw
// returns.
func (s *Core) SendRaw(b []byte) error {
	if s.state.Load() >= uint32(StateClosing) {
		return ErrClosed
	}
	return s.w.SendRaw(b)
}

// Close moves the session to StateClosing and asks the transport to close the
// connection; reason reaches Handler.OnDisconnect. Only the first call on a
// connecting or connected session does anything; later calls are no-ops.
// Close does not wait for the connection to close.
func (s *Core) Close(reason error) {
	for {
		st := s.state.Load()
		if State(st) >= StateClosing {
			return
		}
		if s.state.CompareAndSwap(st, uint32(StateClosing)) {
			break
		}
	}
	s.w.Close(reason)
}

// Set stores v under key in the session's data.
func (s *Core) Set(key string, v any) {
	s.mu.Lock()
	if s.data == nil {
		s.data = make(map[string]any)
	}
	s.data[key] = v
	s.mu.Unlock()
}

// Get returns the value stored under key and whether there was one.
func (s *Core) Get(key string) (any, bool) {
	s.mu.Lock()
	v, ok := s.data[key]
	s.mu.Unlock()
	return v, ok
}

// Delete removes key from the session's data.
func (s *Core) Delete(key string) {
	s.mu.Lock()
	delete(s.data, key)
	s.mu.Unlock()
}

// Clear removes every key from the session's data.
func (s *Core) Clear() {
	s.mu.Lock()
	clear(s.data)
	s.mu.Unlock()
}

// Join adds the session to group, creating the group if needed. Joining a
// group twice, or joining once the session is closing or closed, is a no-op.
func (s *Core) Join(group string) {
	s.mu.Lock()
	if s.State() >= StateClosing || slices.Contains(s.groups, group) {
		s.mu.Unlock()
		return
	}
	s.groups = append(s.groups, group)
	n := s.reg.join(s, group)
	s.mu.Unlock()
	s.reg.changed(group, n)
}

// Leave removes the session from group; an emptied group is deleted.
// Leaving a group the session is not in is a no-op.
func (s *Core) Leave(group string) {
	s.mu.Lock()
	i := slices.Index(s.groups, group)
	if i < 0 {
		s.mu.Unlock()
		return
	}
	s.groups = slices.Delete(s.groups, i, i+1)
	var buf [1]int
	n := s.reg.leave(s, buf[:0], group)[0]
	s.mu.Unlock()
	s.reg.changed(group, n)
}

// InGroup reports whether the session is a member of group.
func (s *Core) InGroup(group string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Contains(s.groups, group)
}

// Groups returns the groups the session is in, in the order joined, as a new
// slice the caller owns; nil if none.
func (s *Core) Groups() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.groups)
}

// Stats returns the session's counters. Each counter is loaded atomically;
// the set is not a single snapshot while traffic flows.
func (s *Core) Stats() Stats {
	return Stats{
		MessagesIn:  s.msgsIn.Load(),
		MessagesOut: s.msgsOut.Load(),
		BytesIn:     s.bytesIn.Load(),
		BytesOut:    s.bytesOut.Load(),
		Errors:      s.errs.Load(),
	}
}

// SetState is called by the transport to move the session to st. States only
// move forward: setting a state at or before the current one is a no-op, so a
// late SetState(StateConnected) cannot reopen a session that Close moved to
// StateClosing.
func (s *Core) SetState(st State) {
	for {
		cur := s.state.Load()
		if State(cur) >= st || s.state.CompareAndSwap(cur, uint32(st)) {
			return
		}
	}
}

// CountIn is called by the transport for messages received: it adds msgs
// messages totalling bytes payload bytes to the inbound counters.
func (s *Core) CountIn(msgs, bytes int) {
	s.msgsIn.Add(uint64(msgs))
	s.bytesIn.Add(uint64(bytes))
}

// CountOut is called by the transport for messages handed to the socket: it
// adds msgs messages totalling bytes payload bytes to the outbound counters.
func (s *Core) CountOut(msgs, bytes int) {
	s.msgsOut.Add(uint64(msgs))
	s.bytesOut.Add(uint64(bytes))
}

// CountError is called by the transport to count one error on the session.
func (s *Core) CountError() { s.errs.Add(1) }

// Touch is called by the transport to record activity at unixNano, a time in
// unix nanoseconds.
func (s *Core) Touch(unixNano int64) { s.lastActive.Store(unixNano) }

// TLS returns the connection's TLS state, or nil on a plaintext connection:
// the Writer's, if it has any (the engine's does after a TLS handshake).
func (s *Core) TLS() *tls.ConnectionState {
	if t, ok := s.w.(interface{ TLS() *tls.ConnectionState }); ok {
		return t.TLS()
	}
	return nil
}

// Writer is called by the transport to get the Writer given to Register.
func (s *Core) Writer() Writer { return s.w }
