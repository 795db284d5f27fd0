// Package envelope is an opt-in protocol layer on the engine: a few bytes of
// header inside each frame's payload that give request/reply matched by ID in
// both directions beside server push, routing by message type to typed
// handlers, and per-message S2 compression. Both ends must speak it; the
// plain length-prefixed frame stays the engine's default. The layout is in
// docs/wire-format.md ("The envelope").
//
// A server wraps a Router in a ServerHandler and gives it to engine.NewServer;
// a client dials with Dial:
//
//	r := envelope.NewRouter(nil) // JSON bodies; msgpser.Serializer{} for msgp
//	envelope.Handle(r, 1, func(m *envelope.Msg, v *Join) {
//		m.Session().Join(v.Room)
//		_ = m.Reply([]byte("ok"))
//	})
//	srv, _ := engine.NewServer(envelope.NewServerHandler(r))
//	_ = srv.Start("127.0.0.1:9000")
//
//	c, _ := envelope.Dial(ctx, "127.0.0.1:9000")
//	err := c.Call(ctx, 1, Join{Room: "go"}, nil)
//
// Each side's first frame is a hello with its version and the features it
// accepts; a peer with another version is refused (ErrVersion) and its
// session closed. Requests carry an ID the answer repeats, so concurrent
// requests complete in any order and one-way messages interleave freely.
// A server asks a client with envelope.Request(ctx, s, body), or PeerOf(s).
//
// Bad input closes only the session it came on, after telling the peer why
// (an error frame with ID 0): a malformed frame (ErrMalformed), an unknown
// kind (ErrUnknownKind), a frame out of place (ErrProtocol), a duplicate
// request ID in flight (ErrDuplicateID), a compressed frame this side did not
// accept (ErrNotAccepted), a compressed body that decodes past
// WithMaxBodySize (codec.ErrFrameTooLarge, refused before any allocation), and
// a one-way message of an unknown type or with a body that does not decode
// (ErrUnknownType, ErrBadBody). A request of an unknown type or with a bad
// body gets an error reply instead, and the session goes on. Replies to IDs
// not in flight are dropped and counted (Stats).
//
// Concurrency: handlers run where the engine runs them, on the session's
// event loop (or its worker with engine.WithWorkers), in order per session,
// and must not block. A Msg is valid only during its handler's call; a
// Responder (Msg.Defer) answers later from any goroutine. Peer and Client
// methods are safe from any goroutine, but those that wait for the peer
// (Request, Call, Flush, Sync) must not run on the event loop.
package envelope
