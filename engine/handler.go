package engine

import "github.com/netsys-go/netsys/session"

// Handler receives a connection's events. Unless the server runs handlers on
// workers (WithWorkers), every method runs on the connection's event loop: it
// must not block, and all events of one session arrive in order.
type Handler interface {
	// OnConnect is called once when a session is established, before any message.
	OnConnect(s *session.Session)
	// OnMessage is called for every decoded message. msg aliases the engine's
	// read buffer and is valid only during the call: copy it to keep it.
	OnMessage(s *session.Session, msg []byte)
	// OnDisconnect is called once when the session has closed, with the reason
	// (ErrPeerClosed, ErrIdleTimeout, codec.ErrFrameTooLarge, ...). Every
	// message the session sent before it closed was handed to the socket.
	OnDisconnect(s *session.Session, reason error)
}

// HandlerFuncs adapts plain functions to Handler; nil fields are skipped.
type HandlerFuncs struct {
	Connect    func(s *session.Session)
	Message    func(s *session.Session, msg []byte)
	Disconnect func(s *session.Session, reason error)
}

// OnConnect calls f.Connect if it is set.
func (f HandlerFuncs) OnConnect(s *session.Session) {
	if f.Connect != nil {
		f.Connect(s)
	}
}

// OnMessage calls f.Message if it is set.
func (f HandlerFuncs) OnMessage(s *session.Session, msg []byte) {
	if f.Message != nil {
		f.Message(s, msg)
	}
}

// OnDisconnect calls f.Disconnect if it is set.
func (f HandlerFuncs) OnDisconnect(s *session.Session, reason error) {
	if f.Disconnect != nil {
		f.Disconnect(s, reason)
	}
}
