package envelope_test

import (
	"context"
	"io"
	"testing"

	"github.com/netsys-go/netsys/engine"
	"github.com/netsys-go/netsys/envelope"
	"github.com/netsys-go/netsys/envelope/internal/testmsg"
	"github.com/netsys-go/netsys/envelope/msgpser"
)

// roundTrip writes n pipelined requests in one write and reads their n
// replies into a fixed buffer: the server's whole request path (decode,
// envelope, router, handler, Reply, batched write) on a raw socket whose own
// reads and writes allocate nothing.
type roundTrip struct {
	c   *rawPeer
	out []byte
	in  []byte
}

func newRoundTrip(tb testing.TB, typed bool, n, size int) *roundTrip {
	r := envelope.NewRouter(msgpser.Serializer{})
	r.HandleUntyped(func(m *envelope.Msg) { _ = m.Reply(m.Body()) })
	envelope.Handle(r, 1, func(m *envelope.Msg, v *testmsg.Echo) {
		v.Seq++
		_ = m.ReplyValue(v)
	})
	_, addr := serve(tb, r, nil, engine.WithLoops(1))
	c := rawDial(tb, addr, nil)
	var out []byte
	replyLen := 0
	for i := range n {
		h := envelope.Header{Kind: envelope.KindRequest, ID: uint32(i + 1)}
		var body []byte
		if typed {
			h.Typed, h.Type = true, 1
			v := testmsg.Echo{Seq: uint64(i), Data: make([]byte, size), Tags: []uint32{1, 2, 3}}
			body, _ = v.MarshalMsg(nil)
		} else {
			body = make([]byte, size)
		}
		p := frame(h, body)
		out = append(out, 0, 0, byte(len(p)>>8), byte(len(p)))
		out = append(out, p...)
		v := testmsg.Echo{Seq: uint64(i) + 1, Data: make([]byte, size), Tags: []uint32{1, 2, 3}}
		rb, _ := v.MarshalMsg(nil)
		if !typed {
			rb = body
		}
		replyLen += 4 + len(envelope.AppendHeader(nil, envelope.Header{Kind: envelope.KindReply, ID: uint32(i + 1)})) + len(rb)
	}
	return &roundTrip{c: c, out: out, in: make([]byte, replyLen)}
}

func (rt *roundTrip) do(tb testing.TB) {
	if _, err := rt.c.Write(rt.out); err != nil {
		tb.Fatal(err)
	}
	if _, err := io.ReadFull(rt.c, rt.in); err != nil {
		tb.Fatal(err)
	}
}

// check parses the replies of the last round trip.
func (rt *roundTrip) check(t *testing.T, typed bool, n int) {
	in := rt.in
	for i := range n {
		size := int(in[2])<<8 | int(in[3])
		h, body, err := envelope.ParseHeader(in[4 : 4+size])
		in = in[4+size:]
		if err != nil || h.Kind != envelope.KindReply || h.ID != uint32(i+1) {
			t.Fatalf("reply %d: %+v, %v", i, h, err)
		}
		if typed {
			var v testmsg.Echo
			if _, err := v.UnmarshalMsg(body); err != nil || v.Seq != uint64(i)+1 || len(v.Data) != 64 {
				t.Fatalf("reply %d: %+v, %v; want Seq %d", i, v, err, i+1)
			}
		} else if len(body) != 64 {
			t.Fatalf("reply %d: %d bytes; want 64", i, len(body))
		}
	}
}

// TestServerRequestAllocs: a request answered during the handler's call costs
// the server no allocation, with a raw body and with a typed body decoded
// into a pooled value (msgp), one at a time and 16 pipelined. The count is the
// whole process's, raw client included.
func TestServerRequestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	for _, typed := range []bool{false, true} {
		for _, n := range []int{1, 16} {
			rt := newRoundTrip(t, typed, n, 64)
			for range 100 { // warm the pools
				rt.do(t)
			}
			rt.check(t, typed, n)
			if allocs := testing.AllocsPerRun(300, func() { rt.do(t) }); allocs != 0 {
				t.Errorf("allocations per round trip of %d requests (typed %v) = %v; want 0", n, typed, allocs)
			}
		}
	}
}

// BenchmarkServerRequest: per-batch costs of 1 and 16 pipelined requests of
// 64 B through the server, raw and typed.
func BenchmarkServerRequest(b *testing.B) {
	for _, tc := range []struct {
		name  string
		typed bool
		n     int
	}{{"raw-1", false, 1}, {"raw-16", false, 16}, {"typed-1", true, 1}, {"typed-16", true, 16}} {
		b.Run(tc.name, func(b *testing.B) {
			rt := newRoundTrip(b, tc.typed, tc.n, 64)
			rt.do(b)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				rt.do(b)
			}
		})
	}
}

// BenchmarkRequest: request/reply round trips through envelope.Client, one
// at a time and 64 concurrent, 64 B bodies.
func BenchmarkRequest(b *testing.B) {
	for _, conc := range []int{1, 64} {
		b.Run(map[int]string{1: "serial", 64: "concurrent-64"}[conc], func(b *testing.B) {
			_, addr := serve(b, echoRouter(), nil, engine.WithLoops(1))
			c := dial(b, addr)
			body := make([]byte, 64)
			b.ReportAllocs()
			b.SetParallelism(conc)
			ctx := context.Background()
			if conc == 1 {
				for b.Loop() {
					if _, err := c.Request(ctx, body); err != nil {
						b.Fatal(err)
					}
				}
				return
			}
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := c.Request(ctx, body); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
