package main

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func TestFrameCounterAnySplit(t *testing.T) {
	stream := frames(5, 10)
	stream = appendFrame(stream, nil)          // an empty frame counts too
	stream = append(stream, 0, 0, 0, 20, 1, 2) // a header and 2 of 20 payload bytes
	for step := 1; step <= len(stream); step++ {
		var fc frameCounter
		for p := stream; len(p) > 0; {
			n := min(step, len(p))
			fc.feed(p[:n])
			p = p[n:]
		}
		if fc.frames != 6 || fc.partial() != 6 || fc.bytes != int64(len(stream)) {
			t.Fatalf("pieces of %d: frames %d, partial %d, bytes %d; want 6, 6, %d",
				step, fc.frames, fc.partial(), fc.bytes, len(stream))
		}
	}
}

func TestFrameCounterPartialHeader(t *testing.T) {
	var fc frameCounter
	fc.feed(appendFrame(nil, []byte("abc")))
	if fc.frames != 1 || fc.partial() != 0 {
		t.Fatalf("one whole frame: frames %d, partial %d", fc.frames, fc.partial())
	}
	fc.feed([]byte{0, 0})
	if fc.frames != 1 || fc.partial() != 2 {
		t.Fatalf("then half a header: frames %d, partial %d; want 1, 2", fc.frames, fc.partial())
	}
}

func TestReadFrame(t *testing.T) {
	buf := make([]byte, 8)
	r := bytes.NewReader(append(appendFrame(nil, []byte("hello")), appendFrame(nil, []byte("toolarge!"))...))
	got, err := readFrame(r, buf)
	if err != nil || string(got) != "hello" {
		t.Fatalf("readFrame = %q, %v; want hello", got, err)
	}
	if _, err := readFrame(r, buf); !errors.Is(err, errFrameTooLarge) {
		t.Fatalf("9 bytes into 8: err %v, want errFrameTooLarge", err)
	}
	if _, err := readFrame(bytes.NewReader([]byte{0, 0, 0, 4, 'a'}), buf); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated payload: err %v, want io.ErrUnexpectedEOF", err)
	}
	if _, err := readFrame(bytes.NewReader(nil), buf); !errors.Is(err, io.EOF) {
		t.Fatalf("empty stream: err %v, want io.EOF", err)
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {0.1, time.Millisecond}} {
		if got := percentile(d, c.p); got != c.want {
			t.Errorf("p%v of 1..100 ms = %v, want %v", c.p, got, c.want)
		}
	}
	if got := percentile(nil, 99); got != 0 {
		t.Errorf("p99 of nothing = %v, want 0", got)
	}
	three := []time.Duration{3, 1, 2}
	l := summarise(three)
	if l.n != 3 || l.p50 != 2 || l.p99 != 3 || l.max != 3 {
		t.Errorf("summarise(3,1,2) = %+v, want n 3, p50 2, p99 3, max 3", l)
	}
}

func TestReportText(t *testing.T) {
	r := &report{scenario: "x"}
	r.add("a", 1)
	r.add("longer_name", true)
	r.add("f", 2.345)
	r.summary = "done"
	var b strings.Builder
	if err := r.text(&b); err != nil {
		t.Fatal(err)
	}
	want := "scenario    x\na           1\nlonger_name yes\nf           2.35\nsummary: done\n"
	if b.String() != want {
		t.Fatalf("text:\n%s\nwant:\n%s", b.String(), want)
	}
}
