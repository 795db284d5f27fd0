package envelope

import (
	"encoding/json"
	"fmt"
	"sync"
)

// Serializer turns values into bodies and back. Marshal appends v's encoding
// to dst; Unmarshal decodes data into v, a pointer the router took from its
// pool (see Resetter). Both must be safe for concurrent use.
type Serializer interface {
	Marshal(dst []byte, v any) ([]byte, error)
	Unmarshal(data []byte, v any) error
}

// Resetter is implemented by values that clear themselves for reuse. The
// router resets a pooled value before decoding into it: with Reset if the
// type has it (keeping buffers it owns), else by setting it to its zero value.
type Resetter interface{ Reset() }

// JSON is the Serializer of encoding/json. It needs no code generation; it
// allocates.
type JSON struct{}

// Marshal appends v as JSON to dst.
func (JSON) Marshal(dst []byte, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}

// Unmarshal decodes JSON data into v.
func (JSON) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

// Router maps message types to handlers. Register every handler before the
// router serves a connection; after that it is only read, from any number of
// loops at once.
type Router struct {
	ser     Serializer
	routes  map[uint32]func(req *Msg) error
	untyped func(req *Msg)
}

// NewRouter returns a router whose typed handlers decode bodies with ser;
// nil means JSON.
func NewRouter(ser Serializer) *Router {
	if ser == nil {
		ser = JSON{}
	}
	return &Router{ser: ser, routes: make(map[uint32]func(*Msg) error)}
}

// Serializer returns the router's serializer.
func (r *Router) Serializer() Serializer { return r.ser }

// Handle routes messages and requests of type typ to fn, with the body
// decoded into a *T from a pool. v is valid only during the call: fn must
// not keep it (copy what a deferred answer needs). A body that does not
// decode gets an error reply with CodeBadBody for a request and closes the
// session for a one-way message (ErrBadBody). A later Handle for the same type
// replaces the earlier one.
func Handle[T any](r *Router, typ uint32, fn func(req *Msg, v *T)) {
	pool := &sync.Pool{New: func() any { return new(T) }}
	r.routes[typ] = func(req *Msg) error {
		v := pool.Get().(*T)
		if rs, ok := any(v).(Resetter); ok {
			rs.Reset()
		} else {
			var zero T
			*v = zero
		}
		if err := r.ser.Unmarshal(req.body, v); err != nil {
			pool.Put(v)
			return fmt.Errorf("%w: type %d: %w", ErrBadBody, typ, err)
		}
		fn(req, v)
		pool.Put(v)
		return nil
	}
}

// HandleRaw routes messages and requests of type typ to fn, which reads the
// body with req.Body.
func (r *Router) HandleRaw(typ uint32, fn func(req *Msg)) {
	r.routes[typ] = func(req *Msg) error { fn(req); return nil }
}

// HandleUntyped routes messages and requests that carry no type to fn.
// Without it they are treated as of an unknown type.
func (r *Router) HandleUntyped(fn func(req *Msg)) { r.untyped = fn }

// dispatch hands req to its handler. It returns an error wrapping
// ErrUnknownType or ErrBadBody, without calling a handler, if req cannot be
// handled.
func (r *Router) dispatch(req *Msg) error {
	if !req.h.Typed {
		if r.untyped == nil {
			return fmt.Errorf("%w: untyped %v and no HandleUntyped", ErrUnknownType, req.h.Kind)
		}
		r.untyped(req)
		return nil
	}
	fn := r.routes[req.h.Type]
	if fn == nil {
		return fmt.Errorf("%w: %d", ErrUnknownType, req.h.Type)
	}
	return fn(req)
}
