package pool_test

import (
	"fmt"
	"sync"

	"github.com/netsys-go/netsys/pool"
)

// A handler that hands a message to another goroutine copies it into a frame
// buffer first: the message is only valid during the callback. The goroutine
// owns the buffer until it puts it back.
func ExampleGetFrame() {
	onMessage := func(msg []byte, wg *sync.WaitGroup) {
		b := pool.GetFrame()
		b.B = append(b.B, msg...) // copy; msg may be reused once we return
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pool.PutFrame(b) // b.B must not be used after this
			fmt.Printf("worker got %q\n", b.B)
		}()
	}

	var wg sync.WaitGroup
	readBuf := []byte("hello")
	onMessage(readBuf, &wg)
	copy(readBuf, "XXXXX") // the transport reuses its read buffer
	wg.Wait()
	// Output:
	// worker got "hello"
}

// A Pool of one's own keeps buffers of one kind apart from netsys's, so that
// its calibration follows their sizes only. The zero value is ready to use.
func ExamplePool() {
	var lines pool.Pool

	b := lines.Get()
	fmt.Println("new buffer length:", b.Len())
	b.B = append(b.B, "GET /stats"...)
	b.B = append(b.B, '\n')
	fmt.Printf("%q, %d bytes\n", b.B, b.Len())
	lines.Put(b) // reset and kept for the next Get; b must not be used now

	b = lines.Get()
	fmt.Println("buffer length after Get:", b.Len())
	lines.Put(b)
	lines.Put(nil) // does nothing
	// Output:
	// new buffer length: 0
	// "GET /stats\n", 11 bytes
	// buffer length after Get: 0
}

// The batch pool holds a session's outbound bytes: several replies appended
// into one buffer and written at once.
func ExampleGetBatch() {
	b := pool.GetBatch()
	for _, reply := range []string{"a", "bb", "ccc"} {
		b.B = append(b.B, byte(len(reply)))
		b.B = append(b.B, reply...)
	}
	fmt.Println("one write of", b.Len(), "bytes for 3 replies")
	pool.PutBatch(b)
	// Output:
	// one write of 9 bytes for 3 replies
}
