package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/netsys-go/netsys/cluster"
	"github.com/netsys-go/netsys/cluster/embed"
	"github.com/netsys-go/netsys/engine"
	"github.com/netsys-go/netsys/session"
)

// fanoutGroup is the group every session of `serve -fanout` joins.
const fanoutGroup = "fanout"

// clusterFlags are serve's cluster flags and what they set up.
type clusterFlags struct {
	url, natsListen, listen, routes, nodeID string
	wait                                    int
	waitFor                                 time.Duration
	fanout                                  bool

	node *cluster.Node
	nats *embed.Server
	srv  atomic.Pointer[engine.Server]
}

// addClusterFlags defines serve's cluster flags on fs.
func addClusterFlags(fs *flag.FlagSet) *clusterFlags {
	f := &clusterFlags{}
	fs.StringVar(&f.url, "cluster", "", "join a cluster through the NATS server at this URL, or \"embedded\" to run one in-process")
	fs.StringVar(&f.natsListen, "cluster-nats", "127.0.0.1:0", "with -cluster embedded: the embedded NATS server's client address")
	fs.StringVar(&f.listen, "cluster-listen", "", "with -cluster embedded: the address the embedded NATS server takes routes from (NATS clustering)")
	fs.StringVar(&f.routes, "cluster-routes", "", "with -cluster embedded: comma-separated route URLs of the other embedded servers (nats-route://host:port)")
	fs.StringVar(&f.nodeID, "node", "", "the node's ID in the cluster (default: random)")
	fs.IntVar(&f.wait, "cluster-wait", 0, "before announcing, wait until this many nodes are live (at most -cluster-wait-for)")
	fs.DurationVar(&f.waitFor, "cluster-wait-for", 20*time.Second, "the bound on -cluster-wait")
	fs.BoolVar(&f.fanout, "fanout", false, "deliver every frame a session sends to every session of the cluster, the sender included, instead of echoing it")
	return f
}

// prepare checks the flags and makes the node, before the server exists.
func (f *clusterFlags) prepare(log *slog.Logger) error {
	if f.url == "" {
		if f.listen != "" || f.routes != "" || f.wait > 0 {
			return errors.New("-cluster-listen, -cluster-routes and -cluster-wait need -cluster")
		}
		return nil
	}
	if f.url != "embedded" && (f.listen != "" || f.routes != "") {
		return errors.New("-cluster-listen and -cluster-routes are for -cluster embedded")
	}
	opts := []cluster.Option{cluster.WithLogger(log)}
	if f.nodeID != "" {
		opts = append(opts, cluster.WithNodeID(f.nodeID))
	}
	n, err := cluster.New(opts...)
	f.node = n
	return err
}

// groupHook is the server's group hook: the node's, or nil without a cluster.
func (f *clusterFlags) groupHook() func(string, int) {
	if f.node == nil {
		return nil
	}
	return f.node.GroupHook
}

// handler returns echo, or with -fanout a handler that joins every session
// to one group and broadcasts each frame to the group cluster-wide.
func (f *clusterFlags) handler(echo engine.Handler) engine.Handler {
	if !f.fanout {
		return echo
	}
	return engine.HandlerFuncs{
		Connect: func(s *session.Session) { s.Join(fanoutGroup) },
		Message: func(_ *session.Session, msg []byte) {
			if f.node != nil {
				if _, err := f.node.BroadcastGroup(fanoutGroup, msg); !errors.Is(err, cluster.ErrNotJoined) {
					return
				}
			}
			if srv := f.srv.Load(); srv != nil {
				_, _ = srv.BroadcastGroup(fanoutGroup, msg)
			}
		},
	}
}

// start joins the cluster once srv listens, starting the embedded NATS
// server first if asked, and waits for -cluster-wait nodes. stop leaves.
func (f *clusterFlags) start(srv *engine.Server, log *slog.Logger) (stop func(), err error) {
	f.srv.Store(srv)
	if f.node == nil {
		return func() {}, nil
	}
	url := f.url
	if url == "embedded" {
		var routes []string
		if f.routes != "" {
			routes = strings.Split(f.routes, ",")
		}
		f.nats, err = embed.Start(embed.Config{Name: f.node.ID(), Listen: f.natsListen, ClusterListen: f.listen, Routes: routes})
		if err != nil {
			return nil, err
		}
		url = f.nats.ClientURL()
		log.Info("netsys: embedded NATS", "client", url, "routes", f.nats.RouteURL())
	}
	stop = func() {
		_ = f.node.Close()
		if f.nats != nil {
			f.nats.Shutdown()
		}
	}
	if err := f.node.Join(srv, url); err != nil {
		if f.nats != nil {
			f.nats.Shutdown()
		}
		return nil, err
	}
	if f.wait > 0 {
		deadline := time.Now().Add(f.waitFor)
		for len(f.node.Nodes()) < f.wait {
			if time.Now().After(deadline) {
				stop()
				return nil, fmt.Errorf("-cluster-wait: %d of %d nodes live after %v", len(f.node.Nodes()), f.wait, f.waitFor)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return stop, nil
}

// collectors returns the node's Prometheus collector, if it has joined.
func (f *clusterFlags) collectors() []prometheus.Collector {
	if f.node == nil {
		return nil
	}
	return []prometheus.Collector{f.node.Collector()}
}

// report prints the node's figures as one line, "cluster <json>", for
// whoever started serve (cluster-demo reads it).
func (f *clusterFlags) report(stdout io.Writer) {
	if f.node == nil {
		return
	}
	b, _ := json.Marshal(f.node.Stats())
	fmt.Fprintf(stdout, "cluster %s\n", b)
}
