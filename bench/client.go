package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"log"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/panjf2000/gnet/v2"

	"github.com/netsys-go/netsys/codec"
)

// loop is the gnet event handler of one load-generator client, which runs
// one event loop. Its fields after elOnce are owned by that event loop: only
// its callbacks and the tasks run on it with el.Execute touch them.
type loop struct {
	gnet.BuiltinEventEngine
	r        *run
	idx      int
	cli      *gnet.Client
	el       gnet.EventLoop // set by the first connection enrolled; read after connect returns
	elOnce   sync.Once
	paceTask gnet.Runnable
	pacing   atomic.Bool // a pace task is queued on the loop

	conns   []*conn // connection id is at conns[id/len(r.loops)]
	hist    *hdrhistogram.Histogram
	tally   tally
	out     []byte  // the writes of one connection and turn
	seal    []byte  // TLS: the records of one Write
	nextG   int64   // open loop: the next message of the global schedule
	touched []*conn // open loop: connections with messages in pend this turn
}

// conn is the state of one load-generator connection, owned by its loop.
type conn struct {
	id               int
	gc               gnet.Conn
	closed           bool
	echoed           bool // an echo has come: a close now is not a refusal
	rejected         bool // the loop closed it for an echo that was not a frame
	need             int  // bytes to have buffered before decoding again
	sendSeq, recvSeq uint64
	sent             fifo      // send (or scheduled) times of the messages awaiting their echo
	req              []reqSlot // LoadRequests: the request in flight under ID i+1, if any
	reqs             int       // LoadRequests: requests in flight
	helloSeen        bool      // LoadRequests: the server's hello has come
	pend             []byte    // open loop: the messages of this turn
	tls              *tlsState // with LoadConfig.TLS; nil otherwise
	// hsDone, with LoadConfig.TLS, is closed when the handshake ends, well
	// or not: the dialer waits for it before its next connect.
	hsDone chan struct{}
}

// tally holds a loop's counters.
type tally struct {
	echoes      int64 // echoes received, measured or not
	messages    int64 // echoes measured
	bytes       int64 // payload bytes of the echoes measured
	closedEarly int64 // connections the server closed before their first echo
	closedLater int64 // connections the server closed after echoing
	rejected    int64 // echoes that were not frames
	mismatches  int64 // echoes that differ from what was sent
	unanswered  int64 // messages lost with their connection
	outstanding int64 // messages sent and not yet echoed, on open connections
}

func (t *tally) add(o tally) {
	t.echoes += o.echoes
	t.messages += o.messages
	t.bytes += o.bytes
	t.closedEarly += o.closedEarly
	t.closedLater += o.closedLater
	t.rejected += o.rejected
	t.mismatches += o.mismatches
	t.unanswered += o.unanswered
	t.outstanding += o.outstanding
}

// errs returns the errors so far, not counting the messages still due.
func (t *tally) errs() int64 {
	return t.closedEarly + t.closedLater + t.rejected + t.mismatches + t.unanswered
}

// OnOpen registers the connection with its loop; in an idle run it sends the
// connection's one message.
func (l *loop) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	c := gc.Context().(*conn)
	c.gc = gc
	l.conns[c.id/len(l.r.loops)] = c
	l.r.open.Add(1)
	if l.r.cfg.TLS != nil {
		l.startTLS(c, l.r.cfg.TLS) // an idle connection's message waits for the handshake
		return nil, gnet.None
	}
	if l.r.requests {
		c.req = make([]reqSlot, l.r.cfg.InFlight)
		return appendHello(l.out[:0]), gnet.None // gnet writes or copies it before any other callback
	}
	if !l.r.cfg.Idle {
		return nil, gnet.None
	}
	l.out = l.appendMessage(l.out[:0], c, l.r.now()) // gnet writes or copies it before any other callback
	return l.out, gnet.None
}

// OnClose counts the connection's loss, and its messages still due, as
// errors unless the run is over.
func (l *loop) OnClose(gc gnet.Conn, _ error) gnet.Action {
	c, ok := gc.Context().(*conn)
	if !ok {
		return gnet.None
	}
	c.closed = true
	l.r.open.Add(-1)
	if c.tls != nil {
		c.tls.tc.Close() // a handshake still running fails at once, and its dialer goes on
	}
	lost := int64(c.sent.n + c.reqs)
	l.tally.outstanding -= lost
	switch {
	case l.r.stopped.Load(): // the run closed it
	case c.rejected: // counted when it was closed
		l.tally.unanswered += lost
	case c.echoed:
		l.tally.closedLater++
		l.tally.unanswered += lost
	default:
		l.tally.closedEarly++
		l.tally.unanswered += lost
	}
	return gnet.None
}

