package faulttest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/netsys-go/netsys/codec"
	"github.com/netsys-go/netsys/engine"
	"github.com/netsys-go/netsys/internal/nettest"
	"github.com/netsys-go/netsys/session"
)

// healthyClients is the size of the background group of every case.
const healthyClients = 4

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

func TestMalformedFrames(t *testing.T) {
	tests := []struct {
		name string
		wire wire
		opts []engine.Option
		send []byte
		want error
		kind string // the metrics error kind counted for it
	}{
		{name: "length over MaxFrameSize", wire: defaultWire, opts: []engine.Option{engine.WithMaxFrameSize(64 << 10)},
			send: be32(64<<10 + 1), want: codec.ErrFrameTooLarge, kind: "frame_too_large"},
		{name: "length of 4 GiB", wire: defaultWire,
			send: be32(0xFFFFFFFF), want: codec.ErrFrameTooLarge, kind: "frame_too_large"},
		{name: "length below the header it includes", wire: adjustWire,
			send: be32(1), want: codec.ErrBadLength, kind: "bad_length"},
		{name: "line over the limit", wire: lineWire,
			send: bytes.Repeat([]byte("x"), 100), want: codec.ErrFrameTooLarge, kind: "frame_too_large"},
		{name: "line over the limit with its newline", wire: lineWire,
			send: append(bytes.Repeat([]byte("x"), 70), '\n'), want: codec.ErrFrameTooLarge, kind: "frame_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			watchResources(t)
			f := newFixture(t, tt.wire, nil, tt.opts...)
			h := startHealthy(t, f, healthyClients)
			heap, alloc := heapInuse(), totalAlloc()

			bad := dial(t, f.addr)
			write(t, bad, tt.send)
			waitClosed(t, bad) // the rest of the frame never comes: it is refused as it stands
			if err := f.rec.reason(t, bad); !errors.Is(err, tt.want) {
				t.Errorf("reason after %q = %v; want %v", tt.send, err, tt.want)
			}
			// Nothing is allocated for a refused frame: a 4 GiB (or 64 KiB) buffer
			// would show in the heap, or at least in the bytes allocated.
			if grew := int64(heapInuse()) - int64(heap); grew > 4<<20 {
				t.Errorf("heap in use grew by %d KiB while refusing %q; want < 4 MiB", grew>>10, tt.send)
			}
			if allocated := totalAlloc() - alloc; allocated > 64<<20 {
				t.Errorf("%d MiB allocated while refusing %q; want nothing for the frame", allocated>>20, tt.send)
			}
			if n := f.errorCount(tt.kind); n != 1 {
				t.Errorf("metrics errors[%s] = %d; want 1", tt.kind, n)
			}
			h.check(t)
		})
	}
}

func TestGarbageOnEveryCodec(t *testing.T) {
	frameErrs := []error{codec.ErrFrameTooLarge, codec.ErrBadLength, engine.ErrPeerClosed}
	tests := []struct {
		wire    wire
		reasons []error // the reasons a garbage session may be closed with
	}{
		{wire: defaultWire, reasons: frameErrs},
		{wire: adjustWire, reasons: frameErrs},
		{wire: lineWire, reasons: frameErrs},
		{wire: delimWire, reasons: frameErrs},
		{wire: fixedWire, reasons: []error{engine.ErrPeerClosed}}, // every byte string is whole frames and a rest
		{wire: rawWire, reasons: []error{engine.ErrPeerClosed}},
	}
	for _, tt := range tests {
		t.Run(tt.wire.name, func(t *testing.T) {
			watchResources(t)
			f := newFixture(t, tt.wire, nil)
			h := startHealthy(t, f, healthyClients)

			const peers, size = 6, 8 << 10
			for i := range peers {
				rng := rand.New(rand.NewPCG(uint64(i), 7))
				junk := make([]byte, size)
				for j := range junk {
					junk[j] = byte(rng.Uint32())
				}
				nc := dial(t, f.addr)
				_ = nc.SetWriteDeadline(time.Now().Add(nettest.Timeout))
				for rest := junk; len(rest) > 0; {
					n := min(len(rest), 1+rng.IntN(1024))
					if _, err := nc.Write(rest[:n]); err != nil {
						break // the server may have closed it already
					}
					rest = rest[n:]
				}
				_ = nc.(*net.TCPConn).CloseWrite()
				_ = nc.SetReadDeadline(time.Now().Add(nettest.Timeout))
				echoed, err := io.ReadAll(nc)

				reason := f.rec.reason(t, nc)
				if !isOneOf(reason, tt.reasons) {
					t.Errorf("garbage peer %d closed with %v; want one of %v", i, reason, tt.reasons)
				}
				// Formats that frame any bytes echo the garbage back, whole frames only.
				if tt.wire.fixed > 0 || tt.wire.raw {
					want := junk[:size-size%max(tt.wire.fixed, 1)]
					if err != nil || !bytes.Equal(echoed, want) {
						t.Errorf("garbage peer %d got %d bytes back, %v; want its %d bytes echoed, then EOF",
							i, len(echoed), err, len(want))
					}
				}
			}
			h.check(t)
			startHealthy(t, f, 1).check(t) // and a newcomer is served
		})
	}
}

