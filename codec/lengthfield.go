package codec

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// LengthFieldConfig describes a length-field frame format with the semantics
// of Netty's LengthFieldBasedFrameDecoder. A frame is
//
//	Offset bytes | length field (Size bytes, value v) | v + Adjustment bytes
//
// so its whole length is Offset + Size + v + Adjustment. Decode hands out the
// frame without its first Strip bytes. The zero value is not valid: Size must
// be set.
type LengthFieldConfig struct {
	Offset       int  // bytes before the length field
	Size         int  // 1, 2, 3, 4 or 8
	Adjustment   int  // added to the field's value to get the number of bytes that follow the field
	Strip        int  // bytes removed from the front of the frame before it is handed out
	LittleEndian bool // default big-endian
	MaxFrame     int  // largest whole frame (header included) accepted; 0 means DefaultMaxFrame (4 MiB)
}

// LengthField is the codec for frames carrying their length in a header
// field; see [LengthFieldConfig]. Build one with [NewLengthField] or
// [Default].
type LengthField struct {
	cfg    LengthFieldConfig
	header int    // Offset + Size: bytes needed to read the field
	minV   uint64 // smallest valid field value: -Adjustment when negative, else 0
	maxV   uint64 // largest field value whose frame fits in MaxFrame
	adjPos int    // Adjustment when positive, else 0
	plain  bool   // the default wire format (4-byte big-endian length, stripped): Decode and Append take a short path
}

// NewLengthField validates cfg and returns the codec it describes. The error
// wraps ErrConfig. Offset, Strip and MaxFrame must not be negative; Size must
// be 1, 2, 3, 4 or 8; the header (Offset + Size), a frame with an empty body
// (header + Adjustment) and Strip must each fit in MaxFrame.
func NewLengthField(cfg LengthFieldConfig) (*LengthField, error) {
	if cfg.MaxFrame == 0 {
		cfg.MaxFrame = DefaultMaxFrame
	}
	switch {
	case cfg.Size != 1 && cfg.Size != 2 && cfg.Size != 3 && cfg.Size != 4 && cfg.Size != 8:
		return nil, fmt.Errorf("%w: length field Size %d; want 1, 2, 3, 4 or 8", ErrConfig, cfg.Size)
	case cfg.MaxFrame < 0:
		return nil, fmt.Errorf("%w: MaxFrame %d is negative", ErrConfig, cfg.MaxFrame)
	case cfg.Offset < 0:
		return nil, fmt.Errorf("%w: Offset %d is negative", ErrConfig, cfg.Offset)
	case cfg.Strip < 0:
		return nil, fmt.Errorf("%w: Strip %d is negative", ErrConfig, cfg.Strip)
	case cfg.Offset > cfg.MaxFrame-cfg.Size:
		return nil, fmt.Errorf("%w: header of %d+%d bytes exceeds MaxFrame %d", ErrConfig, cfg.Offset, cfg.Size, cfg.MaxFrame)
	case cfg.Adjustment > cfg.MaxFrame-cfg.Offset-cfg.Size:
		return nil, fmt.Errorf("%w: Adjustment %d makes every frame exceed MaxFrame %d", ErrConfig, cfg.Adjustment, cfg.MaxFrame)
	case cfg.Strip > cfg.MaxFrame:
		return nil, fmt.Errorf("%w: Strip %d exceeds MaxFrame %d", ErrConfig, cfg.Strip, cfg.MaxFrame)
	}
	return newLengthField(cfg), nil
}

// newLengthField builds the codec for a validated cfg.
func newLengthField(cfg LengthFieldConfig) *LengthField {
	l := &LengthField{cfg: cfg, header: cfg.Offset + cfg.Size}
	l.plain = cfg.Offset == 0 && cfg.Size == 4 && !cfg.LittleEndian && cfg.Adjustment == 0 && cfg.Strip == 4
	maxBody := uint64(cfg.MaxFrame - l.header)
	if cfg.Adjustment < 0 {
		l.minV = -uint64(cfg.Adjustment) // |Adjustment|, also for math.MinInt
		l.maxV = maxBody + l.minV        // at most (2^63-1) + 2^63: no overflow
	} else {
		l.adjPos = cfg.Adjustment
		l.maxV = maxBody - uint64(cfg.Adjustment) // Adjustment <= maxBody was validated
	}
	return l
}

// Default returns the project's wire format, LengthFieldConfig{Size: 4,
// Strip: 4}: a 4-byte big-endian payload length, then the payload, with
// frames up to DefaultMaxFrame.
func Default() *LengthField {
	return newLengthField(LengthFieldConfig{Size: 4, Strip: 4, MaxFrame: DefaultMaxFrame})
}

// Config returns the configuration, with MaxFrame set to the value in force.
func (l *LengthField) Config() LengthFieldConfig { return l.cfg }

// MaxFrame returns the largest whole frame, header included, the codec
// accepts.
func (l *LengthField) MaxFrame() int { return l.cfg.MaxFrame }

