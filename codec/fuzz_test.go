package codec_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/netsys-go/netsys/codec"
)

// The fuzz targets decode each input whole, then fed in pieces whose lengths
// come from cuts, and require the same frames and the same error both ways;
// decodeChecked checks every Decode call's invariants on the way. Where
// Append accepts the input as a payload, Decode must hand it back whole.
// Seed corpora live in testdata/fuzz/<target>/.

// checkStream fails t if decoding data whole and in the pieces cuts gives
// differ, or if decoding fails with an error that is not a package sentinel.
func checkStream(t *testing.T, c codec.Codec, data, cuts []byte) {
	t.Helper()
	whole, werr := decodeStream(t, c, data, nil)
	split, serr := decodeStream(t, c, data, cuts)
	if kind := errKind(werr); kind != nil && kind != codec.ErrFrameTooLarge && kind != codec.ErrBadLength {
		t.Fatalf("Decode(%q) error %v; want nil, %v or %v", data, werr, codec.ErrFrameTooLarge, codec.ErrBadLength)
	}
	if got, want := fmt.Sprintf("%q %v", split, errKind(serr)), fmt.Sprintf("%q %v", whole, errKind(werr)); got != want {
		t.Fatalf("Decode(%q) cut at %v = %s; whole = %s", data, cuts, got, want)
	}
}

// checkRoundTrip fails t unless Append frames payload so that Decode hands
// it back, or refuses it with a package sentinel and leaves dst as it was.
func checkRoundTrip(t *testing.T, c codec.Codec, payload []byte) {
	t.Helper()
	out, err := c.Append([]byte("dst"), payload)
	if err != nil {
		if errKind(err) == err || string(out) != "dst" {
			t.Fatalf("Append(dst, %q) = %q, %v; want dst and a package error", payload, out, err)
		}
		return
	}
	if !bytes.HasPrefix(out, []byte("dst")) {
		t.Fatalf("Append(dst, %q) = %q; want dst kept", payload, out)
	}
	frame := out[len("dst"):]
	if p, n, err := decodeChecked(t, c, frame); !bytes.Equal(p, payload) || n != len(frame) || err != nil {
		t.Fatalf("Decode(%q) = %q, %d, %v; want %q, %d, nil", frame, p, n, err, payload, len(frame))
	}
}

// checkConfig fails t unless err is nil or wraps ErrConfig; it reports
// whether the codec was built.
func checkConfig(t *testing.T, err error) bool {
	t.Helper()
	if err != nil && !errors.Is(err, codec.ErrConfig) {
		t.Fatalf("constructor error %v; want %v", err, codec.ErrConfig)
	}
	return err == nil
}

func FuzzLengthField(f *testing.F) {
	sizes := []int{1, 2, 3, 4, 8}
	f.Fuzz(func(t *testing.T, data, cuts []byte, offset, size byte, adjustment int8, strip byte, littleEndian bool, maxFrame uint16) {
		cfg := codec.LengthFieldConfig{
			Offset:       int(offset % 4),
			Size:         sizes[int(size)%len(sizes)],
			Adjustment:   int(adjustment),
			Strip:        int(strip % 16),
			LittleEndian: littleEndian,
			MaxFrame:     int(maxFrame),
		}
		l, err := codec.NewLengthField(cfg)
		if !checkConfig(t, err) {
			return
		}
		checkStream(t, l, data, cuts)
		// The same format with the header stripped, which Append supports.
		cfg.Strip = cfg.Offset + cfg.Size
		l, err = codec.NewLengthField(cfg)
		if err != nil {
			t.Fatalf("NewLengthField(%+v) = %v; want it valid as with another Strip", cfg, err)
		}
		checkStream(t, l, data, cuts)
		checkRoundTrip(t, l, data)
	})
}

func FuzzDelimiter(f *testing.F) {
	f.Fuzz(func(t *testing.T, data, cuts, delim []byte, maxFrame uint16) {
		d, err := codec.NewDelimiter(delim, int(maxFrame))
		if !checkConfig(t, err) {
			return
		}
		checkStream(t, d, data, cuts)
		checkRoundTrip(t, d, data)
	})
}

func FuzzLine(f *testing.F) {
	f.Fuzz(func(t *testing.T, data, cuts []byte, maxFrame uint16) {
		l := codec.NewLine(int(maxFrame))
		checkStream(t, l, data, cuts)
		checkRoundTrip(t, l, data)
	})
}

func FuzzFixed(f *testing.F) {
	f.Fuzz(func(t *testing.T, data, cuts []byte, size byte) {
		c, err := codec.NewFixed(int(size))
		if !checkConfig(t, err) {
			return
		}
		checkStream(t, c, data, cuts)
		checkRoundTrip(t, c, data)
	})
}

// FuzzRaw checks that Raw hands out every byte once, in order, however the
// stream is cut.
func FuzzRaw(f *testing.F) {
	f.Fuzz(func(t *testing.T, data, cuts []byte) {
		frames, err := decodeStream(t, codec.Raw{}, data, cuts)
		if got := bytes.Join(frames, nil); !bytes.Equal(got, data) || err != nil {
			t.Fatalf("Decode(%q) cut at %v = %q, %v; want %q, nil", data, cuts, got, err, data)
		}
		if len(data) > 0 {
			checkRoundTrip(t, codec.Raw{}, data)
		}
	})
}
