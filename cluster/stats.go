package cluster

import (
	"sync"
	"sync/atomic"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/prometheus/client_golang/prometheus"
)

// Why a message was dropped.
const (
	dropUndecodable = iota // not a netsys cluster message, or malformed
	dropNoTarget           // its session is gone, or its group has no local members
	dropPublish            // could not be handed to NATS (closed, buffer full, too large)
	numDrops
)

// counters are a node's running figures.
type counters struct {
	published       [numKinds]atomic.Uint64
	received        [numKinds]atomic.Uint64
	dropped         [numDrops]atomic.Uint64
	ownDropped      atomic.Uint64 // own messages echoed back by the broker
	deliveries      atomic.Uint64 // local session deliveries of other nodes' messages
	subscribeErrors atomic.Uint64
	nodesUp         atomic.Uint64 // nodes seen (again)
	nodesDown       atomic.Uint64 // nodes declared down or gone
	truncated       atomic.Uint64 // heartbeats that left groups out
	latency         latency
}

func (c *counters) init() { c.latency.h = hdrhistogram.New(1, 60_000_000, 3) }

// latency is a histogram of cross-node delivery latencies in microseconds.
type latency struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
}

func (l *latency) record(ns int64) {
	us := max(ns/1000, 1)
	l.mu.Lock()
	_ = l.h.RecordValue(min(us, l.h.HighestTrackableValue()))
	l.mu.Unlock()
}

// Kinds counts messages by kind.
type Kinds struct {
	Broadcast uint64 `json:"broadcast"` // to every session
	Group     uint64 `json:"group"`     // to a group's members
	Unicast   uint64 `json:"unicast"`   // to one session
	Heartbeat uint64 `json:"heartbeat"` // presence announcements, and goodbyes
	Control   uint64 `json:"control"`   // members queries and replies
}

func kindsOf(a *[numKinds]atomic.Uint64) Kinds {
	return Kinds{
		Broadcast: a[kindBroadcast].Load(),
		Group:     a[kindGroup].Load(),
		Unicast:   a[kindUnicast].Load(),
		Heartbeat: a[kindHeartbeat].Load() + a[kindBye].Load(),
		Control:   a[kindMembersQuery].Load() + a[kindMembersReply].Load(),
	}
}

// Dropped counts messages dropped, by reason.
type Dropped struct {
	// Undecodable: messages on the cluster's subjects that did not decode.
	Undecodable uint64 `json:"undecodable"`
	// NoTarget: messages for a session that is gone, or a group with no
	// local members left.
	NoTarget uint64 `json:"no_target"`
	// Publish: messages for other nodes that NATS did not take (connection
	// closed, publish buffer full during an outage, too large).
	Publish uint64 `json:"publish"`
	// SlowConsumer: messages NATS dropped because the receive queue was full.
	SlowConsumer uint64 `json:"slow_consumer"`
}

// Latency summarises cross-node delivery latency, in microseconds: from
// the origin's publish (its wall clock) to the local fan-out having queued
// the message for every local target (this node's wall clock).
type Latency struct {
	Count uint64  `json:"count"`
	P50   float64 `json:"p50_us"`
	P90   float64 `json:"p90_us"`
	P99   float64 `json:"p99_us"`
	Max   float64 `json:"max_us"`
}

// Stats is a snapshot of a node's figures since New.
type Stats struct {
	Node       string  `json:"node"`
	Connected  bool    `json:"connected"`  // to NATS, now
	Reconnects uint64  `json:"reconnects"` // NATS reconnections
	Published  Kinds   `json:"published"`  // NATS messages published
	Received   Kinds   `json:"received"`   // NATS messages received from other nodes
	Deliveries uint64  `json:"deliveries"` // local session deliveries of those messages
	Dropped    Dropped `json:"dropped"`
	Groups     int     `json:"groups"`     // group subjects subscribed now
	NodesUp    int     `json:"nodes_up"`   // live nodes, this one included
	NodesSeen  uint64  `json:"nodes_seen"` // times a node came up
	NodesDown  uint64  `json:"nodes_down"` // times a node was declared down or left
	// HeartbeatsTruncated counts heartbeats too large for one NATS message,
	// which left some groups out of presence.
	HeartbeatsTruncated uint64     `json:"heartbeats_truncated"`
	Nodes               []NodeInfo `json:"nodes"` // the live nodes, this one first
	Latency             Latency    `json:"latency"`
}

