package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"slices"
	"syscall"
	"time"
)

// headerLen is the size of the default wire format's length prefix: a 4-byte
// big-endian payload length, then the payload.
const headerLen = 4

// appendFrame appends one frame carrying payload to dst.
func appendFrame(dst, payload []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(payload)))
	return append(dst, payload...)
}

// frames returns n frames of size payload bytes each, back to back; frame i
// is filled with byte(i).
func frames(n, size int) []byte {
	b := make([]byte, 0, n*(headerLen+size))
	for i := range n {
		b = binary.BigEndian.AppendUint32(b, uint32(size))
		for range size {
			b = append(b, byte(i))
		}
	}
	return b
}

// errFrameTooLarge reports a length prefix larger than the reader's buffer.
var errFrameTooLarge = errors.New("attack: frame larger than the buffer")

// readFrame reads one frame from r into buf and returns its payload.
func readFrame(r io.Reader, buf []byte) ([]byte, error) {
	var hdr [headerLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if uint64(n) > uint64(len(buf)) {
		return nil, fmt.Errorf("%w: %d > %d", errFrameTooLarge, n, len(buf))
	}
	if _, err := io.ReadFull(r, buf[:n]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf[:n], nil
}

// frameCounter counts the whole frames in a byte stream fed to it in pieces
// of any size, and the bytes of the incomplete frame at its end.
type frameCounter struct {
	frames int             // whole frames seen
	bytes  int64           // bytes fed
	hdr    [headerLen]byte // the current frame's header, nhdr bytes of it so far
	nhdr   int
	size   int // the current frame's payload length, once nhdr == headerLen
	need   int // payload bytes of the current frame still to come
}

// feed counts the frames in p, continuing the frame that earlier bytes began.
func (f *frameCounter) feed(p []byte) {
	f.bytes += int64(len(p))
	for len(p) > 0 {
		if f.nhdr < headerLen {
			n := copy(f.hdr[f.nhdr:], p)
			f.nhdr += n
			p = p[n:]
			if f.nhdr < headerLen {
				return
			}
			f.size = int(binary.BigEndian.Uint32(f.hdr[:]))
			f.need = f.size
		}
		n := min(f.need, len(p))
		f.need -= n
		p = p[n:]
		if f.need == 0 {
			f.frames++
			f.nhdr = 0
		}
	}
}

// partial returns how many bytes of an incomplete last frame (header
// included) have been fed; 0 when the stream so far ends on a frame boundary.
func (f *frameCounter) partial() int {
	if f.nhdr < headerLen {
		return f.nhdr
	}
	return headerLen + f.size - f.need
}

// roundTrip writes payload as one frame on c and reads one frame back into
// buf, all within timeout; it fails unless the reply equals payload.
func roundTrip(c net.Conn, payload, buf []byte, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	if err := c.SetDeadline(start.Add(timeout)); err != nil {
		return 0, err
	}
	var frame [256]byte
	if _, err := c.Write(appendFrame(frame[:0], payload)); err != nil {
		return 0, err
	}
	got, err := readFrame(c, buf)
	if err != nil {
		return 0, err
	}
	if string(got) != string(payload) {
		return 0, fmt.Errorf("echo: got %d bytes %q, want %q", len(got), got, payload)
	}
	return time.Since(start), nil
}

// endKind names how a stream ended, from the error its last read returned:
// "eof" (a clean FIN), "reset", "timeout", or the error's text.
func endKind(err error) string {
	var ne net.Error
	switch {
	case err == nil:
		return "open"
	case errors.Is(err, io.EOF):
		return "eof"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "reset"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return err.Error()
}

// percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted, which must be in ascending order; 0 when sorted is empty.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// latency summarises round-trip times.
type latency struct {
	n             int
	p50, p99, max time.Duration
}

// summarise sorts d in place and returns its summary.
func summarise(d []time.Duration) latency {
	slices.Sort(d)
	l := latency{n: len(d), p50: percentile(d, 50), p99: percentile(d, 99)}
	if len(d) > 0 {
		l.max = d[len(d)-1]
	}
	return l
}

// ms returns d in milliseconds, rounded to 0.01 ms.
func ms(d time.Duration) float64 { return math.Round(float64(d)/1e4) / 100 }
