package faulttest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/netsys-go/netsys/engine"
	"github.com/netsys-go/netsys/internal/nettest"
	"github.com/netsys-go/netsys/session"
)

// readFrame reads one frame of the default wire format within nettest.Timeout.
func readFrame(nc net.Conn, r *bufio.Reader) ([]byte, error) {
	_ = nc.SetReadDeadline(time.Now().Add(nettest.Timeout))
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	p := make([]byte, binary.BigEndian.Uint32(hdr[:]))
	_, err := io.ReadFull(r, p)
	return p, err
}

// tagged is a message for session id: the ID, big-endian, then body.
func tagged(id uint64, body string) []byte {
	return append(binary.BigEndian.AppendUint64(nil, id), body...)
}

// churnHandler greets every session with a message carrying its ID, echoes
// every message, and hands closed sessions to the stale sender.
type churnHandler struct {
	stale chan *session.Session // closed sessions; dropped when full

	mu       sync.Mutex
	fds      map[int]int // guarded by mu: sessions seen per fd
	sessions int         // guarded by mu

	nilReasons atomic.Int64
}

const greetedKey = "greeted"

func (h *churnHandler) OnConnect(s *session.Session) {
	h.mu.Lock()
	h.fds[s.FD()]++
	h.sessions++
	h.mu.Unlock()
	_ = s.Send(tagged(s.ID(), "hello"))
	s.Set(greetedKey, true) // the pusher waits for it: the greeting comes first
}

func (h *churnHandler) OnMessage(s *session.Session, msg []byte) { _ = s.Send(msg) }

func (h *churnHandler) OnDisconnect(s *session.Session, reason error) {
	if reason == nil {
		h.nilReasons.Add(1)
	}
	select {
	case h.stale <- s:
	default:
	}
}

// churnClient connects, learns its session ID from the greeting, does trips
// echo round trips (while stop is open, if trips < 0) and closes, with a reset
// if hard. Every message it receives must carry its own session ID: its
// echoes, and the pushes of the pusher.
func churnClient(addr string, trips int, hard bool, stop <-chan struct{}, done *atomic.Int64) error {
	nc, err := net.DialTimeout("tcp", addr, nettest.Timeout)
	if err != nil {
		return err
	}
	defer nc.Close()
	r := bufio.NewReader(nc)
	hello, err := readFrame(nc, r)
	if err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	if len(hello) != 8+len("hello") || string(hello[8:]) != "hello" {
		return fmt.Errorf("first message %q; want the greeting", hello)
	}
	id := binary.BigEndian.Uint64(hello)
	for trip := 0; trips < 0 || trip < trips; trip++ {
		select {
		case <-stop:
			return nil
		default:
		}
		want := tagged(id, fmt.Sprintf("echo %d", trip))
		_ = nc.SetWriteDeadline(time.Now().Add(nettest.Timeout))
		if _, err := nc.Write(nettest.Frame(want)); err != nil {
			return fmt.Errorf("session %d: write: %w", id, err)
		}
		for {
			msg, err := readFrame(nc, r)
			if err != nil {
				return fmt.Errorf("session %d: read: %w", id, err)
			}
			if len(msg) < 8 || binary.BigEndian.Uint64(msg) != id {
				return fmt.Errorf("session %d received %q, a message for another session", id, msg)
			}
			if bytes.Equal(msg, want) {
				break
			}
			if string(msg[8:]) != "push" {
				return fmt.Errorf("session %d received %q; want %q or a push", id, msg, want)
			}
		}
		done.Add(1)
	}
	if hard {
		_ = nc.(*net.TCPConn).SetLinger(0)
	}
	return nil
}

