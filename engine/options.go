package engine

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/netsys-go/netsys/codec"
	"github.com/netsys-go/netsys/metrics"
)

// Defaults of the options. A zero or negative value given to an option means
// its default. DefaultMaxConns and DefaultMemoryLimit depend on the machine.
const (
	DefaultMaxFrameSize   = codec.DefaultMaxFrame // 4 MiB
	DefaultWriteHighWater = 8 << 20               // 8 MiB of unsent bytes per session
	DefaultLinger         = 5 * time.Second
	DefaultFrameTimeout   = 30 * time.Second
	DefaultConnectTimeout = 10 * time.Second
)

// Option configures a Server, a Client (Dial) or a Pool (NewPool). An option
// that does not apply to the constructor it is given to, or a value out of
// range, makes the constructor fail with an error wrapping ErrBadOption that
// names the option. docs/tuning.md lists which options apply where.
type Option func(*options)

// scope says which constructors an option applies to.
type scope uint8

const (
	forServer scope = 1 << iota
	forClient
	forPool
	forClients = forClient | forPool
	forAll     = forServer | forClient | forPool
)

func (sc scope) String() string {
	switch sc {
	case forServer:
		return "NewServer"
	case forClient:
		return "Dial"
	case forPool:
		return "NewPool"
	}
	return "this constructor"
}

// use records that option name was given; it applies to the constructors in sc.
func (o *options) use(name string, sc scope) {
	if o.scope&sc == 0 {
		o.errs = append(o.errs, fmt.Errorf("%w: %s does not apply to %v", ErrBadOption, name, o.scope))
	}
}

// notNegative records an error for option name if v is negative.
func (o *options) notNegative(name string, v int64) {
	if v < 0 {
		o.bad(name, fmt.Sprintf("negative value %d (0 means the default)", v))
	}
}

// notNegativeDuration records an error for option name if d is negative.
func (o *options) notNegativeDuration(name string, d time.Duration) {
	if d < 0 {
		o.bad(name, fmt.Sprintf("negative duration %v (0 means the default)", d))
	}
}

// bad records an error for option name.
func (o *options) bad(name, what string) {
	o.errs = append(o.errs, fmt.Errorf("%w: %s: %s", ErrBadOption, name, what))
}

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
	linger         time.Duration
	frameTimeout   time.Duration
	memoryLimit    int64
	handler        Handler                         // client only
	connectTimeout time.Duration                   // client only
	reconnect      *Reconnect                      // client only; nil: no reconnecting
	sendQueue      int                             // client only
	poolTimeout    time.Duration                   // pool only
	groupHook      func(group string, members int) // server only
	tls            *tls.Config                     // nil: plaintext
	hsTimeout      time.Duration
	maxHandshakes  int
	hsQueue        int

	scope scope   // the constructor the options are for
	errs  []error // misuse found while applying them
}

// checkPayload returns codec.ErrFrameTooLarge, wrapped with the sizes, for a
// payload of n bytes over the maximum frame size; nil otherwise. It is small
// enough to inline into every send; the error is built out of line.
func (o *options) checkPayload(n int) error {
	if n > o.maxFrame {
		return o.payloadTooLarge(n)
	}
	return nil
}

func (o *options) payloadTooLarge(n int) error {
	return fmt.Errorf("%w: payload of %d bytes, limit %d", codec.ErrFrameTooLarge, n, o.maxFrame)
}

