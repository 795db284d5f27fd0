package faulttest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/netsys-go/netsys/codec"
	"github.com/netsys-go/netsys/engine"
	"github.com/netsys-go/netsys/internal/nettest"
	"github.com/netsys-go/netsys/session"
)

// wire is a frame format spoken by a server and its healthy clients.
type wire struct {
	name  string
	codec codec.Codec // nil: the server's default format, framed by codec.Default on the client
	max   int         // longest payload the healthy clients send
	fixed int         // the frame size of a fixed-size codec, else 0
	raw   bool        // codec.Raw: no framing at all
}

// reportErrors fails t with the first ten of errs and a count of the rest.
func reportErrors(t *testing.T, errs []error) {
	t.Helper()
	for i, err := range errs {
		if i == 10 {
			t.Errorf("... and %d more errors", len(errs)-i)
			return
		}
		t.Error(err)
	}
}

func mustCodec[C codec.Codec](c C, err error) C {
	if err != nil {
		panic(err)
	}
	return c
}

var (
	defaultWire = wire{name: "default", max: 300}
	adjustWire  = wire{name: "length-includes-header", max: 300,
		codec: mustCodec(codec.NewLengthField(codec.LengthFieldConfig{Size: 4, Adjustment: -4, Strip: 4}))}
	lineWire  = wire{name: "line", codec: codec.NewLine(64), max: 60}
	delimWire = wire{name: "delimiter", codec: mustCodec(codec.NewDelimiter([]byte("||"), 128)), max: 120}
	fixedWire = wire{name: "fixed", codec: mustCodec(codec.NewFixed(16)), max: 16, fixed: 16}
	rawWire   = wire{name: "raw", codec: codec.Raw{}, max: 300, raw: true}
)

// frame appends payload framed in the wire's format to dst.
func (w wire) frame(dst, payload []byte) ([]byte, error) {
	if w.codec == nil {
		return codec.Default().Append(dst, payload)
	}
	return w.codec.Append(dst, payload)
}

// payload is the trip-th message of healthy client c: unique, of varied
// length, made of letters and digits so that no codec sees a delimiter in it.
func (w wire) payload(c, trip int) []byte {
	p := fmt.Appendf(nil, "c%d.%d:", c, trip)
	n := trip % max(w.max-len(p)+1, 1)
	for i := range n {
		p = append(p, 'a'+byte((c+trip+i)%26))
	}
	if w.fixed > 0 {
		p = append(p, bytes.Repeat([]byte{'.'}, w.fixed)...)[:w.fixed]
	}
	return p
}

// recorder is the handler of most cases: it echoes every message and records
// connects and disconnects by the peer's address.
type recorder struct {
	mu       sync.Mutex
	sessions map[string]*session.Session // guarded by mu: by remote address
	reasons  map[string]error            // guarded by mu: by remote address
}

func newRecorder() *recorder {
	return &recorder{sessions: make(map[string]*session.Session), reasons: make(map[string]error)}
}

func (r *recorder) OnConnect(s *session.Session) {
	r.mu.Lock()
	r.sessions[s.RemoteAddr().String()] = s
	r.mu.Unlock()
}

func (r *recorder) OnMessage(s *session.Session, msg []byte) { _ = s.Send(msg) }

func (r *recorder) OnDisconnect(s *session.Session, reason error) {
	if reason == nil {
		reason = errNilReason
	}
	r.mu.Lock()
	r.reasons[s.RemoteAddr().String()] = reason
	r.mu.Unlock()
}

// errNilReason stands for a disconnect without a reason, which is a bug.
var errNilReason = errors.New("OnDisconnect got a nil reason")

// closedReason returns the reason the session of the peer at local address
// addr was closed with, and whether it was.
func (r *recorder) closedReason(addr string) (error, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	err, ok := r.reasons[addr]
	return err, ok
}

// reason waits for the disconnect of the session of client nc and returns its
// reason.
func (r *recorder) reason(t testing.TB, nc net.Conn) error {
	t.Helper()
	addr := nc.LocalAddr().String()
	var err error
	nettest.Eventually(t, "disconnect of "+addr, func() error {
		var ok bool
		if err, ok = r.closedReason(addr); !ok {
			return fmt.Errorf("no disconnect recorded for %s", addr)
		}
		return nil
	})
	return err
}

