package bench

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netsys-go/netsys/codec"
)

// frames returns payloads framed with c, concatenated.
func frames(t *testing.T, c codec.Codec, payloads ...[]byte) []byte {
	t.Helper()
	var b []byte
	for _, p := range payloads {
		var err error
		if b, err = c.Append(b, p); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// roundTrip writes stream to addr (as SplitAddr reads it) in pieces of at
// most piece bytes and returns the first len(stream) bytes read back.
func roundTrip(t *testing.T, addr string, stream []byte, piece int) []byte {
	t.Helper()
	network, address := SplitAddr(addr) // not net.Dial(SplitAddr(addr)): go vet's hostport check panics on it (Go 1.26)
	c, err := net.Dial(network, address)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	go func() {
		for rest := stream; len(rest) > 0; {
			n := min(piece, len(rest))
			if _, err := c.Write(rest[:n]); err != nil {
				return
			}
			rest = rest[n:]
		}
	}()
	got := make([]byte, len(stream))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("reading the echo: %v", err)
	}
	return got
}

func TestServersEcho(t *testing.T) {
	large := bytes.Repeat([]byte("0123456789abcdef"), 9000) // 144,000 bytes
	line := func(s string) []byte { return []byte(s + "\n") }
	lengthStream := frames(t, codec.Default(), []byte("a"), large, []byte{}, []byte("b"), large[:5000], []byte("c"))
	// The line codec frames by delimiter: ServeNet cannot learn a frame's
	// size from its header, so a long line grows its buffer step by step.
	lineStream := append(append(line("hello"), large...), "\nbye\n"...)
	tests := []struct {
		name   string
		addr   func(*testing.T) string
		stream []byte
	}{
		{name: "net, length field", addr: func(t *testing.T) string { return startNet(t, codec.Default()) }, stream: lengthStream},
		{name: "net, lines", addr: func(t *testing.T) string { return startNet(t, codec.NewLine(1<<20)) }, stream: lineStream},
		{name: "gnet, length field", addr: startGnet, stream: lengthStream},
		{name: "nbio, length field", addr: startNbio, stream: lengthStream},
	}
	for _, tt := range tests {
		addr := tt.addr(t)
		for _, piece := range []int{len(tt.stream), 1000, 7} {
			if got := roundTrip(t, addr, tt.stream, piece); !bytes.Equal(got, tt.stream) {
				t.Errorf("%s, written %d bytes at a time: echo differs from the %d bytes sent", tt.name, piece, len(tt.stream))
			}
		}
	}
}

// TestServersEchoUnix runs each baseline on a Unix socket: it reports the
// socket as its address, echoes a stream over it, and leaves no socket file
// behind once stopped.
func TestServersEchoUnix(t *testing.T) {
	stream := frames(t, codec.Default(), []byte("a"), bytes.Repeat([]byte("0123456789abcdef"), 9000), []byte{}, []byte("b"))
	type server struct {
		addr net.Addr
		stop func() error
	}
	tests := []struct {
		name  string
		start func(addr string) (server, error)
	}{
		{"net", func(addr string) (server, error) {
			ln, err := net.Listen("unix", strings.TrimPrefix(addr, "unix://"))
			if err != nil {
				return server{}, err
			}
			done := make(chan error, 1)
			go func() { done <- ServeNet(ln, codec.Default()) }()
			return server{ln.Addr(), func() error { _ = ln.Close(); return <-done }}, nil
		}},
		{"gnet", func(addr string) (server, error) {
			s, err := ServeGnet(addr, 1)
			if err != nil {
				return server{}, err
			}
			return server{s.Addr(), func() error { return stop(s.Stop) }}, nil
		}},
		{"nbio", func(addr string) (server, error) {
			s, err := ServeNbio(addr, 1)
			if err != nil {
				return server{}, err
			}
			return server{s.Addr(), func() error { return stop(s.Stop) }}, nil
		}},
	}
	for _, tt := range tests {
		path := filepath.Join(t.TempDir(), "echo.sock")
		s, err := tt.start("unix://" + path)
		if err != nil {
			t.Fatalf("%s on unix://%s: %v", tt.name, path, err)
		}
		if a, ok := s.addr.(*net.UnixAddr); !ok || a.Name != path {
			t.Errorf("%s: Addr() = %#v; want the Unix socket %s", tt.name, s.addr, path)
		}
		for _, piece := range []int{len(stream), 7} {
			if got := roundTrip(t, "unix://"+path, stream, piece); !bytes.Equal(got, stream) {
				t.Errorf("%s over a Unix socket, written %d bytes at a time: echo differs from the %d bytes sent", tt.name, piece, len(stream))
			}
		}
		if err := s.stop(); err != nil {
			t.Errorf("%s: stop: %v", tt.name, err)
		}
		if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s stopped: Lstat(%s) = %v; want the socket file removed", tt.name, path, err)
		}
	}
}

