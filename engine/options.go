package engine

import (
	"log/slog"
	"runtime"
	"time"

	"github.com/netsys-go/netsys/codec"
	"github.com/netsys-go/netsys/metrics"
)

// Defaults of the options. A zero or negative value given to an option means
// its default.
const (
	DefaultMaxFrameSize   = codec.DefaultMaxFrame // 4 MiB
	DefaultWriteHighWater = 8 << 20               // 8 MiB of unsent bytes per session
	DefaultMaxConns       = 100_000
)

// Option configures a Server or a Client. Options that only make sense on one
// side say so and are ignored by the other.
type Option func(*options)

type options struct {
	codec          codec.Codec
	maxFrame       int
	maxConns       int
	idleTimeout    time.Duration
	writeHighWater int
	loops          int
	noDelay        bool
	keepAlive      time.Duration
	recvBuf        int
	sendBuf        int
	reusePort      bool
	monitor        *metrics.Monitor
	name           string
	logger         *slog.Logger
	workers        int
	workerQueue    int
	workerOverflow Overflow
}

func buildOptions(opts []Option) (options, error) {
	o := options{noDelay: true}
	for _, opt := range opts {
		opt(&o)
	}
	if o.maxFrame <= 0 {
		o.maxFrame = DefaultMaxFrameSize
	}
	if o.codec == nil {
		c, err := codec.NewLengthField(codec.LengthFieldConfig{Size: 4, Strip: 4, MaxFrame: o.maxFrame + 4})
		if err != nil {
			return o, err
		}
		o.codec = c
	}
	if o.maxConns <= 0 {
		o.maxConns = DefaultMaxConns
	}
	if o.writeHighWater <= 0 {
		o.writeHighWater = DefaultWriteHighWater
	}
	if o.loops <= 0 {
		o.loops = runtime.GOMAXPROCS(0)
	}
	if o.workerQueue <= 0 {
		o.workerQueue = DefaultWorkerQueue
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	return o, nil
}

// WithCodec sets the frame codec. Default: the project wire format, a 4-byte
// big-endian payload length then the payload (codec.LengthFieldConfig{Size: 4,
// Strip: 4}), limited by WithMaxFrameSize.
func WithCodec(c codec.Codec) Option { return func(o *options) { o.codec = c } }

// WithMaxFrameSize bounds one message's payload, inbound and outbound. A peer
// that announces or sends a bigger one is closed with codec.ErrFrameTooLarge;
// Send of a bigger one fails with it. With a custom codec, the codec's own
// limit applies to decoding and this one also bounds bytes buffered without a
// complete frame. Default 4 MiB.
func WithMaxFrameSize(n int) Option { return func(o *options) { o.maxFrame = n } }

// WithMaxConns limits the server's concurrent sessions; a connection over the
// limit is closed at once and counted as rejected. Default 100,000. Server only.
func WithMaxConns(n int) Option { return func(o *options) { o.maxConns = n } }

// WithIdleTimeout closes a session that has not delivered a complete message
// for d, with ErrIdleTimeout. Default 0: off.
func WithIdleTimeout(d time.Duration) Option { return func(o *options) { o.idleTimeout = d } }

// WithWriteHighWater closes a session whose unsent bytes (queued by the engine
// and buffered by the socket layer) pass n, with ErrSlowConsumer, so one
// stalled reader cannot grow memory without bound. Default 8 MiB.
func WithWriteHighWater(n int) Option { return func(o *options) { o.writeHighWater = n } }

// WithLoops sets the number of event loops. Default GOMAXPROCS.
func WithLoops(n int) Option { return func(o *options) { o.loops = n } }

// WithNoDelay sets TCP_NODELAY on every connection. Default true.
func WithNoDelay(on bool) Option { return func(o *options) { o.noDelay = on } }

// WithKeepAlive enables TCP keep-alive with period d (idle time and probe
// interval). Default 0: the system default (off on Linux).
func WithKeepAlive(d time.Duration) Option { return func(o *options) { o.keepAlive = d } }

// WithSocketBuffers sets SO_RCVBUF and SO_SNDBUF on every connection (the
// kernel may round or double them). Default 0: the system defaults.
func WithSocketBuffers(recv, send int) Option {
	return func(o *options) { o.recvBuf, o.sendBuf = recv, send }
}

// WithReusePort sets SO_REUSEPORT on the listener. Default false. Server only.
func WithReusePort(on bool) Option { return func(o *options) { o.reusePort = on } }

// WithMonitor records this server's or client's metrics into m, which may be
// shared by several servers and clients. Default: a private monitor, see
// Server.Monitor.
func WithMonitor(m *metrics.Monitor) Option { return func(o *options) { o.monitor = m } }

// WithName names the server or client in metrics and logs. Default "server" or
// "client".
func WithName(name string) Option { return func(o *options) { o.name = name } }

// WithLogger sets the structured logger for lifecycle events, rejected peers and
// handler panics. Default slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }
