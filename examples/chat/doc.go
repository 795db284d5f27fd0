// Package chat is a worked example of the envelope: a chat protocol with
// join, leave, say and who, typed with msgp-generated code (with size limits)
// and routed by message type. Join, leave and who are requests answered
// during the call; say is one-way and the server pushes it to the room with
// one broadcast frame; the server asks a client for its status line
// (Server.Status), a request in the other direction. A client's requests get
// their own replies however many room lines arrive in between.
//
//	srv, _ := chat.NewServer(nil)
//	_ = srv.Start("127.0.0.1:9000")
//	alice, _ := chat.Dial(ctx, srv.Addr(), "alice")
//	_, _ = alice.Join(ctx, "go")
//	_ = alice.Say("go", "hello")
//	members, _ := alice.Who(ctx, "go") // ["alice"], not the line above
//	line := <-alice.Messages()         // {go alice hello}
//
// Concurrency: the server's handlers run on the event loops and share the
// room table under one mutex; Client methods are safe from any goroutine, and
// pushed lines arrive on a buffered channel that never blocks the loop.
package chat
