package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/netsys-go/netsys/metrics"
	"github.com/netsys-go/netsys/metrics/export"
)

func TestParseMonitorAddr(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{in: ":9100", want: "127.0.0.1:9100"},
		{in: "127.0.0.1:0", want: "127.0.0.1:0"},
		{in: "0.0.0.0:09100", want: "0.0.0.0:9100"},
		{in: "[::1]:9100", want: "[::1]:9100"},
		{in: "localhost:80", want: "localhost:80"},
		{in: "", wantErr: true},
		{in: "9100", wantErr: true},
		{in: "127.0.0.1", wantErr: true},
		{in: ":http", wantErr: true},
		{in: ":65536", wantErr: true},
		{in: ":-1", wantErr: true},
		{in: "a:b:c", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseMonitorAddr(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseMonitorAddr(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !strings.Contains(err.Error(), "-monitor") {
			t.Errorf("parseMonitorAddr(%q) error %q does not name the flag", tt.in, err)
		}
	}
}

func TestMonitorConfigDefaults(t *testing.T) {
	for _, withPprof := range []bool{false, true} {
		c := defaultMonitorConfig(withPprof)
		if c.readHeaderTimeout <= 0 || c.readTimeout <= 0 || c.writeTimeout <= 0 || c.idleTimeout <= 0 ||
			c.maxHeaderBytes <= 0 || c.maxConns <= 0 {
			t.Errorf("defaultMonitorConfig(%v) = %+v; want every limit set", withPprof, c)
		}
		if withPprof && c.writeTimeout <= 30*time.Second {
			t.Errorf("with pprof, write timeout %v; want more than pprof's 30 s profile", c.writeTimeout)
		}
	}
}

// testMonitor starts the monitor on loopback with c's limits, serving the
// export handlers, and closes it when the test ends.
func testMonitor(t *testing.T, c monitorConfig) (*monitorServer, *metrics.Monitor) {
	t.Helper()
	mon := metrics.NewMonitor()
	mux := http.NewServeMux()
	mux.Handle("/metrics", export.MetricsHandler(mon))
	mux.Handle("/stats", export.StatsHandler(mon))
	ms, err := startMonitor("127.0.0.1:0", mux, c, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ms.Close)
	return ms, mon
}

// keepAliveConn is a raw HTTP/1.1 connection that sends requests and keeps
// the connection open between them.
type keepAliveConn struct {
	net.Conn
	r *bufio.Reader
}

func dialKeepAlive(t *testing.T, addr net.Addr) *keepAliveConn {
	t.Helper()
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &keepAliveConn{Conn: c, r: bufio.NewReader(c)}
}

// send writes a GET for /stats.
func (c *keepAliveConn) send() error {
	_, err := io.WriteString(c, "GET /stats HTTP/1.1\r\nHost: monitor\r\n\r\n")
	return err
}

// response reads one response within d and returns its status code.
func (c *keepAliveConn) response(d time.Duration) (int, error) {
	_ = c.SetReadDeadline(time.Now().Add(d))
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, err
	}
	if resp.Close {
		return 0, errors.New("server asked to close the connection")
	}
	return resp.StatusCode, nil
}

// waitOpen waits up to 5 s for the listener to hold want open connections.
func waitOpen(t *testing.T, ms *monitorServer, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for ms.ln.open() != want {
		if time.Now().After(deadline) {
			t.Fatalf("monitor holds %d open connections; want %d", ms.ln.open(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestMonitorClosesIdleKeepAlives reproduces issue 19 item 2 in small: idle
// keep-alive connections to the monitor used to stay open for good. Each is
// now closed once it has been idle for the idle timeout.
func TestMonitorClosesIdleKeepAlives(t *testing.T) {
	const conns = 50
	c := defaultMonitorConfig(false)
	c.idleTimeout = 500 * time.Millisecond
	c.maxConns = conns
	ms, _ := testMonitor(t, c)

	// Open them all, then send a request on each and read its response.
	cs := make([]*keepAliveConn, conns)
	for i := range cs {
		cs[i] = dialKeepAlive(t, ms.Addr())
	}
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i, kc := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := kc.send(); err != nil {
				errs <- fmt.Errorf("conn %d: sending a request: %v", i, err)
				return
			}
			if code, err := kc.response(5 * time.Second); err != nil || code != http.StatusOK {
				errs <- fmt.Errorf("conn %d: GET /stats = %d, %v; want 200 on a kept-alive connection", i, code, err)
				return
			}
			served := time.Now()
			_ = kc.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, err := kc.r.Read(make([]byte, 1))
			idle := time.Since(served)
			switch {
			case !errors.Is(err, io.EOF):
				errs <- fmt.Errorf("conn %d: read %d bytes, %v; want EOF: the server closing the idle connection", i, n, err)
			case idle < c.idleTimeout/2:
				errs <- fmt.Errorf("conn %d: closed after %v idle; want about the idle timeout, %v", i, idle, c.idleTimeout)
			}
		}()
	}
	start := time.Now()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d idle keep-alive connections closed within %v (idle timeout %v)", conns, time.Since(start).Round(time.Millisecond), c.idleTimeout)
	waitOpen(t, ms, 0)
}

// TestMonitorConnectionCap fills the monitor's connection cap with kept-alive
// connections: one more waits unaccepted, and is served as soon as one of
// them closes.
func TestMonitorConnectionCap(t *testing.T) {
	c := defaultMonitorConfig(false)
	c.maxConns = 2
	ms, _ := testMonitor(t, c)

	held := []*keepAliveConn{dialKeepAlive(t, ms.Addr()), dialKeepAlive(t, ms.Addr())}
	for i, kc := range held {
		if err := kc.send(); err != nil {
			t.Fatal(err)
		}
		if code, err := kc.response(5 * time.Second); err != nil || code != http.StatusOK {
			t.Fatalf("conn %d: GET /stats = %d, %v; want 200", i, code, err)
		}
	}
	extra := dialKeepAlive(t, ms.Addr()) // the kernel completes the handshake
	if err := extra.send(); err != nil {
		t.Fatal(err)
	}
	if code, err := extra.response(300 * time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("third conn past a cap of 2: GET /stats = %d, %v; want no answer (a read timeout)", code, err)
	}
	if n := ms.ln.open(); n != 2 {
		t.Errorf("monitor holds %d connections; want the cap, 2", n)
	}

	held[0].Close()
	if code, err := extra.response(5 * time.Second); err != nil || code != http.StatusOK {
		t.Fatalf("third conn after one of the two closed: GET /stats = %d, %v; want 200", code, err)
	}
	waitOpen(t, ms, 2)
	// Closing the monitor wakes an Accept that waits for a slot.
	ms.Close()
	waitOpen(t, ms, 0)
}

// TestMonitorDropsSlowHeaders: a client that sends part of a request and
// stalls is cut off after the read-header timeout.
func TestMonitorDropsSlowHeaders(t *testing.T) {
	c := defaultMonitorConfig(false)
	c.readHeaderTimeout = 200 * time.Millisecond
	c.readTimeout = 200 * time.Millisecond
	ms, _ := testMonitor(t, c)
	kc := dialKeepAlive(t, ms.Addr())
	if _, err := io.WriteString(kc, "GET /stats HTTP/1.1\r\nHost: mon"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_ = kc.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := io.ReadAll(kc.r) // the server may answer 408 before it closes
	if err != nil {
		t.Fatalf("stalled request: %v; want the server to close the connection", err)
	}
	if d := time.Since(start); d < c.readHeaderTimeout/2 {
		t.Errorf("stalled request cut after %v; want about %v", d, c.readHeaderTimeout)
	}
	waitOpen(t, ms, 0)
}

// TestServeMonitorEndpoints runs serveMonitor as runServe does and checks
// both endpoints, with the standard process and Go collectors on /metrics.
func TestServeMonitorEndpoints(t *testing.T) {
	var logBuf syncBuffer
	log := slog.New(slog.NewTextHandler(&logBuf, nil))
	mon := metrics.NewMonitor()
	mon.Source(metrics.KindServer, "echo", 1).Shard(0).MessagesIn(3, 30)
	stop, err := serveMonitor("127.0.0.1:0", mon, false, log)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	m := regexp.MustCompile(`msg="netsys: monitor" addr=(\S+)`).FindStringSubmatch(logBuf.String())
	if m == nil {
		t.Fatalf("serveMonitor did not log its address: %q", logBuf.String())
	}
	resp, err := http.Get("http://" + m[1] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	for _, name := range []string{"netsys_messages_received_total", "process_open_fds", "process_resident_memory_bytes", "go_goroutines"} {
		if families[name] == nil {
			t.Errorf("/metrics has no %s", name)
		}
	}
	resp, err = http.Get("http://" + m[1] + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"in": 3`)) {
		t.Errorf("/stats = %d %s; want 200 and 3 messages in", resp.StatusCode, body)
	}
	if _, err := serveMonitor("127.0.0.1:http", mon, false, log); err == nil {
		t.Errorf("serveMonitor with a named port: no error; want the address refused")
	}
}

// syncBuffer is a bytes.Buffer safe for the logger and the test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
