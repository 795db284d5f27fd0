package bench

import (
	"bufio"
	"errors"
	"net"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/netsys-go/netsys/codec"
	"github.com/netsys-go/netsys/pool"
)

const (
	netBufSize = 4096 // bufio's default read and write buffer size
	frameSlack = 64   // room left for a codec's header when framing into the write buffer
)

// ServeNet runs the net-package baseline echo server on ln until ln is
// closed: the server a competent Go engineer writes with the standard
// library, a goroutine per connection. ln may be a TCP or a Unix listener.
//
// Each connection reads through a bufio.Reader and decodes frames with c
// straight from its buffer; a frame larger than that buffer is assembled in a
// pooled buffer. Each payload is framed again with c.Append into a
// bufio.Writer, which is flushed when no more input is buffered, so that
// pipelined requests are answered with one write. A frame c rejects, such as
// one larger than its maximum, closes the connection.
//
// When ln is closed, ServeNet closes every connection it serves, waits for
// their goroutines and returns nil. It returns any other Accept error that
// is not temporary.
func ServeNet(ln net.Listener, c codec.Codec) error {
	var (
		mu    sync.Mutex
		conns = make(map[net.Conn]struct{})
		wg    sync.WaitGroup
	)
	defer func() {
		mu.Lock()
		for nc := range conns {
			_ = nc.Close()
		}
		mu.Unlock()
		wg.Wait()
	}()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			if !temporary(err) {
				return err
			}
			// Out of file descriptors or an aborted handshake: wait and go
			// on, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		mu.Lock()
		conns[nc] = struct{}{}
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = serveNetConn(nc, c)
			mu.Lock()
			delete(conns, nc)
			mu.Unlock()
			_ = nc.Close()
		}()
	}
}

// temporary reports whether an Accept error may clear up by itself.
func temporary(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.ENOBUFS)
}

// serveNetConn echoes the frames of one connection until it fails or the
// peer closes it.
func serveNetConn(nc net.Conn, c codec.Codec) error {
	r := bufio.NewReaderSize(nc, netBufSize)
	w := bufio.NewWriterSize(nc, netBufSize)
	for {
		if r.Buffered() == 0 { // about to wait for input: answer what came so far
			if err := w.Flush(); err != nil {
				return err
			}
		}
		if _, err := r.Peek(1); err != nil {
			return err
		}
		buf, _ := r.Peek(r.Buffered())
		payload, n, err := c.Decode(buf)
		switch {
		case err != nil:
			return err
		case n > 0:
			if err := echoFrame(w, c, payload); err != nil {
				return err
			}
			_, _ = r.Discard(n)
		case len(buf) < r.Size(): // an incomplete frame: wait for more of it
			if err := w.Flush(); err != nil {
				return err
			}
			if _, err := r.Peek(len(buf) + 1); err != nil {
				return err
			}
		default:
			if err := echoLarge(r, w, c); err != nil {
				return err
			}
		}
	}
}

// echoLarge handles a frame larger than r's buffer, which r holds the start
// of. It moves the buffered bytes to a pooled buffer and reads on into it,
// growing it, until the frame is whole; it echoes that frame and any further
// whole frames read along with it, and returns once the buffer holds no more
// bytes, so that r again holds the start of the stream.
func echoLarge(r *bufio.Reader, w *bufio.Writer, c codec.Codec) error {
	b := pool.GetFrame()
	defer pool.PutFrame(b)
	buf, _ := r.Peek(r.Buffered())
	b.B = append(b.B[:0], buf...)
	_, _ = r.Discard(len(buf))
	for len(b.B) > 0 {
		payload, n, err := c.Decode(b.B)
		if err != nil {
			return err
		}
		if n > 0 {
			if err := echoFrame(w, c, payload); err != nil {
				return err
			}
			b.B = b.B[:copy(b.B, b.B[n:])]
			continue
		}
		if len(b.B) == cap(b.B) {
			b.B = slices.Grow(b.B, max(len(b.B), r.Size()))
		}
		if r.Buffered() == 0 {
			if err := w.Flush(); err != nil {
				return err
			}
		}
		m, err := r.Read(b.B[len(b.B):cap(b.B)])
		b.B = b.B[:len(b.B)+m]
		if err != nil {
			return err
		}
	}
	return nil
}

// echoFrame frames payload with c into w: straight into w's free buffer
// when it fits, else through a pooled buffer.
func echoFrame(w *bufio.Writer, c codec.Codec, payload []byte) error {
	if len(payload)+frameSlack <= w.Available() {
		out, err := c.Append(w.AvailableBuffer(), payload)
		if err != nil {
			return err
		}
		_, err = w.Write(out)
		return err
	}
	b := pool.GetFrame()
	defer pool.PutFrame(b)
	var err error
	if b.B, err = c.Append(b.B[:0], payload); err != nil {
		return err
	}
	_, err = w.Write(b.B)
	return err
}