func isOneOf(err error, targets []error) bool {
	for _, target := range targets {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

func TestIdleTimeout(t *testing.T) {
	const idle = 150 * time.Millisecond
	tests := []struct {
		name string
		drip time.Duration // 0: send a partial frame at once, then nothing
	}{
		{name: "partial frame then silence"},
		{name: "slowloris, a byte every 20ms", drip: 20 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			watchResources(t)
			f := newFixture(t, defaultWire, nil, engine.WithIdleTimeout(idle))
			h := startHealthy(t, f, healthyClients)

			bad := dial(t, f.addr)
			frame := nettest.Frame(bytes.Repeat([]byte("s"), 1000)) // it would take 20 s to drip
			var dripped atomic.Int64
			if tt.drip == 0 {
				write(t, bad, frame[:5])
			} else {
				done := make(chan struct{})
				var wg sync.WaitGroup
				wg.Add(1)
				go func() {
					defer wg.Done()
					tick := time.NewTicker(tt.drip)
					defer tick.Stop()
					for i := range frame {
						select {
						case <-done:
							return
						case <-tick.C:
						}
						if _, err := bad.Write(frame[i : i+1]); err != nil {
							return // closed by the server
						}
						dripped.Add(1)
					}
				}()
				t.Cleanup(func() { close(done); wg.Wait() })
			}
			waitClosed(t, bad)
			if err := f.rec.reason(t, bad); !errors.Is(err, engine.ErrIdleTimeout) {
				t.Errorf("reason = %v; want ErrIdleTimeout", err)
			}
			if tt.drip > 0 && dripped.Load() < 2 {
				t.Errorf("dripped %d bytes before the close; want the peer active at the byte level", dripped.Load())
			}
			if n := f.errorCount("idle_timeout"); n != 1 {
				t.Errorf("metrics errors[idle_timeout] = %d; want 1", n)
			}
			h.check(t)
		})
	}
}

func TestSlowConsumer(t *testing.T) {
	watchResources(t)
	const highWater = 256 << 10
	const limit = 64 << 20 // what the peer sends at most if it is never cut off
	f := newFixture(t, defaultWire, nil,
		engine.WithWriteHighWater(highWater), engine.WithSocketBuffers(32<<10, 32<<10))
	h := startHealthy(t, f, healthyClients)
	start := heapInuse()

	slow := dial(t, f.addr)
	_ = slow.(*net.TCPConn).SetReadBuffer(16 << 10)
	f.rec.session(t, slow)
	// The peer sends echo requests and never reads the replies; the heap is
	// sampled as it goes, since what the server buffers is freed at the close.
	var sent int
	var peak uint64
	msg := nettest.Frame(bytes.Repeat([]byte("z"), 16<<10))
	for sent < limit {
		_ = slow.SetWriteDeadline(time.Now().Add(nettest.Timeout))
		if _, err := slow.Write(msg); err != nil {
			break // cut off
		}
		sent += len(msg)
		if sent%(1<<20) < len(msg) {
			peak = max(peak, heapNow())
		}
	}
	if err := f.rec.reason(t, slow); !errors.Is(err, engine.ErrSlowConsumer) {
		t.Errorf("reason = %v after %d KiB sent; want ErrSlowConsumer", err, sent>>10)
	}
	if peak > start+24<<20 {
		t.Errorf("heap in use peaked %d MiB above the start with a %d KiB high-water mark; want < 24 MiB",
			(peak-start)>>20, highWater>>10)
	}
	if n := f.errorCount("slow_consumer"); n != 1 {
		t.Errorf("metrics errors[slow_consumer] = %d; want 1", n)
	}
	t.Logf("slow consumer cut off after %d KiB sent", sent>>10)
	h.check(t)
}

func TestConnectionFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("3,000 connections: not in -short")
	}
	const maxConns, dials, dialers = 100, 3000, 50
	watchResources(t)
	f := newFixture(t, defaultWire, nil, engine.WithMaxConns(maxConns))
	h := startHealthy(t, f, healthyClients)

	conns := make([]net.Conn, dials)
	var next atomic.Int64
	var dialErrs sync.Map // error text -> true
	var wg sync.WaitGroup
	for range dialers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < dials; i = next.Add(1) - 1 {
				nc, err := net.DialTimeout("tcp", f.addr, nettest.Timeout)
				if err != nil {
					dialErrs.Store(err.Error(), true)
					continue
				}
				conns[i] = nc
			}
		}()
	}
	wg.Wait()
	dialed := 0
	for _, nc := range conns {
		if nc != nil {
			dialed++
			t.Cleanup(func() { nc.Close() })
		}
	}
	dialErrs.Range(func(k, _ any) bool {
		t.Errorf("dial: %v", k)
		return true
	})

	// Every connection is either admitted as a session or rejected at once.
	var c struct{ admitted, rejected int }
	nettest.Eventually(t, "every connection admitted or rejected", func() error {
		st := f.srv.Monitor().Snapshot().Total.Connections
		c.admitted, c.rejected = int(st.Total)-healthyClients, int(st.Rejected)
		if c.admitted+c.rejected < dialed {
			return fmt.Errorf("%d admitted + %d rejected of %d dialed", c.admitted, c.rejected, dialed)
		}
		return nil
	})
	if c.admitted != maxConns-healthyClients || c.rejected != dialed-c.admitted {
		t.Errorf("admitted %d, rejected %d of %d; want %d admitted and the rest rejected",
			c.admitted, c.rejected, dialed, maxConns-healthyClients)
	}
	// The rejected ones are closed; the admitted ones echo.
	var echoed, closed atomic.Int64
	next.Store(0)
	for range dialers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := nettest.Frame([]byte("admitted?"))
			got := make([]byte, len(msg))
			for i := next.Add(1) - 1; i < dials; i = next.Add(1) - 1 {
				nc := conns[i]
				if nc == nil {
					continue
				}
				_ = nc.SetDeadline(time.Now().Add(nettest.Timeout))
				_, _ = nc.Write(msg) // to a rejected one this may fail or be reset
				_, err := io.ReadFull(nc, got)
				switch {
				case err == nil && bytes.Equal(got, msg):
					echoed.Add(1)
				case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET):
					closed.Add(1)
				default:
					t.Errorf("flood connection %d: read %q, %v; want an echo or a close", i, got, err)
				}
			}
		}()
	}
	wg.Wait()
	if int(echoed.Load()) != c.admitted || int(closed.Load()) != c.rejected {
		t.Errorf("%d connections echoed and %d were closed; want %d and %d",
			echoed.Load(), closed.Load(), c.admitted, c.rejected)
	}
	t.Logf("flood: %d dialed, %d admitted, %d rejected", dialed, c.admitted, c.rejected)
	h.check(t)
}

