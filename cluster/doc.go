// Package cluster spans groups, broadcasts, session addressing and presence
// across many netsys servers (nodes), over NATS.
//
// Each engine.Server joins with a Node. A broadcast made on a node is
// delivered to its own sessions at once, with the engine's frame-once
// fan-out, and published as one NATS message that every other node fans out
// to its own sessions: one NATS message per broadcast per subject, never one
// per session. Subjects, with the prefix P (WithPrefix, default "netsys"):
//
//	P.all      broadcasts to every session; every node subscribes
//	P.g.<g>    broadcasts to group g; a node subscribes while it has local
//	           members of g (the first join subscribes, the last leave
//	           unsubscribes), following the server's group hook
//	P.n.<id>   unicast to a session of node id, and control (members queries)
//	P.hb       heartbeats (sessions and group counts) and goodbyes
//
// A session's cluster address is an Addr: the node's ID and the session's
// local ID, which the engine never reuses. Presence (Nodes, GroupCount,
// Count, Members) comes from heartbeats: a node silent for longer than the
// down bound (WithHeartbeat) is declared down and its sessions leave
// presence; a node that comes back is seen again.
//
// Guarantees: at most once. Each node delivers what another node published
// in the order that node published it (per origin), and drops its own
// messages if the broker echoes them. Nothing is retried: while NATS is
// unreachable, local delivery keeps working, publishes for other nodes are
// buffered up to WithPublishBuffer bytes and past that dropped with
// ErrPublish, and messages the others published meanwhile are lost. A
// message from the broker that does not decode, or whose session or group
// is gone, is counted (Stats) and dropped; it never reaches a handler.
//
// Use:
//
//	node, _ := cluster.New(cluster.WithNodeID("eu-1"))
//	srv, _ := engine.NewServer(h, engine.WithGroupHook(node.GroupHook))
//	_ = srv.Start(":9000")
//	_ = node.Join(srv, "nats://127.0.0.1:4222")
//	defer node.Close()
//	node.BroadcastGroup("room", msg) // every member on every node, once
//
// Package cluster/embed runs a NATS server in the process, so that nodes
// form a cluster with nothing else installed.
//
// Concurrency: every method of a Node is safe from any goroutine. A node
// handles what it receives on one goroutine of its own, in the order NATS
// delivered it, and announces itself on another.
package cluster
