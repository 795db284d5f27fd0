package codec

import (
	"bytes"
	"fmt"
	"testing"
)

// FuzzPlainPath checks that the short path the default wire format takes in
// Decode and Append gives exactly what the general path gives: the same
// payload, frame size and error, and the same bytes appended.
func FuzzPlainPath(f *testing.F) {
	f.Add([]byte{0, 0, 0, 3, 'a', 'b', 'c', 0, 0}, []byte("hello"), 64)
	f.Add([]byte{0, 0, 0, 0}, []byte{}, 0)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1}, []byte("x"), 16)
	f.Add([]byte{0, 0, 1}, []byte("y"), 5)
	f.Fuzz(func(t *testing.T, buf, payload []byte, maxFrame int) {
		if maxFrame < 4 || maxFrame > 1<<20 {
			maxFrame = DefaultMaxFrame
		}
		cfg := LengthFieldConfig{Size: 4, Strip: 4, MaxFrame: maxFrame}
		fast, general := newLengthField(cfg), newLengthField(cfg)
		if !fast.plain {
			t.Fatalf("%+v does not take the short path", cfg)
		}
		general.plain = false

		p1, n1, err1 := fast.Decode(buf)
		p2, n2, err2 := general.Decode(buf)
		if !bytes.Equal(p1, p2) || (p1 == nil) != (p2 == nil) || n1 != n2 || fmt.Sprint(err1) != fmt.Sprint(err2) {
			t.Fatalf("Decode(%x): short path (%x, %d, %v), general path (%x, %d, %v)", buf, p1, n1, err1, p2, n2, err2)
		}
		if n1 > 0 && cap(p1) != len(p1) {
			t.Fatalf("Decode(%x): payload capacity %d, want %d (capped at the frame's end)", buf, cap(p1), len(p1))
		}

		dst := []byte("dst")
		a1, err1 := fast.Append(bytes.Clone(dst), payload)
		a2, err2 := general.Append(bytes.Clone(dst), payload)
		if !bytes.Equal(a1, a2) || fmt.Sprint(err1) != fmt.Sprint(err2) {
			t.Fatalf("Append(%x): short path (%x, %v), general path (%x, %v)", payload, a1, err1, a2, err2)
		}
	})
}