// stop calls a server's Stop with a deadline.
func stop(f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return f(ctx)
}

func TestSplitAddr(t *testing.T) {
	for addr, want := range map[string][2]string{
		"127.0.0.1:9000":        {"tcp", "127.0.0.1:9000"},
		"tcp://[::1]:9000":      {"tcp", "[::1]:9000"},
		"unix:///tmp/echo.sock": {"unix", "/tmp/echo.sock"},
		"unix://":               {"unix", ""},
	} {
		if n, a := SplitAddr(addr); n != want[0] || a != want[1] {
			t.Errorf("SplitAddr(%q) = %q, %q; want %q, %q", addr, n, a, want[0], want[1])
		}
	}
}

func TestServersCloseOnOversizedFrame(t *testing.T) {
	tooLarge := []byte{0x7f, 0xff, 0xff, 0xff, 'x'} // a length beyond codec.DefaultMaxFrame
	for name, addr := range map[string]string{"net": startNet(t, codec.Default()), "gnet": startGnet(t), "nbio": startNbio(t)} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(tooLarge); err != nil {
			t.Fatal(err)
		}
		var ne net.Error
		if n, err := c.Read(make([]byte, 1)); err == nil || errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("%s: Read after an oversized frame = %d, %v; want the connection closed", name, n, err)
		}
		_ = c.Close()
	}
}

func TestServeNetStopsOnListenerClose(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ServeNet(ln, codec.Default()) }()
	stream := frames(t, codec.Default(), []byte("ping"))
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(stream); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, len(stream))); err != nil { // the connection is being served
		t.Fatal(err)
	}
	_ = ln.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ServeNet after its listener closed = %v; want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeNet did not return after its listener closed")
	}
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("Read on a connection of a stopped ServeNet = %v; want EOF", err)
	}
}

func TestServeGnetAddr(t *testing.T) {
	s, err := ServeGnet("127.0.0.1:0", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background())
	a, ok := s.Addr().(*net.TCPAddr)
	if !ok || a.Port == 0 || !a.IP.IsLoopback() {
		t.Errorf("Addr() = %v; want a loopback address with the port picked", s.Addr())
	}
	if _, err := ServeGnet("192.0.2.1:0", 1); err == nil { // not an address of this host
		t.Error("ServeGnet on a foreign address = nil error; want one")
	}
}

func TestServeNbioAddr(t *testing.T) {
	s, err := ServeNbio("127.0.0.1:0", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background())
	a, ok := s.Addr().(*net.TCPAddr)
	if !ok || a.Port == 0 || !a.IP.IsLoopback() {
		t.Errorf("Addr() = %v; want a loopback address with the port picked", s.Addr())
	}
	if _, err := ServeNbio("192.0.2.1:0", 1); err == nil { // not an address of this host
		t.Error("ServeNbio on a foreign address = nil error; want one")
	}
}

// TestServeNbioManyConns sends many small frames and one large one
// split across reads, in one stream, over several connections at once: nbio
// hands a connection's reads to OnData from its shared poller buffer, so an
// echo must not keep a reference into it.
func TestServeNbioManyConns(t *testing.T) {
	addr := startNbio(t)
	c := codec.Default()
	var payloads [][]byte
	for i := range 200 {
		payloads = append(payloads, bytes.Repeat([]byte{byte(i)}, 1+i*37%300))
	}
	payloads = append(payloads, bytes.Repeat([]byte("xyz"), 50000))
	stream := frames(t, c, payloads...)
	done := make(chan []byte, 8)
	for range 8 {
		go func() { done <- roundTripQuiet(addr, stream, 333) }()
	}
	for range 8 {
		if got := <-done; !bytes.Equal(got, stream) {
			t.Fatalf("echo of %d bytes over 8 connections at once: got %d bytes, differing", len(stream), len(got))
		}
	}
}

// roundTripQuiet is roundTrip for other goroutines than the test's: it
// returns what it read, nil on an error.
func roundTripQuiet(addr string, stream []byte, piece int) []byte {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	go func() {
		for rest := stream; len(rest) > 0; {
			n := min(piece, len(rest))
			if _, err := c.Write(rest[:n]); err != nil {
				return
			}
			rest = rest[n:]
		}
	}()
	got := make([]byte, len(stream))
	if _, err := io.ReadFull(c, got); err != nil {
		return nil
	}
	return got
}
