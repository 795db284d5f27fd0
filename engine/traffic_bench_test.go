package engine

import (
	"fmt"
	"testing"

	"github.com/panjf2000/gnet/v2"

	"github.com/netsys-go/netsys/codec"
	"github.com/netsys-go/netsys/metrics"
	"github.com/netsys-go/netsys/session"
)

// loopConn is a gnet.Conn without a socket for measuring the engine's own
// work: its input is the same batch of frames every time and its writes are
// counted, not kept. Unlike fakeConn it allocates nothing.
type loopConn struct {
	fakeConn
	batch   []byte // the frames one read delivers
	off     int    // bytes of batch discarded
	written int
}

func (l *loopConn) refill()                       { l.off = 0 }
func (l *loopConn) InboundBuffered() int          { return len(l.batch) - l.off }
func (l *loopConn) Peek(int) ([]byte, error)      { return l.batch[l.off:], nil }
func (l *loopConn) Discard(n int) (int, error)    { l.off += n; return n, nil }
func (l *loopConn) Write(b []byte) (int, error)   { l.written += len(b); return len(b), nil }
func (l *loopConn) Wake(gnet.AsyncCallback) error { return nil }

// BenchmarkTraffic measures what the engine adds to gnet per batch of 16
// pipelined 64-byte messages (batch16), and per single message (batch1: a
// connection of a fixed-rate run, one message a read), echoed by a handler
// on the loop, without syscalls: "send" and "reply" are the transport's
// traffic path (decode, handler, Session.Send or Session.Reply, batched
// write, counters, latency), "bare" is what the bare gnet echo in bench/
// does with the same batch (decode, then one write of the frames). Read them
// as ratios taken in the same run.
func BenchmarkTraffic(b *testing.B) {
	const size = 64
	for _, n := range []int{16, 1} {
		var batch []byte
		for range n {
			batch, _ = codec.Default().Append(batch, make([]byte, size))
		}
		b.Run(fmt.Sprintf("batch%d", n), func(b *testing.B) { benchTrafficModes(b, batch) })
	}
}

func benchTrafficModes(b *testing.B, batch []byte) {
	for _, echo := range []struct {
		name string
		h    Handler
	}{
		{"send", HandlerFuncs{Message: func(s *session.Session, msg []byte) { _ = s.Send(msg) }}},
		{"reply", HandlerFuncs{Message: func(s *session.Session, msg []byte) { _ = s.Reply(msg) }}},
	} {
		b.Run(echo.name, func(b *testing.B) { benchTraffic(b, echo.h, batch) })
	}
	b.Run("bare", func(b *testing.B) {
		c := codec.Default()
		lc := &loopConn{batch: batch}
		b.ReportAllocs()
		b.SetBytes(int64(len(batch)))
		for b.Loop() {
			lc.refill()
			buf, _ := lc.Peek(-1)
			used := 0
			for {
				_, m, err := c.Decode(buf[used:])
				if err != nil || m == 0 {
					break
				}
				used += m
			}
			_, _ = lc.Write(buf[:used])
			_, _ = lc.Discard(used)
		}
	})
}

// benchTraffic runs the transport's traffic path with handler h over batch.
func benchTraffic(b *testing.B, h Handler, batch []byte) {
	o, err := buildOptions(forServer, []Option{WithLoops(1)})
	if err != nil {
		b.Fatal(err)
	}
	tr := newTransport(o, h, metrics.KindServer, "bench")
	tr.write = func(c *conn, p []byte) (int, error) { return c.gc.Write(p) }
	lc := &loopConn{batch: batch}
	tr.admit()
	if tr.open(lc, &endpoints{local: fakeLocal, remote: fakeRemote}) == nil {
		b.Fatal("open refused the connection")
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(batch)))
	for b.Loop() {
		lc.refill()
		tr.traffic(lc)
	}
	if lc.written != b.N*len(batch) && b.N > 0 {
		b.Fatalf("wrote %d bytes in %d batches; want %d", lc.written, b.N, b.N*len(batch))
	}
}
