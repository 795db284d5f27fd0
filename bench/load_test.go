package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netsys-go/netsys/codec"
)

// startNet runs ServeNet with c on a loopback port until the test ends and
// returns its address.
func startNet(t *testing.T, c codec.Codec) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ServeNet(ln, c) }()
	t.Cleanup(func() {
		_ = ln.Close()
		if err := <-done; err != nil {
			t.Errorf("ServeNet: %v", err)
		}
	})
	return ln.Addr().String()
}

// startGnet runs ServeGnet with one loop on a loopback port until the test
// ends and returns its address.
func startGnet(t *testing.T) string {
	t.Helper()
	s, err := ServeGnet("127.0.0.1:0", 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return s.Addr().String()
}

// startNbio starts a bare nbio echo with one poller for the test.
func startNbio(t *testing.T) string {
	t.Helper()
	s, err := ServeNbio("127.0.0.1:0", 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return s.Addr().String()
}

func TestLoadAgainstBaselines(t *testing.T) {
	servers := []struct {
		name  string
		start func(*testing.T) string
	}{
		{name: "net", start: func(t *testing.T) string { return startNet(t, codec.Default()) }},
		{name: "gnet", start: startGnet},
		{name: "nbio", start: startNbio},
	}
	runs := []struct {
		name string
		cfg  LoadConfig
	}{
		{name: "closed", cfg: LoadConfig{Conns: 4, Payload: 64}},
		{name: "pipelined", cfg: LoadConfig{Conns: 4, Payload: 64, InFlight: 8}},
		{name: "tiny", cfg: LoadConfig{Conns: 2, Payload: 5, InFlight: 3}}, // shorter than the payload header
		// Larger than net's 4 KiB read buffer and gnet's and nbio's 64 KiB
		// ones; a longer window, for round trips under -race on a busy
		// machine (a 1 s window of 300 KiB messages saw none there).
		{name: "large", cfg: LoadConfig{Conns: 2, Payload: 80 << 10, InFlight: 2, Duration: 2 * time.Second}},
		{name: "open", cfg: LoadConfig{Conns: 4, Payload: 64, Rate: 2000}},
		{name: "open bursts", cfg: LoadConfig{Conns: 4, Payload: 64, Rate: 8000, InFlight: 4}},
		{name: "idle", cfg: LoadConfig{Conns: 50, Idle: true}},
	}
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			addr := srv.start(t)
			for _, run := range runs {
				cfg := run.cfg
				cfg.Addr, cfg.Warmup = addr, 50*time.Millisecond
				if cfg.Duration == 0 {
					cfg.Duration = 200 * time.Millisecond
				}
				res, err := Load(context.Background(), cfg)
				if err != nil {
					t.Fatalf("%s: Load: %v", run.name, err)
				}
				if res.Messages == 0 || res.Errors != 0 || res.Mismatches != 0 {
					t.Errorf("%s: Load = %d messages, %d errors, %d mismatches; want some messages and no errors",
						run.name, res.Messages, res.Errors, res.Mismatches)
				}
				if res.Latency.P50 > res.Latency.P99 || res.Latency.P99 > res.Latency.Max {
					t.Errorf("%s: latency p50 %v, p99 %v, max %v; want them in order", run.name, res.Latency.P50, res.Latency.P99, res.Latency.Max)
				}
				if cfg.Idle && res.Messages != int64(cfg.Conns) {
					t.Errorf("%s: idle run = %d messages; want one per connection, %d", run.name, res.Messages, cfg.Conns)
				}
			}
		})
	}
}

