// Package pool holds netsys's own byte buffer pools, built on
// github.com/valyala/bytebufferpool.
//
// The package-level default pool of bytebufferpool is shared with gnet, which
// calibrates it for its own buffer sizes. netsys never uses it: a Pool here is
// a separate bytebufferpool.Pool, so each kind of buffer is calibrated on its
// own sizes. Two pools are ready to use: one for single frames (GetFrame,
// PutFrame), such as a copy handed to a worker goroutine, and one for a
// session's outbound batch (GetBatch, PutBatch).
//
//	b := pool.GetFrame()
//	b.B = append(b.B, msg...) // copy: msg is only valid during the callback
//	go func() {
//		defer pool.PutFrame(b)
//		process(b.B)
//	}()
//
// A buffer from Get has length 0. After Put, neither the buffer nor any slice
// taken from its B field may be used again: B is only valid until the buffer is
// put back.
//
// Concurrency: every function and method is safe for concurrent use from any
// goroutine. A buffer itself is not: one goroutine at a time owns it, from Get
// until Put.
package pool
