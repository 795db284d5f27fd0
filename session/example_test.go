package session_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/netsys-go/netsys/engine"
	"github.com/netsys-go/netsys/session"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// A handler names a user by its first message, keeps the name in the
// session's data, puts the session in a room and replies.
func ExampleSession() {
	h := engine.HandlerFuncs{
		Message: func(s *session.Session, msg []byte) {
			name, ok := s.Get("name")
			if !ok {
				s.Set("name", string(msg))
				s.Join("lobby")
				_ = s.Reply(fmt.Appendf(nil, "welcome %s, in %v", msg, s.Groups()))
				return
			}
			_ = s.Reply(fmt.Appendf(nil, "%s said %q (%v, in lobby: %v)", name, msg, s.State(), s.InGroup("lobby")))
		},
	}
	srv, err := engine.NewServer(h, engine.WithLogger(quiet))
	if err != nil {
		panic(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		panic(err)
	}
	defer srv.Stop(context.Background())

	ctx := context.Background()
	cl, err := engine.Dial(ctx, srv.Addr().String(), engine.WithLogger(quiet))
	if err != nil {
		panic(err)
	}
	defer cl.Close()
	for _, msg := range []string{"ada", "hello"} {
		reply, err := cl.Request(ctx, []byte(msg))
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s\n", reply)
	}
	// Output:
	// welcome ada, in [lobby]
	// ada said "hello" (connected, in lobby: true)
}

// Close makes every later send fail with ErrClosed; the reason reaches the
// handler's OnDisconnect.
func ExampleSession_Close() {
	gone := make(chan struct{})
	h := engine.HandlerFuncs{
		Connect: func(s *session.Session) {
			s.Close(errors.New("no guests"))
			fmt.Println(s.State(), errors.Is(s.Send([]byte("late")), session.ErrClosed))
		},
		Disconnect: func(s *session.Session, reason error) {
			fmt.Println("disconnected:", reason)
			close(gone)
		},
	}
	srv, err := engine.NewServer(h, engine.WithLogger(quiet))
	if err != nil {
		panic(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		panic(err)
	}
	defer srv.Stop(context.Background())

	cl, err := engine.Dial(context.Background(), srv.Addr().String(), engine.WithLogger(quiet))
	if err != nil {
		panic(err)
	}
	defer cl.Close()
	<-gone
	// Output:
	// closing true
	// disconnected: no guests
}