// OnTraffic decodes every whole echo buffered, checks and times each, and in
// closed loop answers each with the next message, all in one Write.
func (l *loop) OnTraffic(gc gnet.Conn) gnet.Action {
	c := gc.Context().(*conn)
	var buf []byte
	if c.tls != nil {
		var ok bool
		if buf, ok = l.trafficTLS(c, gc); !ok {
			return gnet.Close
		}
	} else {
		if gc.InboundBuffered() < c.need {
			return gnet.None // a large frame is still arriving: don't copy it again
		}
		buf, _ = gc.Peek(-1)
	}
	now := l.r.now()
	send := l.r.cfg.Rate == 0 && !l.r.cfg.Idle && now < l.r.measEnd.Load()
	out := l.out[:0]
	used := 0
	for {
		payload, n, err := l.r.codec.Decode(buf[used:])
		if err != nil {
			c.rejected = true
			l.tally.rejected++
			return gnet.Close // the stream is unusable; OnClose counts its messages
		}
		if n == 0 {
			break
		}
		used += n
		if l.r.requests {
			id, ok := l.answer(c, payload, now)
			if !ok {
				c.rejected = true
				l.tally.rejected++
				return gnet.Close
			}
			if id > 0 && send {
				out = l.appendRequest(out, c, id, now)
			}
			continue
		}
		l.receive(c, payload, now)
		if send {
			out = l.appendMessage(out, c, now)
		}
	}
	if c.tls != nil {
		c.tls.consumed(used)
	} else {
		c.need = frameNeed(l.r.codec, buf[used:])
		if used > 0 {
			_, _ = gc.Discard(used) // not Discard(0): that discards everything
		}
	}
	l.out = out
	if len(out) > 0 {
		l.write(c, out)
	}
	if l.r.cfg.Rate > 0 {
		// A busy loop can hold the only P for a while (GOMAXPROCS=1): send
		// what is due from here too rather than wait for the pacer's turn.
		l.pace(now)
	}
	return gnet.None
}

// receive checks one echo against the message at the head of c's queue and
// records its round trip if the message was sent in the measured window.
func (l *loop) receive(c *conn, payload []byte, now int64) {
	l.tally.echoes++
	c.echoed = true
	sent, ok := c.sent.pop()
	if !ok {
		l.tally.mismatches++ // an echo of nothing sent
		return
	}
	l.tally.outstanding--
	seq := c.recvSeq
	c.recvSeq++
	if !l.r.payloads.check(payload, c.id, seq) {
		l.tally.mismatches++
	}
	if !l.r.cfg.Idle && (sent < l.r.measStart.Load() || sent >= l.r.measEnd.Load()) {
		return
	}
	_ = l.hist.RecordValue(min((now-sent)/1e3, histMaxMicros)) // cannot fail: 0 <= value <= the maximum
	l.tally.messages++
	l.tally.bytes += int64(len(payload))
}

// appendMessage appends c's next message to out, framed in the default wire
// format (a 4-byte big-endian length, then the payload), and queues its send
// time ts.
func (l *loop) appendMessage(out []byte, c *conn, ts int64) []byte {
	out = binary.BigEndian.AppendUint32(out, uint32(l.r.cfg.Payload))
	out = l.r.payloads.append(out, c.id, c.sendSeq)
	c.sendSeq++
	c.sent.push(ts)
	l.tally.outstanding++
	return out
}

// startClosed sends the first InFlight messages of each connection.
func (l *loop) startClosed() {
	now := l.r.now()
	for _, c := range l.conns {
		if c == nil || c.closed {
			continue
		}
		out := l.out[:0]
		for i := range l.r.cfg.InFlight {
			if l.r.requests {
				out = l.appendRequest(out, c, i+1, now)
			} else {
				out = l.appendMessage(out, c, now)
			}
		}
		l.out = out
		l.write(c, out)
	}
}

// pacer asks the loop to send, each time the global open-loop schedule has
// a message due (but at most every minPace), until the run's quit channel
// closes.
func (l *loop) pacer() {
	defer l.r.pacers.Done()
	r := l.r
	start := r.start.Load()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for g := int64(0); ; {
		select {
		case <-r.quit:
			return
		case <-timer.C:
		}
		if l.pacing.CompareAndSwap(false, true) {
			if err := l.el.Execute(context.Background(), l.paceTask); err != nil {
				return
			}
		}
		now := r.now()
		if next := int64(float64(now-start)/r.interval) + 1; next > g {
			g = next
		}
		at := start + int64(float64(g)*r.interval)
		timer.Reset(max(time.Duration(at-now), minPace))
	}
}

