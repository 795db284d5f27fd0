package cluster_test

import (
	"context"
	"fmt"
	"time"

	"github.com/netsys-go/netsys/cluster"
	"github.com/netsys-go/netsys/cluster/embed"
	"github.com/netsys-go/netsys/engine"
)

func ExampleParseAddr() {
	a, err := cluster.ParseAddr("eu-1/100000007")
	fmt.Println(a.Node, a.Session>>32, uint32(a.Session), err)
	fmt.Println(a)
	// Output:
	// eu-1 1 7 <nil>
	// eu-1/100000007
}

// Two nodes on one embedded NATS server see each other.
func ExampleNode() {
	nats, err := embed.Start(embed.Config{})
	if err != nil {
		panic(err)
	}
	defer nats.Shutdown()
	var nodes []*cluster.Node
	for _, id := range []string{"one", "two"} {
		node, err := cluster.New(cluster.WithNodeID(id), cluster.WithHeartbeat(50*time.Millisecond, 0))
		if err != nil {
			panic(err)
		}
		srv, err := engine.NewServer(engine.HandlerFuncs{}, engine.WithGroupHook(node.GroupHook))
		if err != nil {
			panic(err)
		}
		if err := srv.Start("127.0.0.1:0"); err != nil {
			panic(err)
		}
		defer srv.Stop(context.Background())
		if err := node.Join(srv, nats.ClientURL()); err != nil {
			panic(err)
		}
		defer node.Close()
		nodes = append(nodes, node)
	}
	for deadline := time.Now().Add(5 * time.Second); len(nodes[0].Nodes()) < 2 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	for _, n := range nodes[0].Nodes() {
		fmt.Println(n.ID, n.Self)
	}
	// Output:
	// one true
	// two false
}