// Stats returns a snapshot of the node's figures.
func (n *Node) Stats() Stats {
	s := Stats{
		Node:       n.id,
		Published:  kindsOf(&n.st.published),
		Received:   kindsOf(&n.st.received),
		Deliveries: n.st.deliveries.Load(),
		Dropped: Dropped{
			Undecodable: n.st.dropped[dropUndecodable].Load(),
			NoTarget:    n.st.dropped[dropNoTarget].Load(),
			Publish:     n.st.dropped[dropPublish].Load(),
		},
		NodesSeen: n.st.nodesUp.Load(),
		NodesDown: n.st.nodesDown.Load(),

		HeartbeatsTruncated: n.st.truncated.Load(),
		Nodes:               n.Nodes(),
	}
	s.NodesUp = len(s.Nodes)
	if j := n.j.Load(); j != nil {
		s.Connected = j.nc.IsConnected()
		s.Reconnects = j.nc.Stats().Reconnects
	}
	n.mu.Lock()
	s.Groups = len(n.groups)
	slow := n.slowAcc
	for _, sub := range n.fixed {
		if d, err := sub.Dropped(); err == nil {
			slow += uint64(d)
		}
	}
	for _, gs := range n.groups {
		if d, err := gs.sub.Dropped(); err == nil {
			slow += uint64(d)
		}
	}
	n.mu.Unlock()
	s.Dropped.SlowConsumer = slow
	l := &n.st.latency
	l.mu.Lock()
	s.Latency = Latency{
		Count: uint64(l.h.TotalCount()),
		P50:   float64(l.h.ValueAtQuantile(50)),
		P90:   float64(l.h.ValueAtQuantile(90)),
		P99:   float64(l.h.ValueAtQuantile(99)),
		Max:   float64(l.h.Max()),
	}
	l.mu.Unlock()
	return s
}

// Prometheus descriptors; every series carries node="<id>".
var (
	descPublished = prometheus.NewDesc("netsys_cluster_published_total",
		"NATS messages published, by kind.", []string{"node", "kind"}, nil)
	descReceived = prometheus.NewDesc("netsys_cluster_received_total",
		"NATS messages received from other nodes, by kind.", []string{"node", "kind"}, nil)
	descDeliveries = prometheus.NewDesc("netsys_cluster_deliveries_total",
		"Local session deliveries of other nodes' messages.", []string{"node"}, nil)
	descDropped = prometheus.NewDesc("netsys_cluster_dropped_total",
		"Messages dropped, by reason.", []string{"node", "reason"}, nil)
	descNodesUp = prometheus.NewDesc("netsys_cluster_nodes_up",
		"Live nodes, this one included.", []string{"node"}, nil)
	descConnected = prometheus.NewDesc("netsys_cluster_connected",
		"1 while connected to NATS.", []string{"node"}, nil)
	descHeartbeatAge = prometheus.NewDesc("netsys_cluster_heartbeat_age_seconds",
		"Seconds since each live node's last heartbeat.", []string{"node", "peer"}, nil)
	descLatency = prometheus.NewDesc("netsys_cluster_delivery_latency_seconds",
		"Cross-node delivery latency, from publish on the origin to local fan-out.", []string{"node"}, nil)
)

// Collector returns a prometheus.Collector of the node's figures, to be
// registered in the application's registry: reg.MustRegister(n.Collector()).
// Several nodes' collectors may share a registry (the node label differs).
func (n *Node) Collector() prometheus.Collector { return collector{n} }

type collector struct{ n *Node }

// Describe implements prometheus.Collector.
func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPublished, descReceived, descDeliveries, descDropped,
		descNodesUp, descConnected, descHeartbeatAge, descLatency} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	n := c.n
	s := n.Stats()
	kinds := func(d *prometheus.Desc, k Kinds) {
		for _, kv := range []struct {
			name string
			v    uint64
		}{{"broadcast", k.Broadcast}, {"group", k.Group}, {"unicast", k.Unicast}, {"heartbeat", k.Heartbeat}, {"control", k.Control}} {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(kv.v), n.id, kv.name)
		}
	}
	kinds(descPublished, s.Published)
	kinds(descReceived, s.Received)
	ch <- prometheus.MustNewConstMetric(descDeliveries, prometheus.CounterValue, float64(s.Deliveries), n.id)
	for reason, v := range map[string]uint64{"undecodable": s.Dropped.Undecodable, "no_target": s.Dropped.NoTarget,
		"publish": s.Dropped.Publish, "slow_consumer": s.Dropped.SlowConsumer} {
		ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(v), n.id, reason)
	}
	ch <- prometheus.MustNewConstMetric(descNodesUp, prometheus.GaugeValue, float64(s.NodesUp), n.id)
	connected := 0.0
	if s.Connected {
		connected = 1
	}
	ch <- prometheus.MustNewConstMetric(descConnected, prometheus.GaugeValue, connected, n.id)
	for _, p := range s.Nodes {
		if !p.Self {
			ch <- prometheus.MustNewConstMetric(descHeartbeatAge, prometheus.GaugeValue, p.Age.Seconds(), n.id, p.ID)
		}
	}
	l := &n.st.latency
	l.mu.Lock()
	q := make(map[float64]float64, 5)
	for _, p := range []float64{0.5, 0.9, 0.99, 0.999} {
		q[p] = float64(l.h.ValueAtQuantile(p*100)) / 1e6
	}
	count := uint64(l.h.TotalCount())
	sum := l.h.Mean() * float64(count) / 1e6
	l.mu.Unlock()
	ch <- prometheus.MustNewConstSummary(descLatency, count, sum, q, n.id)
}