func TestChurnWithStaleIDs(t *testing.T) {
	if testing.Short() {
		t.Skip("tens of thousands of connections: not in -short")
	}
	cycles := int64(20_000)
	if raceEnabled {
		cycles = 4_000
	}
	const budget = 8 * time.Second // cycles stop early if the machine is slow
	const churners = 6
	const staleRing = 64
	watchResources(t)
	ch := &churnHandler{stale: make(chan *session.Session, staleRing), fds: make(map[int]int)}
	f := newFixture(t, defaultWire, ch)

	var mu sync.Mutex
	var errs []error
	report := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	stop := make(chan struct{})
	var bg sync.WaitGroup

	// The pusher sends every greeted session a message carrying its ID.
	var pushes atomic.Int64
	bg.Add(1)
	go func() {
		defer bg.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for _, s := range f.srv.Sessions() {
				if _, ok := s.Get(greetedKey); ok && s.Send(tagged(s.ID(), "push")) == nil {
					pushes.Add(1)
				}
			}
		}
	}()
	// The stale sender keeps sending to recently closed sessions, whose fds
	// the new connections are given again.
	var staleChecks atomic.Int64
	bg.Add(1)
	go func() {
		defer bg.Done()
		var ring []*session.Session
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case s := <-ch.stale:
				if len(ring) == staleRing {
					ring = ring[1:]
				}
				ring = append(ring, s)
				continue
			case <-tick.C:
			}
			for _, s := range ring {
				if got := f.srv.Session(s.ID()); got != nil {
					report(fmt.Errorf("Session(stale %d) = session %d; want nil", s.ID(), got.ID()))
				}
				if err := s.Send(tagged(s.ID(), "stale")); !errors.Is(err, session.ErrClosed) {
					report(fmt.Errorf("Send on closed session %d = %v; want session.ErrClosed", s.ID(), err))
				}
				staleChecks.Add(1)
			}
		}
	}()

	// Long-lived healthy clients, through the whole churn.
	var trips atomic.Int64
	var lw sync.WaitGroup
	for i := range healthyClients {
		lw.Add(1)
		go func() {
			defer lw.Done()
			if err := churnClient(f.addr, -1, false, stop, &trips); err != nil {
				report(fmt.Errorf("long-lived client %d: %w", i, err))
			}
		}()
	}
	// The churn: connect, greeting, zero or one round trip, close or reset.
	var next, completed, churnTrips atomic.Int64
	deadline := time.Now().Add(budget)
	var cw sync.WaitGroup
	began := time.Now()
	for range churners {
		cw.Add(1)
		go func() {
			defer cw.Done()
			for i := next.Add(1) - 1; i < cycles && time.Now().Before(deadline); i = next.Add(1) - 1 {
				if err := churnClient(f.addr, int(i%2), i%3 == 0, nil, &churnTrips); err != nil {
					report(fmt.Errorf("churn cycle %d: %w", i, err))
					return
				}
				completed.Add(1)
			}
		}()
	}
	cw.Wait()
	elapsed := time.Since(began)
	close(stop)
	bg.Wait()
	lw.Wait()
	nettest.Eventually(t, "every session closed", func() error {
		if n := f.srv.Count(); n != 0 {
			return fmt.Errorf("%d sessions open", n)
		}
		return nil
	})

	mu.Lock()
	reportErrors(t, errs)
	mu.Unlock()
	if n := ch.nilReasons.Load(); n != 0 {
		t.Errorf("%d sessions closed without a reason", n)
	}
	ch.mu.Lock()
	sessions, fds := ch.sessions, len(ch.fds)
	ch.mu.Unlock()
	if sessions <= fds {
		t.Errorf("%d sessions on %d fds: no fd was reused, the case showed nothing", sessions, fds)
	}
	if staleChecks.Load() == 0 || trips.Load() == 0 {
		t.Errorf("%d stale checks and %d long-lived round trips; want some of each", staleChecks.Load(), trips.Load())
	}
	t.Logf("churn: %d cycles in %v, %d sessions on %d fds, %d stale sends refused, %d pushes, %d long-lived round trips",
		completed.Load(), elapsed.Round(time.Millisecond), sessions, fds, staleChecks.Load(), pushes.Load(), trips.Load())
}

