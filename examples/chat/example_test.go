package chat_test

import (
	"context"
	"fmt"

	"github.com/netsys-go/netsys/engine"
	"github.com/netsys-go/netsys/envelope"
	"github.com/netsys-go/netsys/examples/chat"
)

func Example() {
	opts := []envelope.Option{envelope.WithLogger(quiet)}
	srv, err := chat.NewServer(opts, engine.WithLogger(quiet))
	if err != nil {
		panic(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		panic(err)
	}
	defer srv.Stop(context.Background())

	ctx := context.Background()
	alice, err := chat.Dial(ctx, srv.Addr(), "alice", envelope.WithLogger(quiet),
		envelope.WithEngineOptions(engine.WithLogger(quiet)))
	if err != nil {
		panic(err)
	}
	defer alice.Close()
	members, _ := alice.Join(ctx, "go")
	fmt.Println("joined:", members)
	_ = alice.Say("go", "hello")
	members, _ = alice.Who(ctx, "go") // its own reply, not the line just said
	fmt.Println("who:", members)
	fmt.Printf("pushed: %+v\n", <-alice.Messages())
	status, _ := srv.Status(ctx, "alice") // the server asks the client
	fmt.Println("status:", status)
	// Output:
	// joined: [alice]
	// who: [alice]
	// pushed: {Room:go From:alice Text:hello}
	// status: here
}
