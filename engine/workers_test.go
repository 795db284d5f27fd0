package engine_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/netsys-go/netsys/engine"
	"github.com/netsys-go/netsys/internal/nettest"
	"github.com/netsys-go/netsys/session"
)

func TestWorkersKeepPerSessionOrder(t *testing.T) {
	const sessions, perSession = 20, 50
	var mu sync.Mutex
	last := map[uint64]uint32{} // session ID -> last sequence number handled
	var bad atomic.Int32
	h := engine.HandlerFuncs{Message: func(s *session.Session, msg []byte) {
		time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond) // a blocking handler
		seq := binary.BigEndian.Uint32(msg)
		mu.Lock()
		if prev, ok := last[s.ID()]; ok && seq != prev+1 || !ok && seq != 0 {
			bad.Add(1)
		}
		last[s.ID()] = seq
		mu.Unlock()
		_ = s.Send(msg)
	}}
	_, addr := start(t, h, engine.WithWorkers(4), engine.WithLoops(1))
	var wg sync.WaitGroup
	for range sessions {
		c := nettest.Dial(t, addr)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var batch []byte
			for i := range perSession {
				batch = append(batch, nettest.Frame(binary.BigEndian.AppendUint32(nil, uint32(i)))...)
			}
			if _, err := c.Write(batch); err != nil {
				t.Error(err)
				return
			}
			for i := range perSession {
				p, err := c.TryRecv(nettest.Timeout)
				if err != nil || binary.BigEndian.Uint32(p) != uint32(i) {
					t.Errorf("reply %d = %v, %v; want %d in order", i, p, err, i)
					return
				}
			}
		}()
	}
	wg.Wait()
	if bad.Load() != 0 {
		t.Errorf("%d messages were handled out of their session's order", bad.Load())
	}
}

// blockingServer runs a one-loop server whose workers block on messages
// "block" until release is closed, and echo everything else.
func blockingServer(t *testing.T, opts ...engine.Option) (srv *engine.Server, addr string, entered chan struct{}, release chan struct{}, rec *nettest.Recorder) {
	entered, release = make(chan struct{}, 100), make(chan struct{})
	rec = &nettest.Recorder{}
	h := engine.HandlerFuncs{
		Connect: rec.OnConnect,
		Message: func(s *session.Session, msg []byte) {
			if string(msg) == "block" {
				entered <- struct{}{}
				<-release
			}
			_ = s.Send(msg)
		},
		Disconnect: rec.OnDisconnect,
	}
	srv, addr = start(t, h, append([]engine.Option{engine.WithLoops(1)}, opts...)...)
	// Runs before the server's Stop: a failed test must not leave a handler
	// blocked for Stop to wait on.
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	return srv, addr, entered, release, rec
}

func TestBlockingHandlerDoesNotStallTheLoop(t *testing.T) {
	_, addr, entered, release, _ := blockingServer(t, engine.WithWorkers(2))
	blocked := nettest.Dial(t, addr)
	blocked.Send(t, []byte("block"))
	<-entered // a worker is now stuck in the handler

	// other sessions on the same (only) loop still get round trips
	for i := range 5 {
		c := nettest.Dial(t, addr)
		for range 10 {
			c.Send(t, []byte("ping"))
			if got := c.Recv(t); string(got) != "ping" {
				t.Fatalf("session %d got %q while another session's handler blocked", i, got)
			}
		}
	}
	close(release)
	if got := blocked.Recv(t); string(got) != "block" {
		t.Errorf("blocked session got %q", got)
	}
}

