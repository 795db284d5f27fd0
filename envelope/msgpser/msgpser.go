package msgpser

import (
	"errors"
	"fmt"

	"github.com/tinylib/msgp/msgp"
)

// Errors of the serializer.
var (
	// ErrNotMsgp: the value has no msgp-generated method for the operation.
	ErrNotMsgp = errors.New("msgpser: value does not implement msgp")
	// ErrTrailing: the body has bytes after the value.
	ErrTrailing = errors.New("msgpser: trailing bytes after the value")
)

// Serializer implements envelope.Serializer with msgp's generated methods.
type Serializer struct{}

// Marshal appends v's MessagePack encoding to dst. v must implement
// msgp.Marshaler (a pointer to a generated type does).
func (Serializer) Marshal(dst []byte, v any) ([]byte, error) {
	m, ok := v.(msgp.Marshaler)
	if !ok {
		return dst, fmt.Errorf("%w: %T has no MarshalMsg", ErrNotMsgp, v)
	}
	return m.MarshalMsg(dst)
}

// Unmarshal decodes data into v, which must implement msgp.Unmarshaler. The
// whole body must be one value.
func (Serializer) Unmarshal(data []byte, v any) error {
	u, ok := v.(msgp.Unmarshaler)
	if !ok {
		return fmt.Errorf("%w: %T has no UnmarshalMsg", ErrNotMsgp, v)
	}
	rest, err := u.UnmarshalMsg(data)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return fmt.Errorf("%w: %d bytes", ErrTrailing, len(rest))
	}
	return nil
}
