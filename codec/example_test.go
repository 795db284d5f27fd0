package codec_test

import (
	"fmt"

	"github.com/netsys-go/netsys/codec"
)

func ExampleDefault() {
	c := codec.Default()
	stream, _ := c.Append(nil, []byte("hello"))
	stream, _ = c.Append(stream, []byte("world"))
	fmt.Printf("% x\n", stream[:9])

	for {
		payload, n, err := c.Decode(stream)
		if err != nil || n == 0 {
			break
		}
		fmt.Printf("%s\n", payload)
		stream = stream[n:]
	}
	// Output:
	// 00 00 00 05 68 65 6c 6c 6f
	// hello
	// world
}

func ExampleNewLengthField() {
	// Netty's HDR1 | LEN | HDR2 | body example: a 2-byte length at offset 1
	// counts the whole frame; HDR1 and the length are stripped. Frames are
	// limited to 1 KiB.
	c, err := codec.NewLengthField(codec.LengthFieldConfig{Offset: 1, Size: 2, Adjustment: -3, Strip: 3, MaxFrame: 1024})
	if err != nil {
		fmt.Println(err)
		return
	}
	in := []byte("\xCA\x00\x10\xFEHELLO, WORLD")
	payload, n, err := c.Decode(in)
	fmt.Printf("%q %d %v\n", payload, n, err)

	// A header claiming more than MaxFrame fails before the body arrives.
	_, _, err = c.Decode([]byte("\xCA\xFF\xFF"))
	fmt.Println(err)
	// Output:
	// "\xfeHELLO, WORLD" 16 <nil>
	// codec: frame too large: length field 65535 with Adjustment -3 after a 3-byte header exceeds MaxFrame 1024
}

func ExampleNewLine() {
	c := codec.NewLine(1024)
	buf := []byte("GET /\r\nHost: example\nhalf a li")
	for {
		line, n, err := c.Decode(buf)
		if err != nil || n == 0 {
			break
		}
		fmt.Printf("%q\n", line)
		buf = buf[n:]
	}
	fmt.Printf("waiting on %q\n", buf)

	out, _ := c.Append(nil, []byte("OK"))
	fmt.Printf("%q\n", out)
	// Output:
	// "GET /"
	// "Host: example"
	// waiting on "half a li"
	// "OK\n"
}
