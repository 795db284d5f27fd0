package session

import (
	"errors"
	"testing"
	"unsafe"

	"github.com/netsys-go/netsys/internal/sess"
)

type nopWriter struct{}

func (nopWriter) Send([]byte) error    { return nil }
func (nopWriter) Reply([]byte) error   { return nil }
func (nopWriter) SendRaw([]byte) error { return nil }
func (nopWriter) Close(error)          {}

func TestStatesMatchCore(t *testing.T) {
	for _, st := range []State{StateConnecting, StateConnected, StateClosing, StateClosed} {
		if got, want := st.String(), sess.State(st).String(); got != want {
			t.Errorf("State(%d).String() = %q; sess.State(%d) is %q", uint32(st), got, uint32(st), want)
		}
	}
	if StateClosed != State(sess.StateClosed) || StateClosing != State(sess.StateClosing) ||
		StateConnected != State(sess.StateConnected) || StateConnecting != State(sess.StateConnecting) {
		t.Error("session and sess state constants differ")
	}
}

func TestRegisterMakesSession(t *testing.T) {
	if sess.ErrClosed != ErrClosed {
		t.Errorf("sess.ErrClosed = %v; want session.ErrClosed", sess.ErrClosed)
	}
	r := sess.NewRegistry()
	c := r.Register(5, nopWriter{}, nil, nil)
	s, ok := c.Outer().(*Session)
	if !ok || &s.c != c {
		t.Fatalf("Register(5).Outer() = %T %p; want the *Session holding the Core %p", c.Outer(), c.Outer(), c)
	}
	if s.ID() != c.ID() || s.FD() != 5 {
		t.Errorf("ID(), FD() = %#x, %d; want %#x, 5", s.ID(), s.FD(), c.ID())
	}
	c.SetState(sess.StateConnected)
	c.CountIn(2, 10)
	s.Set("k", 1)
	s.Join("g")
	if v, _ := s.Get("k"); v != 1 || !s.InGroup("g") || r.GroupLen("g") != 1 || s.State() != StateConnected {
		t.Errorf("Get(k) = %v, InGroup(g) = %v, GroupLen(g) = %d, State() = %v; want 1, true, 1, connected",
			v, s.InGroup("g"), r.GroupLen("g"), s.State())
	}
	if got, want := s.Stats(), (Stats{MessagesIn: 2, BytesIn: 10}); got != want {
		t.Errorf("Stats() = %+v; want %+v", got, want)
	}
	s.Close(nil)
	if err := s.Send(nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close = %v; want ErrClosed", err)
	}
	r.Unregister(c)
	if s.State() != StateClosed || s.InGroup("g") || r.GroupLen("g") != 0 {
		t.Errorf("after Unregister: State() = %v, InGroup(g) = %v; want closed, false", s.State(), s.InGroup("g"))
	}
	if size := unsafe.Sizeof(Session{}); size > 200 {
		t.Errorf("unsafe.Sizeof(Session{}) = %d bytes; want at most 200", size)
	}
}
