package engine_test

import (
	"context"
	"crypto/tls"
	"fmt"

	"github.com/netsys-go/netsys/engine"
	"github.com/netsys-go/netsys/internal/certs"
	"github.com/netsys-go/netsys/session"
)

func ExampleWithTLS() {
	b, err := certs.SelfSigned() // a CA, a server and a client certificate, in memory
	if err != nil {
		panic(err)
	}
	srv, err := engine.NewServer(engine.HandlerFuncs{
		Connect: func(s *session.Session) {
			st := s.TLS() // OnConnect runs once the handshake succeeded
			fmt.Printf("server: %s, client %s\n", tls.VersionName(st.Version), st.PeerCertificates[0].Subject.CommonName)
		},
		Message: func(s *session.Session, msg []byte) { _ = s.Reply(msg) },
	}, engine.WithTLS(b.MutualServerConfig()), engine.WithLogger(quiet))
	if err != nil {
		panic(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		panic(err)
	}
	defer srv.Stop(context.Background())

	// ServerName is left empty: the client verifies the address it dials.
	cfg := b.MutualClientConfig()
	cfg.ServerName = ""
	cl, err := engine.Dial(context.Background(), srv.Addr().String(), engine.WithTLS(cfg), engine.WithLogger(quiet))
	if err != nil {
		panic(err)
	}
	defer cl.Close()
	reply, err := cl.Request(context.Background(), []byte("hello over TLS"))
	if err != nil {
		panic(err)
	}
	fmt.Printf("client: %q\n", reply)
	// Output:
	// server: TLS 1.3, client netsys-client
	// client: "hello over TLS"
}
