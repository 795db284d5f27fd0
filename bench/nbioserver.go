package bench

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"sync"
	"time"

	"github.com/lesismal/nbio"
	"github.com/lesismal/nbio/logging"
	"github.com/lesismal/nbio/mempool"

	"github.com/netsys-go/netsys/codec"
)

// NbioServer is a bare nbio echo server: the peer event-loop library beside
// gnet, doing no more work per message than the bare gnet echo. Start one
// with ServeNbio.
type NbioServer struct {
	eng  *nbio.Engine
	addr net.Addr
}

// ServeNbio starts a bare nbio echo server listening on addr ("host:port";
// port 0 picks a free port; or "unix:///path", a socket file nbio removes when
// it stops) with pollers event loops (0: nbio's default, a
// quarter of the CPUs), and returns once it is listening. It speaks the
// default wire format (codec.Default) as nbio's own protocol parsers do: nbio
// reads into its poller's shared buffer and hands each read to OnData, which
// echoes every whole frame in it with one Write (nbio copies whatever the
// socket does not take at once) and keeps the incomplete rest in a
// per-connection buffer from nbio's mempool, the way nbhttp caches a partial
// request. Accepted connections have TCP_NODELAY on (Go's default).
func ServeNbio(addr string, pollers int) (*NbioServer, error) {
	quietNbio()
	h := &nbioEcho{codec: codec.Default()}
	network, address := SplitAddr(addr)
	eng := nbio.NewEngine(nbio.Config{
		Name:    "echo",
		Network: network,
		Addrs:   []string{address},
		NPoller: pollers,
	})
	eng.OnData(h.onData)
	if err := eng.Start(); err != nil {
		return nil, fmt.Errorf("bench: nbio echo on %s: %w", addr, err)
	}
	// Start has replaced the address with the one it listens on.
	var (
		la  net.Addr = &net.UnixAddr{Name: eng.Addrs[0], Net: "unix"}
		err error
	)
	if network == "tcp" {
		la, err = net.ResolveTCPAddr("tcp", eng.Addrs[0])
	}
	if err == nil {
		err = probeNbio(network, la.String(), eng.NPoller)
	}
	if err != nil {
		eng.Stop()
		return nil, fmt.Errorf("bench: nbio echo on %s: %w", addr, err)
	}
	return &NbioServer{eng: eng, addr: la}, nil
}

// probeNbio echoes an empty message on n connections at once, and so
// returns once the acceptor and the pollers run. nbio's Start returns
// before their goroutines begin, and each clears its stop flag when it
// begins: stopped before then, a poller spins for ever and Stop never
// returns. n connections accepted together have n consecutive descriptors,
// which nbio spreads over its n pollers.
func probeNbio(network, addr string, n int) error {
	empty := []byte{0, 0, 0, 0} // a frame of no payload
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	deadline := time.Now().Add(probeTimeout)
	for range n {
		c, err := net.DialTimeout(network, addr, probeTimeout)
		if err != nil {
			return err
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		_ = c.SetDeadline(deadline)
		if _, err := c.Write(empty); err != nil {
			return err
		}
	}
	for _, c := range conns {
		if _, err := io.ReadFull(c, make([]byte, len(empty))); err != nil {
			return fmt.Errorf("no echo at start-up: %w", err)
		}
	}
	return nil
}

// probeTimeout bounds ServeNbio's start-up probe.
const probeTimeout = 5 * time.Second

// Addr returns the address the server listens on.
func (s *NbioServer) Addr() net.Addr { return s.addr }

// Stop stops the server, closing its connections, and waits for it to finish
// or for ctx to be done.
func (s *NbioServer) Stop(ctx context.Context) error {
	if err := s.eng.Shutdown(ctx); err != nil {
		return fmt.Errorf("bench: stop nbio echo: %w", err)
	}
	return nil
}

// nbioEcho holds the echo's handlers.
type nbioEcho struct {
	codec *codec.LengthField
}

// nbioConn is the state of one connection, its Session, owned by the poller
// goroutine that calls OnData for it. A connection closed with bytes cached
// leaves them to the garbage collector rather than race a late OnData from
// nbio's closing goroutine.
type nbioConn struct {
	cached *[]byte // the incomplete frame after the last read, from mempool; nil if none
}

// onData echoes the whole frames of data, after the bytes cached from the
// previous reads, and caches the rest. data is the poller's read buffer:
// valid only during the call.
func (h *nbioEcho) onData(c *nbio.Conn, data []byte) {
	ec, _ := c.Session().(*nbioConn)
	if ec == nil { // the first read: the state is made here, on the poller that owns it
		ec = &nbioConn{}
		c.SetSession(ec)
	}
	if ec.cached != nil {
		ec.cached = mempool.Append(ec.cached, data...)
		data = *ec.cached
	}
	used := 0
	for {
		_, n, err := h.codec.Decode(data[used:])
		if err != nil {
			_ = c.Close()
			return
		}
		if n == 0 {
			break
		}
		used += n
	}
	if used > 0 {
		if _, err := c.Write(data[:used]); err != nil {
			return // nbio has closed the connection
		}
	}
	switch rest := len(data) - used; {
	case ec.cached == nil && rest > 0:
		ec.cached = mempool.Malloc(rest)
		copy(*ec.cached, data[used:])
	case ec.cached != nil && rest == 0:
		mempool.Free(ec.cached)
		ec.cached = nil
	case ec.cached != nil && used > 0:
		*ec.cached = (*ec.cached)[:copy(*ec.cached, data[used:])]
	}
}

var quietOnce sync.Once

// quietNbio sends nbio's warnings and errors to the standard logger, on
// stderr, and drops the rest: nbio's default logger writes to stdout, where
// the commands print their results.
func quietNbio() { quietOnce.Do(func() { logging.SetLogger(nbioLogger{}) }) }

// nbioLogger is the logging.Logger of quietNbio.
type nbioLogger struct{}

func (nbioLogger) Debug(string, ...any)          {}
func (nbioLogger) Info(string, ...any)           {}
func (nbioLogger) Warn(format string, a ...any)  { log.Printf("nbio: "+format, a...) }
func (nbioLogger) Error(format string, a ...any) { log.Printf("nbio: "+format, a...) }