func TestWorkerQueueBoundPausesReading(t *testing.T) {
	const bound, sent = 8, 500
	_, addr, entered, release, rec := blockingServer(t, engine.WithWorkers(2), engine.WithWorkerQueue(bound, engine.OverflowPause))
	c := nettest.Dial(t, addr)
	s := rec.WaitCount(t, "connect", 1)[0].Session
	var batch []byte
	batch = append(batch, nettest.Frame([]byte("block"))...)
	for range sent - 1 {
		batch = append(batch, nettest.Frame([]byte("m"))...)
	}
	if _, err := c.Write(batch); err != nil {
		t.Fatal(err)
	}
	<-entered
	// The handler holds the first message; the loop decodes until the queue
	// holds `bound` messages, then leaves the rest undecoded. (The first
	// message counts in the queue if the loop filled it before the worker
	// took that message out, so bound or bound+1 are decoded.)
	nettest.Eventually(t, "the queue to fill", func() error {
		if in := s.Stats().MessagesIn; in < bound {
			return fmt.Errorf("%d of %d messages in", in, bound)
		}
		return nil
	})
	// A round trip on another session on the same loop: the loop has handled
	// the first session's input since.
	other := nettest.Dial(t, addr)
	other.Send(t, []byte("sync"))
	other.Recv(t)
	if got := s.Stats().MessagesIn; got > bound+1 {
		t.Fatalf("decoded %d messages while the handler was blocked; want at most %d (1 running + %d queued)", got, bound+1, bound)
	}
	close(release)
	// everything is handled, in order, once the queue drains
	if got := c.Recv(t); string(got) != "block" {
		t.Fatalf("first reply %q", got)
	}
	for i := 1; i < sent; i++ {
		if got := c.Recv(t); string(got) != "m" {
			t.Fatalf("reply %d = %q", i, got)
		}
	}
}

func TestWorkerQueueOverflowClose(t *testing.T) {
	_, addr, entered, release, rec := blockingServer(t, engine.WithWorkers(1), engine.WithWorkerQueue(4, engine.OverflowClose))
	c := nettest.Dial(t, addr)
	s := rec.WaitCount(t, "connect", 1)[0].Session
	c.Send(t, []byte("block"))
	<-entered
	var batch []byte // one write: the server may close as soon as it has read 4
	for range 10 {
		batch = append(batch, nettest.Frame([]byte("m"))...)
	}
	if _, err := c.Write(batch); err != nil {
		t.Fatal(err)
	}
	c.WaitClosed(t)
	release <- struct{}{} // let the worker reach the disconnect
	if err := rec.Disconnect(t, s.ID()); !errors.Is(err, engine.ErrQueueOverflow) {
		t.Errorf("reason = %v; want ErrQueueOverflow", err)
	}
}

func TestStopWaitsForRunningHandlers(t *testing.T) {
	srv, addr, entered, release, rec := blockingServer(t, engine.WithWorkers(1))
	c := nettest.Dial(t, addr)
	s := rec.WaitCount(t, "connect", 1)[0].Session
	c.Send(t, []byte("block"))
	<-entered

	stopped := make(chan error, 1)
	go func() { stopped <- srv.Stop(context.Background()) }()
	// once the listener is gone the engine has shut down its loops...
	nettest.Eventually(t, "the listener to close", func() error {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			return nil
		}
		nc.Close()
		return fmt.Errorf("a dial to %s still connects", addr)
	})
	// ...but Stop must still wait for the handler that is running
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) while a handler was still running", err)
	default:
	}
	close(release)
	if err := <-stopped; err != nil {
		t.Fatalf("Stop: %v", err)
	}
	// the disconnect came after the running message, and before Stop returned
	// (the probes above may have made sessions of their own)
	var reason error
	for _, e := range rec.Events("disconnect") {
		if e.Session.ID() == s.ID() {
			reason = e.Err
		}
	}
	if !errors.Is(reason, engine.ErrServerStopping) {
		t.Fatalf("disconnect reason at Stop's return = %v; want ErrServerStopping", reason)
	}
}

func TestWorkersHotPathAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	e := newEchoRoundTrip(t, 16, 64, true, engine.WithWorkers(2))
	for range 200 {
		e.do(t)
	}
	// Off-loop replies wake the loop once per batch; gnet allocates for that
	// wake-up (a closure per Conn.Wake). Messages themselves cost nothing.
	allocs := testing.AllocsPerRun(500, func() { e.do(t) })
	t.Logf("allocations per round trip of 16 messages on workers: %v", allocs)
	if allocs > 4 {
		t.Errorf("allocations per round trip of 16 messages = %v; want at most a few per batch (wake-ups), none per message", allocs)
	}
}
