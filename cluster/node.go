package cluster

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/netsys-go/netsys/engine"
	"github.com/netsys-go/netsys/pool"
)

// Node is one engine.Server's membership in a cluster. Make it with New,
// give its GroupHook to the server (engine.WithGroupHook), then Join. All
// methods are safe from any goroutine.
type Node struct {
	o        options
	id       string
	subjAll  string // broadcasts to every session
	subjHB   string // heartbeats
	subjSelf string // unicast and control for this node
	subjNode string // prefix of other nodes' subjects, with the trailing dot
	subjGrp  string // prefix of group subjects, with the trailing dot

	j atomic.Pointer[joined] // nil before Join and after Close

	mu      sync.Mutex           // guards groups and the fields below
	groups  map[string]*groupSub // group subjects subscribed, by group name
	joining bool                 // between the start and the end of Join
	closed  bool                 // Close was called
	fixed   []*nats.Subscription // the node's own, all and heartbeat subscriptions
	slowAcc uint64               // slow-consumer drops of unsubscribed subscriptions

	smu      sync.RWMutex      // guards subjects
	subjects map[string]string // group subjects to publish on, by group name

	pmu   sync.Mutex       // guards peers
	peers map[string]*peer // live nodes other than this one, by ID

	kick chan struct{} // asks for a heartbeat now (buffered, 1)
	done chan struct{} // closed by Close to stop the goroutines
	wg   sync.WaitGroup

	st counters
}

// joined is what Join sets up.
type joined struct {
	srv  *engine.Server
	nc   *nats.Conn
	own  bool // the node dialed nc and closes it
	msgs chan *nats.Msg
}

// groupSub is a subscribed group subject.
type groupSub struct {
	name    string
	subject string
	sub     *nats.Subscription
}

// New returns a node configured by opts. Give n.GroupHook to the server
// (engine.WithGroupHook(n.GroupHook)) so that the node follows its groups,
// then call Join.
func New(opts ...Option) (*Node, error) {
	o := buildOptions(opts)
	if o.nodeID == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		o.nodeID = hex.EncodeToString(b[:])
	}
	if !validID(o.nodeID) {
		return nil, fmt.Errorf("%w: %q", ErrBadNodeID, o.nodeID)
	}
	if !plainToken(o.prefix) {
		return nil, fmt.Errorf("cluster: bad prefix %q: want A-Z, a-z, 0-9, '-' and '_'", o.prefix)
	}
	n := &Node{
		o:        o,
		id:       o.nodeID,
		subjAll:  o.prefix + ".all",
		subjHB:   o.prefix + ".hb",
		subjSelf: o.prefix + ".n." + o.nodeID,
		subjNode: o.prefix + ".n.",
		subjGrp:  o.prefix + ".g.",
		groups:   make(map[string]*groupSub),
		subjects: make(map[string]string),
		peers:    make(map[string]*peer),
		kick:     make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	n.st.init()
	return n, nil
}

// ID returns the node's ID.
func (n *Node) ID() string { return n.id }

// Addr returns the cluster address of the local session with this ID.
func (n *Node) Addr(session uint64) Addr { return Addr{Node: n.id, Session: session} }

// Join dials the NATS server at url (a comma-separated list for several) and
// joins the cluster with srv. The connection reconnects forever, with a
// publish buffer bounded by WithPublishBuffer, and is closed by Close.
func (n *Node) Join(srv *engine.Server, url string) error {
	nc, err := nats.Connect(url,
		nats.Name("netsys-"+n.id),
		nats.NoEcho(),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(n.o.reconnectWait),
		nats.ReconnectJitter(n.o.reconnectWait/4, n.o.reconnectWait/4),
		nats.ReconnectBufSize(n.o.publishBuffer),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			n.o.logger.Warn("cluster: NATS disconnected", "node", n.id, "err", err)
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			n.o.logger.Info("cluster: NATS reconnected", "node", n.id, "url", c.ConnectedUrlRedacted())
			n.kickHeartbeat()
		}),
	)
	if err != nil {
		return fmt.Errorf("cluster: connect to NATS at %s: %w", url, err)
	}
	if err := n.join(srv, nc, true); err != nil {
		nc.Close()
		return err
	}
	return nil
}

