package pool

import "github.com/valyala/bytebufferpool"

// Pool is a pool of byte buffers, calibrated on the sizes put back into it:
// buffers much larger than most are dropped instead of kept. The zero value is
// ready to use. A Pool must not be copied after first use.
type Pool struct {
	p bytebufferpool.Pool
}

// Get returns an empty buffer (Len() == 0) from the pool, or a new one.
// Return it with Put once it is no longer used.
func (p *Pool) Get() *bytebufferpool.ByteBuffer {
	return p.p.Get()
}

// MaxPooled is the largest buffer capacity a Pool keeps: Put lets larger
// buffers go to the garbage collector, so that memory taken by an occasional
// large message (or an attack) goes back to the runtime once it is used.
const MaxPooled = 256 << 10

// Put resets b and returns it to the pool, unless its capacity is over
// MaxPooled. b and its B slice must not be used after Put. Put(nil) does
// nothing.
func (p *Pool) Put(b *bytebufferpool.ByteBuffer) {
	if b != nil && cap(b.B) <= MaxPooled {
		p.p.Put(b)
	}
}

var (
	frames  Pool
	batches Pool
)

// GetFrame returns an empty buffer for a single frame, such as a copy of a
// message handed to another goroutine. Return it with PutFrame.
func GetFrame() *bytebufferpool.ByteBuffer { return frames.Get() }

// PutFrame returns a buffer from GetFrame to the frame pool. b and its B slice
// must not be used after PutFrame. PutFrame(nil) does nothing.
func PutFrame(b *bytebufferpool.ByteBuffer) { frames.Put(b) }

// GetBatch returns an empty buffer for a session's outbound batch. Return it
// with PutBatch.
func GetBatch() *bytebufferpool.ByteBuffer { return batches.Get() }

// PutBatch returns a buffer from GetBatch to the batch pool. b and its B slice
// must not be used after PutBatch. PutBatch(nil) does nothing.
func PutBatch(b *bytebufferpool.ByteBuffer) { batches.Put(b) }