// TestLoadOverUnixSocket drives the net baseline over a Unix socket, and
// refuses a unix:// address without a path or with no server behind it.
func TestLoadOverUnixSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "echo.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ServeNet(ln, codec.Default()) }()
	defer func() {
		_ = ln.Close()
		if err := <-done; err != nil {
			t.Errorf("ServeNet: %v", err)
		}
	}()
	res, err := Load(context.Background(), LoadConfig{Addr: "unix://" + path, Conns: 2, InFlight: 2,
		Warmup: 50 * time.Millisecond, Duration: 200 * time.Millisecond})
	if err != nil {
		t.Fatalf("Load over a Unix socket: %v", err)
	}
	if res.Messages == 0 || res.Errors != 0 {
		t.Errorf("Load over a Unix socket = %d messages, %d errors; want some messages and no errors", res.Messages, res.Errors)
	}
	if _, err := Load(context.Background(), LoadConfig{Addr: "unix://"}); !errors.Is(err, ErrConfig) {
		t.Errorf("Load on unix:// = %v; want ErrConfig", err)
	}
	_, err = Load(context.Background(), LoadConfig{Addr: "unix://" + path + ".none", Duration: time.Millisecond})
	if !errors.Is(err, ErrConnect) {
		t.Errorf("Load on a socket path with nothing there = %v; want ErrConnect", err)
	}
}

// flipCodec frames like its Codec but flips the last byte of every frame it
// appends: an echo server built on it corrupts every echo.
type flipCodec struct{ codec.Codec }

func (f flipCodec) Append(dst, payload []byte) ([]byte, error) {
	out, err := f.Codec.Append(dst, payload)
	if err == nil {
		out[len(out)-1] ^= 0xff
	}
	return out, err
}

func TestLoadDetectsCorruptEchoes(t *testing.T) {
	addr := startNet(t, flipCodec{codec.Default()})
	res, err := Load(context.Background(), LoadConfig{Addr: addr, Conns: 2, Duration: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Messages == 0 || res.Mismatches != res.Messages || res.Errors < res.Mismatches {
		t.Errorf("Load against a corrupting server = %d messages, %d mismatches, %d errors; want every message a mismatch and an error",
			res.Messages, res.Mismatches, res.Errors)
	}
}

func TestLoadCountsLostConnections(t *testing.T) {
	// A server that reads one message and hangs up.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				_, _ = c.Read(make([]byte, 1))
				_ = c.Close()
			}()
		}
	}()
	res, err := Load(context.Background(), LoadConfig{Addr: ln.Addr().String(), Conns: 3, Duration: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// Each connection is lost (1) with its one message (1).
	if res.Errors != 6 || res.Messages != 0 || res.ClosedEarly != 3 || res.Unanswered != 3 {
		t.Errorf("Load against a hanging-up server = %d errors (%d closed before an echo, %d unanswered), %d messages; "+
			"want 6 errors: 3 closed early, 3 unanswered, 0 messages", res.Errors, res.ClosedEarly, res.Unanswered, res.Messages)
	}
	var b strings.Builder
	if err := res.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"errors     6\n", "3 connections closed by the server before any echo", "3 messages never answered"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("WriteText lacks %q:\n%s", want, b.String())
		}
	}
}

