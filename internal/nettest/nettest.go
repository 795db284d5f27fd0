package nettest

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/netsys-go/netsys/engine"
	"github.com/netsys-go/netsys/session"
)

// Timeout bounds every wait in the harness: generous, because the machines are
// shared and the race detector is slow, but finite.
const Timeout = 10 * time.Second

// Eventually fails t unless cond returns nil before Timeout. cond returns an
// error saying what it sees while it waits (fmt.Errorf("%d of %d connected",
// n, want)); on timeout the failure names what and the last such error. It
// polls with a short backoff; it does not stand in for synchronisation the code
// under test should offer, it only bounds the wait for an asynchronous effect.
func Eventually(t testing.TB, what string, cond func() error) {
	t.Helper()
	eventually(t, what, cond, Timeout)
}

// eventually is Eventually with its timeout given.
func eventually(t testing.TB, what string, cond func() error, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	wait := 100 * time.Microsecond
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: last saw: %v", timeout, what, err)
		}
		time.Sleep(wait)
		wait = min(wait*2, 20*time.Millisecond)
	}
}

// Quiet is a logger that discards everything, for servers under test.
var Quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// StartServer runs a server with handler h on a loopback port 0, two event
// loops and a quiet logger (opts may override them), and stops it when the
// test ends.
func StartServer(t testing.TB, h engine.Handler, opts ...engine.Option) *engine.Server {
	t.Helper()
	return StartServerAt(t, "127.0.0.1:0", h, opts...)
}

// StartServerAt is StartServer listening on addr ("unix:///path", ...).
func StartServerAt(t testing.TB, addr string, h engine.Handler, opts ...engine.Option) *engine.Server {
	t.Helper()
	opts = append([]engine.Option{engine.WithLogger(Quiet), engine.WithLoops(2)}, opts...)
	srv, err := engine.NewServer(h, opts...)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	if err := srv.Start(addr); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), Timeout)
		defer cancel()
		if err := srv.Stop(ctx); err != nil && !errors.Is(err, engine.ErrNotRunning) {
			t.Errorf("Stop: %v", err)
		}
	})
	return srv
}

// Client is a test peer speaking the default wire format (4-byte big-endian
// payload length, then the payload) over a plain net.Conn.
type Client struct {
	net.Conn
	r *bufio.Reader
}

// Dial connects to addr and closes the connection when the test ends.
func Dial(t testing.TB, addr string) *Client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, Timeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { nc.Close() })
	return &Client{Conn: nc, r: bufio.NewReader(nc)}
}

// Sockopt returns a Control function for net.Dialer or net.ListenConfig that
// sets one integer socket option before the socket connects or listens.
func Sockopt(level, opt, value int) func(network, address string, c syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), level, opt, value) })
		return errors.Join(err, serr)
	}
}

// Frame returns payload framed in the default wire format.
func Frame(payload []byte) []byte {
	b := make([]byte, 4+len(payload))
	binary.BigEndian.PutUint32(b, uint32(len(payload)))
	copy(b[4:], payload)
	return b
}

// Send writes one framed payload.
func (c *Client) Send(t testing.TB, payload []byte) {
	t.Helper()
	if _, err := c.Write(Frame(payload)); err != nil {
		t.Fatalf("send: %v", err)
	}
}

// Recv reads one framed payload, failing t after Timeout.
func (c *Client) Recv(t testing.TB) []byte {
	t.Helper()
	p, err := c.TryRecv(Timeout)
	if err != nil {
		t.Fatalf("recv: %v", err)
	}
	return p
}

// TryRecv reads one framed payload within d.
func (c *Client) TryRecv(d time.Duration) ([]byte, error) {
	_ = c.SetReadDeadline(time.Now().Add(d))
	var hdr [4]byte
	if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
		return nil, err
	}
	p := make([]byte, binary.BigEndian.Uint32(hdr[:]))
	if _, err := io.ReadFull(c.r, p); err != nil {
		return nil, err
	}
	return p, nil
}

// WaitClosed fails t unless the server closes the connection within Timeout.
// Frames still arriving before the close are discarded.
func (c *Client) WaitClosed(t testing.TB) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(Timeout))
	_, err := io.Copy(io.Discard, c.r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v", Timeout)
	}
}

// Event is one handler callback seen by a Recorder.
type Event struct {
	Kind    string // "connect", "message" or "disconnect"
	Session *session.Session
	Msg     []byte // a copy, for "message"
	Err     error  // the reason, for "disconnect"
}

// Recorder is an engine handler that records every event and, when Echo is
// set, sends every message back.
type Recorder struct {
	Echo bool

	mu     sync.Mutex
	events []Event
}

// OnConnect records a connect event.
func (r *Recorder) OnConnect(s *session.Session) { r.add(Event{Kind: "connect", Session: s}) }

// OnMessage records the message (copied) and echoes it when r.Echo is set.
func (r *Recorder) OnMessage(s *session.Session, msg []byte) {
	r.add(Event{Kind: "message", Session: s, Msg: append([]byte(nil), msg...)})
	if r.Echo {
		_ = s.Send(msg)
	}
}

// OnDisconnect records a disconnect event with its reason.
func (r *Recorder) OnDisconnect(s *session.Session, err error) {
	r.add(Event{Kind: "disconnect", Session: s, Err: err})
}

func (r *Recorder) add(e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

// Events returns a copy of the events of the given kind ("" for all).
func (r *Recorder) Events(kind string) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Event
	for _, e := range r.events {
		if kind == "" || e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// Count returns the number of events of the given kind.
func (r *Recorder) Count(kind string) int { return len(r.Events(kind)) }

// WaitCount waits until at least n events of kind were recorded.
func (r *Recorder) WaitCount(t testing.TB, kind string, n int) []Event {
	t.Helper()
	Eventually(t, fmt.Sprintf("%d %s events", n, kind), func() error {
		if got := r.Count(kind); got < n {
			return fmt.Errorf("%d of %d %s events", got, n, kind)
		}
		return nil
	})
	return r.Events(kind)
}

// Disconnect waits for the disconnect of session id and returns its reason.
func (r *Recorder) Disconnect(t testing.TB, id uint64) error {
	t.Helper()
	var reason error
	Eventually(t, fmt.Sprintf("disconnect of session %d", id), func() error {
		evs := r.Events("disconnect")
		for _, e := range evs {
			if e.Session.ID() == id {
				reason = e.Err
				return nil
			}
		}
		return fmt.Errorf("%d disconnects recorded, none of session %#x", len(evs), id)
	})
	return reason
}
