package msgpser_test

import (
	"errors"
	"testing"

	"github.com/tinylib/msgp/msgp"

	"github.com/netsys-go/netsys/envelope"
	"github.com/netsys-go/netsys/envelope/internal/testmsg"
	"github.com/netsys-go/netsys/envelope/msgpser"
)

var _ envelope.Serializer = msgpser.Serializer{}

func TestRoundTrip(t *testing.T) {
	in := testmsg.Echo{Seq: 7, Data: []byte("hello"), Tags: []uint32{1, 2, 3}}
	b, err := msgpser.Serializer{}.Marshal(nil, &in)
	if err != nil {
		t.Fatal(err)
	}
	var out testmsg.Echo
	if err := (msgpser.Serializer{}).Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out.Seq != 7 || string(out.Data) != "hello" || len(out.Tags) != 3 || out.Tags[2] != 3 {
		t.Errorf("Unmarshal(Marshal(%+v)) = %+v", in, out)
	}
	if err := (msgpser.Serializer{}).Unmarshal(append(b, 0xc0), &out); !errors.Is(err, msgpser.ErrTrailing) {
		t.Errorf("Unmarshal with a trailing byte = %v; want ErrTrailing", err)
	}
	if _, err := (msgpser.Serializer{}).Marshal(nil, 42); !errors.Is(err, msgpser.ErrNotMsgp) {
		t.Errorf("Marshal(42) = %v; want ErrNotMsgp", err)
	}
}

// TestLimits: headers that claim more elements than the limit directive
// allows are refused before anything is allocated for them.
func TestLimits(t *testing.T) {
	for _, tc := range []struct {
		name string
		body []byte
	}{
		// {"tags": array32 of 2^32-1 elements}
		{"array", append(msgp.AppendMapHeader(nil, 1), 0xa4, 't', 'a', 'g', 's', 0xdd, 0xff, 0xff, 0xff, 0xff)},
		// {"data": bin32 of 2^32-1 bytes}
		{"bin", append(msgp.AppendMapHeader(nil, 1), 0xa4, 'd', 'a', 't', 'a', 0xc6, 0xff, 0xff, 0xff, 0xff)},
		// a map32 of 2^32-1 fields
		{"map", []byte{0xdf, 0xff, 0xff, 0xff, 0xff}},
	} {
		var out testmsg.Echo
		allocs := testing.AllocsPerRun(10, func() {
			err := (msgpser.Serializer{}).Unmarshal(tc.body, &out)
			if !errors.Is(err, msgp.ErrLimitExceeded) {
				t.Errorf("%s: Unmarshal(% x) = %v; want ErrLimitExceeded", tc.name, tc.body, err)
			}
		})
		if allocs > 2 {
			t.Errorf("%s: %v allocations refusing the header; want at most 2", tc.name, allocs)
		}
	}
}
