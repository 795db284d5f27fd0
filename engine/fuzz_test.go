package engine

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"

	"github.com/panjf2000/gnet/v2"

	"github.com/netsys-go/netsys/codec"
	"github.com/netsys-go/netsys/metrics"
	"github.com/netsys-go/netsys/session"
)

// fakeConn is an in-process gnet.Conn for the methods the transport uses; the
// fuzz target plays gnet's event loop around it. Any other method reaches the
// embedded nil interface and panics, which the fuzzer reports.
type fakeConn struct {
	gnet.Conn
	in       []byte // received, not yet discarded
	out      []byte // written to the peer
	ctx      any
	woken    bool // a Wake is waiting for the loop
	closeReq bool // Close was called: the loop closes the connection next
	closed   bool // OnClose has run
}

var (
	fakeLocal  = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9000}
	fakeRemote = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 50000}
)

func (f *fakeConn) Peek(n int) ([]byte, error) {
	if n > len(f.in) {
		return nil, io.ErrShortBuffer
	}
	if n <= 0 {
		n = len(f.in)
	}
	return f.in[:n], nil
}

// Discard drops n bytes (all for n <= 0, as gnet does) and overwrites the
// bytes it dropped and moves the rest, as gnet may reuse its buffer: a slice
// kept past Discard shows as corrupted data.
func (f *fakeConn) Discard(n int) (int, error) {
	if n <= 0 || n > len(f.in) {
		n = len(f.in)
	}
	rest := append([]byte(nil), f.in[n:]...)
	for i := range f.in {
		f.in[i] = 0xEE
	}
	f.in = rest
	return n, nil
}

func (f *fakeConn) InboundBuffered() int          { return len(f.in) }
func (f *fakeConn) Write(b []byte) (int, error)   { f.out = append(f.out, b...); return len(b), nil }
func (f *fakeConn) OutboundBuffered() int         { return 0 } // the peer reads at once
func (f *fakeConn) Context() any                  { return f.ctx }
func (f *fakeConn) SetContext(ctx any)            { f.ctx = ctx }
func (f *fakeConn) Wake(gnet.AsyncCallback) error { f.woken = true; return nil }
func (f *fakeConn) Close() error                  { f.closeReq = true; return nil }
func (f *fakeConn) Fd() int                       { return 7 }
func (f *fakeConn) LocalAddr() net.Addr           { return fakeLocal }
func (f *fakeConn) RemoteAddr() net.Addr          { return fakeRemote }
func (f *fakeConn) EventLoop() gnet.EventLoop     { return nil }
func (f *fakeConn) SetNoDelay(bool) error         { return nil }
func (f *fakeConn) SetLinger(int) error           { return nil }

// fuzzCodecs are the server configurations the fuzz target picks from. Every
// payload they decode fits in fuzzMaxFrame and frames again without error,
// so that every decoded message can be echoed.
const fuzzMaxFrame = 256

func fuzzOptions(i uint8) []Option {
	must := func(c codec.Codec, err error) codec.Codec {
		if err != nil {
			panic(err)
		}
		return c
	}
	base := []Option{WithMaxFrameSize(fuzzMaxFrame), WithLoops(1), WithLogger(slog.New(slog.DiscardHandler))}
	codecs := []codec.Codec{
		nil, // the default wire format, within fuzzMaxFrame
		must(codec.NewLengthField(codec.LengthFieldConfig{Size: 4, Adjustment: -4, Strip: 4, MaxFrame: fuzzMaxFrame})),
		must(codec.NewLengthField(codec.LengthFieldConfig{Offset: 2, Size: 2, LittleEndian: true, Strip: 4, MaxFrame: 200})),
		codec.NewLine(32),
		must(codec.NewDelimiter([]byte{0}, 100)),
		must(codec.NewFixed(5)),
		codec.Raw{},
	}
	if c := codecs[int(i)%len(codecs)]; c != nil {
		base = append(base, WithCodec(c))
	}
	return base
}

// echoRecorder echoes every message and records what the transport did.
type echoRecorder struct {
	t           *testing.T
	codec       codec.Codec
	connects    int
	disconnects int
	reason      error
	msgs        [][]byte // copies, in order
	want        []byte   // every frame a Send accepted, in order: what the peer must get
}

func (h *echoRecorder) OnConnect(*session.Session) { h.connects++ }

func (h *echoRecorder) OnMessage(s *session.Session, msg []byte) {
	if h.connects != 1 || h.disconnects != 0 {
		h.t.Errorf("message %q after %d connects and %d disconnects", msg, h.connects, h.disconnects)
	}
	h.msgs = append(h.msgs, bytes.Clone(msg))
	framed, err := h.codec.Append(nil, msg)
	if err != nil {
		h.t.Fatalf("Append(%q) = %v; every decoded payload must frame again", msg, err)
	}
	if err := s.Send(msg); err != nil {
		h.t.Errorf("echo Send(%q) in OnMessage = %v; want nil", msg, err)
		return
	}
	h.want = append(h.want, framed...)
}

func (h *echoRecorder) OnDisconnect(_ *session.Session, reason error) {
	h.disconnects++
	h.reason = reason
}

