package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// monitorConfig holds the limits of the monitor's HTTP server. An open
// keep-alive connection costs a file descriptor and a goroutine, so every
// phase of a connection has a deadline and the number of connections is
// capped; tests shorten them.
type monitorConfig struct {
	readHeaderTimeout time.Duration // to read a request's headers
	readTimeout       time.Duration // to read a whole request
	writeTimeout      time.Duration // from the end of the headers to the end of the response
	idleTimeout       time.Duration // a keep-alive connection's wait for its next request
	maxHeaderBytes    int
	// maxConns caps the connections served at once; further ones wait in the
	// kernel's accept queue until one closes (see limitListener).
	maxConns int
}

// defaultMonitorConfig returns the monitor server's limits. With pprof on, the
// write timeout leaves room for /debug/pprof/profile's default 30 s profile
// (and a trace of as long): net/http/pprof refuses a profile that would
// outlast the server's WriteTimeout.
func defaultMonitorConfig(withPprof bool) monitorConfig {
	c := monitorConfig{
		readHeaderTimeout: 5 * time.Second,
		readTimeout:       10 * time.Second,
		writeTimeout:      10 * time.Second,
		idleTimeout:       30 * time.Second,
		maxHeaderBytes:    16 << 10,
		maxConns:          32,
	}
	if withPprof {
		c.writeTimeout = 60 * time.Second
	}
	return c
}

// parseMonitorAddr checks a -monitor address and returns it as the monitor
// will listen on it: host:port with a numeric port, a bare ":port" bound to
// 127.0.0.1. runServe calls it before it starts the engine, so that a bad
// address fails the command before anything listens.
func parseMonitorAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("-monitor %q: %w", addr, err)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return "", fmt.Errorf("-monitor %q: port must be a number from 0 to 65535", addr)
	}
	port = strconv.FormatUint(n, 10)
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

// monitorServer is the running monitor: an http.Server behind a limitListener.
type monitorServer struct {
	hs *http.Server
	ln *limitListener
}

// startMonitor listens on addr and serves h there with c's limits, logging
// serve errors to log.
func startMonitor(addr string, h http.Handler, c monitorConfig, log *slog.Logger) (*monitorServer, error) {
	inner, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("monitor: %w", err)
	}
	ln := newLimitListener(inner, c.maxConns)
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: c.readHeaderTimeout,
		ReadTimeout:       c.readTimeout,
		WriteTimeout:      c.writeTimeout,
		IdleTimeout:       c.idleTimeout,
		MaxHeaderBytes:    c.maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("netsys: monitor", "err", err)
		}
	}()
	return &monitorServer{hs: hs, ln: ln}, nil
}

// Addr returns the address the monitor listens on.
func (s *monitorServer) Addr() net.Addr { return s.ln.Addr() }

// Close closes the listener and every connection at once.
func (s *monitorServer) Close() { _ = s.hs.Close() }

// limitListener is a net.Listener that has at most n accepted connections open
// at a time: Accept waits for a slot before it accepts, so connections past
// the cap wait, unaccepted, in the kernel's queue (costing the process no file
// descriptor and no goroutine) until an open one closes. It is written here
// because golang.org/x/net, whose netutil.LimitListener does the same, is not
// a dependency of this module.
type limitListener struct {
	net.Listener
	slots     chan struct{} // one token per open connection, and one for an Accept under way
	conns     atomic.Int64  // accepted connections not yet closed
	done      chan struct{} // closed by Close, to wake a waiting Accept
	closeOnce sync.Once
}

func newLimitListener(l net.Listener, n int) *limitListener {
	return &limitListener{Listener: l, slots: make(chan struct{}, max(n, 1)), done: make(chan struct{})}
}

// Accept waits for a free slot, then accepts a connection that gives the slot
// back when it is closed.
func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	l.conns.Add(1)
	return &limitConn{Conn: c, release: func() {
		l.conns.Add(-1)
		<-l.slots
	}}, nil
}

// Close closes the listener and wakes an Accept waiting for a slot.
func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// open returns the number of accepted connections not yet closed.
func (l *limitListener) open() int { return int(l.conns.Load()) }

// limitConn gives its listener's slot back on its first Close.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
