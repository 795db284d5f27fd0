package cluster

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
)

func TestWireRoundTrip(t *testing.T) {
	b := appendHeader(nil, kindGroup, "node-1", 42)
	b = appendGroupName(b, "room")
	b = append(b, "hello"...)
	var m message
	if err := decode(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.kind != kindGroup || string(m.origin) != "node-1" || m.sentAt != 42 || string(m.group) != "room" || string(m.body) != "hello" {
		t.Errorf("decoded %+v", m)
	}
	hb, left := appendHeartbeat(nil, 7, map[string]int{"a": 1, "b c": 2}, 1<<10)
	got, err := decodeHeartbeat(hb)
	if err != nil || left != 0 || got.sessions != 7 || len(got.groups) != 2 || got.groups["b c"] != 2 {
		t.Errorf("heartbeat %+v, %v, %d left out", got, err, left)
	}
	// Past the limit, groups are left out and the heartbeat still decodes.
	many := map[string]int{}
	for i := range 100 {
		many[fmt.Sprintf("group-%03d", i)] = i + 1
	}
	hb, left = appendHeartbeat(nil, 1, many, 200)
	got, err = decodeHeartbeat(hb)
	if err != nil || len(hb) > 200 || left == 0 || len(got.groups)+left != 100 {
		t.Errorf("limited heartbeat: %d bytes, %d groups, %d left out, %v", len(hb), len(got.groups), left, err)
	}
	for i := range b {
		if decode(b[:i], &m) == nil && i < headerLen(6)+2+4 {
			t.Errorf("decoded a message cut to %d bytes", i)
		}
	}
}

func TestGroupToken(t *testing.T) {
	for g, want := range map[string]string{"room-1_x": "room-1_x", "a.b": "=YS5i", "": "=", "*": "=Kg", "=x": "=PXg"} {
		if got := groupToken(g); got != want {
			t.Errorf("groupToken(%q) = %q, want %q", g, got, want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(appendGroupName(appendHeader(nil, kindGroup, "n", 1), "g"))
	f.Add(appendHeader(nil, kindHeartbeat, "n", 1))
	hb, _ := appendHeartbeat(nil, 1, map[string]int{"x": 2}, 100)
	f.Add(append(appendHeader(nil, kindHeartbeat, "n", 1), hb...))
	f.Add([]byte{1, 3, 1, 'n', 0, 0, 0, 0, 0, 0, 0, 0, 1, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		var m message
		if decode(b, &m) != nil {
			return
		}
		if m.kind == kindHeartbeat {
			_, _ = decodeHeartbeat(m.body)
		}
		if m.kind == kindMembersReply {
			_, _ = decodeMembers(m.body)
		}
		// What decodes encodes back to the same bytes.
		e := appendHeader(nil, m.kind, string(m.origin), m.sentAt)
		switch m.kind {
		case kindGroup, kindMembersQuery:
			e = appendGroupName(e, string(m.group))
		case kindUnicast:
			e = append(e, binary8(m.session)...)
		}
		if e = append(e, m.body...); !bytes.Equal(e, b) {
			t.Errorf("re-encoded %x, decoded from %x", e, b)
		}
	})
}

// TestHotPathAllocs: a group broadcast made on a node (local fan-out and the
// NATS publish) and one received from another node (decode, local fan-out,
// latency) allocate nothing beyond what the engine's own BroadcastGroup
// allocates (measured here, so that the cluster's share is shown to be 0).
func TestHotPathAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	// A stand-in NATS server that discards what it gets, and a client that
	// discards what it gets: neither allocates in this process per message,
	// so what is counted is the node's and the engine's.
	tn := startNode(t, "A", fakeNATS(t))
	c, err := net.Dial("tcp", tn.srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() { _, _ = io.Copy(io.Discard, c) }()
	(<-tn.conns).Join("room")
	payload := make([]byte, 1024)
	engineAllocs := testing.AllocsPerRun(200, func() { _, _ = tn.srv.BroadcastGroup("room", payload) })
	if a := testing.AllocsPerRun(200, func() { _, _ = tn.node.BroadcastGroup("room", payload) }); a != engineAllocs {
		t.Errorf("BroadcastGroup: %v allocations, the engine's alone %v", a, engineAllocs)
	}
	j := tn.node.j.Load()
	data := append(appendGroupName(appendHeader(nil, kindGroup, "B", 1), "room"), payload...)
	m := &nats.Msg{Subject: "netsys.g.room", Data: data}
	if a := testing.AllocsPerRun(200, func() { tn.node.handle(j, m) }); a != engineAllocs {
		t.Errorf("handling a group message: %v allocations, the engine's alone %v", a, engineAllocs)
	}
	var msg message
	if a := testing.AllocsPerRun(200, func() { _ = decode(data, &msg) }); a != 0 {
		t.Errorf("decode: %v allocations, want 0", a)
	}
	t.Logf("engine.Server.BroadcastGroup: %v allocations per call; the cluster adds none", engineAllocs)
}

// fakeNATS serves the least of the NATS client protocol nats.go needs (INFO,
// PONG to each PING) and discards everything else. It returns its URL.
func fakeNATS(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.WriteString(c, `INFO {"server_id":"fake","version":"2.15.3","proto":1,"max_payload":1048576,"headers":true}`+"\r\n")
				r := bufio.NewReaderSize(c, 1<<16)
				for {
					line, err := r.ReadSlice('\n')
					if err != nil && err != bufio.ErrBufferFull {
						return
					}
					if strings.HasPrefix(string(line), "PING") {
						_, _ = io.WriteString(c, "PONG\r\n")
					}
				}
			}()
		}
	}()
	return "nats://" + ln.Addr().String()
}
