package envelope

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Version is the envelope version this package speaks, sent in its hello.
const Version = 1

// Kind is what a frame is: the low four bits of its first byte.
type Kind uint8

// The kinds of version 1. See docs/wire-format.md.
const (
	KindMessage Kind = 1 // one-way message: [type] body
	KindRequest Kind = 2 // request: ID [type] body; answered by a reply or an error with its ID
	KindReply   Kind = 3 // reply: ID body
	KindError   Kind = 4 // error reply: ID code text; ID 0 is about the connection, which then closes
	KindHello   Kind = 5 // hello: version features; the first frame each side sends
	KindPing    Kind = 6 // ping: ID; answered by a pong with the same ID
	KindPong    Kind = 7 // pong: ID
)

var kindNames = [...]string{"kind 0", "message", "request", "reply", "error", "hello", "ping", "pong"}

// String returns the kind's name, such as "request".
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind %d", uint8(k))
}

// hasID reports whether frames of kind k carry a correlation ID.
func (k Kind) hasID() bool {
	return k == KindRequest || k == KindReply || k == KindError || k == KindPing || k == KindPong
}

// The flag bits of the first byte.
const (
	flagTyped      = 0x10 // a message type follows the ID (message and request only)
	flagCompressed = 0x20 // the body is one S2 block (message, request and reply only)
	flagsReserved  = 0xC0 // must be zero
	kindMask       = 0x0F
)

// Features a hello can accept, as bits of its features field.
const (
	FeatureS2 uint32 = 1 << 0 // the sender accepts S2-compressed bodies
)

// MaxHeaderLen is the longest header: the kind byte, a 5-byte ID and a 5-byte type.
const MaxHeaderLen = 1 + binary.MaxVarintLen32 + binary.MaxVarintLen32

// Header is the part of a frame before its body.
type Header struct {
	Kind       Kind
	Typed      bool   // Type is present (message and request only)
	Compressed bool   // the body is an S2 block (message, request and reply only)
	ID         uint32 // correlation ID (request, reply, error, ping, pong)
	Type       uint32 // message type, when Typed
}

// AppendHeader appends h's encoding to dst. It does not check h: ParseHeader
// refuses what a peer must not send.
func AppendHeader(dst []byte, h Header) []byte {
	b := byte(h.Kind) & kindMask
	if h.Typed {
		b |= flagTyped
	}
	if h.Compressed {
		b |= flagCompressed
	}
	dst = append(dst, b)
	if h.Kind.hasID() {
		dst = binary.AppendUvarint(dst, uint64(h.ID))
	}
	if h.Typed {
		dst = binary.AppendUvarint(dst, uint64(h.Type))
	}
	return dst
}

// ParseHeader parses the header at the start of frame and returns it with
// the body, which aliases frame. It refuses reserved bits, flags the kind does
// not allow, unknown kinds (ErrUnknownKind), cut-off or over-long varints, a
// request with ID 0 and a hello of the wrong length (ErrMalformed). It never
// panics and does not allocate.
func ParseHeader(frame []byte) (Header, []byte, error) {
	// The common frame, a plain request or reply with an ID under 128, takes
	// a path without the error cases' call frames.
	if len(frame) >= 2 && (frame[0] == byte(KindRequest) || frame[0] == byte(KindReply)) && frame[1]-1 < 0x7f {
		return Header{Kind: Kind(frame[0]), ID: uint32(frame[1])}, frame[2:], nil
	}
	return parseHeader(frame)
}

// parseHeader is ParseHeader for every frame.
func parseHeader(frame []byte) (Header, []byte, error) {
	var h Header
	if len(frame) == 0 {
		return h, nil, fmt.Errorf("%w: empty frame", ErrMalformed)
	}
	b := frame[0]
	if b&flagsReserved != 0 {
		return h, nil, fmt.Errorf("%w: reserved flag bits set in %#02x", ErrMalformed, b)
	}
	h.Kind = Kind(b & kindMask)
	h.Typed = b&flagTyped != 0
	h.Compressed = b&flagCompressed != 0
	switch h.Kind {
	case KindMessage, KindRequest:
	case KindReply:
		if h.Typed {
			return h, nil, fmt.Errorf("%w: typed flag on a reply", ErrMalformed)
		}
	case KindError, KindHello, KindPing, KindPong:
		if h.Typed || h.Compressed {
			return h, nil, fmt.Errorf("%w: flags %#02x on %v", ErrMalformed, b&^kindMask, h.Kind)
		}
	default:
		return h, nil, fmt.Errorf("%w: %d", ErrUnknownKind, h.Kind)
	}
	rest := frame[1:]
	var err error
	if h.Kind.hasID() {
		if h.ID, rest, err = uvarint32(rest, "ID"); err != nil {
			return h, nil, err
		}
		if h.ID == 0 && h.Kind != KindError {
			return h, nil, fmt.Errorf("%w: %v with ID 0", ErrMalformed, h.Kind)
		}
	}
	if h.Typed {
		if h.Type, rest, err = uvarint32(rest, "type"); err != nil {
			return h, nil, err
		}
	}
	return h, rest, nil
}

// uvarint32 reads an unsigned varint of at most 32 bits from the start of b.
func uvarint32(b []byte, what string) (uint32, []byte, error) {
	if len(b) > 0 && b[0] < 0x80 { // one byte: IDs and types under 128
		return uint32(b[0]), b[1:], nil
	}
	v, n := binary.Uvarint(b)
	switch {
	case n == 0:
		return 0, nil, fmt.Errorf("%w: %s cut off", ErrMalformed, what)
	case n < 0 || v > math.MaxUint32:
		return 0, nil, fmt.Errorf("%w: %s over 32 bits", ErrMalformed, what)
	}
	return uint32(v), b[n:], nil
}

// Hello is what a hello frame says.
type Hello struct {
	Version  uint32 // the envelope version the sender speaks
	Features uint32 // what the sender accepts (FeatureS2)
}

// AppendHello appends a hello frame to dst.
func AppendHello(dst []byte, h Hello) []byte {
	dst = append(dst, byte(KindHello))
	dst = binary.AppendUvarint(dst, uint64(h.Version))
	return binary.AppendUvarint(dst, uint64(h.Features))
}

// ParseHello parses the body of a hello frame (what follows its first byte).
// Bytes after the features are ignored: later versions may add fields.
func ParseHello(body []byte) (Hello, error) {
	var h Hello
	var err error
	if h.Version, body, err = uvarint32(body, "hello version"); err != nil {
		return h, err
	}
	if h.Features, _, err = uvarint32(body, "hello features"); err != nil {
		return h, err
	}
	return h, nil
}

// AppendError appends the body of an error frame (after its header): the
// code, then the message text.
func AppendError(dst []byte, code Code, msg string) []byte {
	dst = binary.AppendUvarint(dst, uint64(code))
	return append(dst, msg...)
}

// ParseError parses the body of an error frame into a *RemoteError.
func ParseError(body []byte) (*RemoteError, error) {
	code, rest, err := uvarint32(body, "error code")
	if err != nil {
		return nil, err
	}
	return &RemoteError{Code: Code(code), Message: string(rest)}, nil
}
