package engine

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"github.com/panjf2000/gnet/v2"
)

// loops are a set of gnet event loops that the engine hands connections to:
// a Server's (the connections its acceptor accepts), a Client's, or the
// shared ones of a Pool's clients (the connections they dial). Each runs
// gnet's client engine, which has no listener of its own.
type loops struct {
	cli        *gnet.Client
	inCallback atomic.Int32 // client handler callbacks running on these loops (see Client.onLoop)
	mu         sync.RWMutex // read-held while a connection is enrolled, write-held to stop
	stopped    bool         // guarded by mu
}

func startLoops(o options, h gnet.EventHandler) (*loops, error) {
	gopts := []gnet.Option{
		gnet.WithMulticore(o.loops > 1),
		gnet.WithNumEventLoop(o.loops),
		gnet.WithTCPKeepAlive(o.keepAlive),
		gnet.WithLogger(gnetLogger{o.logger}),
	}
	if o.noDelay {
		gopts = append(gopts, gnet.WithTCPNoDelay(gnet.TCPNoDelay))
	} else {
		gopts = append(gopts, gnet.WithTCPNoDelay(gnet.TCPDelay))
	}
	cli, err := gnet.NewClient(h, gopts...)
	if err == nil {
		err = cli.Start()
	}
	if err != nil {
		return nil, fmt.Errorf("engine: start event loops: %w", err)
	}
	return &loops{cli: cli}, nil
}

// enroll hands nc to an event loop, with ep as its context until OnOpen, and
// returns once OnOpen has run. gnet duplicates nc's fd for the loop; enroll
// closes nc in any case.
func (l *loops) enroll(nc net.Conn, ep *endpoints) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.stopped {
		_ = nc.Close()
		return ErrClientClosed
	}
	if _, err := l.cli.EnrollContext(nc, ep); err != nil {
		return fmt.Errorf("engine: hand connection to the event loop: %w", err)
	}
	return nil
}

// stop closes the remaining connections (OnClose runs for each) and ends
// the loops. After a stop no connection is enrolled: gnet must not be asked
// to register one with a closed poller.
func (l *loops) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return
	}
	l.stopped = true
	_ = l.cli.Stop() // errors are the loops' exit errors, logged by gnet
}
