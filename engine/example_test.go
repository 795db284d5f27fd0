package engine_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"

	"github.com/netsys-go/netsys/engine"
	"github.com/netsys-go/netsys/session"
)

func ExampleServer() {
	srv, err := engine.NewServer(engine.HandlerFuncs{
		Message: func(s *session.Session, msg []byte) { _ = s.Send(msg) }, // echo
	}, engine.WithLogger(quiet))
	if err != nil {
		panic(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		panic(err)
	}
	defer srv.Stop(context.Background())

	conn, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	// The default codec: a 4-byte big-endian length, then the payload.
	if _, err := conn.Write([]byte{0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o'}); err != nil {
		panic(err)
	}
	reply := make([]byte, 9)
	if _, err := io.ReadFull(conn, reply); err != nil {
		panic(err)
	}
	fmt.Printf("%q\n", reply[4:])
	// Output: "hello"
}

func ExampleDial() {
	done := make(chan struct{})
	srv, err := engine.NewServer(engine.HandlerFuncs{
		Message: func(s *session.Session, msg []byte) {
			fmt.Printf("server got %q\n", msg)
			close(done)
		},
	}, engine.WithLogger(quiet))
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
	if err := cl.Send([]byte("hello")); err != nil {
		panic(err)
	}
	<-done
	// Output: server got "hello"
}

func ExampleClient_Request() {
	srv, err := engine.NewServer(engine.HandlerFuncs{
		Message: func(s *session.Session, msg []byte) { _ = s.Send(bytes.ToUpper(msg)) },
	}, engine.WithLogger(quiet))
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
	reply, err := cl.Request(ctx, []byte("ping"))
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s\n", reply)
	// Output: PING
}

func ExamplePool() {
	srv, err := engine.NewServer(engine.HandlerFuncs{
		Message: func(s *session.Session, msg []byte) { _ = s.Send(msg) }, // echo
	}, engine.WithLogger(quiet))
	if err != nil {
		panic(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		panic(err)
	}
	defer srv.Stop(context.Background())

	ctx := context.Background()
	p, err := engine.NewPool(ctx, srv.Addr().String(), 4, engine.WithLogger(quiet))
	if err != nil {
		panic(err)
	}
	defer p.Close()
	for _, q := range []string{"a", "b", "c"} {
		reply, err := p.Request(ctx, []byte(q))
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s\n", reply)
	}
	st := p.Stats()
	fmt.Printf("size %d, connected %d, in use %d\n", st.Size, st.Connected, st.InUse)
	// Output:
	// a
	// b
	// c
	// size 4, connected 4, in use 0
}
