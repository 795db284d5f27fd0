package engine_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/netsys-go/netsys/engine"
	"github.com/netsys-go/netsys/internal/nettest"
	"github.com/netsys-go/netsys/session"
)

// A chat server answers /who with the Server's group query, and the group
// hook hears the first join and the last leave.
func TestGroupQueriesAndHook(t *testing.T) {
	var mu sync.Mutex
	var changes []string
	var srvp atomic.Pointer[engine.Server] // the handler's view of srv, set before any client dials
	srv := nettest.StartServer(t, engine.HandlerFuncs{
		Message: func(s *session.Session, msg []byte) {
			switch string(msg) {
			case "join":
				s.Join("room")
				_ = s.Reply([]byte("joined"))
			case "leave":
				s.Leave("room")
				_ = s.Reply([]byte("left"))
			case "who":
				srv := srvp.Load()
				n := 0
				srv.RangeGroup("room", func(*session.Session) bool { n++; return true })
				_ = s.Reply([]byte{byte('0' + srv.GroupLen("room")), byte('0' + n)})
			}
		},
	}, engine.WithGroupHook(func(group string, members int) {
		mu.Lock()
		changes = append(changes, group+":"+string(rune('0'+members)))
		mu.Unlock()
	}))
	srvp.Store(srv)
	a := nettest.Dial(t, srv.Addr().String())
	b := nettest.Dial(t, srv.Addr().String())
	for _, c := range []*nettest.Client{a, b} {
		c.Send(t, []byte("join"))
		if got := string(c.Recv(t)); got != "joined" {
			t.Fatalf("join: got %q", got)
		}
	}
	a.Send(t, []byte("who"))
	if got := string(a.Recv(t)); got != "22" {
		t.Fatalf("who = %q; want GroupLen 2 and 2 visited", got)
	}
	members := srv.GroupMembers("room")
	if len(members) != 2 || !members[0].InGroup("room") {
		t.Fatalf("GroupMembers = %v; want 2 sessions in the room", members)
	}
	if got := srv.Groups(); !slices.Equal(got, []string{"room"}) {
		t.Fatalf("Groups() = %v; want [room]", got)
	}
	b.Send(t, []byte("leave"))
	b.Recv(t)
	_ = a.Close() // leaves the room as its session closes
	nettest.Eventually(t, "the room to empty", func() error {
		if n := srv.GroupLen("room"); n != 0 {
			return fmt.Errorf("%d still in the room", n)
		}
		return nil
	})
	nettest.Eventually(t, "the hook to hear the last leave", func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(changes) != 4 {
			return fmt.Errorf("the hook heard %d changes (%v); want 4", len(changes), changes)
		}
		return nil
	})
	mu.Lock()
	want := []string{"room:1", "room:2", "room:1", "room:0"}
	if !slices.Equal(changes, want) {
		t.Errorf("hook calls = %v; want %v", changes, want)
	}
	mu.Unlock()
	if got := srv.GroupMembers("room"); got != nil {
		t.Errorf("GroupMembers of an empty group = %v; want nil", got)
	}
}

// A stale session ID in a group operation or a send is an error, not a nil
// dereference.
func TestStaleIDIsAnError(t *testing.T) {
	rec := &nettest.Recorder{}
	srv := nettest.StartServer(t, rec)
	c := nettest.Dial(t, srv.Addr().String())
	id := rec.WaitCount(t, "connect", 1)[0].Session.ID()
	if err := srv.Join(id, "g"); err != nil {
		t.Fatalf("Join(open session) = %v", err)
	}
	_ = c.Close()
	rec.WaitCount(t, "disconnect", 1)
	for name, err := range map[string]error{
		"Join":  srv.Join(id, "g"),
		"Leave": srv.Leave(id, "g"),
		"Send":  srv.Send(id, []byte("x")),
	} {
		if !errors.Is(err, engine.ErrUnknownSession) {
			t.Errorf("%s(stale id) = %v; want ErrUnknownSession", name, err)
		}
	}
}