// session waits for the session of client nc and returns it.
func (r *recorder) session(t testing.TB, nc net.Conn) *session.Session {
	t.Helper()
	addr := nc.LocalAddr().String()
	var s *session.Session
	nettest.Eventually(t, "session of "+addr, func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		if s = r.sessions[addr]; s == nil {
			return fmt.Errorf("no session for %s among %d", addr, len(r.sessions))
		}
		return nil
	})
	return s
}

// fixture is a running server and what the case needs to talk to it.
type fixture struct {
	srv  *engine.Server
	addr string
	rec  *recorder
	wire wire
}

// newFixture starts a server speaking w on a loopback port 0, with h as its
// handler (nil: an echoing recorder, f.rec), and stops it when the test ends.
func newFixture(t testing.TB, w wire, h engine.Handler, opts ...engine.Option) *fixture {
	t.Helper()
	f := &fixture{rec: newRecorder(), wire: w}
	if h == nil {
		h = f.rec
	}
	var base []engine.Option
	if w.codec != nil {
		base = append(base, engine.WithCodec(w.codec))
	}
	srv := nettest.StartServer(t, h, append(base, opts...)...)
	f.srv, f.addr = srv, srv.Addr().String()
	return f
}

// errorCount returns how many errors of kind ("frame_too_large", ...) the
// server's metrics counted.
func (f *fixture) errorCount(kind string) uint64 {
	return f.srv.Monitor().Snapshot().Total.Errors[kind]
}

// dial connects to addr and closes the connection when the test ends.
func dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, nettest.Timeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

func write(t testing.TB, nc net.Conn, b []byte) {
	t.Helper()
	_ = nc.SetWriteDeadline(time.Now().Add(nettest.Timeout))
	if _, err := nc.Write(b); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// waitClosed reads and discards until the server closes nc, and returns what
// the read ended with (io.EOF for a clean close). It fails t if nc is still
// open after nettest.Timeout.
func waitClosed(t testing.TB, nc net.Conn) error {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(nettest.Timeout))
	_, err := io.Copy(io.Discard, nc)
	if err == nil {
		err = io.EOF // io.Copy reports a clean end as nil
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection %s still open after %v", nc.LocalAddr(), nettest.Timeout)
	}
	return err
}

// healthy is a group of well-behaved clients doing echo round trips in a loop
// while a case runs, each verifying every byte it gets back.
type healthy struct {
	f     *fixture
	conns []net.Conn
	trips []atomic.Int64
	stop  chan struct{}
	wg    sync.WaitGroup

	mu   sync.Mutex
	errs []error // guarded by mu
}

// startHealthy connects n healthy clients to f's server and starts their
// round trips. It returns once the server has registered all of them.
func startHealthy(t testing.TB, f *fixture, n int) *healthy {
	t.Helper()
	h := &healthy{f: f, trips: make([]atomic.Int64, n), stop: make(chan struct{})}
	for i := range n {
		nc := dial(t, f.addr)
		if f.rec != nil {
			f.rec.session(t, nc)
		}
		h.conns = append(h.conns, nc)
		h.wg.Add(1)
		go h.run(i, nc)
	}
	t.Cleanup(h.halt)
	return h
}

func (h *healthy) run(i int, nc net.Conn) {
	defer h.wg.Done()
	var out, in []byte
	for trip := 0; ; trip++ {
		select {
		case <-h.stop:
			return
		default:
		}
		var err error
		if out, err = h.f.wire.frame(out[:0], h.f.wire.payload(i, trip)); err != nil {
			h.fail(fmt.Errorf("client %d: framing trip %d: %w", i, trip, err))
			return
		}
		_ = nc.SetDeadline(time.Now().Add(nettest.Timeout))
		if _, err := nc.Write(out); err != nil {
			h.fail(fmt.Errorf("client %d: write of trip %d: %w", i, trip, err))
			return
		}
		in = append(in[:0], make([]byte, len(out))...)
		if _, err := io.ReadFull(nc, in); err != nil {
			h.fail(fmt.Errorf("client %d: read of trip %d: %w", i, trip, err))
			return
		}
		if !bytes.Equal(in, out) {
			h.fail(fmt.Errorf("client %d: echo of trip %d = %q; want %q", i, trip, in, out))
			return
		}
		h.trips[i].Add(1)
	}
}

