package bench

import (
	"bytes"
	"crypto/tls"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/netsys-go/netsys/internal/tlsio"
)

// TLS in the load generator (LoadConfig.TLS): each connection runs the
// standard crypto/tls through internal/tlsio, as the engine does, so that the
// generator keeps its gnet loops. The handshake runs on tlsio's pool; its
// records are written with AsyncWrite and its end wakes the loop. Afterwards
// the loop decrypts what it reads into the connection's plaintext buffer,
// decodes the echoes from there, and encrypts each Write into the loop's
// ciphertext buffer. Connect waits for every handshake.

// tlsState is a connection's TLS state, owned by its loop but for res.
type tlsState struct {
	tc      *tlsio.Conn
	res     chan error // the handshake's outcome, capacity 1
	live    bool       // the handshake succeeded (Activate was called)
	sealing bool       // out appends to the loop's seal buffer
	plain   []byte     // decrypted bytes not yet decoded
}

// handshakeTimeout bounds one handshake of the load generator.
const handshakeTimeout = 30 * time.Second

func newHandshaker(cfg LoadConfig) *tlsio.Handshaker {
	if cfg.TLS == nil {
		return nil
	}
	return tlsio.NewHandshaker(tlsio.Config{MaxHandshakes: 64, MaxQueue: cfg.Conns, HandshakeTimeout: handshakeTimeout})
}

// startTLS begins c's handshake; it runs on the loop in OnOpen.
func (l *loop) startTLS(c *conn, cfg *tls.Config) {
	x := &tlsState{res: make(chan error, 1)}
	c.tls = x
	gc := c.gc
	x.tc = tlsio.NewClient(cfg, func(p []byte) {
		if x.sealing {
			l.seal = append(l.seal, p...)
			return
		}
		if x.live {
			_, _ = gc.Write(p) // on the loop: an alert or a key update answer
			return
		}
		_ = gc.AsyncWrite(bytes.Clone(p), nil) // the handshake goroutine
	})
	x.tc.SetAddr(gc.LocalAddr(), gc.RemoteAddr())
	if err := x.tc.Start(l.r.hs, func(_ tls.ConnectionState, err error) {
		x.res <- err
		_ = gc.Wake(nil)
	}); err != nil {
		x.res <- err
	}
}

// trafficTLS is OnTraffic's TLS part: it feeds the handshake until it ends,
// then decrypts what was read into c's plaintext buffer. It returns the
// bytes to decode (nil if none yet) and false if the connection must close.
func (l *loop) trafficTLS(c *conn, gc gnet.Conn) ([]byte, bool) {
	x := c.tls
	buf, _ := gc.Next(-1)
	if !x.live {
		select {
		case err := <-x.res:
			if err != nil {
				l.r.tlsFailed.Add(1)
				return nil, false
			}
			x.live = true
			l.r.handshakes.Add(1)
			pt, aerr := x.tc.Activate()
			x.plain = append(x.plain, pt...)
			if aerr != nil {
				return nil, false
			}
			if l.r.cfg.Idle { // the one message of an idle connection
				l.out = l.appendMessage(l.out[:0], c, l.r.now())
				l.write(c, l.out)
			}
		default:
			if len(buf) > 0 {
				if _, err := x.tc.Feed(buf); err != nil {
					return nil, false
				}
			}
			return nil, true
		}
	}
	if len(buf) > 0 {
		var err error
		x.plain, err = x.tc.FeedAppend(x.plain, buf)
		if err != nil {
			return nil, false
		}
	}
	return x.plain, true
}

// consumed drops the first n plaintext bytes of c, keeping the rest.
func (x *tlsState) consumed(n int) {
	if n > 0 {
		x.plain = x.plain[:copy(x.plain, x.plain[n:])]
	}
}

// write sends out on c: as is, or sealed into TLS records.
func (l *loop) write(c *conn, out []byte) {
	x := c.tls
	if x == nil {
		_, _ = c.gc.Write(out) // on failure gnet closes the connection and OnClose counts it
		return
	}
	if !x.live || len(out) == 0 {
		return
	}
	l.seal = l.seal[:0]
	x.sealing = true
	err := x.tc.Write(out)
	x.sealing = false
	if err != nil {
		_ = c.gc.Close()
		return
	}
	_, _ = c.gc.Write(l.seal)
}
