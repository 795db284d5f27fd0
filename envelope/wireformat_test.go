package envelope_test

import (
	"encoding/binary"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/s2"

	"github.com/netsys-go/netsys/envelope"
)

// TestWireFormatExample decodes the example block of docs/wire-format.md
// ("The envelope"), frame by frame, and checks every field the page's
// comments state.
func TestWireFormatExample(t *testing.T) {
	page, err := os.ReadFile("../docs/wire-format.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(page), "<!-- envelope-example:begin -->")
	block, _, ok2 := strings.Cut(block, "<!-- envelope-example:end -->")
	if !ok || !ok2 {
		t.Fatal("no envelope example block in docs/wire-format.md")
	}
	type want struct {
		dir  string
		h    envelope.Header
		body string // after decompression; for errors "code:text"; for hellos "version:features"
	}
	wants := []want{
		{"S>C", envelope.Header{Kind: envelope.KindHello}, "1:1"},
		{"C>S", envelope.Header{Kind: envelope.KindHello}, "1:1"},
		{"C>S", envelope.Header{Kind: envelope.KindRequest, ID: 1, Typed: true, Type: 2}, `{"room":"go"}`},
		{"S>C", envelope.Header{Kind: envelope.KindMessage, Typed: true, Type: 3}, "hi"},
		{"S>C", envelope.Header{Kind: envelope.KindReply, ID: 1}, "ok"},
		{"C>S", envelope.Header{Kind: envelope.KindRequest, ID: 300}, "x"},
		{"S>C", envelope.Header{Kind: envelope.KindError, ID: 300}, "2:no handler"},
		{"C>S", envelope.Header{Kind: envelope.KindPing, ID: 2}, ""},
		{"S>C", envelope.Header{Kind: envelope.KindPong, ID: 2}, ""},
		{"C>S", envelope.Header{Kind: envelope.KindMessage, Compressed: true}, strings.Repeat("a", 64)},
		{"S>C", envelope.Header{Kind: envelope.KindError}, "6:v2?"},
	}
	var lines []string
	for _, l := range strings.Split(block, "\n") {
		if strings.HasPrefix(l, "S>C") || strings.HasPrefix(l, "C>S") {
			lines = append(lines, l)
		}
	}
	if len(lines) != len(wants) {
		t.Fatalf("%d frames in the example; want %d", len(lines), len(wants))
	}
	for i, l := range lines {
		fields := strings.Fields(l)
		var raw []byte
		for _, f := range fields[1:] {
			b, err := hex.DecodeString(f)
			if err != nil || len(b) != 1 {
				break // the comment starts
			}
			raw = append(raw, b...)
		}
		w := wants[i]
		if fields[0] != w.dir {
			t.Errorf("line %d: direction %s; want %s", i+1, fields[0], w.dir)
		}
		if len(raw) < 4 || int(binary.BigEndian.Uint32(raw)) != len(raw)-4 {
			t.Fatalf("line %d: length prefix of % x does not match its %d payload bytes", i+1, raw, len(raw)-4)
		}
		h, body, err := envelope.ParseHeader(raw[4:])
		if err != nil {
			t.Fatalf("line %d: ParseHeader(% x): %v", i+1, raw[4:], err)
		}
		if h != w.h {
			t.Errorf("line %d: header %+v; want %+v", i+1, h, w.h)
		}
		var got string
		switch {
		case h.Kind == envelope.KindHello:
			hl, err := envelope.ParseHello(body)
			if err != nil {
				t.Fatalf("line %d: %v", i+1, err)
			}
			got = itoa(hl.Version) + ":" + itoa(hl.Features)
		case h.Kind == envelope.KindError:
			re, err := envelope.ParseError(body)
			if err != nil {
				t.Fatalf("line %d: %v", i+1, err)
			}
			got = itoa(uint32(re.Code)) + ":" + re.Message
		case h.Compressed:
			n, err := s2.DecodedLen(body)
			if err != nil || n != 64 {
				t.Fatalf("line %d: decoded length %d, %v; want 64", i+1, n, err)
			}
			d, err := s2.Decode(nil, body)
			if err != nil {
				t.Fatalf("line %d: %v", i+1, err)
			}
			got = string(d)
		default:
			got = string(body)
		}
		if got != w.body {
			t.Errorf("line %d: body %q; want %q", i+1, got, w.body)
		}
	}
}

func itoa(v uint32) string { return strconv.FormatUint(uint64(v), 10) }
