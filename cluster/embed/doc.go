// Package embed runs a NATS server inside the process, for the cluster
// package's tests and for `echo serve -cluster embedded`: several processes,
// each with its own embedded server, form a NATS cluster through routes with
// nothing else installed.
//
// It is a separate package so that a program that joins an existing NATS
// system (cluster.Node.Join with a URL) does not link the server.
//
//	s, err := embed.Start(embed.Config{ClusterListen: "127.0.0.1:0"})
//	if err != nil { ... }
//	defer s.Shutdown()
//	err = node.Join(srv, s.ClientURL())
//
// Concurrency: a Server's methods are safe from any goroutine.
package embed
