package codec

import "fmt"

// Fixed is the codec for frames of one fixed size, carrying no header. Build
// one with [NewFixed].
type Fixed struct {
	size int
}

// NewFixed returns a codec for frames of size bytes. The error wraps
// ErrConfig when size is not positive.
func NewFixed(size int) (*Fixed, error) {
	if size <= 0 {
		return nil, fmt.Errorf("%w: fixed frame size %d is not positive", ErrConfig, size)
	}
	return &Fixed{size: size}, nil
}

// MaxFrame returns the frame size.
func (f *Fixed) MaxFrame() int { return f.size }

// FrameSize returns the frame size: a fixed frame has no header to wait for.
func (f *Fixed) FrameSize([]byte) (int, error) { return f.size, nil }

// Decode returns the first frame-size bytes of buf as the payload, or
// (nil, 0, nil) if buf is shorter. The payload aliases buf, with its capacity
// capped at the end of the frame, and stays valid as long as buf's bytes are
// not overwritten.
func (f *Fixed) Decode(buf []byte) ([]byte, int, error) {
	if len(buf) < f.size {
		return nil, 0, nil
	}
	return buf[:f.size:f.size], f.size, nil
}

// Append appends payload to dst and returns the extended slice, owned by the
// caller like the result of the built-in append. The payload must be exactly
// the frame size; otherwise Append returns dst unchanged and an error
// wrapping ErrBadLength.
func (f *Fixed) Append(dst, payload []byte) ([]byte, error) {
	if len(payload) != f.size {
		return dst, fmt.Errorf("%w: payload of %d bytes; fixed frames are %d", ErrBadLength, len(payload), f.size)
	}
	return append(dst, payload...), nil
}
