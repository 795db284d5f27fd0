package engine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/netsys-go/netsys/codec"
	"github.com/netsys-go/netsys/engine"
	"github.com/netsys-go/netsys/internal/nettest"
	"github.com/netsys-go/netsys/session"
)

// TestReplyKeepsOrderWithSend mixes Reply and Send in one handler over a
// batch of pipelined messages: the peer must see the output in the order the
// handler queued it, with handlers on the loop (where Reply takes its own
// path) and on workers (where it is Send).
func TestReplyKeepsOrderWithSend(t *testing.T) {
	const n = 30
	for _, tc := range []struct {
		name string
		opts []engine.Option
	}{
		{"inline", nil},
		{"workers", []engine.Option{engine.WithWorkers(2)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, addr := start(t, engine.HandlerFuncs{Message: func(s *session.Session, msg []byte) {
				for _, out := range script(string(msg)) {
					send := s.Send
					if out[0] == 'r' {
						send = s.Reply
					}
					if err := send([]byte(out)); err != nil {
						t.Errorf("%s: %v", out, err)
					}
				}
			}}, tc.opts...)
			c := nettest.Dial(t, addr)
			var batch, want []byte
			for i := range n {
				m := msgName(i)
				batch = append(batch, nettest.Frame([]byte(m))...)
				for _, out := range script(m) {
					want = append(want, out+" "...)
				}
			}
			if _, err := c.Write(batch); err != nil { // one write: one batch on the loop, mostly
				t.Fatal(err)
			}
			var got []byte
			for len(got) < len(want) {
				got = append(got, c.Recv(t)...)
				got = append(got, ' ')
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// script is what the handler queues for message m, in order: "r..." by Reply,
// "s..." by Send.
func script(m string) []string {
	switch m[len(m)-1] % 3 {
	case 0:
		return []string{"r" + m + "a", "s" + m + "b", "r" + m + "c"}
	case 1:
		return []string{"s" + m + "a", "r" + m + "b"}
	default:
		return []string{"r" + m + "a", "r" + m + "b"}
	}
}

func msgName(i int) string { return fmt.Sprintf("m%02d", i) }

// TestReplyAfterOffLoopSend: a Send from another goroutine that happened
// before the handler's Reply reaches the peer first.
func TestReplyAfterOffLoopSend(t *testing.T) {
	_, addr := start(t, engine.HandlerFuncs{Message: func(s *session.Session, msg []byte) {
		done := make(chan error)
		go func() { done <- s.Send([]byte("from another goroutine")) }()
		if err := <-done; err != nil {
			t.Errorf("Send: %v", err)
		}
		if err := s.Reply([]byte("reply")); err != nil {
			t.Errorf("Reply: %v", err)
		}
	}})
	c := nettest.Dial(t, addr)
	c.Send(t, []byte("go"))
	for _, want := range []string{"from another goroutine", "reply"} {
		if got := c.Recv(t); string(got) != want {
			t.Fatalf("got %q; want %q", got, want)
		}
	}
}

// TestReplyOutsideOnMessage: Reply from a goroutine other than the loop, with
// no OnMessage running, is Send.
func TestReplyOutsideOnMessage(t *testing.T) {
	rec := &nettest.Recorder{}
	_, addr := start(t, rec)
	c := nettest.Dial(t, addr)
	s := rec.WaitCount(t, "connect", 1)[0].Session
	for i := range 3 {
		if err := s.Reply([]byte(msgName(i))); err != nil {
			t.Fatalf("Reply: %v", err)
		}
	}
	for i := range 3 {
		if got := c.Recv(t); string(got) != msgName(i) {
			t.Fatalf("got %q; want %q", got, msgName(i))
		}
	}
}

// TestReplyErrors: the loop's path keeps Send's limits and errors.
func TestReplyErrors(t *testing.T) {
	errs := make(chan error, 4)
	rec := &nettest.Recorder{}
	h := engine.HandlerFuncs{
		Connect: rec.OnConnect,
		Message: func(s *session.Session, msg []byte) {
			switch string(msg) {
			case "too large":
				errs <- s.Reply(make([]byte, 8<<10+1))
			case "over": // 6 KiB twice, framed, is over 10 KiB
				errs <- s.Reply(make([]byte, 6<<10))
				errs <- s.Reply(make([]byte, 6<<10))
			case "closed":
				s.Close(nil)
				errs <- s.Reply([]byte("late"))
			}
		},
		Disconnect: rec.OnDisconnect,
	}
	_, addr := start(t, h, engine.WithMaxFrameSize(8<<10), engine.WithWriteHighWater(10<<10))

	c := nettest.Dial(t, addr)
	c.Send(t, []byte("too large"))
	if err := <-errs; !errors.Is(err, codec.ErrFrameTooLarge) {
		t.Errorf("Reply(8 KiB + 1) = %v; want ErrFrameTooLarge", err)
	}
	c.Send(t, []byte("closed"))
	if err := <-errs; !errors.Is(err, session.ErrClosed) {
		t.Errorf("Reply after Close = %v; want ErrClosed", err)
	}
	c.WaitClosed(t)

	slow := nettest.Dial(t, addr)
	slow.Send(t, []byte("over"))
	var got []error
	for range 2 {
		got = append(got, <-errs)
	}
	if got[0] != nil || !errors.Is(got[1], engine.ErrSlowConsumer) {
		t.Errorf("Reply 6 KiB twice = %v; want nil, ErrSlowConsumer", got)
	}
	evs := rec.WaitCount(t, "disconnect", 2)
	if reasons := []error{evs[0].Err, evs[1].Err}; !slices.ContainsFunc(reasons, func(err error) bool {
		return errors.Is(err, engine.ErrSlowConsumer)
	}) {
		t.Errorf("disconnect reasons %v; want one ErrSlowConsumer", reasons)
	}
}

// TestRepliesBeforePanicAreDelivered: replies a handler was told are queued
// reach the peer even when a later message of the same batch panics.
func TestRepliesBeforePanicAreDelivered(t *testing.T) {
	_, addr := start(t, engine.HandlerFuncs{Message: func(s *session.Session, msg []byte) {
		if string(msg) == "boom" {
			panic("boom")
		}
		_ = s.Reply(msg)
	}})
	c := nettest.Dial(t, addr)
	var batch []byte
	for _, m := range []string{"a", "b", "boom", "c"} {
		batch = append(batch, nettest.Frame([]byte(m))...)
	}
	if _, err := c.Write(batch); err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		p, err := c.TryRecv(nettest.Timeout)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("after %q: %v; want EOF", got, err)
			}
			break
		}
		got = append(got, string(p))
	}
	if strings.Join(got, ",") != "a,b" {
		t.Errorf("got %q before the close; want a, b", got)
	}
}

// TestReplyDuringStop: once Stop has begun, Reply refuses like Send, and a
// reply accepted before it still reaches the peer before the close.
func TestReplyDuringStop(t *testing.T) {
	sessions := make(chan *session.Session, 2)
	held := make(chan struct{})
	release := make(chan struct{})
	second := make(chan error, 1)
	srv, addr := start(t, engine.HandlerFuncs{
		Connect: func(s *session.Session) { sessions <- s },
		Message: func(s *session.Session, msg []byte) {
			if err := s.Reply([]byte("first")); err != nil {
				t.Errorf("Reply before Stop: %v", err)
			}
			close(held)
			<-release
			second <- s.Reply([]byte("second"))
		},
	})
	c := nettest.Dial(t, addr)
	<-sessions
	nettest.Dial(t, addr)
	other := <-sessions
	c.Send(t, []byte("hold"))
	<-held

	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), nettest.Timeout)
		defer cancel()
		stopped <- srv.Stop(ctx)
	}()
	nettest.Eventually(t, "Stop refusing sends", func() error {
		if err := other.Send([]byte("probe")); !errors.Is(err, session.ErrClosed) {
			return fmt.Errorf("Send = %v; want session.ErrClosed", err)
		}
		return nil
	})
	close(release)
	if err := <-second; !errors.Is(err, session.ErrClosed) {
		t.Errorf("Reply after Stop began = %v; want ErrClosed", err)
	}
	if got := c.Recv(t); string(got) != "first" {
		t.Errorf("got %q; want the reply made before Stop", got)
	}
	c.WaitClosed(t)
	if err := <-stopped; err != nil {
		t.Errorf("Stop: %v", err)
	}
}