func TestResetMidFrame(t *testing.T) {
	watchResources(t)
	f := newFixture(t, defaultWire, nil)
	h := startHealthy(t, f, healthyClients)

	bad := dial(t, f.addr)
	f.rec.session(t, bad)
	write(t, bad, nettest.Frame(make([]byte, 100))[:54]) // half a frame
	if err := bad.(*net.TCPConn).SetLinger(0); err != nil {
		t.Fatal(err)
	}
	bad.Close() // RST, not FIN
	if err := f.rec.reason(t, bad); !errors.Is(err, engine.ErrPeerClosed) {
		t.Errorf("reason = %v; want ErrPeerClosed", err)
	}
	h.check(t)
}

func TestHalfCloseAfterSending(t *testing.T) {
	tests := []struct {
		name    string
		frames  int
		size    int
		buffers int // SO_RCVBUF and SO_SNDBUF of both ends; 0: the system's
	}{
		{name: "10 small frames", frames: 10, size: 64},
		{name: "256 frames of 4 KiB, replies beyond 128 KiB socket buffers", frames: 256, size: 4 << 10, buffers: 128 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			watchResources(t)
			var opts []engine.Option
			if tt.buffers > 0 {
				opts = append(opts, engine.WithSocketBuffers(tt.buffers, tt.buffers))
			}
			f := newFixture(t, defaultWire, nil, opts...)
			h := startHealthy(t, f, healthyClients)

			nc := dial(t, f.addr)
			if tt.buffers > 0 {
				_ = nc.(*net.TCPConn).SetReadBuffer(tt.buffers) // fixed: no autotuning to megabytes
			}
			var req []byte
			for i := range tt.frames {
				p := bytes.Repeat([]byte{'a' + byte(i%26)}, tt.size)
				req = append(req, nettest.Frame(p)...)
			}
			s := f.rec.session(t, nc)
			write(t, nc, req)
			// Every request is handled, and the replies not yet read wait in
			// the socket buffers and the server's, when the half-close arrives.
			nettest.Eventually(t, "every request handled", func() error {
				if in := s.Stats().MessagesIn; in != uint64(tt.frames) {
					return fmt.Errorf("%d of %d requests handled", in, tt.frames)
				}
				return nil
			})
			if err := nc.(*net.TCPConn).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			_ = nc.SetReadDeadline(time.Now().Add(nettest.Timeout))
			got, err := io.ReadAll(nc)
			if err == nil {
				err = io.EOF // what ReadAll read to
			}
			if !errors.Is(err, io.EOF) || !bytes.Equal(got, req) {
				t.Errorf("after CloseWrite: read %d of the %d bytes of replies, then %v; want all of them, then EOF",
					len(got), len(req), err)
			}
			if err := f.rec.reason(t, nc); !errors.Is(err, engine.ErrPeerClosed) {
				t.Errorf("reason = %v; want ErrPeerClosed", err)
			}
			h.check(t)
		})
	}
}