// JoinConn joins the cluster with srv over nc, which the caller owns and
// closes after Close. Set nats.ReconnectBufSize on it to bound what is
// buffered while the broker is away (nats.go's default is 8 MiB), and
// nats.NoEcho to save the node dropping its own messages.
func (n *Node) JoinConn(srv *engine.Server, nc *nats.Conn) error {
	return n.join(srv, nc, false)
}

func (n *Node) join(srv *engine.Server, nc *nats.Conn, own bool) error {
	if srv == nil || nc == nil {
		return errors.New("cluster: Join needs a server and a NATS connection")
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return ErrNotJoined
	}
	if n.j.Load() != nil || n.joining {
		return ErrAlreadyJoined
	}
	n.joining = true
	defer func() { n.joining = false }()
	j := &joined{srv: srv, nc: nc, own: own, msgs: make(chan *nats.Msg, n.o.receiveQueue)}
	for _, subj := range []string{n.subjAll, n.subjSelf, n.subjHB} {
		sub, err := nc.ChanSubscribe(subj, j.msgs)
		if err != nil {
			n.unsubscribeLocked()
			return fmt.Errorf("cluster: subscribe %s: %w", subj, err)
		}
		n.fixed = append(n.fixed, sub)
	}
	n.j.Store(j)
	for _, g := range srv.Groups() {
		n.reconcileLocked(j, g)
	}
	if err := nc.FlushTimeout(5 * time.Second); err != nil {
		n.j.Store(nil)
		n.unsubscribeLocked()
		return fmt.Errorf("cluster: flush subscriptions: %w", err)
	}
	n.wg.Add(2)
	go n.receive(j)
	go n.heartbeats(j)
	n.kickHeartbeat()
	n.o.logger.Info("cluster: joined", "node", n.id, "nats", nc.ConnectedUrlRedacted())
	return nil
}

// GroupHook keeps the node's group subscriptions in step with the server's
// groups: pass it to engine.WithGroupHook. It subscribes to a group's subject
// when the group has local members and unsubscribes when it has none,
// reading the server's count again under the node's lock, so calls that
// arrive out of order do no harm.
func (n *Node) GroupHook(group string, _ int) {
	n.mu.Lock()
	j := n.j.Load()
	if j != nil {
		n.reconcileLocked(j, group)
	}
	n.mu.Unlock()
	if j != nil {
		n.kickHeartbeat()
	}
}

// reconcileLocked subscribes to or unsubscribes from group's subject so that
// the node is subscribed exactly while the group has local members.
func (n *Node) reconcileLocked(j *joined, group string) {
	members := j.srv.GroupLen(group)
	gs, ok := n.groups[group]
	switch {
	case members > 0 && !ok:
		subj := n.groupSubject(group)
		sub, err := j.nc.ChanSubscribe(subj, j.msgs)
		if err != nil {
			n.o.logger.Error("cluster: subscribe to group", "node", n.id, "group", group, "err", err)
			n.st.subscribeErrors.Add(1)
			return
		}
		n.groups[group] = &groupSub{name: group, subject: subj, sub: sub}
	case members == 0 && ok:
		n.dropSubLocked(gs.sub)
		delete(n.groups, group)
	}
}

// dropSubLocked unsubscribes sub, keeping its count of slow-consumer drops.
func (n *Node) dropSubLocked(sub *nats.Subscription) {
	if d, err := sub.Dropped(); err == nil {
		n.slowAcc += uint64(d)
	}
	_ = sub.Unsubscribe()
}

func (n *Node) unsubscribeLocked() {
	for _, sub := range n.fixed {
		n.dropSubLocked(sub)
	}
	n.fixed = nil
	for g, gs := range n.groups {
		n.dropSubLocked(gs.sub)
		delete(n.groups, g)
	}
}

// groupSubject returns the subject of group.
func (n *Node) groupSubject(group string) string { return n.subjGrp + groupToken(group) }

// maxSubjectCache bounds the cache of group subjects to publish on.
const maxSubjectCache = 4096

