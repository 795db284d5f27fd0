package envelope_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/netsys-go/netsys/engine"
	"github.com/netsys-go/netsys/envelope"
)

type Add struct{ A, B int }

// A typed request answered during the call, a push from the server, and an
// error reply.
func Example() {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	r := envelope.NewRouter(nil) // JSON bodies
	envelope.Handle(r, 1, func(m *envelope.Msg, v *Add) {
		_ = m.Peer().SendType(2, []byte("working on it")) // a push before the reply
		_ = m.ReplyValue(v.A + v.B)
	})
	srv, err := engine.NewServer(envelope.NewServerHandler(r, envelope.WithLogger(quiet)), engine.WithLogger(quiet))
	if err != nil {
		panic(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		panic(err)
	}
	defer srv.Stop(context.Background())

	pushes := make(chan string, 1)
	cr := envelope.NewRouter(nil)
	cr.HandleRaw(2, func(m *envelope.Msg) { pushes <- string(m.Body()) })
	ctx := context.Background()
	c, err := envelope.Dial(ctx, srv.Addr().String(), envelope.WithRouter(cr), envelope.WithLogger(quiet),
		envelope.WithEngineOptions(engine.WithLogger(quiet)))
	if err != nil {
		panic(err)
	}
	defer c.Close()

	var sum int
	err = c.Call(ctx, 1, Add{A: 2, B: 3}, &sum)
	fmt.Println("sum:", sum, err)
	fmt.Println("push:", <-pushes)
	_, err = c.RequestType(ctx, 9, nil)
	fmt.Println(err)
	// Output:
	// sum: 5 <nil>
	// push: working on it
	// envelope: remote error (unknown type): envelope: unknown message type: 9
}

// Keeping a window of requests in flight with Go: each answer, delivered on
// the client's event loop, sends the next request. No goroutine per request;
// the reply is valid only during the callback.
func ExampleClient_Go() {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	r := envelope.NewRouter(nil)
	r.HandleUntyped(func(m *envelope.Msg) { _ = m.Reply(m.Body()) })
	srv, err := engine.NewServer(envelope.NewServerHandler(r, envelope.WithLogger(quiet)), engine.WithLogger(quiet))
	if err != nil {
		panic(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		panic(err)
	}
	defer srv.Stop(context.Background())
	c, err := envelope.Dial(context.Background(), srv.Addr().String(), envelope.WithLogger(quiet),
		envelope.WithEngineOptions(engine.WithLogger(quiet)))
	if err != nil {
		panic(err)
	}
	defer c.Close()

	const total, window = 1000, 16
	var mu sync.Mutex
	sent, answered := 0, 0
	done := make(chan struct{})
	var next func()
	onReply := func(reply []byte, err error) {
		mu.Lock()
		answered++
		finished, more := answered == total, sent < total
		if more {
			sent++
		}
		mu.Unlock()
		if finished {
			close(done)
		}
		if more {
			next()
		}
	}
	next = func() { _ = c.Go([]byte("ping"), onReply) }
	mu.Lock()
	sent = window
	mu.Unlock()
	for range window {
		next()
	}
	<-done
	fmt.Println("answered:", answered)
	// Output:
	// answered: 1000
}
