package envelope

import (
	"errors"
	"strconv"
)

// Errors of the envelope layer. Sessions closed by the envelope get one of
// them as their reason, wrapped with detail; match them with errors.Is.
var (
	// ErrMalformed: a frame too short for its header, with reserved flag bits
	// set, a flag its kind does not allow, or a varint that is cut off or
	// larger than 32 bits.
	ErrMalformed = errors.New("envelope: malformed frame")
	// ErrUnknownKind: a frame whose kind is not one of the kinds of the version
	// spoken.
	ErrUnknownKind = errors.New("envelope: unknown kind")
	// ErrProtocol: a frame that is well formed but out of place, such as a
	// message before the hello or a second hello.
	ErrProtocol = errors.New("envelope: protocol violation")
	// ErrVersion: the peer's hello carries a version this side does not speak.
	ErrVersion = errors.New("envelope: unsupported version")
	// ErrRefused: the peer refused the connection with a connection-level error
	// (an error frame with ID 0); the *RemoteError it sent is wrapped too.
	ErrRefused = errors.New("envelope: refused by peer")
	// ErrDuplicateID: the peer sent a request with the ID of one of its
	// requests that is still waiting for its answer.
	ErrDuplicateID = errors.New("envelope: duplicate request ID in flight")
	// ErrNotAccepted: the peer sent a compressed frame although this side's
	// hello did not accept compression.
	ErrNotAccepted = errors.New("envelope: compressed frame not accepted")
	// ErrUnknownType: no handler for the message type. A request gets an error
	// reply with CodeUnknownType; a one-way message closes the session.
	ErrUnknownType = errors.New("envelope: unknown message type")
	// ErrBadBody: the body did not decode (decompression or the serializer
	// failed). A request gets an error reply with CodeBadBody; a one-way message
	// closes the session.
	ErrBadBody = errors.New("envelope: body does not decode")
	// ErrBusy: the peer already had WithMaxInFlight requests of ours waiting
	// for their answer (a RemoteError with CodeBusy matches it).
	ErrBusy = errors.New("envelope: too many requests in flight")
	// ErrNoReply: the handler of a request returned without answering it or
	// deferring the answer (a RemoteError with CodeNoReply matches it).
	ErrNoReply = errors.New("envelope: handler did not reply")
	// ErrOneWay: Reply, Error or Defer on a one-way message.
	ErrOneWay = errors.New("envelope: one-way message has no reply")
	// ErrAnswered: a second answer to the same request.
	ErrAnswered = errors.New("envelope: request already answered")
	// ErrNotConnected: the client or session has no open connection.
	ErrNotConnected = errors.New("envelope: not connected")
	// ErrNoPeer: the session was not made by an envelope handler.
	ErrNoPeer = errors.New("envelope: session does not speak the envelope")
	// ErrBodyTooLarge is returned by sends whose body is over WithMaxBodySize.
	ErrBodyTooLarge = errors.New("envelope: body too large")
)

// Code is the code of an error reply. Codes below 100 are the envelope's own;
// applications use 100 and above.
type Code uint32

// The envelope's error codes.
const (
	CodeApplication Code = 1 // the handler answered with an error (Request.Fail)
	CodeUnknownType Code = 2 // no handler for the message type
	CodeBadBody     Code = 3 // the body did not decode
	CodeBusy        Code = 4 // too many requests in flight
	CodeNoReply     Code = 5 // the handler returned without answering
	CodeVersion     Code = 6 // connection refused: unsupported version (ID 0)
	CodeProtocol    Code = 7 // connection closed: protocol violation (ID 0)
)

var codeNames = map[Code]string{
	CodeApplication: "application",
	CodeUnknownType: "unknown type",
	CodeBadBody:     "bad body",
	CodeBusy:        "busy",
	CodeNoReply:     "no reply",
	CodeVersion:     "version",
	CodeProtocol:    "protocol",
}

// String returns the code's name, or its number for codes not of the envelope.
func (c Code) String() string {
	if n, ok := codeNames[c]; ok {
		return n
	}
	return "code " + strconv.FormatUint(uint64(c), 10)
}

// RemoteError is an error reply from the peer: what a Request returns when
// the handler on the other side answered with an error. errors.Is matches it
// against the sentinel of its code (ErrUnknownType, ErrBadBody, ErrBusy,
// ErrNoReply, ErrVersion, ErrProtocol).
type RemoteError struct {
	Code    Code   // why; CodeApplication for Request.Fail
	Message string // the peer's text
}

// Error returns "envelope: remote error (code): message".
func (e *RemoteError) Error() string {
	return "envelope: remote error (" + e.Code.String() + "): " + e.Message
}

// Is reports whether target is the sentinel of e's code.
func (e *RemoteError) Is(target error) bool {
	switch e.Code {
	case CodeUnknownType:
		return target == ErrUnknownType
	case CodeBadBody:
		return target == ErrBadBody
	case CodeBusy:
		return target == ErrBusy
	case CodeNoReply:
		return target == ErrNoReply
	case CodeVersion:
		return target == ErrVersion
	case CodeProtocol:
		return target == ErrProtocol
	}
	return false
}
