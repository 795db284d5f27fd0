package sess

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"unsafe"
)

// fakeWriter records what a session hands to its transport.
type fakeWriter struct {
	mu      sync.Mutex
	sent    [][]byte
	replies [][]byte
	raw     [][]byte
	closes  []error
}

func (w *fakeWriter) Send(p []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sent = append(w.sent, bytes.Clone(p))
	return nil
}

func (w *fakeWriter) Reply(p []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.replies = append(w.replies, bytes.Clone(p))
	return nil
}

func (w *fakeWriter) SendRaw(b []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.raw = append(w.raw, bytes.Clone(b))
	return nil
}

func (w *fakeWriter) Close(reason error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closes = append(w.closes, reason)
}

func (w *fakeWriter) calls() (sent, replies, raw [][]byte, closes []error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.sent), slices.Clone(w.replies), slices.Clone(w.raw), slices.Clone(w.closes)
}

// nopWriter accepts everything and allocates nothing.
type nopWriter struct{}

func (nopWriter) Send([]byte) error    { return nil }
func (nopWriter) Reply([]byte) error   { return nil }
func (nopWriter) SendRaw([]byte) error { return nil }
func (nopWriter) Close(error)          {}

func TestStateString(t *testing.T) {
	tests := []struct {
		state State
		want  string
	}{
		{state: StateConnecting, want: "connecting"},
		{state: StateConnected, want: "connected"},
		{state: StateClosing, want: "closing"},
		{state: StateClosed, want: "closed"},
		{state: State(9), want: "State(9)"},
	}
	for _, tt := range tests {
		if got := tt.state.String(); got != tt.want {
			t.Errorf("State(%d).String() = %q; want %q", uint32(tt.state), got, tt.want)
		}
	}
}

func TestSessionAccessors(t *testing.T) {
	local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9000}
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 50000}
	w := &fakeWriter{}
	s := NewRegistry().Register(42, w, local, remote)

	if got := s.FD(); got != 42 {
		t.Errorf("FD() = %d; want 42", got)
	}
	if got, want := s.ID(), uint64(1)<<32|42; got != want {
		t.Errorf("ID() = %#x; want %#x", got, want)
	}
	if s.LocalAddr() != local || s.RemoteAddr() != remote {
		t.Errorf("LocalAddr(), RemoteAddr() = %v, %v; want %v, %v", s.LocalAddr(), s.RemoteAddr(), local, remote)
	}
	if s.Writer() != w {
		t.Errorf("Writer() = %v; want the writer given to Register", s.Writer())
	}
	if got := s.State(); got != StateConnecting {
		t.Errorf("State() after Register = %v; want %v", got, StateConnecting)
	}
	if s.ConnectedAt().IsZero() {
		t.Error("ConnectedAt() is zero after Register")
	}
	if got, want := s.LastActive().UnixNano(), s.ConnectedAt().UnixNano(); got != want {
		t.Errorf("LastActive() before Touch = %d ns; want ConnectedAt() = %d ns", got, want)
	}
	s.Touch(1_700_000_000_123_456_789)
	if got := s.LastActive().UnixNano(); got != 1_700_000_000_123_456_789 {
		t.Errorf("LastActive() after Touch(1700000000123456789) = %d ns; want 1700000000123456789", got)
	}
}

func TestSessionSize(t *testing.T) {
	if size := unsafe.Sizeof(Core{}); size > 200 {
		t.Errorf("unsafe.Sizeof(Core{}) = %d bytes; want at most 200", size)
	}
}

func TestSetStateOnlyMovesForward(t *testing.T) {
	tests := []struct {
		from, to, want State
	}{
		{from: StateConnecting, to: StateConnected, want: StateConnected},
		{from: StateConnecting, to: StateClosing, want: StateClosing},
		{from: StateConnected, to: StateClosed, want: StateClosed},
		{from: StateClosing, to: StateConnected, want: StateClosing},
		{from: StateClosed, to: StateConnecting, want: StateClosed},
		{from: StateConnected, to: StateConnected, want: StateConnected},
	}
	for _, tt := range tests {
		s := NewRegistry().Register(3, nopWriter{}, nil, nil)
		s.SetState(tt.from)
		s.SetState(tt.to)
		if got := s.State(); got != tt.want {
			t.Errorf("SetState(%v) then SetState(%v): State() = %v; want %v", tt.from, tt.to, got, tt.want)
		}
	}
}

func TestCloseCallsWriterOnce(t *testing.T) {
	errA, errB := errors.New("reason A"), errors.New("reason B")
	for _, from := range []State{StateConnecting, StateConnected} {
		w := &fakeWriter{}
		s := NewRegistry().Register(3, w, nil, nil)
		s.SetState(from)
		s.Close(errA)
		s.Close(errB)
		if got := s.State(); got != StateClosing {
			t.Errorf("from %v: State() after Close = %v; want %v", from, got, StateClosing)
		}
		if _, _, _, closes := w.calls(); len(closes) != 1 || closes[0] != errA {
			t.Errorf("from %v: Close(A), Close(B): writer.Close calls = %v; want [%v]", from, closes, errA)
		}
	}
}

func TestCloseConcurrentCallsWriterOnce(t *testing.T) {
	w := &fakeWriter{}
	s := NewRegistry().Register(3, w, nil, nil)
	s.SetState(StateConnected)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Close(fmt.Errorf("closer %d", i))
		}()
	}
	wg.Wait()
	if _, _, _, closes := w.calls(); len(closes) != 1 {
		t.Errorf("8 concurrent Close calls: writer.Close called %d times (%v); want 1", len(closes), closes)
	}
}

