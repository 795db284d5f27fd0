package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/valyala/bytebufferpool"

	"github.com/netsys-go/netsys/internal/sess"
	"github.com/netsys-go/netsys/metrics"
	"github.com/netsys-go/netsys/pool"
	"github.com/netsys-go/netsys/session"
)

// Server is a framed TCP (or Unix socket) server on gnet event loops. Create
// it with NewServer, then Start it; all methods are safe from any goroutine.
type Server struct {
	t *transport

	mu    sync.Mutex    // guards the fields below
	state serverState   // stopped, running or stopping
	loops *loops        // set by Start
	acc   *acceptor     // set by Start
	addr  net.Addr      // the listening address, set by Start
	done  chan struct{} // closed when the server has stopped
	err   error         // why it stopped without being asked; read after done
	sweep chan struct{} // closed to stop the sweeper
}

type serverState int

const (
	serverStopped serverState = iota
	serverRunning
	serverStopping
)

// NewServer returns a server that delivers events to h, configured by opts.
func NewServer(h Handler, opts ...Option) (*Server, error) {
	if h == nil {
		return nil, errors.New("engine: nil handler")
	}
	o, err := buildOptions(forServer, opts)
	if err != nil {
		return nil, err
	}
	t := newTransport(o, h, metrics.KindServer, "server")
	t.limit = int64(o.maxConns)
	t.reg.SetGroupHook(o.groupHook)
	return &Server{t: t}, nil
}

// Start listens on addr ("127.0.0.1:9000", "tcp://[::1]:0",
// "unix:///run/app.sock") and returns once the socket is listening. Port 0
// picks a free port; Addr tells which. A Unix socket file left by a server
// that is gone is replaced; one a live server holds is not (EADDRINUSE).
// Binding errors are returned, wrapping the OS error. Start on a running
// server returns ErrAlreadyRunning.
func (s *Server) Start(addr string) error {
	network, address, err := parseAddr(addr)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != serverStopped {
		return ErrAlreadyRunning
	}
	o := s.t.o
	ln, err := listen(network, address, &o)
	if err != nil {
		return fmt.Errorf("engine: listen on %s: %w", addr, err)
	}
	l, err := startLoops(o, &serverEvents{t: s.t})
	if err != nil {
		_ = ln.Close()
		return err
	}
	s.t.stopping.Store(false)
	s.t.waiter = newWaiter(s.t)
	if o.workers > 0 {
		s.t.workers = newWorkerPool(s.t, o.workers)
	}
	s.state, s.loops, s.addr = serverRunning, l, ln.Addr()
	s.acc = newAcceptor(s, ln)
	s.done, s.sweep, s.err = make(chan struct{}), make(chan struct{}), nil
	go func(acc *acceptor) {
		if err := acc.run(); err != nil {
			s.t.o.logger.Error("netsys: the server stops: it can no longer accept", "err", err)
			s.mu.Lock()
			s.err = err
			s.mu.Unlock()
			_ = s.Stop(context.Background())
		}
	}(s.acc)
	if o.idleTimeout > 0 || o.frameTimeout > 0 {
		go s.sweepLoop(o.idleTimeout, o.frameTimeout, s.sweep)
	}
	o.logger.Info("netsys: listening", "addr", s.addr.String(), "loops", o.loops,
		"max_conns", o.maxConns, "memory_limit", o.memoryLimit)
	return nil
}

// Addr returns the address the server listens on, or nil before Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Stop stops accepting (closing the listening socket) and decoding, refuses
// further sends (session.ErrClosed), writes everything sends had queued to
// the peers' sockets and lets lingering closes finish (until ctx ends),
// closes every session with ErrServerStopping (OnDisconnect sees it) and
// every connection the server accepted, waits for running handlers
// (WithWorkers) and returns when the server has stopped, or with ctx's error
// when ctx ends first (the stop goes on in the background).
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	if s.state == serverStopped {
		s.mu.Unlock()
		return ErrNotRunning
	}
	done := s.done
	if s.state == serverStopping {
		s.mu.Unlock()
		return s.wait(ctx, done) // a Stop is already under way
	}
	s.state = serverStopping
	acc, l, sweep := s.acc, s.loops, s.sweep
	s.mu.Unlock()

	s.t.stopping.Store(true)
	close(acc.stop)
	_ = acc.ln.Close()
	<-acc.done // nothing is enrolled after this
	close(sweep)
	s.drain(ctx)
	s.t.waiter.waitLingering(ctx)
	go func() {
		l.stop() // closes every connection: OnClose, then the fd
		s.t.waiter.shutdown()
		if s.t.workers != nil {
			s.t.workers.close() // every queued handler call runs first
		}
		s.mu.Lock()
		s.state = serverStopped
		close(done)
		s.mu.Unlock()
	}()
	return s.wait(ctx, done)
}

