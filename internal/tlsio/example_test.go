package tlsio_test

import (
	"crypto/tls"
	"fmt"

	"github.com/netsys-go/netsys/internal/certs"
	"github.com/netsys-go/netsys/internal/tlsio"
)

// Two Conns wired back to back: what each one's out emits is what the other
// is fed. The example goroutine plays both event loops.
func Example() {
	b, err := certs.SelfSigned()
	if err != nil {
		fmt.Println(err)
		return
	}
	var toClient, toServer []byte
	var mu = make(chan struct{}, 1) // guards the two buffers: out runs on handshake goroutines
	mu <- struct{}{}
	wrote := make(chan struct{}, 1) // the loop's wake-up for new bytes
	appendTo := func(dst *[]byte) func([]byte) {
		return func(p []byte) {
			<-mu
			*dst = append(*dst, p...)
			mu <- struct{}{}
			select {
			case wrote <- struct{}{}:
			default:
			}
		}
	}
	take := func(src *[]byte) []byte { <-mu; b := *src; *src = nil; mu <- struct{}{}; return b }

	h := tlsio.NewHandshaker(tlsio.Config{})
	srv := tlsio.NewServer(b.ServerConfig(), appendTo(&toClient))
	cli := tlsio.NewClient(b.ClientConfig(), appendTo(&toServer))
	done := make(chan error, 2)
	onDone := func(st tls.ConnectionState, err error) { done <- err }
	if err := srv.Start(h, onDone); err != nil {
		fmt.Println(err)
		return
	}
	if err := cli.Start(h, onDone); err != nil {
		fmt.Println(err)
		return
	}
	for finished := 0; finished < 2; {
		select {
		case err := <-done:
			if err != nil {
				fmt.Println(err)
				return
			}
			finished++
		case <-wrote:
			_, _ = srv.Feed(take(&toServer)) // buffered for the handshake goroutine
			_, _ = cli.Feed(take(&toClient))
		}
	}
	// The handshake goroutines are done: feed what they wrote last.
	_, _ = srv.Feed(take(&toServer))
	_, _ = cli.Feed(take(&toClient))
	if _, err := srv.Activate(); err != nil {
		fmt.Println(err)
		return
	}
	if _, err := cli.Activate(); err != nil {
		fmt.Println(err)
		return
	}

	if err := cli.Write([]byte("hello")); err != nil {
		fmt.Println(err)
		return
	}
	pt, err := srv.Feed(take(&toServer))
	st := srv.ConnectionState()
	fmt.Printf("%q %v %s\n", pt, err, tls.VersionName(st.Version))
	// Output: "hello" <nil> TLS 1.3
}
