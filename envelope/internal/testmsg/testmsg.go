//msgp:limit arrays:1024 maps:64

package testmsg

//go:generate go run github.com/tinylib/msgp@v1.6.5 -tests=false -io=false

// Echo is a typed request body whose decoding into a pooled value allocates
// nothing: its slices keep their capacity across Reset.
type Echo struct {
	Seq  uint64   `msg:"seq"`
	Data []byte   `msg:"data"`
	Tags []uint32 `msg:"tags"`
}

// Reset empties e and keeps its buffers, for the router's pool.
func (e *Echo) Reset() {
	e.Seq = 0
	e.Data = e.Data[:0]
	e.Tags = e.Tags[:0]
}
