// Package engine is the netsys TCP messaging transport on gnet event loops:
// the Server, the Client and its connection Pool, limits, idle sweeping and
// broadcast.
//
// A Server accepts connections on gnet's epoll/kqueue loops. Each connection
// gets a session.Session; the loop decodes frames with the configured codec in
// place from gnet's buffer and hands each message to the Handler:
//
//	srv, err := engine.NewServer(engine.HandlerFuncs{
//		Message: func(s *session.Session, msg []byte) { s.Reply(msg) }, // echo
//	}, engine.WithMaxConns(10_000), engine.WithIdleTimeout(time.Minute))
//	if err != nil { ... }
//	if err := srv.Start("127.0.0.1:9000"); err != nil { ... }
//	defer srv.Stop(context.Background())
//
// # Concurrency
//
// Handler methods run on the session's event loop, one at a time per loop,
// and must not block: a blocking handler stalls every session of its loop. The
// message slice given to OnMessage aliases the loop's read buffer and is valid
// only during the call.
//
// Session.Send, Reply, SendRaw and Close, and every Server method, are safe
// from any goroutine. Sends made during OnMessage are batched and written with
// one write when the loop has handled everything it read; sends from other
// goroutines are batched too, at one wake-up of the loop per batch. Send
// copies the payload before it returns. Session.Reply is Send, named for a
// handler answering the message it is given.
//
// A session ID is never reused, even when the operating system reuses the
// connection's fd at once: Server.Session with a stale ID returns nil, and
// Send on a closed session returns session.ErrClosed.
//
// A Client dials a server and runs on gnet's client loops with the same codec,
// batching and limits; Request sends and waits for the in-order reply, and a
// Pool keeps a fixed set of clients to one address (see docs/client.md):
//
//	cl, err := engine.Dial(ctx, "127.0.0.1:9000", engine.WithReconnect(engine.Reconnect{}))
//	if err != nil { ... }
//	defer cl.Close()
//	reply, err := cl.Request(ctx, []byte("ping"))
//
// Client and Pool methods are safe from any goroutine, except Close, which
// must not be called from a handler.
//
// # TLS
//
// WithTLS puts a Server, Client or Pool on TLS 1.2 and 1.3 with the standard
// crypto/tls, on the loops: handshakes run on a bounded pool of goroutines
// (WithMaxHandshakes, WithHandshakeTimeout), everything after them on the
// loop. OnConnect runs once the handshake succeeded, Session.TLS returns the
// negotiated state, and a failed handshake never reaches the handler (it is
// counted by cause, see Server.HandshakeFailures). Every limit below holds
// with TLS; see docs/tls.md.
//
//	srv, err := engine.NewServer(h, engine.WithTLS(&tls.Config{Certificates: certs}))
//	cl, err := engine.Dial(ctx, "example.net:9443", engine.WithTLS(&tls.Config{}))
//
// # Limits
//
// Every limit has a default and an option: WithMaxConns, WithMaxFrameSize
// (a frame is refused from its header alone), WithIdleTimeout and
// WithWriteHighWater (a session whose peer does not read is closed as a slow
// consumer). A session closed by a limit, a codec error or a handler panic is
// closed alone; the reason reaches Handler.OnDisconnect.
package engine
