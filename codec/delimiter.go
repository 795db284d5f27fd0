package codec

import (
	"bytes"
	"fmt"
	"slices"
)

// Delimiter is the codec for frames that end with a delimiter, such as text
// lines. The delimiter is not part of the payload. Build one with
// [NewDelimiter] or [NewLine].
type Delimiter struct {
	delim []byte
	max   int  // largest whole frame, delimiter included
	line  bool // NewLine: also strip a '\r' before the '\n'
}

// NewDelimiter returns a codec for frames ending with delim (copied). A
// frame, delimiter included, may be up to maxFrame bytes long; 0 means
// DefaultMaxFrame. The error wraps ErrConfig when delim is empty, maxFrame is
// negative or maxFrame cannot hold the delimiter.
func NewDelimiter(delim []byte, maxFrame int) (*Delimiter, error) {
	if maxFrame == 0 {
		maxFrame = DefaultMaxFrame
	}
	switch {
	case len(delim) == 0:
		return nil, fmt.Errorf("%w: empty delimiter", ErrConfig)
	case maxFrame < len(delim):
		return nil, fmt.Errorf("%w: maxFrame %d cannot hold a %d-byte delimiter", ErrConfig, maxFrame, len(delim))
	}
	return &Delimiter{delim: bytes.Clone(delim), max: maxFrame}, nil
}

// NewLine returns a codec for text lines: frames end with "\n" and a "\r"
// just before it is stripped too, so both "\n" and "\r\n" line endings work.
// A line, ending included, may be up to maxFrame bytes long; maxFrame <= 0
// means DefaultMaxFrame. Append ends lines with "\n".
func NewLine(maxFrame int) *Delimiter {
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrame
	}
	return &Delimiter{delim: []byte{'\n'}, max: maxFrame, line: true}
}

// MaxFrame returns the largest whole frame, delimiter included, the codec
// accepts.
func (d *Delimiter) MaxFrame() int { return d.max }

// Decode returns the payload of the frame at the start of buf, without its
// delimiter, and the frame's size, delimiter included. It returns
// (nil, 0, nil) while buf holds no delimiter, and an error wrapping
// ErrFrameTooLarge as soon as buf holds MaxFrame bytes without one: the
// frame can then only be too large. The payload aliases buf, with its
// capacity capped at the end of the payload, and stays valid as long as
// buf's bytes are not overwritten.
func (d *Delimiter) Decode(buf []byte) ([]byte, int, error) {
	i := bytes.Index(buf[:min(len(buf), d.max)], d.delim)
	if i < 0 {
		if len(buf) >= d.max {
			return nil, 0, fmt.Errorf("%w: no delimiter in the first %d bytes", ErrFrameTooLarge, d.max)
		}
		return nil, 0, nil
	}
	n := i + len(d.delim)
	if d.line && i > 0 && buf[i-1] == '\r' {
		i--
	}
	return buf[:i:i], n, nil
}

// Append appends payload and the delimiter to dst and returns the extended
// slice, owned by the caller like the result of the built-in append. A line
// codec ([NewLine]) writes "\r\n" instead of "\n" after a payload that ends
// in '\r', so that Decode hands the payload back whole. A payload the
// delimiter would cut short gives an error wrapping ErrDelimiterInPayload,
// and a frame longer than MaxFrame one wrapping ErrFrameTooLarge. On error
// dst is returned unchanged.
func (d *Delimiter) Append(dst, payload []byte) ([]byte, error) {
	cr := d.line && len(payload) > 0 && payload[len(payload)-1] == '\r'
	size := len(payload) + len(d.delim)
	if cr {
		size++
	}
	if size > d.max {
		return dst, fmt.Errorf("%w: frame of %d bytes exceeds MaxFrame %d", ErrFrameTooLarge, size, d.max)
	}
	orig := dst
	dst = append(slices.Grow(dst, size), payload...)
	if cr {
		dst = append(dst, '\r')
	}
	dst = append(dst, d.delim...)
	// The first delimiter must be the one just appended; with a delimiter
	// like "aa" a payload ending in "a" would also end early.
	if i := bytes.Index(dst[len(dst)-size:], d.delim); i != size-len(d.delim) {
		return orig, fmt.Errorf("%w: delimiter at byte %d of a %d-byte payload", ErrDelimiterInPayload, i, len(payload))
	}
	return dst, nil
}
