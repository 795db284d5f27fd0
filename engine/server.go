package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/netsys-go/netsys/metrics"
	"github.com/netsys-go/netsys/pool"
	"github.com/netsys-go/netsys/session"
)

// Server is a framed TCP server on gnet event loops. Create it with NewServer,
// then Start it; all methods are safe from any goroutine.
type Server struct {
	t *transport

	mu      sync.Mutex    // guards the fields below
	running bool          // between Start and the end of the engine
	eng     gnet.Engine   // set at boot
	addr    net.Addr      // the listening address, set at boot
	done    chan struct{} // closed when the engine has ended
	err     error         // what gnet.Run returned; read after done
	sweep   chan struct{} // closed to stop the idle sweeper
}

// NewServer returns a server that delivers events to h, configured by opts.
func NewServer(h Handler, opts ...Option) (*Server, error) {
	if h == nil {
		return nil, errors.New("engine: nil handler")
	}
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	t := newTransport(o, h, metrics.KindServer, "server")
	t.limit = int64(o.maxConns)
	return &Server{t: t}, nil
}

// Start listens on addr ("127.0.0.1:9000", "tcp://[::1]:0", ...) and returns
// once the socket is listening. Port 0 picks a free port; Addr tells which.
// Binding errors (address in use, bad address) are returned, wrapping the OS
// error. Start on a running server returns ErrAlreadyRunning.
func (s *Server) Start(addr string) error {
	proto, err := protoAddr(addr)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return ErrAlreadyRunning
	}
	s.running = true
	s.done = make(chan struct{})
	s.sweep = make(chan struct{})
	s.mu.Unlock()
	s.t.stopping.Store(false)

	booted := make(chan error, 1)
	h := &serverEvents{srv: s, booted: booted}
	o := s.t.o
	gopts := []gnet.Option{
		gnet.WithMulticore(o.loops > 1),
		gnet.WithNumEventLoop(o.loops),
		gnet.WithReusePort(o.reusePort),
		gnet.WithReuseAddr(true),
		gnet.WithTCPKeepAlive(o.keepAlive),
		gnet.WithSocketRecvBuffer(o.recvBuf),
		gnet.WithSocketSendBuffer(o.sendBuf),
		gnet.WithLogger(gnetLogger{o.logger}),
	}
	if o.noDelay {
		gopts = append(gopts, gnet.WithTCPNoDelay(gnet.TCPNoDelay))
	} else {
		gopts = append(gopts, gnet.WithTCPNoDelay(gnet.TCPDelay))
	}
	if o.workers > 0 {
		s.t.workers = newWorkerPool(s.t, o.workers)
	}
	go func() {
		err := gnet.Run(h, proto, gopts...)
		if s.t.workers != nil {
			s.t.workers.close() // every queued handler call runs first
		}
		s.mu.Lock()
		s.err = err
		s.running = false
		close(s.done)
		s.mu.Unlock()
		booted <- err // if boot never happened, this is why
	}()
	if err := <-booted; err != nil {
		<-s.done
		return fmt.Errorf("engine: listen on %s: %w", addr, err)
	}
	if o.idleTimeout > 0 {
		go s.sweepIdle(o.idleTimeout, s.sweep)
	}
	o.logger.Info("netsys: listening", "addr", s.Addr().String(), "loops", o.loops)
	return nil
}

// protoAddr turns "host:port" or "tcp://host:port" into gnet's form.
func protoAddr(addr string) (string, error) {
	hostPort, ok := strings.CutPrefix(addr, "tcp://")
	if !ok && strings.Contains(addr, "://") {
		return "", fmt.Errorf("%w: %q: only tcp is supported", ErrBadAddress, addr)
	}
	if _, _, err := net.SplitHostPort(hostPort); err != nil {
		return "", fmt.Errorf("%w: %q: %w", ErrBadAddress, addr, err)
	}
	return "tcp://" + hostPort, nil
}

// Addr returns the address the server listens on, or nil before Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Stop stops accepting and decoding, refuses further sends (session.ErrClosed),
// writes everything sends had queued to the peers' sockets (until ctx ends),
// closes every session with ErrServerStopping (OnDisconnect sees it), waits for
// running handlers (WithWorkers) and returns when the engine has ended, or
// with ctx's error when ctx ends first.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	if !s.running || s.addr == nil {
		s.mu.Unlock()
		return ErrNotRunning
	}
	eng, done, sweep := s.eng, s.done, s.sweep
	s.mu.Unlock()
	if s.t.stopping.Swap(true) {
		return s.wait(ctx, done) // a Stop is already under way
	}
	close(sweep)
	s.drain(ctx)
	// gnet's Stop polls for the end every 500 ms; the end of Run tells sooner,
	// so wait for that and let Stop's poll finish on its own.
	go func() { _ = eng.Stop(context.Background()) }()
	return s.wait(ctx, done)
}