// TestRepliesOfManySessionsOnOneLoop: the sessions of one loop share its
// reply buffer, one batch at a time; every peer gets its own replies, in
// order, including batches larger than the buffer a loop keeps.
func TestRepliesOfManySessionsOnOneLoop(t *testing.T) {
	_, addr := start(t, engine.HandlerFuncs{Message: func(s *session.Session, msg []byte) {
		if err := s.Reply(msg); err != nil {
			t.Errorf("Reply: %v", err)
		}
	}}, engine.WithLoops(1))
	const conns, perConn = 16, 20
	done := make(chan error, conns)
	for i := range conns {
		c := nettest.Dial(t, addr)
		go func() {
			var batch []byte
			var want [][]byte
			for j := range perConn {
				m := []byte(fmt.Sprintf("conn %d message %d ", i, j))
				if j == perConn/2 {
					m = append(m, bytes.Repeat([]byte{byte(i)}, 300<<10)...) // over what a loop keeps
				}
				want = append(want, m)
				batch = append(batch, nettest.Frame(m)...)
			}
			if _, err := c.Write(batch); err != nil {
				done <- err
				return
			}
			for j, w := range want {
				got, err := c.TryRecv(nettest.Timeout)
				if err != nil {
					done <- fmt.Errorf("conn %d, reply %d: %w", i, j, err)
					return
				}
				if !bytes.Equal(got, w) {
					done <- fmt.Errorf("conn %d, reply %d: got %.40q (%d bytes); want %.40q (%d bytes)", i, j, got, len(got), w, len(w))
					return
				}
			}
			done <- nil
		}()
	}
	for range conns {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
