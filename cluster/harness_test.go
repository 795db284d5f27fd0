package cluster

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netsys-go/netsys/cluster/embed"
	"github.com/netsys-go/netsys/engine"
	"github.com/netsys-go/netsys/session"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// Test timing: heartbeats every 50ms, down after 400ms.
const (
	testHeartbeat = 50 * time.Millisecond
	testDownAfter = 400 * time.Millisecond
	testWait      = 10 * time.Second // the bound of every wait on a condition
)

// waitUntil polls cond until it holds or testWait passes.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", testWait, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// startNATS starts n NATS servers routed into one cluster on loopback and
// waits until every one has routes to the others.
func startNATS(t *testing.T, n int) []*embed.Server {
	t.Helper()
	var out []*embed.Server
	for i := range n {
		cfg := embed.Config{ClusterListen: "127.0.0.1:0"}
		if i > 0 {
			cfg.Routes = []string{out[0].RouteURL()}
		}
		s, err := embed.Start(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Shutdown)
		out = append(out, s)
	}
	if n > 1 {
		waitUntil(t, "NATS routes", func() bool {
			for _, s := range out {
				if s.Routes() < n-1 {
					return false
				}
			}
			return true
		})
	}
	return out
}

// testNode is an engine server on loopback with a cluster node; the
// sessions it accepts arrive on conns.
type testNode struct {
	srv   *engine.Server
	node  *Node
	conns chan *session.Session
}

func startNode(t *testing.T, id, natsURL string, opts ...Option) *testNode {
	t.Helper()
	opts = append([]Option{WithNodeID(id), WithHeartbeat(testHeartbeat, testDownAfter), WithLogger(quiet)}, opts...)
	n, err := New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	tn := &testNode{node: n, conns: make(chan *session.Session, 64)}
	srv, err := engine.NewServer(engine.HandlerFuncs{Connect: func(s *session.Session) { tn.conns <- s }},
		engine.WithGroupHook(n.GroupHook), engine.WithLoops(1), engine.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	tn.srv = srv
	t.Cleanup(func() {
		_ = n.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Stop(ctx)
	})
	if err := n.Join(srv, natsURL); err != nil {
		t.Fatal(err)
	}
	return tn
}

// client is a TCP client of a test node that keeps every frame it receives.
type client struct {
	sess *session.Session // its session on the server
	conn net.Conn
	mu   sync.Mutex
	got  []string
}

// connect opens a client to tn and returns it with its server session.
func (tn *testNode) connect(t *testing.T) *client {
	t.Helper()
	c, err := net.Dial("tcp", tn.srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	cl := &client{conn: c}
	select {
	case cl.sess = <-tn.conns:
	case <-time.After(testWait):
		t.Fatal("no session for the client")
	}
	go cl.read()
	return cl
}

func (c *client) read() {
	r := bufio.NewReader(c.conn)
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		b := make([]byte, binary.BigEndian.Uint32(hdr[:]))
		if _, err := io.ReadFull(r, b); err != nil {
			return
		}
		c.mu.Lock()
		c.got = append(c.got, string(b))
		c.mu.Unlock()
	}
}

// count returns how many frames equal to m the client got.
func (c *client) count(m string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, g := range c.got {
		if g == m {
			n++
		}
	}
	return n
}

// hasPrefix reports whether the client got a frame starting with p.
func (c *client) hasPrefix(p string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, g := range c.got {
		if strings.HasPrefix(g, p) {
			return true
		}
	}
	return false
}

// index returns the position of the first frame equal to m, or -1.
func (c *client) index(m string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, g := range c.got {
		if g == m {
			return i
		}
	}
	return -1
}