// drain waits, until ctx ends, for every session's queued and unsent bytes to
// reach its peer's socket. From now on sessions accept no more sends and new
// input is no longer decoded (see decode), so exactly what Send accepted before
// Stop goes out. gnet's own close would cut off whatever does not fit in the
// socket buffers.
func (s *Server) drain(ctx context.Context) {
	s.t.reg.Range(func(x *session.Session) bool {
		if c, ok := x.Writer().(*conn); ok {
			c.mu.Lock()
			c.closing = true
			c.mu.Unlock()
		}
		return true
	})
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		busy := false
		s.t.reg.Range(func(x *session.Session) bool {
			if c, ok := x.Writer().(*conn); ok && c.hasUnsent() {
				busy = true
				_ = c.gc.Wake(nil) // OnTraffic flushes and reads gnet's unsent count
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

// Wait blocks until the server has stopped and returns the engine's error, if
// any. It returns at once on a server that was never started.
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
func (s *Server) Session(id uint64) *session.Session { return s.t.reg.Get(id) }

// Sessions returns the open sessions (a snapshot).
func (s *Server) Sessions() []*session.Session {
	out := make([]*session.Session, 0, s.t.reg.Len())
	s.t.reg.Range(func(x *session.Session) bool {
		out = append(out, x)
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
	s.t.reg.Range(func(x *session.Session) bool {
		x.Close(reason)
		return true
	})
}

// Broadcast sends payload to every open session. The payload is framed once;
// each session's batch gets a copy of the framed bytes, so payload may be
// reused as soon as Broadcast returns. It returns how many sessions it was
// queued for.
func (s *Server) Broadcast(payload []byte) (int, error) {
	return s.fanOut(payload, s.t.reg.Range)
}

// BroadcastGroup sends payload to every member of group, framed once like
// Broadcast.
func (s *Server) BroadcastGroup(group string, payload []byte) (int, error) {
	return s.fanOut(payload, func(fn func(*session.Session) bool) { s.t.reg.RangeGroup(group, fn) })
}

func (s *Server) fanOut(payload []byte, each func(func(*session.Session) bool)) (int, error) {
	if err := s.t.o.checkPayload(len(payload)); err != nil {
		return 0, err
	}
	b := pool.GetFrame()
	defer pool.PutFrame(b)
	framed, err := s.t.o.codec.Append(b.B[:0], payload)
	if err != nil {
		return 0, err
	}
	b.B = framed
	n := 0
	each(func(x *session.Session) bool {
		if x.SendRaw(framed) == nil {
			n++
		}
		return true
	})
	return n, nil
}

// sweepIdle closes sessions that delivered no complete message for idle. It
// runs on its own goroutine and only uses goroutine-safe calls.
func (s *Server) sweepIdle(idle time.Duration, stop chan struct{}) {
	every := max(idle/4, time.Millisecond)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			deadline := s.t.clock.now() - int64(idle) // the clock the loops Touch with
			s.t.reg.Range(func(x *session.Session) bool {
				if x.LastActive().UnixNano() < deadline {
					x.Close(fmt.Errorf("%w: no complete message for %v", ErrIdleTimeout, idle))
					s.t.src.Error(metrics.IdleTimeout)
				}
				return true
			})
		}
	}
}

// serverEvents is the server's gnet.EventHandler.
type serverEvents struct {
	gnet.BuiltinEventEngine
	srv    *Server
	booted chan<- error
}

func (e *serverEvents) OnBoot(eng gnet.Engine) gnet.Action {
	addr, err := listenAddr(eng)
	if err != nil {
		e.booted <- err
		return gnet.Shutdown
	}
	e.srv.mu.Lock()
	e.srv.eng, e.srv.addr = eng, addr
	e.srv.mu.Unlock()
	e.booted <- nil
	return gnet.None
}

func (e *serverEvents) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	if e.srv.t.open(gc) == nil {
		return nil, gnet.Close
	}
	return nil, gnet.None
}

func (e *serverEvents) OnTraffic(gc gnet.Conn) gnet.Action { return e.srv.t.traffic(gc) }

func (e *serverEvents) OnClose(gc gnet.Conn, err error) gnet.Action {
	e.srv.t.closed(gc, err)
	return gnet.None
}

// listenAddr reads the bound address off a duplicate of the listener's fd, so
// that port 0 reports the port the kernel chose.
func listenAddr(eng gnet.Engine) (net.Addr, error) {
	fd, err := eng.Dup()
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil, fmt.Errorf("getsockname: %w", err)
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]).To16(), Port: a.Port}, nil
	case *unix.SockaddrInet6:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}, nil
	}
	return nil, fmt.Errorf("engine: unexpected listener address %T", sa)
}
