package tlsio

import (
	"net"
	"time"
)

// wouldBlock is what memConn.Read returns after the handshake when the bytes
// of the current Feed are used up. crypto/tls leaves a connection usable after
// a net.Error whose Temporary method reports true: it keeps the partial record
// and resumes on the next Read (pinned by TestPinTemporaryResume).
type wouldBlock struct{}

func (wouldBlock) Error() string   { return "tlsio: would block" }
func (wouldBlock) Timeout() bool   { return true }
func (wouldBlock) Temporary() bool { return true }

// errWouldBlock is the one wouldBlock value; Feed compares against it.
var errWouldBlock net.Error = wouldBlock{}

// memAddr is the address memConn reports when the engine set none.
type memAddr struct{}

func (memAddr) Network() string { return "tlsio" }
func (memAddr) String() string  { return "memory" }

// memConn is the net.Conn under the tls.Conn. It has two modes.
//
// During the handshake (blocking), Read runs on the handshake goroutine and
// waits for Feed (on the event loop) to append bytes to in, or for an error
// (timeout, Close); all of in, r, err and wake are guarded by Conn.mu.
//
// After the handshake, Read runs on the event loop only, inside Feed, and
// reads from src, the caller's slice, without copying it first; when src is
// empty it returns errWouldBlock.
//
// Write hands the records crypto/tls produces to out, in both modes.
type memConn struct {
	c *Conn

	blocking bool // guarded by c.mu; false only once the handshake succeeded

	in   []byte        // handshake: bytes fed and not read yet, from r
	r    int           // read offset in in
	err  error         // handshake: why reads fail (timeout, closed)
	wake chan struct{} // handshake: signalled when in or err changes

	src []byte // after the handshake: the rest of the bytes of this Feed

	out           func([]byte)
	local, remote net.Addr
}

func (m *memConn) Read(p []byte) (int, error) {
	if !m.blocking {
		// The loop owns the connection; no lock (Activate published the
		// change of mode under c.mu).
		if len(m.src) == 0 {
			return 0, errWouldBlock
		}
		n := copy(p, m.src)
		m.src = m.src[n:]
		return n, nil
	}
	c := m.c
	c.mu.Lock()
	for m.err == nil && m.r == len(m.in) {
		w := m.wake
		c.mu.Unlock()
		<-w
		c.mu.Lock()
	}
	if m.err != nil {
		err := m.err
		c.mu.Unlock()
		return 0, err
	}
	n := copy(p, m.in[m.r:])
	m.r += n
	if m.r == len(m.in) {
		m.in, m.r = m.in[:0], 0
	}
	c.mu.Unlock()
	return n, nil
}

// signal wakes a blocked Read; the caller holds c.mu.
func (m *memConn) signal() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

func (m *memConn) Write(p []byte) (int, error) {
	m.out(p)
	return len(p), nil
}

// Close is called by tls.Conn.Close only, which the package never calls.
func (m *memConn) Close() error { return nil }

func (m *memConn) LocalAddr() net.Addr {
	if m.local == nil {
		return memAddr{}
	}
	return m.local
}

func (m *memConn) RemoteAddr() net.Addr {
	if m.remote == nil {
		return memAddr{}
	}
	return m.remote
}

// Deadlines are the Conn's business (the handshake timeout); crypto/tls sets
// them only around close_notify.
func (m *memConn) SetDeadline(time.Time) error      { return nil }
func (m *memConn) SetReadDeadline(time.Time) error  { return nil }
func (m *memConn) SetWriteDeadline(time.Time) error { return nil }