// decodeAll decodes b with c in one go, as a reference.
func decodeAll(c codec.Codec, b []byte) (msgs [][]byte, err error) {
	for len(b) > 0 {
		p, n, err := c.Decode(b)
		if err != nil || n == 0 {
			return msgs, err
		}
		msgs = append(msgs, p)
		b = b[n:]
	}
	return msgs, nil
}

// FuzzSessionStream feeds a byte stream, cut into pieces at the points cuts
// gives, through one session of the transport (open, traffic for each piece,
// closed), with an echo handler and pushes from "another goroutine" between
// pieces. Each byte of cuts is a piece's length less one in its low 7 bits;
// its high bit sends a push after the piece. Past the end of cuts, pieces are
// 128 bytes: a raw payload is one piece, and must fit in fuzzMaxFrame.
func FuzzSessionStream(f *testing.F) {
	f.Fuzz(func(t *testing.T, codecIdx uint8, stream, cuts []byte) {
		o, err := buildOptions(forServer, fuzzOptions(codecIdx))
		if err != nil {
			t.Fatal(err)
		}
		h := &echoRecorder{t: t, codec: o.codec}
		tr := newTransport(o, h, metrics.KindServer, "fuzz")
		tr.write = func(c *conn, p []byte) (int, error) { return c.gc.Write(p) }
		_, raw := o.codec.(codec.Raw)
		push := []byte("push!") // five bytes: valid for every codec above

		fc := &fakeConn{}
		closeConn := func(err error) {
			if !fc.closed {
				fc.closed = true
				tr.closed(fc, err)
			}
		}
		traffic := func() {
			if tr.traffic(fc) == gnet.Close {
				closeConn(nil)
			}
		}
		// runLoop does what gnet's loop would do next: a pending Close, then
		// pending wake-ups.
		runLoop := func() {
			for !fc.closed && (fc.closeReq || fc.woken) {
				if fc.closeReq {
					closeConn(nil)
					return
				}
				fc.woken = false
				traffic()
			}
		}

		tr.admit() // as the acceptor does
		c := tr.open(fc, &endpoints{local: fakeLocal, remote: fakeRemote})
		if c == nil {
			t.Fatal("open refused the connection")
		}
		s := c.s
		runLoop()
		for rest, i := stream, 0; len(rest) > 0 && !fc.closed; i++ {
			n, pushAfter := min(len(rest), 128), false
			if i < len(cuts) {
				n, pushAfter = min(int(cuts[i]&0x7f)+1, len(rest)), cuts[i]&0x80 != 0
			}
			fc.in = append(fc.in, rest[:n]...)
			rest = rest[n:]
			traffic()
			runLoop()
			if pushAfter && !fc.closed {
				if err := s.Send(push); err == nil {
					framed, _ := o.codec.Append(nil, push)
					h.want = append(h.want, framed...)
				} else if !errors.Is(err, session.ErrClosed) {
					t.Errorf("push Send = %v; want nil or session.ErrClosed", err)
				}
				if len(rest) > 0 {
					runLoop()
				} // else the peer hangs up before the loop gets to the wake-up
			}
		}
		closeConn(os.NewSyscallError("read", io.EOF)) // the peer hangs up, if nobody closed it yet

		if h.connects != 1 || h.disconnects != 1 {
			t.Fatalf("%d connects and %d disconnects; want one of each", h.connects, h.disconnects)
		}
		if h.reason == nil {
			t.Fatal("closed without a reason")
		}
		if !bytes.Equal(fc.out, h.want) {
			t.Errorf("peer got %q; want every accepted Send framed, in order: %q", fc.out, h.want)
		}
		if s.State() != session.StateClosed || tr.reg.Len() != 0 || tr.active.Load() != 0 {
			t.Errorf("after close: state %v, %d registered, %d active; want closed, 0, 0",
				s.State(), tr.reg.Len(), tr.active.Load())
		}

		if raw {
			if got := bytes.Join(h.msgs, nil); !bytes.Equal(got, stream) {
				t.Errorf("raw messages add up to %q; want the stream %q", got, stream)
			}
			return
		}
		want, refErr := decodeAll(o.codec, stream)
		if len(h.msgs) != len(want) {
			t.Fatalf("%d messages delivered; want %d (reference decode: %v)", len(h.msgs), len(want), refErr)
		}
		for i := range want {
			if !bytes.Equal(h.msgs[i], want[i]) {
				t.Errorf("message %d = %q; want %q", i, h.msgs[i], want[i])
			}
		}
		switch {
		case refErr == nil:
			if !errors.Is(h.reason, ErrPeerClosed) {
				t.Errorf("reason = %v; want ErrPeerClosed for a stream without a bad frame", h.reason)
			}
		case errors.Is(refErr, codec.ErrFrameTooLarge), errors.Is(refErr, codec.ErrBadLength):
			if !sameKind(h.reason, refErr) {
				t.Errorf("reason = %v; want the codec's %v", h.reason, refErr)
			}
		default:
			t.Fatalf("reference decode failed with %v", refErr)
		}
	})
}

// sameKind reports whether got is the same codec error class as want.
func sameKind(got, want error) bool {
	for _, kind := range []error{codec.ErrFrameTooLarge, codec.ErrBadLength} {
		if errors.Is(want, kind) {
			return errors.Is(got, kind)
		}
	}
	return false
}
