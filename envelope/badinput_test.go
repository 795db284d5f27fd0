package envelope_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"

	"github.com/netsys-go/netsys/codec"
	"github.com/netsys-go/netsys/envelope"
	"github.com/netsys-go/netsys/internal/nettest"
)

// TestBadInput feeds one session bad input on a real socket: the server tells
// the peer why (an error frame with ID 0), closes only that session with a
// reason that says what was wrong, counts it, and a bystander session on the
// same server goes on working.
func TestBadInput(t *testing.T) {
	hello := func(v, features uint32) []byte {
		return envelope.AppendHello(nil, envelope.Hello{Version: v, Features: features})
	}
	req := func(id uint32) []byte { return frame(envelope.Header{Kind: envelope.KindRequest, ID: id}, []byte("x")) }
	bomb := append([]byte{0x21}, binary.AppendUvarint(nil, 1<<30)...)
	bomb = append(bomb, 0x00, 'a') // a literal, then nothing: the claim is what counts
	for _, tc := range []struct {
		name     string
		hello    []byte   // nil: version 1, accepting S2
		frames   [][]byte // sent after the hello
		noS2     bool     // the server does not accept compression
		code     envelope.Code
		reason   error
		contains string
	}{
		{name: "malformed: request without an ID", frames: [][]byte{{0x02}}, code: envelope.CodeProtocol, reason: envelope.ErrMalformed, contains: "ID cut off"},
		{name: "malformed: ID over 32 bits", frames: [][]byte{{0x02, 0xff, 0xff, 0xff, 0xff, 0x7f}}, code: envelope.CodeProtocol, reason: envelope.ErrMalformed, contains: "over 32 bits"},
		{name: "malformed: reserved flags", frames: [][]byte{{0x81}}, code: envelope.CodeProtocol, reason: envelope.ErrMalformed, contains: "reserved"},
		{name: "malformed: empty frame", frames: [][]byte{{}}, code: envelope.CodeProtocol, reason: envelope.ErrMalformed, contains: "empty"},
		{name: "unknown kind", frames: [][]byte{{0x09, 0x01}}, code: envelope.CodeProtocol, reason: envelope.ErrUnknownKind, contains: "9"},
		{name: "message before the hello", hello: []byte{0x01, 'h', 'i'}, code: envelope.CodeProtocol, reason: envelope.ErrProtocol, contains: "before the hello"},
		{name: "second hello", frames: [][]byte{hello(1, 0)}, code: envelope.CodeProtocol, reason: envelope.ErrProtocol, contains: "second hello"},
		{name: "duplicate ID in flight", frames: [][]byte{req(5), req(6), req(5)}, code: envelope.CodeProtocol, reason: envelope.ErrDuplicateID, contains: "request 5"},
		{name: "compressed, not offered", noS2: true, frames: [][]byte{append([]byte{0x21}, s2.Encode(nil, []byte("hello, hello, hello"))...)}, code: envelope.CodeProtocol, reason: envelope.ErrNotAccepted},
		{name: "decompression bomb", frames: [][]byte{bomb}, code: envelope.CodeProtocol, reason: codec.ErrFrameTooLarge, contains: "1073741824"},
		{name: "corrupt compressed body", frames: [][]byte{{0x21, 0x10, 0x00}}, code: envelope.CodeProtocol, reason: envelope.ErrBadBody},
		{name: "hello from the future", hello: hello(2, 1), code: envelope.CodeVersion, reason: envelope.ErrVersion, contains: "version 2"},
		{name: "one-way message of an unknown type", frames: [][]byte{{0x11, 0x63}}, code: envelope.CodeProtocol, reason: envelope.ErrUnknownType, contains: "99"},
		{name: "one-way message that does not decode", frames: [][]byte{{0x11, 0x04, '{'}}, code: envelope.CodeProtocol, reason: envelope.ErrBadBody},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &deferrer{}
			r := envelope.NewRouter(nil)
			r.HandleRaw(1, func(m *envelope.Msg) { _ = m.Reply([]byte("ok")) })
			envelope.Handle(r, 4, func(*envelope.Msg, *struct{ A int }) {})
			r.HandleUntyped(d.handle)
			gone := make(chan error, 1)
			opts := []envelope.Option{envelope.WithCompression(!tc.noS2),
				envelope.OnDisconnect(func(_ *envelope.Peer, reason error) { gone <- reason })}
			h, addr := serve(t, r, opts)

			bystander := dial(t, addr)
			if got, err := bystander.RequestType(testCtx(t), 1, nil); err != nil || string(got) != "ok" {
				t.Fatalf("bystander before: %q, %v", got, err)
			}

			hl := tc.hello
			if hl == nil {
				hl = hello(1, envelope.FeatureS2)
			}
			c := rawDial(t, addr, hl)
			for _, f := range tc.frames {
				c.Send(t, f)
			}
			re := c.expectRefusal(t, tc.code)
			reason := <-gone
			if !errors.Is(reason, tc.reason) || !strings.Contains(reason.Error(), tc.contains) {
				t.Errorf("session closed with %q; want %v containing %q", reason, tc.reason, tc.contains)
			}
			if re.Message != reason.Error() {
				t.Errorf("the peer was told %q; want the reason %q", re.Message, reason)
			}
			if st := h.Stats(); st.Closed != 1 {
				t.Errorf("stats %+v; want 1 closed", st)
			}
			if got, err := bystander.RequestType(testCtx(t), 1, nil); err != nil || string(got) != "ok" {
				t.Fatalf("bystander after: %q, %v", got, err)
			}
		})
	}
}