// TestLoadCountsConnectionsClosedLater runs against a server that echoes
// one message per connection and then hangs up, as an idle timeout does.
func TestLoadCountsConnectionsClosedLater(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				msg := make([]byte, 4+64)
				if _, err := io.ReadFull(c, msg); err == nil {
					_, _ = c.Write(msg)
				}
			}()
		}
	}()
	res, err := Load(context.Background(), LoadConfig{Addr: ln.Addr().String(), Conns: 2, Duration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.ClosedLater != 2 || res.ClosedEarly != 0 || res.Errors != res.ClosedLater+res.Unanswered {
		t.Errorf("Load against a server that hangs up after one echo = %d errors: %d closed later, %d early, %d unanswered; "+
			"want 2 closed later and their unanswered messages", res.Errors, res.ClosedLater, res.ClosedEarly, res.Unanswered)
	}
}

// TestProgressPhaseTime checks that the measured window's elapsed time
// starts at its own start, not the warm-up's.
func TestProgressPhaseTime(t *testing.T) {
	addr := startNet(t, codec.Default())
	const warmup, window = 400 * time.Millisecond, 300 * time.Millisecond
	var firstMeasure *Progress
	_, err := Load(context.Background(), LoadConfig{Addr: addr, Warmup: warmup, Duration: window,
		Status: func(p Progress) {
			if p.Phase == PhaseMeasure && firstMeasure == nil {
				firstMeasure = &p
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if firstMeasure == nil || firstMeasure.Elapsed >= warmup || firstMeasure.Of != window {
		t.Errorf("first report of the window = %+v; want its elapsed time below the %v warm-up, out of %v", firstMeasure, warmup, window)
	}
}

func TestProgressString(t *testing.T) {
	p := Progress{Phase: PhaseMeasure, Elapsed: 95 * time.Second, Of: 100 * time.Second, Conns: 10000,
		Rate: 1_234_567, P99: 12_345}
	s := p.String()
	if n := len([]rune(s)); n > 64 || !strings.HasPrefix(s, "measure") || !strings.Contains(s, "95s/100s") || strings.Contains(s, "errors") {
		t.Errorf("Progress.String() = %q (%d columns); want the phase, 95s/100s, no errors, within 64 columns", s, n)
	}
	p.Errors = 3
	if s := p.String(); !strings.HasSuffix(s, "  3 errors") {
		t.Errorf("Progress.String() with errors = %q; want them at the end", s)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  LoadConfig
	}{
		{name: "no address", cfg: LoadConfig{}},
		{name: "negative conns", cfg: LoadConfig{Addr: "x:1", Conns: -1}},
		{name: "payload too large", cfg: LoadConfig{Addr: "x:1", Payload: MaxPayload + 1}},
		{name: "negative duration", cfg: LoadConfig{Addr: "x:1", Duration: -time.Second}},
		{name: "negative rate", cfg: LoadConfig{Addr: "x:1", Rate: -10}},
		{name: "negative warm-up", cfg: LoadConfig{Addr: "x:1", Warmup: -time.Second}},
		{name: "idle with rate", cfg: LoadConfig{Addr: "x:1", Rate: 10, Idle: true}},
	}
	for _, tt := range tests {
		if _, err := Load(context.Background(), tt.cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: Load(%+v) = %v; want ErrConfig", tt.name, tt.cfg, err)
		}
	}
}

func TestLoadConnectRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nothing listens there now
	if _, err := Load(context.Background(), LoadConfig{Addr: addr, Duration: time.Second}); !errors.Is(err, ErrConnect) {
		t.Errorf("Load(%s) with no listener = %v; want ErrConnect", addr, err)
	}
}

func TestLoadCancel(t *testing.T) {
	addr := startNet(t, codec.Default())
	tests := []struct {
		name    string
		phase   Phase // cancel when Status reports it
		wantErr error
	}{
		{name: "in warm-up", phase: PhaseWarmup, wantErr: context.Canceled},
		{name: "in window", phase: PhaseMeasure, wantErr: nil},
	}
	for _, tt := range tests {
		ctx, cancel := context.WithCancel(context.Background())
		var phases []Phase
		cfg := LoadConfig{Addr: addr, Warmup: time.Second, Duration: time.Minute,
			Status: func(p Progress) {
				phases = append(phases, p.Phase)
				if p.Phase == tt.phase {
					cancel()
				}
			}}
		if tt.phase == PhaseMeasure {
			cfg.Warmup = 0
		}
		res, err := Load(ctx, cfg)
		cancel()
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: Load = %v; want %v", tt.name, err, tt.wantErr)
		}
		if err == nil && res.Duration >= cfg.Duration {
			t.Errorf("%s: window %v; want it cut short of %v", tt.name, res.Duration, cfg.Duration)
		}
		if err == nil && phases[len(phases)-1] != PhaseDone {
			t.Errorf("%s: phases %v; want them to end with %s", tt.name, phases, PhaseDone)
		}
	}
}

func TestPayloads(t *testing.T) {
	for _, size := range []int{1, 5, seqHeader, seqHeader + 1, 300} {
		p := newPayloads(size)
		b := p.append(nil, 7, 1234)
		if len(b) != size || !p.check(b, 7, 1234) {
			t.Fatalf("size %d: check(append(7, 1234)) = false or length %d; want a %d-byte payload that checks", size, len(b), size)
		}
		if other := p.append(nil, 7, 1235); size > seqHeader && string(other[seqHeader:]) == string(b[seqHeader:]) {
			t.Errorf("size %d: payloads 1234 and 1235 share their pattern", size)
		}
		for i := range b {
			b[i] ^= 0x01
			if p.check(b, 7, 1234) {
				t.Errorf("size %d: check accepts a payload with byte %d flipped", size, i)
			}
			b[i] ^= 0x01
		}
		if p.check(b, 7, 1233) {
			t.Errorf("size %d: check accepts the previous message's payload", size)
		}
		if size > 8 && p.check(b, 8, 1234) {
			t.Errorf("size %d: check accepts another connection's payload", size)
		}
		if p.check(b[:size-1], 7, 1234) {
			t.Errorf("size %d: check accepts a short payload", size)
		}
	}
}

func TestFIFO(t *testing.T) {
	var f fifo
	next, want := int64(0), int64(0)
	for round := range 50 { // interleave pushes and pops across growth and wrap-around
		for range round % 7 {
			f.push(next)
			next++
		}
		for range round % 5 {
			v, ok := f.pop()
			if !ok {
				if want != next {
					t.Fatalf("pop() = empty with %d queued", next-want)
				}
				break
			}
			if v != want {
				t.Fatalf("pop() = %d; want %d", v, want)
			}
			want++
		}
	}
	if f.n != int(next-want) {
		t.Errorf("fifo holds %d; want %d", f.n, next-want)
	}
}

// benchLoop returns a loop and a connection, without gnet, to exercise the
// per-message path.
func benchLoop(payload int) (*loop, *conn) {
	r := &run{cfg: LoadConfig{Payload: payload, InFlight: 1}, codec: codec.Default(), payloads: newPayloads(payload)}
	r.measEnd.Store(1 << 62)
	l := &loop{r: r, hist: newHistogram()}
	return l, &conn{}
}

// message sends one message on c and receives its echo, as OnTraffic does.
func (l *loop) message(c *conn, now int64) {
	l.out = l.appendMessage(l.out[:0], c, now)
	payload, _, _ := l.r.codec.Decode(l.out)
	l.receive(c, payload, now+20_000)
}

func TestMessageAllocs(t *testing.T) {
	l, c := benchLoop(1024)
	l.message(c, 0) // grow the buffers
	now := int64(0)
	if n := testing.AllocsPerRun(1000, func() { now++; l.message(c, now) }); n != 0 {
		t.Errorf("a message round trip allocates %v times; want 0", n)
	}
	if l.tally.mismatches != 0 || l.tally.messages == 0 {
		t.Errorf("tally %+v; want messages and no mismatches", l.tally)
	}
}

func BenchmarkMessage(b *testing.B) {
	for _, size := range []int{64, 1024, 64 << 10} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			l, c := benchLoop(size)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for i := range b.N {
				l.message(c, int64(i))
			}
		})
	}
}

// TestErrorText checks the wording of each kind of error, one and many.
func TestErrorText(t *testing.T) {
	res := Result{Errors: 5, ClosedEarly: 1, ClosedLater: 2, Rejected: 1, Mismatches: 0, Unanswered: 1}
	want := "5" +
		"\n    1 connection closed by the server before any echo (connection limit?)" +
		"\n    2 connections closed by the server after echoing (idle timeout? stopped?)" +
		"\n    1 echo not in the wire format (connection closed)" +
		"\n    1 message never answered"
	if got := res.errorText(); got != want {
		t.Errorf("errorText:\n%s\nwant:\n%s", got, want)
	}
	if got := (Result{}).errorText(); got != "0" {
		t.Errorf("errorText without errors = %q; want 0", got)
	}
}