func (h *healthy) fail(err error) {
	h.mu.Lock()
	h.errs = append(h.errs, err)
	h.mu.Unlock()
}

// halt stops the round trips and closes the clients; it is idempotent.
func (h *healthy) halt() {
	select {
	case <-h.stop:
	default:
		close(h.stop)
	}
	h.wg.Wait()
	for _, nc := range h.conns {
		nc.Close()
	}
}

// check waits until every healthy client has completed a few more round trips
// (so they are alive after the fault), stops them and fails t if any round
// trip failed or the server closed a healthy session.
func (h *healthy) check(t testing.TB) {
	t.Helper()
	const more = 5
	marks := make([]int64, len(h.trips))
	for i := range h.trips {
		marks[i] = h.trips[i].Load()
	}
	nettest.Eventually(t, fmt.Sprintf("%d more round trips of every healthy client", more), func() error {
		if h.failed() {
			return nil // reported below
		}
		for i := range h.trips {
			if got := h.trips[i].Load(); got < marks[i]+more {
				return fmt.Errorf("client %d at %d round trips; want %d", i, got, marks[i]+more)
			}
		}
		return nil
	})
	select {
	case <-h.stop:
	default:
		close(h.stop)
	}
	h.wg.Wait()
	h.mu.Lock()
	for _, err := range h.errs {
		t.Errorf("healthy %v", err)
	}
	h.mu.Unlock()
	if h.f.rec != nil {
		for _, nc := range h.conns {
			if err, closed := h.f.rec.closedReason(nc.LocalAddr().String()); closed {
				t.Errorf("healthy session of %s closed by the server: %v", nc.LocalAddr(), err)
			}
		}
	}
	var total int64
	for i := range h.trips {
		total += h.trips[i].Load()
	}
	t.Logf("healthy: %d clients, %d round trips verified", len(h.trips), total)
	h.halt()
}

func (h *healthy) failed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.errs) > 0
}

// heapInuse returns the heap in use after a garbage collection.
func heapInuse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// heapNow returns the heap in use without forcing a collection: garbage
// included, so an upper bound of what is live.
func heapNow() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// totalAlloc returns the bytes allocated by the process so far.
func totalAlloc() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}

// heapSlack is how far the heap in use may end above where a case started:
// generous, because pools and the runtime keep some memory, but far below
// what an unbounded buffer would take.
const heapSlack = 64 << 20

// watchResources records the goroutine count and heap in use now and, when
// the test ends (after every later cleanup: servers stopped, clients
// closed), fails t unless the goroutines come back to that count and the heap
// in use is within heapSlack of where it was.
func watchResources(t testing.TB) {
	t.Helper()
	goroutines, heap := runtime.NumGoroutine(), heapInuse()
	t.Cleanup(func() {
		var now int
		deadline := time.Now().Add(nettest.Timeout)
		for now = runtime.NumGoroutine(); now > goroutines && time.Now().Before(deadline); now = runtime.NumGoroutine() {
			time.Sleep(10 * time.Millisecond) // polling for an effect, bounded by deadline
		}
		if now > goroutines {
			buf := make([]byte, 1<<20)
			t.Errorf("goroutines = %d after the case; want at most %d, as at its start\n%s",
				now, goroutines, buf[:runtime.Stack(buf, true)])
		}
		if end := heapInuse(); end > heap+heapSlack {
			t.Errorf("heap in use = %d MiB after the case; want at most %d MiB (%d MiB at its start + %d MiB)",
				end>>20, (heap+heapSlack)>>20, heap>>20, heapSlack>>20)
		}
	})
}

// logBuffer collects a logger's output; safe for concurrent use.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer // guarded by mu
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