func buildOptions(sc scope, opts []Option) (options, error) {
	o := options{noDelay: true, scope: sc}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if len(o.errs) > 0 {
		return o, errors.Join(o.errs...)
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
		o.maxConns = DefaultMaxConns()
	}
	if o.memoryLimit <= 0 {
		o.memoryLimit = DefaultMemoryLimit()
	}
	if o.frameTimeout == 0 {
		o.frameTimeout = DefaultFrameTimeout
	}
	if o.writeHighWater <= 0 {
		o.writeHighWater = DefaultWriteHighWater
	}
	if o.loops <= 0 {
		o.loops = runtime.GOMAXPROCS(0)
	}
	if o.linger <= 0 {
		o.linger = DefaultLinger
	}
	if o.workerQueue <= 0 {
		o.workerQueue = DefaultWorkerQueue
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	if o.connectTimeout <= 0 {
		o.connectTimeout = DefaultConnectTimeout
	}
	return o, nil
}

// WithCodec sets the frame codec. Default: the project wire format, a 4-byte
// big-endian payload length then the payload (codec.LengthFieldConfig{Size: 4,
// Strip: 4}), limited by WithMaxFrameSize.
func WithCodec(c codec.Codec) Option {
	return func(o *options) { o.use("WithCodec", forAll); o.codec = c }
}

// WithMaxFrameSize bounds one message's payload, inbound and outbound. A peer
// that announces or sends a bigger one is closed with codec.ErrFrameTooLarge;
// Send of a bigger one fails with it. With a custom codec, the codec's own
// limit applies to decoding and this one also bounds bytes buffered without a
// complete frame. Default 4 MiB.
func WithMaxFrameSize(n int) Option {
	return func(o *options) {
		o.use("WithMaxFrameSize", forAll)
		o.notNegative("WithMaxFrameSize", int64(n))
		o.maxFrame = n
	}
}

// WithMaxConns limits the server's concurrent sessions; a connection over the
// limit is closed at once and counted as rejected. Default DefaultMaxConns():
// the open-file limit less a tenth of it. Server only.
func WithMaxConns(n int) Option {
	return func(o *options) {
		o.use("WithMaxConns", forServer)
		o.notNegative("WithMaxConns", int64(n))
		o.maxConns = n
	}
}

// WithIdleTimeout closes a session that has not delivered a complete message
// for d, with ErrIdleTimeout. Default 0: off.
func WithIdleTimeout(d time.Duration) Option {
	return func(o *options) {
		o.use("WithIdleTimeout", forServer)
		o.notNegativeDuration("WithIdleTimeout", d)
		o.idleTimeout = d
	}
}

// WithWriteHighWater closes a session whose unsent bytes (queued by the engine
// and buffered by the socket layer) pass n, with ErrSlowConsumer, so one
// stalled reader cannot grow memory without bound. Default 8 MiB.
func WithWriteHighWater(n int) Option {
	return func(o *options) {
		o.use("WithWriteHighWater", forAll)
		o.notNegative("WithWriteHighWater", int64(n))
		o.writeHighWater = n
	}
}

// WithLinger bounds how long a closing session keeps writing, off the event
// loop, what its peer has not taken yet (after a half-close, an application
// Close, an idle timeout or a codec error) while the peer reads it; then the
// write side is shut down after the last byte. A peer that has not taken
// everything when the linger ends gets a reset, never a clean end of stream
// after part of a frame. Slow consumers, memory-limit closes and Stop (which
// drains first) never linger: they reset what is left. Default 5 s.
func WithLinger(d time.Duration) Option {
	return func(o *options) { o.use("WithLinger", forAll); o.notNegativeDuration("WithLinger", d); o.linger = d }
}

// WithFrameTimeout closes a session, with ErrFrameTimeout, when a frame its
// peer began does not complete within d, so that a peer trickling a frame's
// bytes cannot hold its memory for good. Default DefaultFrameTimeout (30 s);
// negative: off. Server only.
func WithFrameTimeout(d time.Duration) Option {
	return func(o *options) { o.use("WithFrameTimeout", forServer); o.frameTimeout = d }
}

// WithMemoryLimit sets the budget, in bytes, for what the server buffers for
// its peers: partial inbound frames plus outbound bytes the sockets have not
// taken, across all sessions. When it is reached the session that would pass
// it while holding a large share (64 KiB or more) is closed with
// ErrMemoryLimit, and the sessions holding the most are closed until the
// total is under the limit again; sessions of small messages keep working.
// Default DefaultMemoryLimit(): a sixteenth of the machine's memory, between
// 64 MiB and 2 GiB.
func WithMemoryLimit(n int64) Option {
	return func(o *options) {
		o.use("WithMemoryLimit", forAll)
		o.notNegative("WithMemoryLimit", n)
		o.memoryLimit = n
	}
}

// WithLoops sets the number of event loops. Default GOMAXPROCS. A Client
// made by Dial always has one loop; a Pool has at most one per client.
func WithLoops(n int) Option {
	return func(o *options) {
		o.use("WithLoops", forServer|forPool)
		o.notNegative("WithLoops", int64(n))
		o.loops = n
	}
}

// WithNoDelay sets TCP_NODELAY on every connection. Default true.
func WithNoDelay(on bool) Option {
	return func(o *options) { o.use("WithNoDelay", forAll); o.noDelay = on }
}

// WithKeepAlive enables TCP keep-alive with period d (idle time and probe
// interval). Default 0: the system default (off on Linux).
func WithKeepAlive(d time.Duration) Option {
	return func(o *options) {
		o.use("WithKeepAlive", forAll)
		o.notNegativeDuration("WithKeepAlive", d)
		o.keepAlive = d
	}
}

// WithSocketBuffers sets SO_RCVBUF and SO_SNDBUF on every TCP connection
// (the kernel may round or double them). They are set before the handshake,
// as tcp(7) asks: on the listening socket, whose buffers accepted connections
// inherit, and on a client's socket before it connects. Default 0: the
// system defaults.
func WithSocketBuffers(recv, send int) Option {
	return func(o *options) {
		o.use("WithSocketBuffers", forAll)
		o.notNegative("WithSocketBuffers", int64(min(recv, send)))
		o.recvBuf, o.sendBuf = recv, send
	}
}

// WithReusePort sets SO_REUSEPORT on the listener. Default false. Server only.
func WithReusePort(on bool) Option {
	return func(o *options) { o.use("WithReusePort", forServer); o.reusePort = on }
}

// WithMonitor records this server's or client's metrics into m, which may be
// shared by several servers and clients. Sources with the same kind and name
// add up to one entry, so give each its own WithName to tell them apart.
// Default: a private monitor, see Server.Monitor and Client.Monitor.
func WithMonitor(m *metrics.Monitor) Option {
	return func(o *options) { o.use("WithMonitor", forAll); o.monitor = m }
}

// WithName names the server or client in metrics and logs. Default "server" or
// "client"; the clients of a Pool are named after it, "client/0", "client/1"...
func WithName(name string) Option {
	return func(o *options) { o.use("WithName", forAll); o.name = name }
}

// WithLogger sets the structured logger the server or client writes to.
// Nothing is logged per message. What is logged, by level:
//   - Error: a handler panic, with its stack (the session is closed); the
//     server stopping because it can no longer accept; the engine's write
//     waiter failing; gnet's own errors.
//   - Warn: a session closed for a limit, a timeout or bad input (frame
//     timeout, slow consumer, memory limit, frame too large, bad length, queue
//     overflow, handler panic); a connection refused at the session limit; an
//     accept failure (retried); a socket option that could not be set; a
//     client giving up reconnecting; gnet's warnings.
//   - Info: the server listening (address, loops, limits); a session closed by
//     the idle timeout or for a reason of no known kind.
//   - Debug: ordinary session ends (the peer or the application closed it, the
//     server or client stopped); gnet's info and debug lines.
//
// Session-close, refusal and accept-failure lines are rate-limited per kind:
// at most 10 lines of a kind per 10 seconds, then one line saying how many
// were left out. Default slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.use("WithLogger", forAll); o.logger = l }
}

