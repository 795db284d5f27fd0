package codec_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/netsys-go/netsys/codec"
)

// hello is the body of the examples in Netty's LengthFieldBasedFrameDecoder
// documentation.
const hello = "HELLO, WORLD"

// TestLengthFieldNetty decodes the examples of Netty's
// LengthFieldBasedFrameDecoder documentation, byte for byte.
func TestLengthFieldNetty(t *testing.T) {
	tests := []struct {
		name string
		cfg  codec.LengthFieldConfig
		in   string
		want string
		n    int
	}{
		{
			name: "length only",
			cfg:  codec.LengthFieldConfig{Size: 2},
			in:   "\x00\x0C" + hello,
			want: "\x00\x0C" + hello,
			n:    14,
		},
		{
			name: "length stripped",
			cfg:  codec.LengthFieldConfig{Size: 2, Strip: 2},
			in:   "\x00\x0C" + hello,
			want: hello,
			n:    14,
		},
		{
			name: "length includes header",
			cfg:  codec.LengthFieldConfig{Size: 2, Adjustment: -2},
			in:   "\x00\x0E" + hello,
			want: "\x00\x0E" + hello,
			n:    14,
		},
		{
			name: "header before the length field",
			cfg:  codec.LengthFieldConfig{Offset: 2, Size: 3},
			in:   "\xCA\xFE\x00\x00\x0C" + hello,
			want: "\xCA\xFE\x00\x00\x0C" + hello,
			n:    17,
		},
		{
			name: "header after the length field",
			cfg:  codec.LengthFieldConfig{Size: 3, Adjustment: 2},
			in:   "\x00\x00\x0C\xCA\xFE" + hello,
			want: "\x00\x00\x0C\xCA\xFE" + hello,
			n:    17,
		},
		{
			name: "adjustment with extra header bytes, HDR1 and length stripped",
			cfg:  codec.LengthFieldConfig{Offset: 1, Size: 2, Adjustment: 1, Strip: 3},
			in:   "\xCA\x00\x0C\xFE" + hello,
			want: "\xFE" + hello,
			n:    16,
		},
		{
			name: "adjustment with extra header bytes, length of the whole frame",
			cfg:  codec.LengthFieldConfig{Offset: 1, Size: 2, Adjustment: -3, Strip: 3},
			in:   "\xCA\x00\x10\xFE" + hello,
			want: "\xFE" + hello,
			n:    16,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := mustLengthField(t, tt.cfg)
			// Followed by the start of another frame, which must stay unread.
			in := []byte(tt.in + tt.in[:3])
			p, n, err := decodeChecked(t, l, in)
			if string(p) != tt.want || n != tt.n || err != nil {
				t.Errorf("Decode(%q) = %q, %d, %v; want %q, %d, nil", in, p, n, err, tt.want, tt.n)
			}
			for k := range tt.n {
				if p, n, err := decodeChecked(t, l, in[:k]); p != nil || n != 0 || err != nil {
					t.Errorf("Decode(%q) = %q, %d, %v; want nil, 0, nil", in[:k], p, n, err)
				}
			}
		})
	}
}

func TestLengthFieldErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  codec.LengthFieldConfig
		in   string
		want error
	}{
		{
			name: "largest frame, header only",
			cfg:  codec.LengthFieldConfig{Size: 4, Strip: 4, MaxFrame: 1024},
			in:   "\x00\x00\x03\xFC", // 4 + 1020 bytes
			want: nil,
		},
		{
			name: "too large from the header alone",
			cfg:  codec.LengthFieldConfig{Size: 4, Strip: 4, MaxFrame: 1024},
			in:   "\x00\x00\x03\xFD", // 4 + 1021 bytes
			want: codec.ErrFrameTooLarge,
		},
		{
			name: "too large, little-endian",
			cfg:  codec.LengthFieldConfig{Size: 2, LittleEndian: true, MaxFrame: 100},
			in:   "\x00\x01", // 256, or 1 if read big-endian
			want: codec.ErrFrameTooLarge,
		},
		{
			name: "too large with a positive adjustment",
			cfg:  codec.LengthFieldConfig{Size: 1, Adjustment: 10, MaxFrame: 20},
			in:   "\x0A",
			want: codec.ErrFrameTooLarge,
		},
		{
			name: "4 GiB claim, Size 4",
			cfg:  codec.LengthFieldConfig{Size: 4, Strip: 4},
			in:   "\xFF\xFF\xFF\xFF",
			want: codec.ErrFrameTooLarge,
		},
		{
			name: "4 GiB claim, Size 8",
			cfg:  codec.LengthFieldConfig{Size: 8, Strip: 8},
			in:   "\x00\x00\x00\x01\x00\x00\x00\x00",
			want: codec.ErrFrameTooLarge,
		},
		{
			name: "claim beyond the int range, Size 8",
			cfg:  codec.LengthFieldConfig{Size: 8, Strip: 8, MaxFrame: 1<<63 - 1},
			in:   "\x80\x00\x00\x00\x00\x00\x00\x00",
			want: codec.ErrFrameTooLarge,
		},
		{
			name: "largest claim, Size 8, length includes header",
			cfg:  codec.LengthFieldConfig{Size: 8, Adjustment: -8, MaxFrame: 1<<63 - 1},
			in:   "\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF",
			want: codec.ErrFrameTooLarge,
		},
		{
			name: "negative after adjustment",
			cfg:  codec.LengthFieldConfig{Size: 2, Adjustment: -2},
			in:   "\x00\x01",
			want: codec.ErrBadLength,
		},
		{
			name: "smaller than the header",
			cfg:  codec.LengthFieldConfig{Offset: 1, Size: 2, Adjustment: -3, Strip: 3},
			in:   "\xCA\x00\x00",
			want: codec.ErrBadLength,
		},
		{
			name: "smaller than Strip",
			cfg:  codec.LengthFieldConfig{Size: 1, Strip: 4},
			in:   "\x02ab",
			want: codec.ErrBadLength,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := mustLengthField(t, tt.cfg)
			p, n, err := decodeChecked(t, l, []byte(tt.in))
			if !errors.Is(err, tt.want) || p != nil || n != 0 {
				t.Errorf("Decode(%q) = %q, %d, %v; want nil, 0, %v", tt.in, p, n, err, tt.want)
			}
		})
	}
}

func TestNewLengthField(t *testing.T) {
	bad := []struct {
		name string
		cfg  codec.LengthFieldConfig
	}{
		{name: "zero value", cfg: codec.LengthFieldConfig{}},
		{name: "Size 5", cfg: codec.LengthFieldConfig{Size: 5}},
		{name: "Size 16", cfg: codec.LengthFieldConfig{Size: 16}},
		{name: "negative Offset", cfg: codec.LengthFieldConfig{Size: 2, Offset: -1}},
		{name: "negative Strip", cfg: codec.LengthFieldConfig{Size: 2, Strip: -1}},
		{name: "negative MaxFrame", cfg: codec.LengthFieldConfig{Size: 2, MaxFrame: -1}},
		{name: "header beyond MaxFrame", cfg: codec.LengthFieldConfig{Offset: 7, Size: 4, MaxFrame: 10}},
		{name: "Adjustment beyond MaxFrame", cfg: codec.LengthFieldConfig{Size: 4, Adjustment: 7, MaxFrame: 10}},
		{name: "Strip beyond MaxFrame", cfg: codec.LengthFieldConfig{Size: 4, Strip: 11, MaxFrame: 10}},
	}
	for _, tt := range bad {
		if l, err := codec.NewLengthField(tt.cfg); !errors.Is(err, codec.ErrConfig) || l != nil {
			t.Errorf("%s: NewLengthField(%+v) = %v, %v; want nil, %v", tt.name, tt.cfg, l, err, codec.ErrConfig)
		}
	}
	// The tightest valid configuration: only an empty-bodied frame fits.
	tight := codec.LengthFieldConfig{Offset: 6, Size: 4, Adjustment: 0, Strip: 10, MaxFrame: 10}
	if got := mustLengthField(t, tight).Config(); got != tight {
		t.Errorf("Config() = %+v; want %+v", got, tight)
	}
	l := mustLengthField(t, codec.LengthFieldConfig{Size: 2})
	if got := l.Config().MaxFrame; got != codec.DefaultMaxFrame || l.MaxFrame() != codec.DefaultMaxFrame {
		t.Errorf("MaxFrame 0: Config().MaxFrame = %d, MaxFrame() = %d; want %d", got, l.MaxFrame(), codec.DefaultMaxFrame)
	}
	want := codec.LengthFieldConfig{Size: 4, Strip: 4, MaxFrame: codec.DefaultMaxFrame}
	if got := codec.Default().Config(); got != want {
		t.Errorf("Default().Config() = %+v; want %+v", got, want)
	}
}

