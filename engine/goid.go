package engine

import (
	"bytes"
	"runtime"
	"strconv"
)

// goroutineID returns the calling goroutine's ID, read from the first line
// of its stack trace ("goroutine 42 [running]:"). It costs about a
// microsecond, so the engine only calls it when a handler callback is known
// to be running on a client's loops, to tell whether the caller is that
// callback (Client.Request and Close would otherwise wait for the loop they
// block).
func goroutineID() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b, _ = bytes.CutPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, _ := strconv.ParseUint(string(b), 10, 64)
	return id
}