// publishSubject returns the subject of group from a cache, so that a
// broadcast to a group does not allocate it each time.
func (n *Node) publishSubject(group string) string {
	n.smu.RLock()
	s, ok := n.subjects[group]
	n.smu.RUnlock()
	if ok {
		return s
	}
	s = n.groupSubject(group)
	n.smu.Lock()
	if len(n.subjects) >= maxSubjectCache {
		clear(n.subjects)
	}
	n.subjects[group] = s
	n.smu.Unlock()
	return s
}

// Broadcast delivers payload to every session of the cluster: to the local
// ones at once (engine.Server.Broadcast) and to the others through one NATS
// message. It returns the number of local sessions it was queued for, and
// an error wrapping ErrPublish if the message for the other nodes was
// dropped (it is counted).
func (n *Node) Broadcast(payload []byte) (int, error) {
	j := n.j.Load()
	if j == nil {
		return 0, ErrNotJoined
	}
	local, err := j.srv.Broadcast(payload)
	if err != nil {
		return local, err
	}
	return local, n.publish(j, n.subjAll, kindBroadcast, "", 0, payload)
}

// BroadcastGroup delivers payload to every member of group on every node:
// to the local ones at once and to the others through one NATS message on
// the group's subject, which only nodes with members subscribe to. It
// returns the number of local members it was queued for, and an error
// wrapping ErrPublish if the message for the other nodes was dropped.
func (n *Node) BroadcastGroup(group string, payload []byte) (int, error) {
	j := n.j.Load()
	if j == nil {
		return 0, ErrNotJoined
	}
	local, err := j.srv.BroadcastGroup(group, payload)
	if err != nil {
		return local, err
	}
	return local, n.publish(j, n.publishSubject(group), kindGroup, group, 0, payload)
}

// Send delivers payload to the session at a: through the local server when a
// is on this node (engine.ErrUnknownSession if it is gone), else through
// one NATS message to its node (ErrUnknownNode if that node is not live).
// A remote session that is gone is found out by its node, which counts and
// drops the message: delivery is at most once.
func (n *Node) Send(a Addr, payload []byte) error {
	j := n.j.Load()
	if j == nil {
		return ErrNotJoined
	}
	if a.Node == n.id {
		return j.srv.Send(a.Session, payload)
	}
	n.pmu.Lock()
	p := n.peers[a.Node]
	var subj string
	if p != nil {
		subj = p.subject
	}
	n.pmu.Unlock()
	if p == nil {
		return fmt.Errorf("%w: %q", ErrUnknownNode, a.Node)
	}
	return n.publish(j, subj, kindUnicast, "", a.Session, payload)
}

// publish sends one message of kind k on subject.
func (n *Node) publish(j *joined, subject string, k kind, group string, session uint64, payload []byte) error {
	return n.publishTo(j, subject, "", k, group, session, payload)
}

// publishTo sends one message of kind k on subject, with a reply subject
// unless reply is empty.
func (n *Node) publishTo(j *joined, subject, reply string, k kind, group string, session uint64, payload []byte) error {
	b := pool.GetFrame()
	defer pool.PutFrame(b)
	buf := appendHeader(b.B[:0], k, n.id, time.Now().UnixNano())
	switch k {
	case kindGroup, kindMembersQuery:
		if len(group) > 0xffff {
			return fmt.Errorf("%w: group name of %d bytes", ErrPayloadTooLarge, len(group))
		}
		buf = appendGroupName(buf, group)
	case kindUnicast:
		buf = binary.BigEndian.AppendUint64(buf, session)
	}
	buf = append(buf, payload...)
	b.B = buf
	if limit := j.nc.MaxPayload(); limit > 0 && int64(len(buf)) > limit {
		n.st.dropped[dropPublish].Add(1)
		return fmt.Errorf("%w: %d bytes, NATS allows %d", ErrPayloadTooLarge, len(buf), limit)
	}
	var err error
	if reply == "" {
		err = j.nc.Publish(subject, buf)
	} else {
		err = j.nc.PublishRequest(subject, reply, buf)
	}
	if err != nil {
		n.st.dropped[dropPublish].Add(1)
		return fmt.Errorf("%w: %w", ErrPublish, err)
	}
	n.st.published[k].Add(1)
	return nil
}

// receive handles the messages of every subscription, in the order NATS
// delivered them, until Close.
func (n *Node) receive(j *joined) {
	defer n.wg.Done()
	for {
		select {
		case m := <-j.msgs:
			n.handle(j, m)
		case <-n.done:
			return
		}
	}
}

// handle decodes and acts on one message. Nothing it gets from the broker
// reaches a handler unless it decodes and its target exists.
func (n *Node) handle(j *joined, m *nats.Msg) {
	var msg message
	if decode(m.Data, &msg) != nil || !validID(string(msg.origin)) {
		n.st.dropped[dropUndecodable].Add(1)
		return
	}
	if string(msg.origin) == n.id {
		n.st.ownDropped.Add(1) // the broker echoed our own message
		return
	}
	n.st.received[msg.kind].Add(1)
	switch msg.kind {
	case kindBroadcast:
		c, err := j.srv.Broadcast(msg.body)
		n.delivered(c, err, msg.sentAt)
	case kindGroup:
		n.mu.Lock()
		gs := n.groups[string(msg.group)]
		n.mu.Unlock()
		if gs == nil {
			n.st.dropped[dropNoTarget].Add(1) // the last member left meanwhile
			return
		}
		c, err := j.srv.BroadcastGroup(gs.name, msg.body)
		n.delivered(c, err, msg.sentAt)
	case kindUnicast:
		if err := j.srv.Send(msg.session, msg.body); err != nil {
			n.delivered(0, err, msg.sentAt)
			return
		}
		n.delivered(1, nil, msg.sentAt)
	case kindHeartbeat:
		hb, err := decodeHeartbeat(msg.body)
		if err != nil {
			n.st.dropped[dropUndecodable].Add(1)
			return
		}
		n.sawNode(string(msg.origin), hb)
	case kindBye:
		n.nodeGone(string(msg.origin), "left")
	case kindMembersQuery:
		n.answerMembers(j, m.Reply, string(msg.group))
	default: // a members reply comes on its own inbox, never here
		n.st.dropped[dropUndecodable].Add(1)
	}
}

// delivered counts a message from another node that was queued to c local
// sessions, and records its delivery latency.
func (n *Node) delivered(c int, err error, sentAt int64) {
	if err != nil || c == 0 {
		n.st.dropped[dropNoTarget].Add(1)
		return
	}
	n.st.deliveries.Add(uint64(c))
	n.st.latency.record(time.Now().UnixNano() - sentAt)
}

func (n *Node) kickHeartbeat() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// Close leaves the cluster: it tells the other nodes (which drop this node's
// sessions from presence at once), unsubscribes, stops the node's goroutines
// and closes the NATS connection if Join dialed it. The server keeps running.
// Messages still queued for delivery are dropped.
func (n *Node) Close() error { return n.leave(true) }

// leave is Close; with bye false it says nothing to the others, which is a
// node that died, for tests.
func (n *Node) leave(bye bool) error {
	n.mu.Lock()
	j := n.j.Load()
	if j == nil || n.closed {
		n.closed = true
		n.mu.Unlock()
		return ErrNotJoined
	}
	n.closed = true
	if bye && j.nc.IsConnected() {
		_ = n.publish(j, n.subjHB, kindBye, "", 0, nil)
	}
	n.unsubscribeLocked()
	n.j.Store(nil)
	n.mu.Unlock()
	if bye {
		_ = j.nc.FlushTimeout(time.Second)
	}
	close(n.done)
	n.wg.Wait()
	if j.own || !bye {
		j.nc.Close()
	}
	n.o.logger.Info("cluster: left", "node", n.id)
	return nil
}

// Flush waits until the NATS server has processed everything the node sent
// so far (subscriptions included), or ctx ends.
func (n *Node) Flush(ctx context.Context) error {
	j := n.j.Load()
	if j == nil {
		return ErrNotJoined
	}
	return j.nc.FlushWithContext(ctx)
}