func TestStopUnderLoad(t *testing.T) {
	tests := []struct {
		name    string
		window  int // messages a client may have outstanding
		size    int // bytes per message, at least 8
		buffers int // SO_RCVBUF and SO_SNDBUF of both ends; 0: the system's
	}{
		{name: "replies within the socket buffers", window: 16, size: 64},
		{name: "replies beyond 128 KiB socket buffers", window: 2048, size: 512, buffers: 128 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			watchResources(t)
			var opts []engine.Option
			if tt.buffers > 0 {
				opts = append(opts, engine.WithSocketBuffers(tt.buffers, tt.buffers))
			}
			f := newFixture(t, defaultWire, nil, opts...)

			// The load is the server's: a pusher per session sends sequence-
			// numbered messages as fast as its client reads them. The clients
			// send nothing, so nothing of theirs is unread when the server
			// closes (a close with unread bytes is a reset, by TCP's rules).
			type peer struct {
				nc      net.Conn
				s       *session.Session
				credits chan struct{}
				sent    atomic.Int64 // Sends that returned nil
				got     atomic.Int64
				end     error // what the client's last read returned
			}
			const clients = 8
			peers := make([]*peer, clients)
			for i := range peers {
				nc := dial(t, f.addr)
				if tt.buffers > 0 {
					_ = nc.(*net.TCPConn).SetReadBuffer(tt.buffers)
				}
				p := &peer{nc: nc, s: f.rec.session(t, nc), credits: make(chan struct{}, tt.window)}
				for range tt.window {
					p.credits <- struct{}{}
				}
				peers[i] = p
			}
			stop := make(chan struct{})
			var pushers, readers sync.WaitGroup
			var sendErrs sync.Map
			for _, p := range peers {
				pushers.Add(1)
				go func() {
					defer pushers.Done()
					msg := make([]byte, tt.size)
					for seq := uint64(0); ; seq++ {
						select {
						case <-p.credits:
						case <-stop:
							return
						}
						binary.BigEndian.PutUint64(msg, seq)
						if err := p.s.Send(msg); err != nil {
							if !errors.Is(err, session.ErrClosed) {
								sendErrs.Store(err.Error(), true)
							}
							return
						}
						p.sent.Add(1)
					}
				}()
				readers.Add(1)
				go func() {
					defer readers.Done()
					r := bufio.NewReader(p.nc)
					for seq := uint64(0); ; seq++ {
						msg, err := readFrame(p.nc, r)
						if err != nil {
							p.end = err
							return
						}
						if len(msg) != tt.size || binary.BigEndian.Uint64(msg) != seq {
							p.end = fmt.Errorf("message %d: %d bytes, sequence %d", seq, len(msg), binary.BigEndian.Uint64(msg))
							return
						}
						p.got.Add(1)
						p.credits <- struct{}{}
					}
				}()
			}
			under := int64(4 * tt.window)
			if raceEnabled {
				under = int64(tt.window) // the race detector slows the readers down
			}
			nettest.Eventually(t, "the load under way", func() error {
				for i, p := range peers {
					if got := p.got.Load(); got < under {
						return fmt.Errorf("peer %d got %d of %d", i, got, under)
					}
				}
				return nil
			})

			ctx, cancel := context.WithTimeout(context.Background(), nettest.Timeout)
			defer cancel()
			if err := f.srv.Stop(ctx); err != nil {
				t.Fatalf("Stop: %v", err)
			}
			readers.Wait()
			close(stop)
			pushers.Wait()

			sendErrs.Range(func(k, _ any) bool {
				t.Errorf("Send: %v; want nil or session.ErrClosed", k)
				return true
			})
			var total int64
			for i, p := range peers {
				total += p.sent.Load()
				if !errors.Is(p.end, io.EOF) {
					t.Errorf("client %d: read ended with %v; want EOF, a clean close", i, p.end)
				}
				if got, sent := p.got.Load(), p.sent.Load(); got != sent {
					t.Errorf("client %d received %d of the %d messages Send accepted before Stop", i, got, sent)
				}
				if err := f.rec.reason(t, p.nc); !errors.Is(err, engine.ErrServerStopping) {
					t.Errorf("client %d: reason = %v; want ErrServerStopping", i, err)
				}
			}
			t.Logf("%d messages accepted by Send across %d clients", total, clients)
		})
	}
}