// FrameSize returns the whole size of the frame at the start of buf, or 0 if
// buf does not yet hold the length field. It returns ErrBadLength or
// ErrFrameTooLarge (wrapped) as soon as the field is readable.
func (l *LengthField) FrameSize(buf []byte) (int, error) {
	if len(buf) < l.header {
		return 0, nil
	}
	v := l.field(buf[l.cfg.Offset:l.header])
	if v < l.minV {
		return 0, fmt.Errorf("%w: length field %d with Adjustment %d is negative", ErrBadLength, v, l.cfg.Adjustment)
	}
	if v > l.maxV {
		return 0, fmt.Errorf("%w: length field %d with Adjustment %d after a %d-byte header exceeds MaxFrame %d", ErrFrameTooLarge, v, l.cfg.Adjustment, l.header, l.cfg.MaxFrame)
	}
	size := l.header + int(v-l.minV) + l.adjPos // v-minV <= maxBody-adjPos, so size <= MaxFrame
	if l.cfg.Strip > size {
		return 0, fmt.Errorf("%w: frame of %d bytes is shorter than Strip %d", ErrBadLength, size, l.cfg.Strip)
	}
	return size, nil
}

// Decode returns the payload of the frame at the start of buf, that is the
// frame without its first Strip bytes, and the frame's size. It returns
// (nil, 0, nil) until the whole frame is in buf. The payload aliases buf,
// with its capacity capped at the end of the frame, and stays valid as long
// as buf's bytes are not overwritten.
func (l *LengthField) Decode(buf []byte) ([]byte, int, error) {
	if l.plain && len(buf) >= 4 {
		if v := uint64(binary.BigEndian.Uint32(buf)); v <= l.maxV {
			if size := 4 + int(v); len(buf) >= size {
				return buf[4:size:size], size, nil
			}
			return nil, 0, nil
		}
	}
	size, err := l.FrameSize(buf)
	if size == 0 || len(buf) < size {
		return nil, 0, err
	}
	return buf[l.cfg.Strip:size:size], size, nil
}

// Append appends a frame carrying payload to dst and returns the extended
// slice, owned by the caller like the result of the built-in append. It
// writes Offset zero bytes, then the length field with the value
// len(payload) - Adjustment, then payload, so that Decode hands payload back.
// That needs Strip == Offset + Size (the header is stripped); for other
// configurations Append returns an error wrapping ErrConfig. A payload whose
// frame exceeds MaxFrame or whose length does not fit in the field gives
// ErrFrameTooLarge, and one shorter than a positive Adjustment gives
// ErrBadLength. On error dst is returned unchanged.
func (l *LengthField) Append(dst, payload []byte) ([]byte, error) {
	if l.plain && uint64(len(payload)) <= l.maxV {
		return append(binary.BigEndian.AppendUint32(dst, uint32(len(payload))), payload...), nil
	}
	if l.cfg.Strip != l.header {
		return dst, fmt.Errorf("%w: Append needs Strip == Offset+Size (%d), not %d", ErrConfig, l.header, l.cfg.Strip)
	}
	if len(payload) < l.adjPos {
		return dst, fmt.Errorf("%w: payload of %d bytes is shorter than Adjustment %d", ErrBadLength, len(payload), l.adjPos)
	}
	v := uint64(len(payload)-l.adjPos) + l.minV
	if v > l.maxV {
		return dst, fmt.Errorf("%w: payload of %d bytes after a %d-byte header exceeds MaxFrame %d", ErrFrameTooLarge, len(payload), l.header, l.cfg.MaxFrame)
	}
	if l.cfg.Size < 8 && v>>(8*l.cfg.Size) != 0 {
		return dst, fmt.Errorf("%w: length %d does not fit in a %d-byte field", ErrFrameTooLarge, v, l.cfg.Size)
	}
	n := len(dst)
	dst = slices.Grow(dst, l.header+len(payload))[:n+l.header]
	clear(dst[n : n+l.cfg.Offset])
	l.putField(dst[n+l.cfg.Offset:], v)
	return append(dst, payload...), nil
}

// field reads the unsigned length field in h, which is Size bytes long.
func (l *LengthField) field(h []byte) uint64 {
	be, le := binary.BigEndian, binary.LittleEndian // concrete types: these calls inline
	switch {
	case len(h) == 2 && !l.cfg.LittleEndian:
		return uint64(be.Uint16(h))
	case len(h) == 2:
		return uint64(le.Uint16(h))
	case len(h) == 4 && !l.cfg.LittleEndian:
		return uint64(be.Uint32(h))
	case len(h) == 4:
		return uint64(le.Uint32(h))
	case len(h) == 8 && !l.cfg.LittleEndian:
		return be.Uint64(h)
	case len(h) == 8:
		return le.Uint64(h)
	}
	var v uint64 // 1 or 3 bytes
	if l.cfg.LittleEndian {
		for i := len(h) - 1; i >= 0; i-- {
			v = v<<8 | uint64(h[i])
		}
		return v
	}
	for _, b := range h {
		v = v<<8 | uint64(b)
	}
	return v
}

// putField writes v into the length field h.
func (l *LengthField) putField(h []byte, v uint64) {
	be, le := binary.BigEndian, binary.LittleEndian
	switch {
	case len(h) == 2 && !l.cfg.LittleEndian:
		be.PutUint16(h, uint16(v))
	case len(h) == 2:
		le.PutUint16(h, uint16(v))
	case len(h) == 4 && !l.cfg.LittleEndian:
		be.PutUint32(h, uint32(v))
	case len(h) == 4:
		le.PutUint32(h, uint32(v))
	case len(h) == 8 && !l.cfg.LittleEndian:
		be.PutUint64(h, v)
	case len(h) == 8:
		le.PutUint64(h, v)
	default: // 1 or 3 bytes
		for i := range h {
			shift := 8 * i // little-endian: least significant byte first
			if !l.cfg.LittleEndian {
				shift = 8 * (len(h) - 1 - i)
			}
			h[i] = byte(v >> shift)
		}
	}
}
