package cluster

import (
	"log/slog"
	"time"
)

// Defaults of the options.
const (
	// DefaultPrefix is the first token of every subject the cluster uses.
	DefaultPrefix = "netsys"
	// DefaultHeartbeat is how often a node announces itself.
	DefaultHeartbeat = time.Second
	// DefaultDownAfter is how long a node may stay silent before the others
	// declare it down.
	DefaultDownAfter = 3 * time.Second
	// DefaultPublishBuffer is the bound, in bytes, on what a node buffers for
	// other nodes while NATS is unreachable (nats.go's ReconnectBufSize,
	// whose own default is 8 MiB).
	DefaultPublishBuffer = 1 << 20
	// DefaultReceiveQueue is how many NATS messages may wait for the node's
	// delivery goroutine before further ones are dropped (slow consumer).
	DefaultReceiveQueue = 8192
	// DefaultReconnectWait is the pause between reconnection attempts to the
	// same NATS server.
	DefaultReconnectWait = 250 * time.Millisecond
)

// Option configures a Node.
type Option func(*options)

type options struct {
	prefix        string
	nodeID        string
	heartbeat     time.Duration
	downAfter     time.Duration
	publishBuffer int
	receiveQueue  int
	reconnectWait time.Duration
	logger        *slog.Logger
}

func buildOptions(opts []Option) options {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.prefix == "" {
		o.prefix = DefaultPrefix
	}
	if o.heartbeat <= 0 {
		o.heartbeat = DefaultHeartbeat
	}
	if o.downAfter <= 0 {
		o.downAfter = max(DefaultDownAfter, 3*o.heartbeat)
	}
	if o.publishBuffer <= 0 {
		o.publishBuffer = DefaultPublishBuffer
	}
	if o.receiveQueue <= 0 {
		o.receiveQueue = DefaultReceiveQueue
	}
	if o.reconnectWait <= 0 {
		o.reconnectWait = DefaultReconnectWait
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	return o
}

// WithPrefix sets the first subject token; nodes of one cluster share it, and
// clusters on one NATS system are kept apart by it. It must be a valid
// subject token (no spaces, '.', '*' or '>'). Default DefaultPrefix.
func WithPrefix(p string) Option { return func(o *options) { o.prefix = p } }

// WithNodeID sets the node's ID: 1 to 64 characters of A-Z, a-z, 0-9, '-'
// and '_'. Default: 16 random hex digits. A node restarted with the same ID
// is the same node to the others.
func WithNodeID(id string) Option { return func(o *options) { o.nodeID = id } }

// WithHeartbeat sets how often the node announces itself (every) and how
// long the others wait for a heartbeat before declaring a node down
// (downAfter; zero: the larger of DefaultDownAfter and three heartbeats).
// Each node uses its own downAfter for the others.
func WithHeartbeat(every, downAfter time.Duration) Option {
	return func(o *options) { o.heartbeat, o.downAfter = every, downAfter }
}

// WithPublishBuffer bounds, in bytes, what the node buffers for other nodes
// while NATS is unreachable; past it, publishes fail with ErrPublish and are
// counted as dropped. It is set as nats.go's ReconnectBufSize on the
// connection the node dials (a connection given to JoinConn keeps its own
// setting). Default DefaultPublishBuffer.
func WithPublishBuffer(bytes int) Option { return func(o *options) { o.publishBuffer = bytes } }

// WithReceiveQueue sets how many received NATS messages may wait for the
// node's delivery goroutine; past it, NATS drops them and the node counts
// them as slow-consumer drops. Default DefaultReceiveQueue.
func WithReceiveQueue(n int) Option { return func(o *options) { o.receiveQueue = n } }

// WithReconnectWait sets the pause between reconnection attempts of the
// connection the node dials. Default DefaultReconnectWait.
func WithReconnectWait(d time.Duration) Option { return func(o *options) { o.reconnectWait = d } }

// WithLogger sets the logger for membership and connection events.
// Default slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }
