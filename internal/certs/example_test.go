package certs_test

import (
	"fmt"

	"github.com/netsys-go/netsys/internal/certs"
)

// A bundle has everything a TLS test needs: a CA, a server certificate for
// the loopback names and a client certificate for mutual TLS.
func ExampleSelfSigned() {
	b, err := certs.SelfSigned()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(b.Server.Leaf.DNSNames, b.Server.Leaf.IPAddresses)
	fmt.Println(b.Client.Leaf.Subject.CommonName)
	fmt.Println(b.MutualServerConfig().ClientAuth)
	// Output:
	// [localhost] [127.0.0.1 ::1]
	// netsys-client
	// RequireAndVerifyClientCert
}
