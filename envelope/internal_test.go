package envelope

import (
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"math"
	"runtime"
	"testing"

	"github.com/netsys-go/netsys/codec"
)

func testPeer(maxInFlight int) *Peer {
	return newPeer(nil, newEndpoint(nil, buildConfig([]Option{WithMaxInFlight(maxInFlight)})))
}

// take gives out an ID as a request does, and records a call under it.
func (p *Peer) take() uint32 {
	p.calls.reserve()
	id := p.nextID()
	p.calls.put(id, &call{})
	return id
}

// TestNextIDWraps: IDs count up past 2^32-1 to 1, never 0, and skip IDs
// still in flight and IDs of cancelled requests whose reply may still come.
func TestNextIDWraps(t *testing.T) {
	p := testPeer(8)
	for _, id := range []uint32{math.MaxUint32, 1} {
		p.calls.reserve()
		p.calls.put(id, &call{})
	}
	p.abandoned[2] = struct{}{}
	p.next = math.MaxUint32 - 2
	var got []uint32
	for range 3 {
		got = append(got, p.take())
	}
	want := []uint32{math.MaxUint32 - 1, 3, 4}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("IDs after %d: %v; want %v", uint32(math.MaxUint32-2), got, want)
		}
	}
}

// TestNextIDNeverCollides draws many IDs around the wrap with a window of
// them in flight: none is 0 or in flight when drawn, and every one in flight
// is found under its ID, also after the table grew.
func TestNextIDNeverCollides(t *testing.T) {
	p := testPeer(64)
	p.next = math.MaxUint32 - 1000
	var window []uint32
	for i := range 5000 {
		p.calls.reserve()
		id := p.nextID()
		if p.calls.get(id) != nil || id == 0 {
			t.Fatalf("draw %d: ID %d is in flight or 0", i, id)
		}
		p.calls.put(id, &call{})
		window = append(window, id)
		if len(window) > 64 { // answers come back out of order: free a middle one
			j := (i * 7) % len(window)
			if p.calls.remove(window[j]) == nil {
				t.Fatalf("draw %d: ID %d in flight but not found", i, window[j])
			}
			window = append(window[:j], window[j+1:]...)
		}
	}
	for _, id := range window {
		if p.calls.get(id) == nil {
			t.Fatalf("ID %d in flight but not found", id)
		}
	}
	if p.calls.n != len(window) || len(p.calls.slots) > 256 {
		t.Errorf("%d calls in a table of %d slots; want %d in at most 256", p.calls.n, len(p.calls.slots), len(window))
	}
}

// TestBombRefusedBeforeAllocation: a compressed body that claims to decode to
// 1 GiB is refused from its header; the refusal allocates a few small
// values, never the claimed size. The count is the whole process's, so
// goroutines that earlier tests left closing can add to one measurement:
// the least of five is the refusal's own.
func TestBombRefusedBeforeAllocation(t *testing.T) {
	p := testPeer(8)
	bomb := binary.AppendUvarint(nil, 1<<30)
	bomb = append(bomb, 0x00, 'a')
	least := uint64(math.MaxUint64)
	for range 5 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := p.decompress(bomb)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, codec.ErrFrameTooLarge) {
			t.Fatalf("decompress(bomb) = %v; want ErrFrameTooLarge", err)
		}
		least = min(least, after.TotalAlloc-before.TotalAlloc)
	}
	if least > 4<<10 {
		t.Errorf("refusing the bomb allocated %d bytes; want under 4 KiB", least)
	}
	if cap(p.in) != 0 {
		t.Errorf("scratch grew to %d bytes", cap(p.in))
	}
}

// TestParseHeaderFlags: each kind takes only the flags it may carry.
func TestParseHeaderFlags(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		want error
	}{
		{[]byte{0x11, 0x05}, nil},                                  // typed message
		{[]byte{0x32, 0x01, 0x05}, nil},                            // typed compressed request
		{[]byte{0x23, 0x01}, nil},                                  // compressed reply
		{[]byte{0x13, 0x01, 0x05}, ErrMalformed},                   // typed reply
		{[]byte{0x24, 0x01}, ErrMalformed},                         // compressed error
		{[]byte{0x04, 0x00, 0x07}, nil},                            // error with ID 0
		{[]byte{0x06, 0x00}, ErrMalformed},                         // ping with ID 0
		{[]byte{0x00}, ErrUnknownKind},                             // kind 0
		{[]byte{0x0f}, ErrUnknownKind},                             // kind 15
		{[]byte{0x12, 0x01, 0x80}, ErrMalformed},                   // type cut off
		{[]byte{0x02, 0x80, 0x80, 0x80, 0x80, 0x10}, ErrMalformed}, // ID of 2^32
	} {
		_, _, err := ParseHeader(tc.in)
		if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("ParseHeader(% x) = %v; want %v", tc.in, err, tc.want)
		}
	}
}

// FuzzParseHeader: no input panics the parser, and a header it accepts
// encodes back to the same bytes when its varints are minimal.
func FuzzParseHeader(f *testing.F) {
	f.Add([]byte{0x12, 0x07, 0x2a, 'h', 'i'})
	f.Add([]byte{0x05, 0x01, 0x01})
	f.Add([]byte{0x04, 0x00, 0x06, 'v'})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, body, err := ParseHeader(b)
		if err != nil {
			return
		}
		re := AppendHeader(nil, h)
		if len(re)+len(body) > len(b) {
			t.Fatalf("ParseHeader(% x) = %+v with %d body bytes: more than the input", b, h, len(body))
		}
		h2, body2, err := ParseHeader(append(re, body...))
		if err != nil || h2 != h || string(body2) != string(body) {
			t.Fatalf("re-encoding %+v: %+v, %v", h, h2, err)
		}
		if h.Kind == KindHello {
			_, _ = ParseHello(body)
		}
		if h.Kind == KindError {
			_, _ = ParseError(body)
		}
	})
}

var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))
