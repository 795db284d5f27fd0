package envelope

import (
	"log/slog"

	"github.com/netsys-go/netsys/engine"
)

// Defaults of the options. A zero or negative value given to an option means
// its default.
const (
	// DefaultMaxInFlight bounds the requests waiting for an answer, per
	// connection and per direction.
	DefaultMaxInFlight = 1024
	// DefaultCompressThreshold is the smallest body that is compressed.
	DefaultCompressThreshold = 512
	// DefaultMaxBodySize is the largest body, after decompression: the
	// engine's default frame size less the longest header.
	DefaultMaxBodySize = engine.DefaultMaxFrameSize - MaxHeaderLen
	// maxAbandoned bounds the IDs of cancelled requests remembered so that
	// their late replies are told from replies to IDs never sent.
	maxAbandoned = 1 << 16
)

// Option configures a ServerHandler or a Client.
type Option func(*config)

type config struct {
	maxInFlight  int
	maxBody      int
	threshold    int
	noCompress   bool
	logger       *slog.Logger
	onConnect    func(p *Peer)
	onDisconnect func(p *Peer, reason error)
	router       *Router         // Dial only
	engineOpts   []engine.Option // Dial only
}

func buildConfig(opts []Option) config {
	var c config
	for _, o := range opts {
		o(&c)
	}
	if c.maxInFlight <= 0 {
		c.maxInFlight = DefaultMaxInFlight
	}
	if c.maxBody <= 0 {
		c.maxBody = DefaultMaxBodySize
	}
	if c.threshold <= 0 {
		c.threshold = DefaultCompressThreshold
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	return c
}

// WithMaxInFlight bounds the requests in flight on one connection, in each
// direction. Outbound, a Request past the bound waits for a free slot (or
// its context), and Go returns ErrBusy at once. Inbound, a request that arrives while the handlers hold n
// deferred answers for the same peer gets an error reply with CodeBusy (the
// caller sees ErrBusy). Default DefaultMaxInFlight (1024).
func WithMaxInFlight(n int) Option { return func(c *config) { c.maxInFlight = n } }

// WithMaxBodySize bounds one body, after decompression. A compressed frame
// whose decoded length is larger closes the session with an error wrapping
// codec.ErrFrameTooLarge before anything is allocated for it; sends of a
// larger body fail with ErrBodyTooLarge. Keep it at most the engine's
// WithMaxFrameSize less MaxHeaderLen. Default DefaultMaxBodySize.
func WithMaxBodySize(n int) Option { return func(c *config) { c.maxBody = n } }

// WithCompression sets whether this side accepts S2-compressed bodies (said
// in its hello) and compresses the bodies it sends to a peer that accepts
// them. Default true.
func WithCompression(on bool) Option { return func(c *config) { c.noCompress = !on } }

// WithCompressThreshold sets the smallest body that is compressed; a body is
// sent compressed only if that makes it shorter. Default
// DefaultCompressThreshold (512 bytes).
func WithCompressThreshold(n int) Option { return func(c *config) { c.threshold = n } }

// WithLogger sets the logger for sessions the envelope closes. Default
// slog.Default().
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// OnConnect sets a function called with each new peer, on the loop (or
// worker) of its session, after this side's hello is queued and before any of
// the peer's messages. It must not block.
func OnConnect(fn func(p *Peer)) Option { return func(c *config) { c.onConnect = fn } }

// OnDisconnect sets a function called once when a peer's session has closed,
// with the reason, after its pending requests have failed. It must not block.
func OnDisconnect(fn func(p *Peer, reason error)) Option {
	return func(c *config) { c.onDisconnect = fn }
}

// WithRouter sets the router of a Client: the handlers of the server's
// pushes and requests, and the serializer of Call and SendValue. Default: a
// router with the JSON serializer and no handlers. Dial only.
func WithRouter(r *Router) Option { return func(c *config) { c.router = r } }

// WithEngineOptions passes options to engine.Dial (codec, frame size,
// reconnect, ...). engine.WithHandler is the envelope's and must not be
// given. Dial only.
func WithEngineOptions(opts ...engine.Option) Option {
	return func(c *config) { c.engineOpts = append(c.engineOpts, opts...) }
}
