package tlsio

import (
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of [Config].
const (
	DefaultMaxHandshakes     = 256
	DefaultMaxQueue          = 1024
	DefaultHandshakeTimeout  = 10 * time.Second
	defaultMaxHandshakeInput = 128 << 10
)

// Config bounds a [Handshaker]. Zero fields take the defaults.
type Config struct {
	// MaxHandshakes is how many handshakes run at once, each on its own
	// goroutine (default 256). Goroutines exist only while handshakes run.
	MaxHandshakes int
	// MaxQueue is how many more handshakes wait for a free goroutine, in
	// order (default 1024; negative for no queue). Beyond it, Start refuses
	// with ErrBusy.
	MaxQueue int
	// HandshakeTimeout bounds a handshake from Start, time in the queue
	// included (default 10 s).
	HandshakeTimeout time.Duration
	// MaxHandshakeInput bounds the bytes one connection may have fed and not
	// yet consumed before Activate (default 128 KiB); Feed fails with
	// ErrInputLimit beyond it.
	MaxHandshakeInput int
}

// Handshaker runs handshakes on a bounded set of goroutines. One Handshaker
// serves every connection of a server (or client pool); it is safe for
// concurrent use and needs no Close: its goroutines exit when no handshake is
// left.
type Handshaker struct {
	cfg Config

	mu      sync.Mutex
	running int
	queue   []*Conn

	started, refused atomic.Uint64
}

// Stats is a snapshot of a Handshaker.
type Stats struct {
	// Running is the number of handshake goroutines now; a goroutine leaves
	// just after the last onDone it called returns.
	Running int
	// Queued is the number of handshakes waiting for a goroutine.
	Queued int
	// Started counts handshakes accepted by Start; Refused those it refused
	// with ErrBusy.
	Started, Refused uint64
}

// NewHandshaker returns a Handshaker with cfg's bounds.
func NewHandshaker(cfg Config) *Handshaker {
	if cfg.MaxHandshakes <= 0 {
		cfg.MaxHandshakes = DefaultMaxHandshakes
	}
	if cfg.MaxQueue < 0 {
		cfg.MaxQueue = 0
	} else if cfg.MaxQueue == 0 {
		cfg.MaxQueue = DefaultMaxQueue
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.MaxHandshakeInput <= 0 {
		cfg.MaxHandshakeInput = defaultMaxHandshakeInput
	}
	return &Handshaker{cfg: cfg}
}

// Config returns the bounds in effect, defaults filled in.
func (h *Handshaker) Config() Config { return h.cfg }

// Stats returns the current counts.
func (h *Handshaker) Stats() Stats {
	h.mu.Lock()
	s := Stats{Running: h.running, Queued: len(h.queue)}
	h.mu.Unlock()
	s.Started, s.Refused = h.started.Load(), h.refused.Load()
	return s
}

// submit runs c's handshake on a new goroutine, queues it, or refuses it.
func (h *Handshaker) submit(c *Conn) error {
	h.mu.Lock()
	switch {
	case h.running < h.cfg.MaxHandshakes:
		h.running++
		h.mu.Unlock()
		h.started.Add(1)
		go h.run(c)
		return nil
	case len(h.queue) < h.cfg.MaxQueue:
		c.queued = true
		h.queue = append(h.queue, c)
		h.mu.Unlock()
		h.started.Add(1)
		return nil
	}
	h.mu.Unlock()
	h.refused.Add(1)
	return ErrBusy
}

// run performs handshakes until the queue is empty.
func (h *Handshaker) run(c *Conn) {
	for c != nil {
		c.handshake()
		h.mu.Lock()
		c = nil
		if len(h.queue) > 0 {
			c = h.queue[0]
			c.queued = false
			n := copy(h.queue, h.queue[1:])
			h.queue[n] = nil
			h.queue = h.queue[:n]
		} else {
			h.running--
		}
		h.mu.Unlock()
	}
}

// remove takes c out of the queue; it reports whether c was queued.
func (h *Handshaker) remove(c *Conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !c.queued {
		return false
	}
	c.queued = false
	for i, q := range h.queue {
		if q == c {
			n := copy(h.queue[i:], h.queue[i+1:])
			h.queue[i+n] = nil
			h.queue = h.queue[:i+n]
			break
		}
	}
	return true
}
