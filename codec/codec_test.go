package codec_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
	"unsafe"

	"github.com/netsys-go/netsys/codec"
)

// errKind returns the package sentinel err wraps, nil for nil, or err itself
// when it wraps none.
func errKind(err error) error {
	for _, e := range []error{codec.ErrFrameTooLarge, codec.ErrBadLength, codec.ErrConfig, codec.ErrDelimiterInPayload} {
		if errors.Is(err, e) {
			return e
		}
	}
	return err
}

// decodeChecked calls c.Decode(buf) and fails t if the result breaks the
// Codec contract: an error comes alone; 0 <= n <= len(buf); a payload is
// returned exactly when n > 0 and lies, capacity included, inside buf[:n];
// n is at most MaxFrame() where the codec has that method. For a Sizer it
// also checks that FrameSize agrees with Decode.
func decodeChecked(t testing.TB, c codec.Codec, buf []byte) ([]byte, int, error) {
	t.Helper()
	p, n, err := c.Decode(buf)
	switch {
	case err != nil && (p != nil || n != 0):
		t.Fatalf("Decode(%q) = %q, %d, %v; want nil, 0 with an error", buf, p, n, err)
	case n < 0 || n > len(buf):
		t.Fatalf("Decode(%q) used %d bytes; want 0..%d", buf, n, len(buf))
	case (p != nil) != (n > 0):
		t.Fatalf("Decode(%q) = %q, %d; want a non-nil payload exactly when n > 0", buf, p, n)
	case p != nil:
		base := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
		start := uintptr(unsafe.Pointer(unsafe.SliceData(p)))
		if start < base || start+uintptr(cap(p)) > base+uintptr(n) {
			t.Fatalf("Decode(%q) = %q (cap %d) at offset %d; want it inside the %d-byte frame",
				buf, p, cap(p), int(start)-int(base), n)
		}
	}
	if m, ok := c.(interface{ MaxFrame() int }); ok && n > m.MaxFrame() {
		t.Fatalf("Decode(%q) used %d bytes; want at most MaxFrame() = %d", buf, n, m.MaxFrame())
	}
	if s, ok := c.(codec.Sizer); ok {
		size, serr := s.FrameSize(buf)
		switch {
		case errKind(serr) != errKind(err):
			t.Fatalf("FrameSize(%q) error %v; Decode error %v", buf, serr, err)
		case n > 0 && size != n:
			t.Fatalf("FrameSize(%q) = %d; Decode used %d", buf, size, n)
		case err == nil && n == 0 && size != 0 && size <= len(buf):
			t.Fatalf("FrameSize(%q) = %d, yet Decode needs more bytes", buf, size)
		}
	}
	return p, n, err
}

// decodeStream feeds data to c as a reader accumulating bytes would: in
// chunks whose lengths are taken in turn from cuts, then the rest in one
// chunk, decoding all complete frames after each chunk. It returns copies of
// the payloads and the first error.
func decodeStream(t testing.TB, c codec.Codec, data, cuts []byte) ([][]byte, error) {
	t.Helper()
	var buf []byte
	var frames [][]byte
	drain := func() error {
		for {
			p, n, err := decodeChecked(t, c, buf)
			if err != nil || n == 0 {
				return err
			}
			frames = append(frames, bytes.Clone(p))
			buf = buf[n:]
		}
	}
	for _, cut := range cuts {
		k := min(int(cut), len(data))
		buf, data = append(buf, data[:k]...), data[k:]
		if err := drain(); err != nil {
			return frames, err
		}
	}
	buf = append(buf, data...)
	return frames, drain()
}

// ones returns n cuts of one byte: a stream fed byte by byte.
func ones(n int) []byte { return bytes.Repeat([]byte{1}, n) }

func mustLengthField(t testing.TB, cfg codec.LengthFieldConfig) *codec.LengthField {
	t.Helper()
	l, err := codec.NewLengthField(cfg)
	if err != nil {
		t.Fatalf("NewLengthField(%+v) = %v", cfg, err)
	}
	return l
}

func mustDelimiter(t testing.TB, delim string, maxFrame int) *codec.Delimiter {
	t.Helper()
	d, err := codec.NewDelimiter([]byte(delim), maxFrame)
	if err != nil {
		t.Fatalf("NewDelimiter(%q, %d) = %v", delim, maxFrame, err)
	}
	return d
}

