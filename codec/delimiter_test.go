package codec_test

import (
	"errors"
	"testing"

	"github.com/netsys-go/netsys/codec"
)

func TestDelimiterDecode(t *testing.T) {
	tests := []struct {
		name  string
		codec *codec.Delimiter
		in    string
		want  string // payload; "" with n 0 when more bytes are needed
		n     int
		err   error
	}{
		{name: "empty", codec: mustDelimiter(t, "||", 8), in: ""},
		{name: "no delimiter yet", codec: mustDelimiter(t, "||", 8), in: "abc|"},
		{name: "one frame", codec: mustDelimiter(t, "||", 8), in: "abc||def", want: "abc", n: 5},
		{name: "empty payload", codec: mustDelimiter(t, "||", 8), in: "||||", want: "", n: 2},
		{name: "first of overlapping delimiters", codec: mustDelimiter(t, "||", 8), in: "a|||", want: "a", n: 3},
		{name: "largest frame", codec: mustDelimiter(t, "||", 8), in: "abcdef||", want: "abcdef", n: 8},
		{name: "too large without delimiter", codec: mustDelimiter(t, "||", 8), in: "abcdefgh", err: codec.ErrFrameTooLarge},
		{name: "too large, delimiter half in", codec: mustDelimiter(t, "||", 8), in: "abcdefg|", err: codec.ErrFrameTooLarge},
		{name: "too large, delimiter beyond", codec: mustDelimiter(t, "||", 8), in: "abcdefg||", err: codec.ErrFrameTooLarge},
		{name: "one short of too large", codec: mustDelimiter(t, "||", 8), in: "abcdefg"},
		{name: "line", codec: codec.NewLine(8), in: "abc\ndef", want: "abc", n: 4},
		{name: "CRLF line", codec: codec.NewLine(8), in: "abc\r\ndef", want: "abc", n: 5},
		{name: "empty line", codec: codec.NewLine(8), in: "\r\n", want: "", n: 2},
		{name: "lone CR", codec: codec.NewLine(8), in: "\r"},
		{name: "only the last CR stripped", codec: codec.NewLine(8), in: "a\r\r\n", want: "a\r", n: 4},
		{name: "CR not before LF kept", codec: codec.NewLine(8), in: "\ra\n", want: "\ra", n: 3},
		{name: "largest CRLF line", codec: codec.NewLine(8), in: "abcdef\r\n", want: "abcdef", n: 8},
		{name: "line too large", codec: codec.NewLine(8), in: "abcdefg\r\n", err: codec.ErrFrameTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, n, err := decodeChecked(t, tt.codec, []byte(tt.in))
			if string(p) != tt.want || n != tt.n || !errors.Is(err, tt.err) {
				t.Errorf("Decode(%q) = %q, %d, %v; want %q, %d, %v", tt.in, p, n, err, tt.want, tt.n, tt.err)
			}
		})
	}
}

func TestNewDelimiter(t *testing.T) {
	bad := []struct {
		delim    string
		maxFrame int
	}{
		{delim: "", maxFrame: 10},
		{delim: "\n", maxFrame: -1},
		{delim: "\r\n", maxFrame: 1},
	}
	for _, tt := range bad {
		if d, err := codec.NewDelimiter([]byte(tt.delim), tt.maxFrame); !errors.Is(err, codec.ErrConfig) || d != nil {
			t.Errorf("NewDelimiter(%q, %d) = %v, %v; want nil, %v", tt.delim, tt.maxFrame, d, err, codec.ErrConfig)
		}
	}
	// The delimiter is copied.
	delim := []byte("||")
	d, err := codec.NewDelimiter(delim, 0)
	if err != nil {
		t.Fatal(err)
	}
	delim[0] = 'x'
	if p, n, err := d.Decode([]byte("a||")); string(p) != "a" || n != 3 || err != nil {
		t.Errorf("after changing the caller's delimiter, Decode(%q) = %q, %d, %v; want a, 3, nil", "a||", p, n, err)
	}
	for _, tt := range []struct {
		name string
		got  int
	}{
		{"NewDelimiter(||, 0)", d.MaxFrame()},
		{"NewLine(0)", codec.NewLine(0).MaxFrame()},
		{"NewLine(-1)", codec.NewLine(-1).MaxFrame()},
	} {
		if tt.got != codec.DefaultMaxFrame {
			t.Errorf("%s.MaxFrame() = %d; want %d", tt.name, tt.got, codec.DefaultMaxFrame)
		}
	}
}

func TestDelimiterAppend(t *testing.T) {
	tests := []struct {
		name    string
		codec   *codec.Delimiter
		payload string
		want    string
		err     error
	}{
		{name: "delimiter", codec: mustDelimiter(t, "||", 8), payload: "abc", want: "abc||"},
		{name: "empty payload", codec: mustDelimiter(t, "||", 8), payload: "", want: "||"},
		{name: "largest frame", codec: mustDelimiter(t, "||", 8), payload: "abcdef", want: "abcdef||"},
		{name: "frame too large", codec: mustDelimiter(t, "||", 8), payload: "abcdefg", err: codec.ErrFrameTooLarge},
		{name: "delimiter in payload", codec: mustDelimiter(t, "||", 8), payload: "a||b", err: codec.ErrDelimiterInPayload},
		{name: "payload ending in half a delimiter", codec: mustDelimiter(t, "||", 8), payload: "ab|", err: codec.ErrDelimiterInPayload},
		{name: "line", codec: codec.NewLine(8), payload: "abc", want: "abc\n"},
		{name: "line ending in CR", codec: codec.NewLine(8), payload: "abc\r", want: "abc\r\r\n"},
		{name: "line ending in CR too large", codec: codec.NewLine(8), payload: "abcdef\r", err: codec.ErrFrameTooLarge},
		{name: "line break in line", codec: codec.NewLine(8), payload: "a\nb", err: codec.ErrDelimiterInPayload},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.codec.Append([]byte("dst"), []byte(tt.payload))
			if !errors.Is(err, tt.err) {
				t.Fatalf("Append(%q) error %v; want %v", tt.payload, err, tt.err)
			}
			if err != nil {
				if string(got) != "dst" {
					t.Errorf("Append(dst, %q) = %q on error; want dst", tt.payload, got)
				}
				return
			}
			if string(got) != "dst"+tt.want {
				t.Errorf("Append(dst, %q) = %q; want %q", tt.payload, got, "dst"+tt.want)
			}
			if p, n, err := decodeChecked(t, tt.codec, got[3:]); string(p) != tt.payload || n != len(tt.want) || err != nil {
				t.Errorf("Decode(%q) = %q, %d, %v; want %q, %d, nil", got[3:], p, n, err, tt.payload, len(tt.want))
			}
		})
	}
}
