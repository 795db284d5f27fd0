package pool

import (
	"bytes"
	"testing"

	"github.com/valyala/bytebufferpool"
)

// pools lists every pool of the package with its own Get and Put.
func pools() []struct {
	name string
	get  func() *bytebufferpool.ByteBuffer
	put  func(*bytebufferpool.ByteBuffer)
} {
	var own Pool
	return []struct {
		name string
		get  func() *bytebufferpool.ByteBuffer
		put  func(*bytebufferpool.ByteBuffer)
	}{
		{name: "Pool", get: own.Get, put: own.Put},
		{name: "Frame", get: GetFrame, put: PutFrame},
		{name: "Batch", get: GetBatch, put: PutBatch},
	}
}

func TestGetAfterPutIsEmptyAndReused(t *testing.T) {
	// sync.Pool may drop a buffer (always a quarter of them under -race) or
	// keep it on another P than the one Get runs on, so reuse is asserted at
	// least once in many tries rather than on every try.
	const tries = 1000
	for _, p := range pools() {
		t.Run(p.name, func(t *testing.T) {
			reused := false
			for i := 0; i < tries && !reused; i++ {
				b := p.get()
				if b.Len() != 0 {
					t.Fatalf("Get().Len() = %d; want 0", b.Len())
				}
				b.WriteString("frame")
				p.put(b)
				got := p.get()
				if got.Len() != 0 {
					t.Fatalf("Get() after Put: Len() = %d, B = %q; want 0", got.Len(), got.B)
				}
				reused = got == b
				p.put(got)
			}
			if !reused {
				t.Errorf("Get after Put never returned the buffer just put, in %d tries", tries)
			}
		})
	}
}

func TestPutNil(t *testing.T) {
	for _, p := range pools() {
		t.Run(p.name, func(t *testing.T) {
			p.put(nil) // must not panic
			if b := p.get(); b == nil || b.Len() != 0 {
				t.Errorf("Get() after Put(nil) = %v; want an empty buffer", b)
			}
		})
	}
}

func TestZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops buffers under the race detector")
	}
	payload := bytes.Repeat([]byte("x"), 512)
	for _, p := range pools() {
		t.Run(p.name, func(t *testing.T) {
			allocs := testing.AllocsPerRun(1000, func() {
				b := p.get()
				b.B = append(b.B, payload...)
				p.put(b)
			})
			if allocs != 0 {
				t.Errorf("Get, append 512 bytes, Put: %v allocs per run; want 0", allocs)
			}
		})
	}
}

func BenchmarkGetPut(b *testing.B) {
	payload := bytes.Repeat([]byte("x"), 512)
	for _, p := range pools() {
		b.Run(p.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(payload)))
			for b.Loop() {
				buf := p.get()
				buf.B = append(buf.B, payload...)
				p.put(buf)
			}
		})
	}
}

func BenchmarkGetPutParallel(b *testing.B) {
	payload := bytes.Repeat([]byte("x"), 512)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			buf := GetBatch()
			buf.B = append(buf.B, payload...)
			PutBatch(buf)
		}
	})
}

// A buffer over MaxPooled goes to the garbage collector, not back into the pool.
func TestPutDropsLargeBuffers(t *testing.T) {
	var p Pool
	for try := 0; try < 100; try++ {
		b := p.Get()
		b.B = make([]byte, 0, MaxPooled+1)
		p.Put(b)
		if got := p.Get(); cap(got.B) > MaxPooled {
			t.Fatalf("Get after Put of a %d-byte buffer returned one of capacity %d; want at most %d", MaxPooled+1, cap(got.B), MaxPooled)
		}
	}
}