// pace sends, on the loop, every burst of its connections that the
// schedule has made due by now, each message stamped with its scheduled
// time: burst g, InFlight messages, goes to connection g % Conns at start +
// g×interval. Messages of one connection due together go in one Write. The pacer's task and OnTraffic
// call it.
func (l *loop) pace(now int64) {
	r := l.r
	start, end := r.start.Load(), r.measEnd.Load()
	if start > now {
		return // traffic has not begun
	}
	n := int64(len(r.loops))
	for {
		at := start + int64(float64(l.nextG)*r.interval)
		if at > now || at >= end {
			break
		}
		id := l.nextG % int64(r.cfg.Conns)
		l.nextG++
		if id%n != int64(l.idx) {
			continue
		}
		c := l.conns[id/n]
		if c == nil || c.closed {
			continue
		}
		if len(c.pend) == 0 {
			l.touched = append(l.touched, c)
		}
		for range r.cfg.InFlight {
			c.pend = l.appendMessage(c.pend, c, at)
		}
	}
	for i, c := range l.touched {
		if !c.closed {
			l.write(c, c.pend)
		}
		c.pend = c.pend[:0]
		l.touched[i] = nil
	}
	l.touched = l.touched[:0]
}

// frameNeed returns how many bytes must be buffered before rest, the
// incomplete start of a frame, can be whole: the frame's size once its header
// is in, else one more byte than now.
func frameNeed(c *codec.LengthField, rest []byte) int {
	if size, err := c.FrameSize(rest); err == nil && size > 0 {
		return size
	}
	return len(rest) + 1
}

// fifo is a growable ring of timestamps. Its length is always a power of
// two, so that positions wrap with a mask: a division per message was a
// measurable share of the generator's CPU.
type fifo struct {
	buf     []int64
	head, n int
}

func (f *fifo) push(v int64) {
	if f.n == len(f.buf) {
		grown := make([]int64, max(4, 2*len(f.buf)))
		for i := range f.n {
			grown[i] = f.buf[(f.head+i)&(len(f.buf)-1)]
		}
		f.buf, f.head = grown, 0
	}
	f.buf[(f.head+f.n)&(len(f.buf)-1)] = v
	f.n++
}

func (f *fifo) pop() (int64, bool) {
	if f.n == 0 {
		return 0, false
	}
	v := f.buf[f.head]
	f.head = (f.head + 1) & (len(f.buf) - 1)
	f.n--
	return v, true
}

// payloads builds and checks message payloads. Payload seq of connection id
// is a 12-byte header (seq as 8 bytes, then id as 4, little-endian so that a
// payload cut short keeps the fastest-changing bytes), then a deterministic
// pseudo-random pattern starting at offset seq % spread, all cut to size
// bytes. Neighbouring messages thus differ in every part, and checking one is
// two comparisons against memory.
type payloads struct {
	size    int
	pattern []byte // size + spread bytes
}

const (
	seqHeader = 12  // sequence number and connection id
	spread    = 251 // pattern offsets: a prime, so that offsets cycle slowly against powers of two
)

func newPayloads(size int) payloads {
	p := payloads{size: size, pattern: make([]byte, size+spread)}
	x := uint32(2463534242)
	for i := range p.pattern {
		x ^= x << 13 // xorshift32
		x ^= x >> 17
		x ^= x << 5
		p.pattern[i] = byte(x)
	}
	return p
}

// header returns the header of payload seq of connection id, and how much
// of it a payload of p.size bytes holds.
func (p payloads) header(id int, seq uint64) ([seqHeader]byte, int) {
	var h [seqHeader]byte
	binary.LittleEndian.PutUint64(h[:8], seq)
	binary.LittleEndian.PutUint32(h[8:], uint32(id))
	return h, min(seqHeader, p.size)
}

// append appends payload seq of connection id to dst.
func (p payloads) append(dst []byte, id int, seq uint64) []byte {
	h, n := p.header(id, seq)
	off := int(seq % spread)
	dst = append(dst, h[:n]...)
	return append(dst, p.pattern[off:off+p.size-n]...)
}

// check reports whether b is payload seq of connection id.
func (p payloads) check(b []byte, id int, seq uint64) bool {
	if len(b) != p.size {
		return false
	}
	h, n := p.header(id, seq)
	off := int(seq % spread)
	return bytes.Equal(b[:n], h[:n]) && bytes.Equal(b[n:], p.pattern[off:off+p.size-n])
}

// gnetLogger passes gnet's warnings and errors to the standard logger, on
// stderr, and drops the rest. gnet's default logger writes to stdout, where
// the commands print their results.
type gnetLogger struct{}

func (gnetLogger) Debugf(string, ...any)          {}
func (gnetLogger) Infof(string, ...any)           {}
func (gnetLogger) Warnf(format string, a ...any)  { log.Printf("gnet: "+format, a...) }
func (gnetLogger) Errorf(format string, a ...any) { log.Printf("gnet: "+format, a...) }
func (gnetLogger) Fatalf(format string, a ...any) { log.Fatalf("gnet: "+format, a...) }
