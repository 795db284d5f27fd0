package envelope_test

import (
	"io"
	"testing"

	"github.com/klauspost/compress/s2"

	"github.com/netsys-go/netsys/engine"
	"github.com/netsys-go/netsys/envelope"
	"github.com/netsys-go/netsys/internal/nettest"
)

// compressTrip echoes one 1 KiB JSON-like request per round trip, plain or
// S2 both ways, and knows the bytes each takes on the wire.
type compressTrip struct {
	c    *rawPeer
	out  []byte
	in   []byte
	wire int
}

func newCompressTrip(tb testing.TB, compressed bool) *compressTrip {
	_, addr := serve(tb, echoRouter(), nil, engine.WithLoops(1))
	var features uint32
	if compressed {
		features = envelope.FeatureS2
	}
	c := rawDial(tb, addr, envelope.AppendHello(nil, envelope.Hello{Version: envelope.Version, Features: features}))
	body := envelope.JSONLike(1024)
	h := envelope.Header{Kind: envelope.KindRequest, ID: 1}
	var p []byte
	if compressed {
		h.Compressed = true
		p = append(envelope.AppendHeader(nil, h), s2.Encode(nil, body)...)
	} else {
		p = frame(h, body)
	}
	out := nettest.Frame(p)
	if _, err := c.Write(out); err != nil {
		tb.Fatal(err)
	}
	reply := c.Recv(tb)
	rh, _, err := envelope.ParseHeader(reply)
	if err != nil || rh.Kind != envelope.KindReply || rh.Compressed != compressed {
		tb.Fatalf("reply %+v, %v; want compressed %v", rh, err, compressed)
	}
	return &compressTrip{c: c, out: out, in: make([]byte, 4+len(reply)), wire: len(out) + 4 + len(reply)}
}

func (ct *compressTrip) do(tb testing.TB) {
	if _, err := ct.c.Write(ct.out); err != nil {
		tb.Fatal(err)
	}
	if _, err := io.ReadFull(ct.c, ct.in); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkCompression: a 1 KiB JSON-like request echoed, plain and with S2
// both ways (the server decompresses the request and compresses the reply).
// wire-B/op is the bytes of request and reply on the wire, prefixes included.
func BenchmarkCompression(b *testing.B) {
	for _, compressed := range []bool{false, true} {
		name := map[bool]string{false: "plain", true: "s2"}[compressed]
		b.Run(name, func(b *testing.B) {
			ct := newCompressTrip(b, compressed)
			b.ReportAllocs()
			for b.Loop() {
				ct.do(b)
			}
			b.ReportMetric(float64(ct.wire), "wire-B/op")
		})
	}
}

// TestCompressedRequestAllocs: with S2 both ways, the server's request path
// still allocates nothing in steady state.
func TestCompressedRequestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	ct := newCompressTrip(t, true)
	for range 100 {
		ct.do(t)
	}
	if allocs := testing.AllocsPerRun(300, func() { ct.do(t) }); allocs != 0 {
		t.Errorf("allocations per compressed round trip = %v; want 0", allocs)
	}
}

// BenchmarkS2 is the codec alone on the 1 KiB JSON-like body.
func BenchmarkS2(b *testing.B) {
	body := envelope.JSONLike(1024)
	enc := s2.Encode(nil, body)
	dst := make([]byte, s2.MaxEncodedLen(len(body)))
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s2.Encode(dst, body)
		}
		b.ReportMetric(float64(len(enc))/float64(len(body)), "ratio")
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = s2.Decode(dst, enc)
		}
	})
}
