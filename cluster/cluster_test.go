package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/netsys-go/netsys/cluster/embed"
	"github.com/netsys-go/netsys/engine"
	"github.com/netsys-go/netsys/session"
)

// threeNodes starts three NATS servers in a cluster and one node on each,
// with two clients per node: A, B and C, clients a0 a1, b0 b1, c0 c1.
// a0 and b0 are in group "room"; C has no member of it.
type three struct {
	nats    []*embed.Server
	a, b, c *testNode
	cl      map[string]*client
}

func startThree(t *testing.T) *three {
	t.Helper()
	ns := startNATS(t, 3)
	x := &three{nats: ns, cl: map[string]*client{}}
	x.a = startNode(t, "A", ns[0].ClientURL())
	x.b = startNode(t, "B", ns[1].ClientURL())
	x.c = startNode(t, "C", ns[2].ClientURL())
	for name, tn := range map[string]*testNode{"a": x.a, "b": x.b, "c": x.c} {
		x.cl[name+"0"] = tn.connect(t)
		x.cl[name+"1"] = tn.connect(t)
	}
	x.cl["a0"].sess.Join("room")
	x.cl["b0"].sess.Join("room")
	for _, tn := range x.nodes() {
		waitUntil(t, "presence of three nodes and two room members on "+tn.node.ID(), func() bool {
			return len(tn.node.Nodes()) == 3 && tn.node.GroupCount("room") == 2 && tn.node.Count() == 6
		})
	}
	// Interest reaches the other NATS servers asynchronously: probe each
	// subject until every target has one.
	for i := 0; ; i++ {
		for _, tn := range x.nodes() {
			if _, err := tn.node.Broadcast([]byte("probe-all")); err != nil {
				t.Fatal(err)
			}
			if _, err := tn.node.BroadcastGroup("room", []byte("probe-room")); err != nil {
				t.Fatal(err)
			}
		}
		ok := true
		for name, c := range x.cl {
			ok = ok && c.count("probe-all") > 0
			if name == "a0" || name == "b0" {
				ok = ok && c.count("probe-room") > 0
			}
		}
		if ok {
			break
		}
		if i > 1000 {
			t.Fatal("probes never reached every client")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return x
}

func (x *three) nodes() []*testNode { return []*testNode{x.a, x.b, x.c} }

// waitAll waits until every named client got last, then checks that each
// got first exactly once, before last.
func (x *three) exactlyOnce(t *testing.T, names []string, first, last string) {
	t.Helper()
	for _, n := range names {
		c := x.cl[n]
		waitUntil(t, n+" to get "+last, func() bool { return c.count(last) > 0 })
		if got := c.count(first); got != 1 {
			t.Errorf("%s got %q %d times, want once", n, first, got)
		}
		if got := c.count(last); got != 1 {
			t.Errorf("%s got %q %d times, want once", n, last, got)
		}
		if c.index(first) > c.index(last) {
			t.Errorf("%s got %q after %q", n, first, last)
		}
	}
}

func TestClusterDelivery(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: starts three NATS servers")
	}
	x := startThree(t)
	all := []string{"a0", "a1", "b0", "b1", "c0", "c1"}

	// Broadcast from B reaches every session once, B's own included.
	for _, p := range []string{"bc-1", "bc-2"} {
		if n, err := x.b.node.Broadcast([]byte(p)); err != nil || n != 2 {
			t.Fatalf("Broadcast = %d, %v; want 2 local", n, err)
		}
	}
	x.exactlyOnce(t, all, "bc-1", "bc-2")

	// A group broadcast from C, which has no member, and from A, which has.
	gBefore := x.c.node.Stats().Received.Group
	for _, p := range []string{"g-1", "g-2"} {
		if _, err := x.c.node.BroadcastGroup("room", []byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"g-3", "g-4"} {
		if n, err := x.a.node.BroadcastGroup("room", []byte(p)); err != nil || n != 1 {
			t.Fatalf("BroadcastGroup = %d, %v; want 1 local", n, err)
		}
	}
	x.exactlyOnce(t, []string{"a0", "b0"}, "g-1", "g-2")
	x.exactlyOnce(t, []string{"a0", "b0"}, "g-3", "g-4")
	// Unicast from A to b1, after which nothing of the group can be in flight
	// to the others (one origin's messages arrive in order).
	addr := x.b.node.Addr(x.cl["b1"].sess.ID())
	for _, p := range []string{"u-1", "u-2"} {
		if err := x.a.node.Send(addr, []byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	x.exactlyOnce(t, []string{"b1"}, "u-1", "u-2")
	for _, n := range []string{"a1", "b1", "c0", "c1"} {
		if x.cl[n].hasPrefix("g-") {
			t.Errorf("%s, not in the group, got a group message", n)
		}
	}
	for _, n := range []string{"a0", "a1", "b0", "c0", "c1"} {
		if x.cl[n].hasPrefix("u-") {
			t.Errorf("%s got another session's unicast", n)
		}
	}
	// C has no member of the group, so it has no subscription and NATS
	// never delivers the group's messages to it.
	if s := x.c.node.Stats(); s.Received.Group != gBefore || s.Groups != 0 {
		t.Errorf("C received %d group messages and holds %d group subscriptions; want none", s.Received.Group-gBefore, s.Groups)
	}

	// Send to itself goes through the local server.
	self := x.a.node.Addr(x.cl["a1"].sess.ID())
	if err := x.a.node.Send(self, []byte("self-1")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a1 to get its local unicast", func() bool { return x.cl["a1"].count("self-1") == 1 })

	// A stale session on another node is counted and dropped there; an
	// unknown node is refused at once.
	before := x.b.node.Stats().Dropped.NoTarget
	if err := x.a.node.Send(Addr{Node: "B", Session: 1}, []byte("stale")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "B to drop the unicast for a gone session", func() bool { return x.b.node.Stats().Dropped.NoTarget > before })
	if err := x.a.node.Send(Addr{Node: "Z", Session: 1}, []byte("x")); !errors.Is(err, ErrUnknownNode) {
		t.Errorf("Send to an unknown node: %v, want ErrUnknownNode", err)
	}

	// Members across nodes.
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	members, err := x.c.node.Members(ctx, "room")
	if err != nil {
		t.Fatal(err)
	}
	want := map[Addr]bool{x.a.node.Addr(x.cl["a0"].sess.ID()): true, x.b.node.Addr(x.cl["b0"].sess.ID()): true}
	if len(members) != 2 || !want[members[0]] || !want[members[1]] {
		t.Errorf("Members(room) = %v, want %v", members, want)
	}

	// The last member leaving unsubscribes, and presence follows.
	x.cl["a0"].sess.Leave("room")
	if s := x.a.node.Stats(); s.Groups != 0 {
		t.Errorf("A holds %d group subscriptions after its last member left", s.Groups)
	}
	for _, tn := range x.nodes() {
		waitUntil(t, "room to count one member on "+tn.node.ID(), func() bool { return tn.node.GroupCount("room") == 1 })
	}
}

func TestClusterNodeDown(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: starts three NATS servers")
	}
	x := startThree(t)
	x.cl["c0"].sess.Join("room")
	x.cl["c1"].sess.Join("room")
	for _, tn := range []*testNode{x.a, x.b} {
		waitUntil(t, "four room members", func() bool { return tn.node.GroupCount("room") == 4 })
	}
	// C dies without a word: no goodbye, its connection just goes.
	killed := time.Now()
	if err := x.c.node.leave(false); err != nil {
		t.Fatal(err)
	}
	for _, tn := range []*testNode{x.a, x.b} {
		waitUntil(t, "C declared down", func() bool { return len(tn.node.Nodes()) == 2 })
		if c := tn.node.GroupCount("room"); c != 2 {
			t.Errorf("%s counts %d room members after C went down, want 2", tn.node.ID(), c)
		}
	}
	// The bound: downAfter, plus one sweep, plus scheduling slack.
	if took, bound := time.Since(killed), testDownAfter+testDownAfter/4+time.Second; took > bound {
		t.Errorf("C declared down after %v, bound %v", took, bound)
	} else {
		t.Logf("C declared down after %v (downAfter %v)", took, testDownAfter)
	}
	if s := x.a.node.Stats(); s.NodesDown != 1 || s.NodesUp != 2 {
		t.Errorf("A: nodes down %d, up %d; want 1 and 2", s.NodesDown, s.NodesUp)
	}

	// C comes back under the same ID and is seen again.
	c2 := startNode(t, "C", x.nats[2].ClientURL())
	cl := c2.connect(t)
	cl.sess.Join("room")
	for _, tn := range []*testNode{x.a, x.b} {
		waitUntil(t, "C seen again", func() bool { return len(tn.node.Nodes()) == 3 && tn.node.GroupCount("room") == 3 })
	}

	// A graceful Close is seen at once (no wait for the silence bound).
	if err := x.b.node.Close(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "B gone after Close", func() bool { return len(x.a.node.Nodes()) == 2 })
}

func TestClusterNATSRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: restarts a NATS server")
	}
	x := startThree(t)
	old := x.nats[1]
	client, route := old.ClientURL(), old.RouteURL()
	old.Shutdown()
	waitUntil(t, "B to reconnect", func() bool {
		s := x.b.node.Stats()
		return s.Connected && s.Reconnects > 0
	})
	restarted, err := embed.Start(embed.Config{
		Listen:        hostPort(t, client),
		ClusterListen: hostPort(t, route),
		Routes:        []string{x.nats[0].RouteURL()},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(restarted.Shutdown)
	// Delivery resumes both ways: subscriptions came back on reconnection.
	for i := 0; ; i++ {
		p := fmt.Sprintf("after-%d", i)
		if _, err := x.a.node.Broadcast([]byte(p)); err != nil {
			t.Fatal(err)
		}
		if _, err := x.b.node.BroadcastGroup("room", []byte(p)); err != nil {
			t.Fatal(err)
		}
		if x.cl["b1"].hasPrefix("after-") && x.cl["a0"].count(p) > 0 && x.cl["c0"].hasPrefix("after-") {
			break
		}
		if i > 2000 {
			t.Fatal("delivery did not resume after the NATS server restarted")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, p := range []string{"r-1", "r-2"} {
		if _, err := x.b.node.Broadcast([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	x.exactlyOnce(t, []string{"a0", "a1", "b0", "b1", "c0", "c1"}, "r-1", "r-2")
}

func hostPort(t *testing.T, u string) string {
	t.Helper()
	for _, p := range []string{"nats://", "nats-route://"} {
		if len(u) > len(p) && u[:len(p)] == p {
			return u[len(p):]
		}
	}
	t.Fatalf("unexpected URL %q", u)
	return ""
}

func TestClusterPublishBuffer(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: stops a NATS server")
	}
	ns := startNATS(t, 1)
	const bound = 16 << 10
	tn := startNode(t, "A", ns[0].ClientURL(), WithPublishBuffer(bound), WithReconnectWait(time.Hour))
	cl := tn.connect(t)
	ns[0].Shutdown()
	waitUntil(t, "the node to see NATS gone", func() bool { return !tn.node.Stats().Connected })

	payload := make([]byte, 1024)
	failed, sent := 0, 200
	for i := range sent {
		copy(payload, fmt.Sprintf("out-%03d", i))
		n, err := tn.node.Broadcast(payload)
		if n != 1 {
			t.Fatalf("broadcast %d reached %d local sessions during the outage, want 1", i, n)
		}
		if err != nil {
			if !errors.Is(err, ErrPublish) || !errors.Is(err, nats.ErrReconnectBufExceeded) {
				t.Fatalf("broadcast %d: %v, want ErrPublish wrapping nats.ErrReconnectBufExceeded", i, err)
			}
			failed++
		}
	}
	buffered := sent - failed
	if buffered == 0 || buffered > bound/1024+1 { // nats.go checks the bound before a write
		t.Errorf("%d broadcasts buffered in a %d byte buffer (1 KiB each)", buffered, bound)
	}
	if d := tn.node.Stats().Dropped.Publish; d != uint64(failed) {
		t.Errorf("dropped publishes counted %d, want %d", d, failed)
	}
	// Local delivery kept working throughout.
	waitUntil(t, "every broadcast locally", func() bool { return cl.hasPrefix(fmt.Sprintf("out-%03d", sent-1)) })
	t.Logf("outage: %d of %d broadcasts buffered for other nodes, %d dropped with an error", buffered, sent, failed)
}

func TestClusterBadInput(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: starts a NATS server")
	}
	ns := startNATS(t, 1)
	tn := startNode(t, "A", ns[0].ClientURL())
	cl := tn.connect(t)
	cl.sess.Join("room")
	raw, err := nats.Connect(ns[0].ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	msg := func(k kind, origin string, tail ...byte) []byte {
		return append(appendHeader(nil, k, origin, time.Now().UnixNano()), tail...)
	}
	bad := []struct {
		subject string
		data    []byte
	}{
		{"netsys.all", []byte("hello")},
		{"netsys.all", nil},
		{"netsys.all", msg(kindBroadcast, "bad origin", 'x')},
		{"netsys.g.room", msg(kindGroup, "X", 0)},                      // truncated group name
		{"netsys.g.room", msg(kindGroup, "X", 0, 9, 'r')},              // group name past the end
		{"netsys.n.A", msg(kindUnicast, "X", 1, 2)},                    // truncated session ID
		{"netsys.hb", msg(kindHeartbeat, "X", 0, 0, 0, 1, 0, 0, 0, 9)}, // nine groups promised
		{"netsys.hb", msg(kindBye, "X", 1)},
		{"netsys.n.A", msg(kindMembersReply, "X", 0, 0, 0, 0)},
		{"netsys.all", append([]byte{wireVersion, 99, 1, 'X'}, make([]byte, 8)...)},
	}
	for _, b := range bad {
		if err := raw.Publish(b.subject, b.data); err != nil {
			t.Fatal(err)
		}
	}
	// A message for a gone session and one for a group with no local member
	// are well formed but have no target.
	gone := binary8(tn.srv.Session(cl.sess.ID()).ID() + 1<<32)
	_ = raw.Publish("netsys.n.A", msg(kindUnicast, "X", gone...))
	_ = raw.Publish("netsys.g.room", msg(kindGroup, "X", append([]byte{0, 5}, "other"...)...))
	// Then a good one, after which everything before has been handled.
	_ = raw.Publish("netsys.all", msg(kindBroadcast, "X", []byte("good")...))
	waitUntil(t, "the good message", func() bool { return cl.count("good") == 1 })
	s := tn.node.Stats()
	if s.Dropped.Undecodable != uint64(len(bad)) {
		t.Errorf("undecodable counted %d, want %d", s.Dropped.Undecodable, len(bad))
	}
	if s.Dropped.NoTarget != 2 {
		t.Errorf("no target counted %d, want 2", s.Dropped.NoTarget)
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if len(cl.got) != 1 {
		t.Errorf("the client got %q; want only the good message", cl.got)
	}
	if len(tn.node.Nodes()) != 1 {
		t.Errorf("bad heartbeats made nodes: %v", tn.node.Nodes())
	}
}

func binary8(v uint64) []byte {
	return []byte{byte(v >> 56), byte(v >> 48), byte(v >> 40), byte(v >> 32), byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}

// TestClusterJoinConn: a node on a connection the caller made, without
// NoEcho, gets its own broadcasts back from NATS and drops them by origin:
// its sessions get each broadcast once.
func TestClusterJoinConn(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: starts a NATS server")
	}
	ns := startNATS(t, 1)
	a := startNode(t, "A", ns[0].ClientURL())
	nc, err := nats.Connect(ns[0].ClientURL(), nats.ReconnectBufSize(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	b, err := New(WithNodeID("B"), WithHeartbeat(testHeartbeat, testDownAfter), WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := engine.NewServer(engine.HandlerFuncs{Connect: func(*session.Session) {}}, engine.WithGroupHook(b.GroupHook), engine.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer srv.Stop(context.Background())
	conn, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cb := &client{conn: conn}
	go cb.read()
	if err := b.JoinConn(srv, nc); err != nil {
		t.Fatal(err)
	}
	if err := b.JoinConn(srv, nc); !errors.Is(err, ErrAlreadyJoined) {
		t.Errorf("second JoinConn: %v, want ErrAlreadyJoined", err)
	}
	ca := a.connect(t)
	waitUntil(t, "both nodes live and B's session", func() bool {
		return len(a.node.Nodes()) == 2 && len(b.Nodes()) == 2 && srv.Count() == 1
	})
	for i := 0; !ca.hasPrefix("probe"); i++ {
		if _, err := b.Broadcast([]byte("probe")); err != nil {
			t.Fatal(err)
		}
		if i > 1000 {
			t.Fatal("B's broadcasts never reached A")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, p := range []string{"j-1", "j-2"} {
		if _, err := b.Broadcast([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "A's session to get j-2", func() bool { return ca.count("j-2") == 1 })
	waitUntil(t, "B to drop its own echoes", func() bool { return b.st.ownDropped.Load() >= 3 })
	for _, c := range []*client{ca, cb} {
		if c.count("j-1") != 1 || c.count("j-2") != 1 {
			t.Errorf("a session got j-1 %d times, j-2 %d times; want once each", c.count("j-1"), c.count("j-2"))
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if !nc.IsConnected() {
		t.Error("Close closed the caller's connection")
	}
	if _, err := b.Broadcast([]byte("x")); !errors.Is(err, ErrNotJoined) {
		t.Errorf("Broadcast after Close: %v, want ErrNotJoined", err)
	}
}