func TestLengthFieldAppend(t *testing.T) {
	tests := []struct {
		name    string
		cfg     codec.LengthFieldConfig
		payload string
		want    string
		err     error
	}{
		{name: "default", cfg: codec.LengthFieldConfig{Size: 4, Strip: 4}, payload: "hi", want: "\x00\x00\x00\x02hi"},
		{name: "empty payload", cfg: codec.LengthFieldConfig{Size: 4, Strip: 4}, payload: "", want: "\x00\x00\x00\x00"},
		{name: "little-endian", cfg: codec.LengthFieldConfig{Size: 3, Strip: 3, LittleEndian: true}, payload: "hi", want: "\x02\x00\x00hi"},
		{name: "offset and whole-frame length", cfg: codec.LengthFieldConfig{Offset: 1, Size: 2, Adjustment: -3, Strip: 3}, payload: "\xFE" + hello, want: "\x00\x00\x10\xFE" + hello},
		{name: "positive adjustment", cfg: codec.LengthFieldConfig{Offset: 1, Size: 2, Adjustment: 1, Strip: 3}, payload: "\xFE" + hello, want: "\x00\x00\x0C\xFE" + hello},
		{name: "largest frame", cfg: codec.LengthFieldConfig{Size: 1, Strip: 1, MaxFrame: 4}, payload: "abc", want: "\x03abc"},
		{name: "frame beyond MaxFrame", cfg: codec.LengthFieldConfig{Size: 1, Strip: 1, MaxFrame: 4}, payload: "abcd", err: codec.ErrFrameTooLarge},
		{name: "length beyond the field", cfg: codec.LengthFieldConfig{Size: 1, Strip: 1}, payload: string(make([]byte, 256)), err: codec.ErrFrameTooLarge},
		{name: "whole-frame length beyond the field", cfg: codec.LengthFieldConfig{Size: 1, Adjustment: -1, Strip: 1}, payload: string(make([]byte, 255)), err: codec.ErrFrameTooLarge},
		{name: "payload shorter than Adjustment", cfg: codec.LengthFieldConfig{Size: 2, Adjustment: 2, Strip: 2}, payload: "x", err: codec.ErrBadLength},
		{name: "header kept", cfg: codec.LengthFieldConfig{Size: 2}, payload: "x", err: codec.ErrConfig},
		{name: "header partly kept", cfg: codec.LengthFieldConfig{Offset: 1, Size: 2, Strip: 1}, payload: "x", err: codec.ErrConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := mustLengthField(t, tt.cfg)
			got, err := l.Append([]byte("dst"), []byte(tt.payload))
			if !errors.Is(err, tt.err) {
				t.Fatalf("Append(%q) error %v; want %v", tt.payload, err, tt.err)
			}
			if err != nil {
				if string(got) != "dst" {
					t.Errorf("Append(dst, %q) = %q on error; want dst", tt.payload, got)
				}
				return
			}
			if !bytes.Equal(got, []byte("dst"+tt.want)) {
				t.Errorf("Append(dst, %q) = %q; want %q", tt.payload, got, "dst"+tt.want)
			}
			if p, n, err := decodeChecked(t, l, got[3:]); string(p) != tt.payload || n != len(tt.want) || err != nil {
				t.Errorf("Decode(%q) = %q, %d, %v; want %q, %d, nil", got[3:], p, n, err, tt.payload, len(tt.want))
			}
		})
	}
}

func TestLengthFieldFrameSize(t *testing.T) {
	l := mustLengthField(t, codec.LengthFieldConfig{Offset: 1, Size: 2, Adjustment: 1, Strip: 3})
	frame := "\xCA\x00\x0C\xFE" + hello
	for k := range len(frame) + 1 {
		want := 16
		if k < 3 {
			want = 0
		}
		if size, err := l.FrameSize([]byte(frame[:k])); size != want || err != nil {
			t.Errorf("FrameSize(%q) = %d, %v; want %d, nil", frame[:k], size, err, want)
		}
	}
	// The size of a big frame is known from its header alone.
	if size, err := l.FrameSize([]byte("\x00\xFF\xFF")); size != 1+2+0xFFFF+1 || err != nil {
		t.Errorf("FrameSize(%q) = %d, %v; want %d, nil", "\x00\xFF\xFF", size, err, 1+2+0xFFFF+1)
	}
}