func mustFixed(t testing.TB, size int) *codec.Fixed {
	t.Helper()
	f, err := codec.NewFixed(size)
	if err != nil {
		t.Fatalf("NewFixed(%d) = %v", size, err)
	}
	return f
}

// TestRoundTrip appends several payloads into one buffer with each codec and
// decodes them back, whole and fed byte by byte.
func TestRoundTrip(t *testing.T) {
	text := [][]byte{[]byte("hello"), {}, []byte("a\r"), []byte("world, and more"), []byte("x")}
	binary := slices.Concat(text, [][]byte{[]byte("line\nbreak"), bytes.Repeat([]byte{0, 0xff}, 300)})
	tests := []struct {
		name     string
		codec    codec.Codec
		payloads [][]byte
		joined   bool // only the concatenation of the frames is fixed (Raw)
	}{
		{name: "Default", codec: codec.Default(), payloads: binary},
		{name: "LengthField/1-byte LE", codec: mustLengthField(t, codec.LengthFieldConfig{Size: 1, Strip: 1, LittleEndian: true}), payloads: binary[:6]},
		{name: "LengthField/3-byte, offset and adjustment", codec: mustLengthField(t, codec.LengthFieldConfig{Offset: 3, Size: 3, Adjustment: -5, Strip: 6}), payloads: binary},
		{name: "LengthField/8-byte LE", codec: mustLengthField(t, codec.LengthFieldConfig{Size: 8, Strip: 8, LittleEndian: true}), payloads: binary},
		{name: "LengthField/2-byte, positive adjustment", codec: mustLengthField(t, codec.LengthFieldConfig{Offset: 1, Size: 2, Adjustment: 1, Strip: 3}), payloads: [][]byte{[]byte("hello"), []byte("x")}},
		{name: "Delimiter", codec: mustDelimiter(t, "\r\n\r\n", 0), payloads: binary},
		{name: "Delimiter/overlapping", codec: mustDelimiter(t, "aa", 64), payloads: [][]byte{[]byte("b"), {}, []byte("ab"), []byte("bab")}},
		{name: "Line", codec: codec.NewLine(64), payloads: text},
		{name: "Fixed", codec: mustFixed(t, 3), payloads: [][]byte{[]byte("abc"), []byte("\n\r\x00"), []byte("xyz")}},
		{name: "Raw", codec: codec.Raw{}, payloads: [][]byte{[]byte("all"), []byte(" of it")}, joined: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stream := []byte("prefix")
			for _, p := range tt.payloads {
				var err error
				if stream, err = tt.codec.Append(stream, p); err != nil {
					t.Fatalf("Append(%q) = %v", p, err)
				}
			}
			if !bytes.HasPrefix(stream, []byte("prefix")) {
				t.Fatalf("Append overwrote dst: %q", stream)
			}
			stream = stream[len("prefix"):]
			want := tt.payloads
			if tt.joined {
				want = [][]byte{bytes.Join(want, nil)}
			}
			for _, feed := range []struct {
				name string
				cuts []byte
			}{{"whole", nil}, {"byte by byte", ones(len(stream))}} {
				frames, err := decodeStream(t, tt.codec, stream, feed.cuts)
				if err != nil {
					t.Fatalf("%s: decoding %q: %v", feed.name, stream, err)
				}
				if tt.joined {
					frames = [][]byte{bytes.Join(frames, nil)}
				}
				if got, want := fmt.Sprintf("%q", frames), fmt.Sprintf("%q", want); got != want {
					t.Errorf("%s: Decode(%q) frames = %s; want %s", feed.name, stream, got, want)
				}
			}
		})
	}
}

func TestRaw(t *testing.T) {
	var r codec.Raw
	if p, n, err := decodeChecked(t, r, nil); p != nil || n != 0 || err != nil {
		t.Errorf("Decode(nil) = %q, %d, %v; want nil, 0, nil", p, n, err)
	}
	// Fed in pieces, Raw hands out each piece as it comes.
	frames, err := decodeStream(t, r, []byte("abcdef"), []byte{2, 0, 3})
	if got, want := fmt.Sprintf("%q", frames), `["ab" "cde" "f"]`; got != want || err != nil {
		t.Errorf("Decode of abcdef cut 2, 0, 3 = %s, %v; want %s, nil", got, err, want)
	}
}