// WithHandler sets the handler of a Client's (or a Pool's clients') events.
// Messages that answer a Request do not reach it. If it also implements
// ReconnectHandler, it hears of reconnect attempts. Default nil: events are
// discarded. Client only: a Server takes its handler in NewServer.
func WithHandler(h Handler) Option {
	return func(o *options) { o.use("WithHandler", forClients); o.handler = h }
}

// WithConnectTimeout bounds each connection attempt of a client, on top of the
// context given to Dial or NewPool. Default DefaultConnectTimeout (10 s).
// Client only.
func WithConnectTimeout(d time.Duration) Option {
	return func(o *options) {
		o.use("WithConnectTimeout", forClients)
		o.notNegativeDuration("WithConnectTimeout", d)
		o.connectTimeout = d
	}
}

// WithReconnect makes a client reconnect by itself, with exponential backoff,
// when an established connection is lost (see Reconnect). Default: off, and a
// lost connection leaves the client disconnected. A Pool always reconnects;
// this option sets its backoff. Client only.
func WithReconnect(r Reconnect) Option {
	bad := r.Initial < 0 || r.Max < 0 || r.Multiplier < 0 || r.Jitter > 1 || r.MaxAttempts < 0
	r = r.withDefaults()
	return func(o *options) {
		o.use("WithReconnect", forClients)
		if bad {
			o.bad("WithReconnect", "Initial, Max, Multiplier and MaxAttempts must not be negative, Jitter at most 1")
		}
		rc := r // each client its own copy: an Option may be used many times
		o.reconnect = &rc
	}
}

// WithSendQueue lets a reconnecting client queue up to n messages sent while
// it is disconnected; they are written in order once it reconnects. A send
// over the bound fails with ErrQueueFull. Default 0: sends while disconnected
// fail with ErrNotConnected. It applies only with WithReconnect. Client only.
func WithSendQueue(n int) Option {
	return func(o *options) {
		o.use("WithSendQueue", forClient)
		o.notNegative("WithSendQueue", int64(n))
		o.sendQueue = n
	}
}

// WithPoolTimeout bounds how long Pool.Get (and Pool.Request) waits for a free
// client, on top of its context. Default 0: as long as the context allows.
// Pool only.
func WithPoolTimeout(d time.Duration) Option {
	return func(o *options) {
		o.use("WithPoolTimeout", forPool)
		o.notNegativeDuration("WithPoolTimeout", d)
		o.poolTimeout = d
	}
}

// WithGroupHook makes the server call fn after a session's Join or Leave
// changed a group's membership, and for each group a closing session leaves,
// with the group's member count after the change (0: the group is gone). fn
// runs on the goroutine that made the change (the session's event loop for a
// closing session) with no lock held, so it must not block; calls for one
// group made on different goroutines may arrive out of order, so a hook that
// keeps state per group should read Server.GroupLen again. Default nil.
// Server only.
func WithGroupHook(fn func(group string, members int)) Option {
	return func(o *options) { o.use("WithGroupHook", forServer); o.groupHook = fn }
}
