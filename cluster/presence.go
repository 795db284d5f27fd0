package cluster

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/netsys-go/netsys/session"
)

// peer is another live node, as its last heartbeat described it.
type peer struct {
	id       string
	subject  string // its unicast and control subject
	lastSeen time.Time
	sessions int
	groups   map[string]int
}

// NodeInfo describes a live node.
type NodeInfo struct {
	ID       string        `json:"id"`
	Self     bool          `json:"self"`     // this node
	Sessions int           `json:"sessions"` // open sessions, as of its last heartbeat
	Groups   int           `json:"groups"`   // groups with members, as of its last heartbeat
	Age      time.Duration `json:"age_ns"`   // since its last heartbeat (0 for this node)
}

// heartbeats announces the node every heartbeat period (and soon after a
// group change or a reconnection), and declares down the nodes that were
// silent for longer than downAfter.
func (n *Node) heartbeats(j *joined) {
	defer n.wg.Done()
	sweep := min(n.o.heartbeat, n.o.downAfter/4)
	minGap := min(n.o.heartbeat/4, 50*time.Millisecond)
	tick := time.NewTicker(sweep)
	defer tick.Stop()
	var last time.Time
	var gap <-chan time.Time
	var reconnects uint64
	send := func() {
		last = time.Now()
		gap = nil
		if !j.nc.IsConnected() {
			return // heartbeats are not worth the publish buffer
		}
		_ = n.publishHeartbeat(j)
	}
	for {
		select {
		case <-n.done:
			return
		case <-n.kick:
			if since := time.Since(last); since >= minGap {
				send()
			} else if gap == nil {
				gap = time.After(minGap - since)
			}
		case <-gap:
			send()
		case now := <-tick.C:
			n.sweepPeers(now)
			if r := j.nc.Stats().Reconnects; r != reconnects || now.Sub(last) >= n.o.heartbeat-sweep/2 {
				reconnects = r
				send()
			}
		}
	}
}

// maxHeartbeat bounds a heartbeat's body, in bytes.
const maxHeartbeat = 512 << 10

// publishHeartbeat announces the node's sessions and group counts.
func (n *Node) publishHeartbeat(j *joined) error {
	groups := make(map[string]int)
	for _, g := range j.srv.Groups() {
		if c := j.srv.GroupLen(g); c > 0 && len(g) <= 0xffff {
			groups[g] = c
		}
	}
	// A heartbeat must fit in one NATS message, or the node would look dead:
	// past the bound, the groups that do not fit are left out of presence.
	limit := maxHeartbeat
	if mp := int(j.nc.MaxPayload()); mp > 0 {
		limit = min(limit, mp-headerLen(len(n.id))-64)
	}
	body, left := appendHeartbeat(nil, j.srv.Count(), groups, limit)
	if left > 0 && n.st.truncated.Add(1) == 1 {
		n.o.logger.Warn("cluster: heartbeat too large, groups left out of presence", "node", n.id, "groups", len(groups), "left_out", left)
	}
	return n.publish(j, n.subjHB, kindHeartbeat, "", 0, body)
}

// sawNode records a heartbeat from node id.
func (n *Node) sawNode(id string, hb heartbeat) {
	n.pmu.Lock()
	p := n.peers[id]
	isNew := p == nil
	if isNew {
		p = &peer{id: id, subject: n.subjNode + id}
		n.peers[id] = p
	}
	p.lastSeen = time.Now()
	p.sessions, p.groups = hb.sessions, hb.groups
	n.pmu.Unlock()
	if isNew {
		n.st.nodesUp.Add(1)
		n.o.logger.Info("cluster: node up", "node", n.id, "peer", id)
	}
}

// nodeGone removes node id from presence.
func (n *Node) nodeGone(id, why string) {
	n.pmu.Lock()
	_, ok := n.peers[id]
	delete(n.peers, id)
	n.pmu.Unlock()
	if ok {
		n.st.nodesDown.Add(1)
		n.o.logger.Info("cluster: node down", "node", n.id, "peer", id, "why", why)
	}
}

// sweepPeers declares down the nodes silent for longer than downAfter.
func (n *Node) sweepPeers(now time.Time) {
	var gone []string
	n.pmu.Lock()
	for id, p := range n.peers {
		if now.Sub(p.lastSeen) > n.o.downAfter {
			gone = append(gone, id)
		}
	}
	n.pmu.Unlock()
	for _, id := range gone {
		n.nodeGone(id, "silent")
	}
}

// Nodes returns the live nodes, this one first, then the others by ID.
func (n *Node) Nodes() []NodeInfo {
	self := NodeInfo{ID: n.id, Self: true}
	if j := n.j.Load(); j != nil {
		self.Sessions, self.Groups = j.srv.Count(), len(j.srv.Groups())
	}
	out := []NodeInfo{self}
	now := time.Now()
	n.pmu.Lock()
	for _, p := range n.peers {
		out = append(out, NodeInfo{ID: p.id, Sessions: p.sessions, Groups: len(p.groups), Age: now.Sub(p.lastSeen)})
	}
	n.pmu.Unlock()
	slices.SortFunc(out[1:], func(a, b NodeInfo) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// GroupCount returns the number of members of group across the cluster:
// this node's now, the others' as of their last heartbeats.
func (n *Node) GroupCount(group string) int {
	c := 0
	if j := n.j.Load(); j != nil {
		c = j.srv.GroupLen(group)
	}
	n.pmu.Lock()
	for _, p := range n.peers {
		c += p.groups[group]
	}
	n.pmu.Unlock()
	return c
}

// Count returns the number of sessions across the cluster: this node's now,
// the others' as of their last heartbeats.
func (n *Node) Count() int {
	c := 0
	if j := n.j.Load(); j != nil {
		c = j.srv.Count()
	}
	n.pmu.Lock()
	for _, p := range n.peers {
		c += p.sessions
	}
	n.pmu.Unlock()
	return c
}

// Members returns the addresses of group's members across the cluster: this
// node's, and those of every live node whose last heartbeat counted members,
// asked through NATS. It returns when every such node answered, or with
// what it has and an error wrapping ctx's when ctx ends first.
func (n *Node) Members(ctx context.Context, group string) ([]Addr, error) {
	j := n.j.Load()
	if j == nil {
		return nil, ErrNotJoined
	}
	var out []Addr
	j.srv.RangeGroup(group, func(s *session.Session) bool {
		out = append(out, n.Addr(s.ID()))
		return true
	})
	waiting := map[string]string{} // node ID -> its subject
	n.pmu.Lock()
	for id, p := range n.peers {
		if p.groups[group] > 0 {
			waiting[id] = p.subject
		}
	}
	n.pmu.Unlock()
	if len(waiting) == 0 {
		return out, nil
	}
	inbox := j.nc.NewRespInbox()
	sub, err := j.nc.SubscribeSync(inbox)
	if err != nil {
		return out, fmt.Errorf("cluster: members of %q: %w", group, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	for _, subj := range waiting {
		if err := n.publishTo(j, subj, inbox, kindMembersQuery, group, 0, nil); err != nil {
			return out, fmt.Errorf("cluster: members of %q: %w", group, err)
		}
	}
	for len(waiting) > 0 {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return out, fmt.Errorf("cluster: members of %q: %d nodes did not answer: %w", group, len(waiting), err)
		}
		var msg message
		if decode(m.Data, &msg) != nil || msg.kind != kindMembersReply {
			n.st.dropped[dropUndecodable].Add(1)
			continue
		}
		id := string(msg.origin)
		if _, ok := waiting[id]; !ok {
			continue
		}
		ids, err := decodeMembers(msg.body)
		if err != nil {
			n.st.dropped[dropUndecodable].Add(1)
			continue
		}
		n.st.received[kindMembersReply].Add(1)
		delete(waiting, id)
		for _, s := range ids {
			out = append(out, Addr{Node: id, Session: s})
		}
	}
	return out, nil
}

// answerMembers replies to a members query with the local members of group.
func (n *Node) answerMembers(j *joined, reply, group string) {
	if reply == "" {
		n.st.dropped[dropUndecodable].Add(1)
		return
	}
	var ids []uint64
	j.srv.RangeGroup(group, func(s *session.Session) bool {
		ids = append(ids, s.ID())
		return true
	})
	body := binary.BigEndian.AppendUint32(make([]byte, 0, 4+8*len(ids)), uint32(len(ids)))
	for _, id := range ids {
		body = binary.BigEndian.AppendUint64(body, id)
	}
	_ = n.publishTo(j, reply, "", kindMembersReply, "", 0, body)
}