func TestCloseAfterUnregisterIsNoop(t *testing.T) {
	w := &fakeWriter{}
	r := NewRegistry()
	s := r.Register(3, w, nil, nil)
	r.Unregister(s)
	s.Close(errors.New("late"))
	if _, _, _, closes := w.calls(); len(closes) != 0 {
		t.Errorf("Close after Unregister: writer.Close calls = %v; want none", closes)
	}
	if got := s.State(); got != StateClosed {
		t.Errorf("State() = %v; want %v", got, StateClosed)
	}
}

func TestSends(t *testing.T) {
	tests := []struct {
		name    string
		state   State // set before sending; StateClosing is reached by Close
		wantErr error
	}{
		{name: "connecting", state: StateConnecting, wantErr: nil},
		{name: "connected", state: StateConnected, wantErr: nil},
		{name: "closing", state: StateClosing, wantErr: ErrClosed},
		{name: "closed", state: StateClosed, wantErr: ErrClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &fakeWriter{}
			r := NewRegistry()
			s := r.Register(3, w, nil, nil)
			switch tt.state {
			case StateClosing:
				s.Close(nil)
			case StateClosed:
				r.Unregister(s)
			default:
				s.SetState(tt.state)
			}
			if err := s.Send([]byte("payload")); !errors.Is(err, tt.wantErr) {
				t.Errorf("Send(%q) = %v; want %v", "payload", err, tt.wantErr)
			}
			if err := s.Reply([]byte("reply")); !errors.Is(err, tt.wantErr) {
				t.Errorf("Reply(%q) = %v; want %v", "reply", err, tt.wantErr)
			}
			if err := s.SendRaw([]byte("raw")); !errors.Is(err, tt.wantErr) {
				t.Errorf("SendRaw(%q) = %v; want %v", "raw", err, tt.wantErr)
			}
			sent, replies, raw, _ := w.calls()
			wantSent, wantReplies, wantRaw := [][]byte{[]byte("payload")}, [][]byte{[]byte("reply")}, [][]byte{[]byte("raw")}
			if tt.wantErr != nil {
				wantSent, wantReplies, wantRaw = nil, nil, nil
			}
			if !slices.EqualFunc(sent, wantSent, bytes.Equal) || !slices.EqualFunc(replies, wantReplies, bytes.Equal) ||
				!slices.EqualFunc(raw, wantRaw, bytes.Equal) {
				t.Errorf("writer got Send %q, Reply %q, SendRaw %q; want %q, %q, %q", sent, replies, raw, wantSent, wantReplies, wantRaw)
			}
		})
	}
}

func TestStats(t *testing.T) {
	s := NewRegistry().Register(3, nopWriter{}, nil, nil)
	s.CountIn(1, 10)
	s.CountIn(1, 5)
	s.CountOut(1, 7)
	s.CountError()
	want := Stats{MessagesIn: 2, MessagesOut: 1, BytesIn: 15, BytesOut: 7, Errors: 1}
	got := s.Stats()
	if got != want {
		t.Errorf("Stats() = %+v; want %+v", got, want)
	}
	js, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	wantJSON := `{"messages_in":2,"messages_out":1,"bytes_in":15,"bytes_out":7,"errors":1}`
	if string(js) != wantJSON {
		t.Errorf("json.Marshal(Stats()) = %s; want %s", js, wantJSON)
	}
}

func TestStatsConcurrent(t *testing.T) {
	s := NewRegistry().Register(3, nopWriter{}, nil, nil)
	const goroutines, each = 4, 1000
	var wg sync.WaitGroup
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				s.CountIn(1, 2)
				s.CountOut(1, 3)
				s.CountError()
			}
		}()
	}
	wg.Wait()
	n := uint64(goroutines * each)
	want := Stats{MessagesIn: n, MessagesOut: n, BytesIn: 2 * n, BytesOut: 3 * n, Errors: n}
	if got := s.Stats(); got != want {
		t.Errorf("Stats() after concurrent counting = %+v; want %+v", got, want)
	}
}

func TestData(t *testing.T) {
	s := NewRegistry().Register(3, nopWriter{}, nil, nil)
	if v, ok := s.Get("user"); ok {
		t.Errorf("Get(%q) on a new session = %v, true; want nil, false", "user", v)
	}
	s.Delete("user") // on no data: no-op
	s.Set("user", "ada")
	s.Set("n", 1)
	s.Set("n", 2)
	tests := []struct {
		key    string
		want   any
		wantOK bool
	}{
		{key: "user", want: "ada", wantOK: true},
		{key: "n", want: 2, wantOK: true},
		{key: "missing", want: nil, wantOK: false},
	}
	for _, tt := range tests {
		if v, ok := s.Get(tt.key); v != tt.want || ok != tt.wantOK {
			t.Errorf("Get(%q) = %v, %v; want %v, %v", tt.key, v, ok, tt.want, tt.wantOK)
		}
	}
	s.Delete("user")
	if v, ok := s.Get("user"); ok {
		t.Errorf("Get(%q) after Delete = %v, true; want nil, false", "user", v)
	}
}

func TestDataConcurrent(t *testing.T) {
	s := NewRegistry().Register(3, nopWriter{}, nil, nil)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprint("k", g)
			for i := range 500 {
				s.Set(key, i)
				if v, ok := s.Get(key); !ok || v != i {
					t.Errorf("Get(%q) = %v, %v; want %d, true", key, v, ok, i)
					return
				}
				s.Delete(key)
			}
		}()
	}
	wg.Wait()
}