func TestHandlerPanic(t *testing.T) {
	tests := []struct {
		name      string
		inConnect bool // panic in OnConnect; else in OnMessage, on "boom"
	}{
		{name: "in OnMessage"},
		{name: "in OnConnect", inConnect: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			watchResources(t)
			rec := newRecorder()
			var armed atomic.Bool
			h := engine.HandlerFuncs{
				Connect: func(s *session.Session) {
					if tt.inConnect && armed.CompareAndSwap(true, false) {
						panic("boom in OnConnect")
					}
					rec.OnConnect(s)
				},
				Message: func(s *session.Session, msg []byte) {
					if string(msg) == "boom" {
						panic("boom in OnMessage")
					}
					rec.OnMessage(s, msg)
				},
				Disconnect: rec.OnDisconnect,
			}
			var logs logBuffer
			// One loop: the healthy sessions share it with the one that panics.
			f := newFixture(t, defaultWire, h, engine.WithLoops(1),
				engine.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
			f.rec = rec
			healthy := startHealthy(t, f, healthyClients)

			armed.Store(true)
			bad := dial(t, f.addr)
			if !tt.inConnect {
				write(t, bad, nettest.Frame([]byte("boom")))
			}
			waitClosed(t, bad)
			if err := rec.reason(t, bad); !errors.Is(err, engine.ErrHandlerPanic) {
				t.Errorf("reason = %v; want ErrHandlerPanic", err)
			}
			if n := f.errorCount("panic"); n != 1 {
				t.Errorf("metrics errors[panic] = %d; want 1", n)
			}
			out := logs.String()
			for _, want := range []string{"panic", "boom in On", "goroutine ", "TestHandlerPanic"} {
				if !strings.Contains(out, want) {
					t.Errorf("log lacks %q (the panic with its stack):\n%s", want, out)
				}
			}
			healthy.check(t)
		})
	}
}
