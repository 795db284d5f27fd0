package codec

import "errors"

// Errors returned by the codecs, wrapped with detail; match them with
// errors.Is.
var (
	// ErrFrameTooLarge reports a frame longer than the codec's maximum frame
	// size, or a payload that cannot be framed within it. Decode returns it as
	// soon as the frame's size is known, before its bytes arrive.
	ErrFrameTooLarge = errors.New("codec: frame too large")
	// ErrBadLength reports a length that cannot describe a frame: a length
	// field that is negative after adjustment, a frame shorter than its header
	// or than the bytes to strip, or a payload of the wrong size.
	ErrBadLength = errors.New("codec: bad length")
	// ErrConfig reports a codec configuration that cannot work, or a
	// configuration Append cannot express.
	ErrConfig = errors.New("codec: bad configuration")
	// ErrDelimiterInPayload reports a payload that Delimiter.Append refuses
	// because the delimiter would end its frame early.
	ErrDelimiterInPayload = errors.New("codec: payload contains the delimiter")
)
