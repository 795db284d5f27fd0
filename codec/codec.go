package codec

// DefaultMaxFrame is the largest whole frame a codec accepts when its
// configuration leaves the maximum at 0: 4 MiB.
const DefaultMaxFrame = 4 << 20

// Codec splits a byte stream into frames and frames payloads. Implementations
// in this package are immutable and safe for concurrent use.
type Codec interface {
	// Decode returns the next frame's payload and the number of bytes of buf
	// it used. (nil, 0, nil) means more bytes are needed. A payload is never
	// nil when n > 0, even if it is empty. payload aliases buf: it stays valid
	// as long as buf's bytes are not overwritten.
	Decode(buf []byte) (payload []byte, n int, err error)
	// Append appends payload, framed, to dst and returns the extended slice,
	// as the built-in append does: it may be a new array, owned by the caller.
	// On error it returns dst as it was.
	Append(dst, payload []byte) ([]byte, error)
}

// Sizer is implemented by codecs that learn a frame's whole size from its
// header alone, so that a reader can wait for that many bytes instead of
// decoding again each time a piece of a large frame arrives.
type Sizer interface {
	// FrameSize returns the number of bytes the frame at the start of buf
	// occupies, header included, or 0 if buf does not yet hold the whole
	// header. It returns the error Decode would return for that frame.
	FrameSize(buf []byte) (size int, err error)
}

var (
	_ Codec = (*LengthField)(nil)
	_ Codec = (*Delimiter)(nil)
	_ Codec = (*Fixed)(nil)
	_ Codec = Raw{}
	_ Sizer = (*LengthField)(nil)
	_ Sizer = (*Fixed)(nil)
)

// Raw is the codec without framing: Decode hands out everything buffered as
// one payload and Append appends the payload as is. Its zero value is ready
// to use.
type Raw struct{}

// Decode returns all of buf as one payload, with n = len(buf), or
// (nil, 0, nil) if buf is empty. The payload is buf with its capacity capped
// at its length and stays valid as long as buf's bytes are not overwritten.
func (Raw) Decode(buf []byte) ([]byte, int, error) {
	if len(buf) == 0 {
		return nil, 0, nil
	}
	return buf[:len(buf):len(buf)], len(buf), nil
}

// Append appends payload to dst unchanged and returns the extended slice,
// owned by the caller like the result of the built-in append.
func (Raw) Append(dst, payload []byte) ([]byte, error) {
	return append(dst, payload...), nil
}