// TestStrayReplies: a reply to an ID never sent is dropped and counted, and
// the session goes on.
func TestStrayReplies(t *testing.T) {
	r := envelope.NewRouter(nil)
	r.HandleRaw(1, func(m *envelope.Msg) { _ = m.Reply([]byte("ok")) })
	h, addr := serve(t, r, nil)
	c := rawDial(t, addr, nil)
	c.Send(t, frame(envelope.Header{Kind: envelope.KindReply, ID: 7}, []byte("who asked?")))
	c.Send(t, frame(envelope.Header{Kind: envelope.KindError, ID: 8}, envelope.AppendError(nil, 100, "nobody")))
	c.Send(t, frame(envelope.Header{Kind: envelope.KindPong, ID: 9}, nil))
	c.Send(t, frame(envelope.Header{Kind: envelope.KindRequest, ID: 1, Typed: true, Type: 1}, nil))
	if h, body := c.recvFrame(t); h.Kind != envelope.KindReply || h.ID != 1 || string(body) != "ok" {
		t.Fatalf("reply %+v %q; want reply 1 ok", h, body)
	}
	if st := h.Stats(); st.UnknownReplies != 3 || st.Closed != 0 {
		t.Errorf("stats %+v; want 3 unknown replies, none closed", st)
	}
}

// TestRequestFlood: one peer sends 100,000 requests at once against a
// handler that defers every answer. The first WithMaxInFlight (1024) wait for
// their answer; every other gets CodeBusy at once. Once answered, the 1024
// get their replies; nothing is lost, and a bystander is served throughout.
func TestRequestFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("100,000 requests")
	}
	const n = 100_000
	d := &deferrer{}
	r := envelope.NewRouter(nil)
	r.HandleRaw(1, func(m *envelope.Msg) { _ = m.Reply([]byte("ok")) })
	r.HandleUntyped(d.handle)
	h, addr := serve(t, r, nil)
	bystander := dial(t, addr)
	c := rawDial(t, addr, nil)

	var batch []byte
	for id := uint32(1); id <= n; id++ {
		batch = append(batch, nettest.Frame(frame(envelope.Header{Kind: envelope.KindRequest, ID: id}, nil))...)
	}
	written := make(chan error, 1)
	go func() { _, err := c.Write(batch); written <- err }()

	busy := 0
	for busy < n-envelope.DefaultMaxInFlight {
		hd, body := c.recvFrame(t)
		re, err := envelope.ParseError(body)
		if hd.Kind != envelope.KindError || err != nil || re.Code != envelope.CodeBusy || hd.ID <= envelope.DefaultMaxInFlight {
			t.Fatalf("frame %d: %+v %v %v; want a busy error for an ID over 1024", busy, hd, re, err)
		}
		busy++
	}
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	if got, err := bystander.RequestType(testCtx(t), 1, nil); err != nil || string(got) != "ok" {
		t.Fatalf("bystander during the flood: %q, %v", got, err)
	}
	resps, _ := d.take()
	if len(resps) != envelope.DefaultMaxInFlight {
		t.Fatalf("%d requests deferred; want %d", len(resps), envelope.DefaultMaxInFlight)
	}
	for _, w := range resps {
		if err := w.Reply([]byte("done")); err != nil {
			t.Fatal(err)
		}
	}
	seen := make(map[uint32]bool)
	for range resps {
		hd, body := c.recvFrame(t)
		if hd.Kind != envelope.KindReply || string(body) != "done" || seen[hd.ID] || hd.ID > envelope.DefaultMaxInFlight {
			t.Fatalf("frame %+v %q; want one reply per deferred ID", hd, body)
		}
		seen[hd.ID] = true
	}
	if st := h.Stats(); st.Busy != n-envelope.DefaultMaxInFlight || st.Closed != 0 {
		t.Errorf("stats %+v; want %d busy, none closed", st, n-envelope.DefaultMaxInFlight)
	}
	// The bound is free again.
	c.Send(t, frame(envelope.Header{Kind: envelope.KindRequest, ID: 1, Typed: true, Type: 1}, nil))
	if hd, body := c.recvFrame(t); hd.Kind != envelope.KindReply || string(body) != "ok" {
		t.Fatalf("after the flood: %+v %q", hd, body)
	}
}

// TestDialRefusesFutureServer: a server whose hello has another version is
// refused at Dial, with a clear error, and told why.
func TestDialRefusesFutureServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	told := make(chan []byte, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		_ = nc.SetDeadline(time.Now().Add(nettest.Timeout))
		_, _ = nc.Write(nettest.Frame(envelope.AppendHello(nil, envelope.Hello{Version: 9})))
		var last []byte
		for {
			p, err := readFrame(nc)
			if err != nil {
				break
			}
			last = p
		}
		told <- last
	}()
	ctx, cancel := context.WithTimeout(context.Background(), nettest.Timeout)
	defer cancel()
	_, err = envelope.Dial(ctx, ln.Addr().String(), envelope.WithLogger(nettest.Quiet))
	if !errors.Is(err, envelope.ErrVersion) || !strings.Contains(err.Error(), "version 9") {
		t.Fatalf("Dial = %v; want ErrVersion naming version 9", err)
	}
	last := <-told
	h, body, err := envelope.ParseHeader(last)
	if err != nil || h.Kind != envelope.KindError || h.ID != 0 {
		t.Fatalf("server was told % x", last)
	}
	if re, _ := envelope.ParseError(body); re == nil || re.Code != envelope.CodeVersion {
		t.Errorf("server was told %v; want CodeVersion", re)
	}
}

func readFrame(nc net.Conn) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(nc, hdr[:]); err != nil {
		return nil, err
	}
	p := make([]byte, binary.BigEndian.Uint32(hdr[:]))
	_, err := io.ReadFull(nc, p)
	return p, err
}