// drain waits, until ctx ends, for every session's queued and unsent bytes to
// reach its peer's socket. From now on sessions accept no more sends and new
// input is no longer decoded (see conn.read), so exactly what Send accepted
// before Stop goes out.
func (s *Server) drain(ctx context.Context) {
	s.t.rangeConns(func(_ *sess.Core, c *conn) bool {
		c.mu.Lock()
		c.closing = true
		c.mu.Unlock()
		return true
	})
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		busy := false
		s.t.rangeConns(func(_ *sess.Core, c *conn) bool {
			if c.hasUnsent() {
				busy = true
				_ = c.gc.Wake(nil) // OnTraffic writes what is queued
			}
			return true
		})
		if !busy {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (s *Server) wait(ctx context.Context, done chan struct{}) error {
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Wait blocks until the server has stopped. It returns nil after Stop, and
// the reason when the server stopped without being asked (its listening
// socket failed). It returns at once on a server that was never started.
func (s *Server) Wait() error {
	s.mu.Lock()
	done := s.done
	s.mu.Unlock()
	if done == nil {
		return nil
	}
	<-done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Session returns the session with this ID, or nil if it has closed. An ID is
// never reused: a stale ID never finds the newer session on the same fd.
func (s *Server) Session(id uint64) *session.Session {
	if x := s.t.reg.Get(id); x != nil {
		return sessionOf(x)
	}
	return nil
}

// Sessions returns the open sessions (a snapshot).
func (s *Server) Sessions() []*session.Session {
	out := make([]*session.Session, 0, s.t.reg.Len())
	s.t.reg.Range(func(x *sess.Core) bool {
		out = append(out, sessionOf(x))
		return true
	})
	return out
}

// Count returns the number of open sessions.
func (s *Server) Count() int { return s.t.reg.Len() }

// Monitor returns the monitor the server records into.
func (s *Server) Monitor() *metrics.Monitor { return s.t.o.monitor }

// DisconnectAll closes every open session with reason.
func (s *Server) DisconnectAll(reason error) {
	s.t.reg.Range(func(x *sess.Core) bool {
		x.Close(reason)
		return true
	})
}

// Broadcast sends payload to every open session. The payload is framed once;
// each session's batch gets a copy of the framed bytes, so payload may be
// reused as soon as Broadcast returns. It returns how many sessions it was
// queued for. It does not allocate.
func (s *Server) Broadcast(payload []byte) (int, error) {
	b, framed, err := s.frame(payload)
	if err != nil {
		return 0, err
	}
	defer pool.PutFrame(b)
	n := 0
	s.t.reg.Range(func(x *sess.Core) bool {
		if x.SendRaw(framed) == nil {
			n++
		}
		return true
	})
	return n, nil
}

// BroadcastGroup sends payload to every member of group, framed once like
// Broadcast. It does not allocate unless the group's membership changed
// since its last broadcast.
func (s *Server) BroadcastGroup(group string, payload []byte) (int, error) {
	b, framed, err := s.frame(payload)
	if err != nil {
		return 0, err
	}
	defer pool.PutFrame(b)
	n := 0
	for _, x := range s.t.reg.Members(group) {
		if x.SendRaw(framed) == nil {
			n++
		}
	}
	return n, nil
}

// frame frames payload once into a pooled buffer, for a broadcast.
func (s *Server) frame(payload []byte) (*bytebufferpool.ByteBuffer, []byte, error) {
	if err := s.t.o.checkPayload(len(payload)); err != nil {
		return nil, nil, err
	}
	b := pool.GetFrame()
	framed, err := s.t.o.codec.Append(b.B[:0], payload)
	if err != nil {
		pool.PutFrame(b)
		return nil, nil, err
	}
	b.B = framed
	return b, framed, nil
}

// sweepLoop closes sessions that delivered no complete message for idle,
// and sessions whose partial frame did not complete within frame (either
// check off when 0). It runs on its own goroutine and only uses
// goroutine-safe calls.
func (s *Server) sweepLoop(idle, frame time.Duration, stop chan struct{}) {
	every := time.Hour
	for _, d := range []time.Duration{idle, frame} {
		if d > 0 {
			every = min(every, max(d/4, time.Millisecond))
		}
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			now := s.t.clock.now() // the clock the loops use
			s.t.rangeConns(func(x *sess.Core, c *conn) bool {
				if idle > 0 && x.LastActive().UnixNano() < now-int64(idle) {
					x.Close(fmt.Errorf("%w: no complete message for %v", ErrIdleTimeout, idle))
					s.t.src.Error(metrics.IdleTimeout)
					return true
				}
				if frame > 0 {
					if at := c.partAt.Load(); at != 0 && at < now-int64(frame) {
						c.fail(fmt.Errorf("%w: a frame begun %v ago is not complete", ErrFrameTimeout, time.Duration(now-at).Round(time.Millisecond)), metrics.FrameTimeout)
					}
				}
				return true
			})
		}
	}
}

// serverEvents is the gnet.EventHandler of a server's loops.
type serverEvents struct {
	gnet.BuiltinEventEngine
	t *transport
}

func (e *serverEvents) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	ep, _ := gc.Context().(*endpoints)
	if ep == nil || e.t.open(gc, ep) == nil {
		return nil, gnet.Close
	}
	return nil, gnet.None
}

func (e *serverEvents) OnTraffic(gc gnet.Conn) gnet.Action { return e.t.traffic(gc) }

func (e *serverEvents) OnClose(gc gnet.Conn, err error) gnet.Action {
	e.t.closed(gc, err)
	return gnet.None
}

// MemoryInUse returns the bytes the server holds for its peers against its
// memory limit (WithMemoryLimit): partial inbound frames and outbound bytes
// the sockets have not taken, lingering closes included.
func (s *Server) MemoryInUse() int64 { return s.t.mem.used.Load() }
