package bench

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/netsys-go/netsys/codec"
)

// GnetServer is a bare gnet echo server: the ceiling for any server built on
// gnet. Start one with ServeGnet.
type GnetServer struct {
	h    *gnetEcho
	done chan error // receives gnet.Run's result
}

// ServeGnet starts a bare gnet echo server listening on addr ("host:port";
// port 0 picks a free port; or "unix:///path", where gnet removes whatever
// file is at path first, and again when it stops) with loops event loops (0:
// one per CPU), and returns once it is listening. It speaks the default wire format
// (codec.Default): on each read it decodes every whole frame buffered and
// writes them back as they are, with one Write, copying from Peek before
// Discard. TCP_NODELAY is on.
func ServeGnet(addr string, loops int) (*GnetServer, error) {
	h := &gnetEcho{codec: codec.Default(), booted: make(chan struct{})}
	opts := []gnet.Option{
		gnet.WithMulticore(true),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithLogger(gnetLogger{}),
	}
	if loops > 0 {
		opts = append(opts, gnet.WithNumEventLoop(loops))
	}
	if !strings.Contains(addr, "://") {
		addr = "tcp://" + addr
	}
	s := &GnetServer{h: h, done: make(chan error, 1)}
	go func() { s.done <- gnet.Run(h, addr, opts...) }()
	select {
	case <-h.booted:
		if h.bootErr != nil {
			<-s.done
			return nil, fmt.Errorf("bench: gnet echo on %s: %w", addr, h.bootErr)
		}
		return s, nil
	case err := <-s.done:
		return nil, fmt.Errorf("bench: gnet echo on %s: %w", addr, err)
	}
}

// Addr returns the address the server listens on.
func (s *GnetServer) Addr() net.Addr { return s.h.addr }

// Stop stops the server, closing its connections, and waits for it to finish
// or for ctx to be done. gnet checks for the end every 500 ms, so Stop takes
// about that long.
func (s *GnetServer) Stop(ctx context.Context) error {
	if err := s.h.eng.Stop(ctx); err != nil {
		return fmt.Errorf("bench: stop gnet echo: %w", err)
	}
	select {
	case err := <-s.done:
		if err != nil {
			return fmt.Errorf("bench: gnet echo: %w", err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// gnetEcho is the event handler of GnetServer.
type gnetEcho struct {
	gnet.BuiltinEventEngine
	codec *codec.LengthField

	// Set in OnBoot, read after booted is closed.
	booted  chan struct{}
	bootErr error
	eng     gnet.Engine
	addr    net.Addr
}

// echoConn is the state of one connection of the echo server, owned by its
// event loop.
type echoConn struct {
	need int // bytes to have buffered before decoding again
}

// OnBoot learns the listening address (port 0 is resolved by then) from a
// duplicate of the listener's descriptor.
func (h *gnetEcho) OnBoot(eng gnet.Engine) gnet.Action {
	defer close(h.booted)
	h.eng = eng
	fd, err := eng.Dup()
	if err != nil {
		h.bootErr = err
		return gnet.Shutdown
	}
	defer unix.Close(fd)
	sa, err := unix.Getsockname(fd)
	if err != nil {
		h.bootErr = err
		return gnet.Shutdown
	}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		h.addr = &net.TCPAddr{IP: net.IP(sa.Addr[:]), Port: sa.Port}
	case *unix.SockaddrInet6:
		h.addr = &net.TCPAddr{IP: net.IP(sa.Addr[:]), Port: sa.Port}
	case *unix.SockaddrUnix:
		h.addr = &net.UnixAddr{Name: sa.Name, Net: "unix"}
	default:
		h.bootErr = fmt.Errorf("listener address %T is neither TCP nor Unix", sa)
		return gnet.Shutdown
	}
	return gnet.None
}

func (h *gnetEcho) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	c.SetContext(&echoConn{})
	return nil, gnet.None
}

// OnTraffic echoes every whole frame buffered with one Write. gnet is level
// triggered, so it decodes until a frame is incomplete.
func (h *gnetEcho) OnTraffic(c gnet.Conn) gnet.Action {
	ec := c.Context().(*echoConn)
	if c.InboundBuffered() < ec.need {
		return gnet.None // a large frame is still arriving: don't copy it again
	}
	buf, _ := c.Peek(-1)
	used := 0
	for {
		_, n, err := h.codec.Decode(buf[used:])
		if err != nil {
			return gnet.Close
		}
		if n == 0 {
			break
		}
		used += n
	}
	ec.need = frameNeed(h.codec, buf[used:])
	if used == 0 {
		return gnet.None
	}
	if _, err := c.Write(buf[:used]); err != nil {
		return gnet.None // gnet has closed the connection
	}
	_, _ = c.Discard(used)
	return gnet.None
}