func TestFixed(t *testing.T) {
	for _, size := range []int{0, -1} {
		if _, err := codec.NewFixed(size); !errors.Is(err, codec.ErrConfig) {
			t.Errorf("NewFixed(%d) = %v; want %v", size, err, codec.ErrConfig)
		}
	}
	f := mustFixed(t, 4)
	if f.MaxFrame() != 4 {
		t.Errorf("MaxFrame() = %d; want 4", f.MaxFrame())
	}
	tests := []struct {
		in   string
		want string // payload, "" when more bytes are needed
		n    int
	}{
		{in: "", n: 0},
		{in: "abc", n: 0},
		{in: "abcd", want: "abcd", n: 4},
		{in: "abcdefg", want: "abcd", n: 4},
	}
	for _, tt := range tests {
		p, n, err := decodeChecked(t, f, []byte(tt.in))
		if string(p) != tt.want || n != tt.n || err != nil {
			t.Errorf("Decode(%q) = %q, %d, %v; want %q, %d, nil", tt.in, p, n, err, tt.want, tt.n)
		}
	}
	for _, payload := range []string{"", "abc", "abcde"} {
		dst, err := f.Append([]byte("x"), []byte(payload))
		if !errors.Is(err, codec.ErrBadLength) || string(dst) != "x" {
			t.Errorf("Append(x, %q) = %q, %v; want x, %v", payload, dst, err, codec.ErrBadLength)
		}
	}
}

// codecCases is one frame per codec, for the allocation test and the
// benchmarks.
func codecCases(tb testing.TB, payload []byte) []struct {
	name  string
	codec codec.Codec
} {
	return []struct {
		name  string
		codec codec.Codec
	}{
		{"LengthField", codec.Default()},
		{"LengthField3LE", mustLengthField(tb, codec.LengthFieldConfig{Offset: 2, Size: 3, Strip: 5, LittleEndian: true})},
		{"Delimiter", mustDelimiter(tb, "\r\n", 0)},
		{"Line", codec.NewLine(0)},
		{"Fixed", mustFixed(tb, len(payload))},
		{"Raw", codec.Raw{}},
	}
}

// benchPayload is a 128-byte payload without line breaks.
var benchPayload = bytes.Repeat([]byte("0123456789abcdef"), 8)

func TestZeroAllocs(t *testing.T) {
	for _, cc := range codecCases(t, benchPayload) {
		frame, err := cc.codec.Append(nil, benchPayload)
		if err != nil {
			t.Fatalf("%s: Append = %v", cc.name, err)
		}
		dst := make([]byte, 0, len(frame))
		if a := testing.AllocsPerRun(100, func() {
			if _, n, err := cc.codec.Decode(frame); n != len(frame) || err != nil {
				t.Fatalf("%s: Decode(%q) used %d bytes, %v; want %d, nil", cc.name, frame, n, err, len(frame))
			}
		}); a != 0 {
			t.Errorf("%s: Decode allocates %v times per call; want 0", cc.name, a)
		}
		if a := testing.AllocsPerRun(100, func() {
			if _, err := cc.codec.Append(dst[:0], benchPayload); err != nil {
				t.Fatalf("%s: Append = %v", cc.name, err)
			}
		}); a != 0 {
			t.Errorf("%s: Append allocates %v times per call; want 0", cc.name, a)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, cc := range codecCases(b, benchPayload) {
		b.Run(cc.name, func(b *testing.B) {
			frame, err := cc.codec.Append(nil, benchPayload)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			for b.Loop() {
				if _, _, err := cc.codec.Decode(frame); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAppend(b *testing.B) {
	for _, cc := range codecCases(b, benchPayload) {
		b.Run(cc.name, func(b *testing.B) {
			dst := make([]byte, 0, 2*len(benchPayload))
			b.ReportAllocs()
			b.SetBytes(int64(len(benchPayload)))
			for b.Loop() {
				if _, err := cc.codec.Append(dst[:0], benchPayload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
