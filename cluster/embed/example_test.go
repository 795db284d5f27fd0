package embed_test

import (
	"fmt"
	"strings"

	"github.com/netsys-go/netsys/cluster/embed"
)

// Two servers routed into one NATS cluster on loopback.
func ExampleStart() {
	seed, err := embed.Start(embed.Config{ClusterListen: "127.0.0.1:0"})
	if err != nil {
		panic(err)
	}
	defer seed.Shutdown()
	other, err := embed.Start(embed.Config{ClusterListen: "127.0.0.1:0", Routes: []string{seed.RouteURL()}})
	if err != nil {
		panic(err)
	}
	defer other.Shutdown()
	fmt.Println(strings.HasPrefix(seed.ClientURL(), "nats://127.0.0.1:"), strings.HasPrefix(other.RouteURL(), "nats-route://127.0.0.1:"))
	// Output: true true
}

func ExampleConfig_lone() {
	s, err := embed.Start(embed.Config{})
	if err != nil {
		panic(err)
	}
	defer s.Shutdown()
	fmt.Printf("route URL %q, routes %d\n", s.RouteURL(), s.Routes())
	// Output: route URL "", routes 0
}
