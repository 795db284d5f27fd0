package chat_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/netsys-go/netsys/engine"
	"github.com/netsys-go/netsys/envelope"
	"github.com/netsys-go/netsys/examples/chat"
	"github.com/netsys-go/netsys/internal/nettest"
)

const timeout = 10 * time.Second

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func start(t *testing.T) *chat.Server {
	t.Helper()
	srv, err := chat.NewServer([]envelope.Option{envelope.WithLogger(quiet)}, engine.WithLogger(quiet), engine.WithLoops(2))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		_ = srv.Stop(ctx)
	})
	return srv
}

func join(t *testing.T, srv *chat.Server, name string, rooms ...string) *chat.Client {
	t.Helper()
	c, err := chat.Dial(ctx(t), srv.Addr(), name, envelope.WithLogger(quiet),
		envelope.WithEngineOptions(engine.WithLogger(quiet)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	for _, room := range rooms {
		if _, err := c.Join(ctx(t), room); err != nil {
			t.Fatalf("%s joins %s: %v", name, room, err)
		}
	}
	return c
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return c
}

func recv(t *testing.T, c *chat.Client) chat.Said {
	t.Helper()
	select {
	case s := <-c.Messages():
		return s
	case <-time.After(timeout):
		t.Fatal("no line pushed")
		return chat.Said{}
	}
}

func TestJoinSayWhoLeave(t *testing.T) {
	srv := start(t)
	alice := join(t, srv, "alice", "go")
	bob := join(t, srv, "bob")
	members, err := bob.Join(ctx(t), "go")
	if err != nil || !slices.Equal(members, []string{"alice", "bob"}) {
		t.Fatalf("bob joins: %q, %v", members, err)
	}
	if err := alice.Say("go", "hi bob"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*chat.Client{alice, bob} {
		if got := recv(t, c); got != (chat.Said{Room: "go", From: "alice", Text: "hi bob"}) {
			t.Errorf("pushed %+v", got)
		}
	}
	if err := bob.Leave(ctx(t), "go"); err != nil {
		t.Fatal(err)
	}
	if got, err := alice.Who(ctx(t), "go"); err != nil || !slices.Equal(got, []string{"alice"}) {
		t.Errorf("who after bob left: %q, %v", got, err)
	}
	if err := bob.Say("go", "not a member"); err != nil { // ignored by the server
		t.Fatal(err)
	}
	if err := alice.Say("go", "alone"); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, alice); got.Text != "alone" {
		t.Errorf("alice got %+v; want her own line, not bob's", got)
	}
}

// TestRequestBetweenBroadcasts is the bug that made the envelope: a user
// says a line to a room, then asks who is there, while another member
// floods the room. Every Who gets the member list, never a room line, and
// every line still arrives, in order, on Messages.
func TestRequestBetweenBroadcasts(t *testing.T) {
	const rounds, flood = 50, 200
	srv := start(t)
	alice := join(t, srv, "alice", "go")
	bob := join(t, srv, "bob", "go")

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range flood {
			if err := bob.Say("go", fmt.Sprintf("bob %d", i)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for i := range rounds {
		if err := alice.Say("go", fmt.Sprintf("alice %d", i)); err != nil {
			t.Fatal(err)
		}
		got, err := alice.Who(ctx(t), "go")
		if err != nil || !slices.Equal(got, []string{"alice", "bob"}) {
			t.Fatalf("round %d: Who = %q, %v; want [alice bob]", i, got, err)
		}
	}
	wg.Wait()
	next := map[string]int{}
	for range rounds + flood {
		s := recv(t, alice)
		if want := fmt.Sprintf("%s %d", s.From, next[s.From]); s.Text != want {
			t.Fatalf("line %+v; want %q", s, want)
		}
		next[s.From]++
	}
	if next["alice"] != rounds || next["bob"] != flood || alice.Dropped() != 0 {
		t.Errorf("lines %v, dropped %d; want %d from alice, %d from bob", next, alice.Dropped(), rounds, flood)
	}
}

// TestServerAsksClient: the server's request to a client gets the client's
// answer, while the client's own requests go on.
func TestServerAsksClient(t *testing.T) {
	srv := start(t)
	alice := join(t, srv, "alice", "go")
	if st, err := srv.Status(ctx(t), "alice"); err != nil || st != "here" {
		t.Fatalf("Status = %q, %v; want here", st, err)
	}
	alice.SetStatus("away")
	if st, err := srv.Status(ctx(t), "alice"); err != nil || st != "away" {
		t.Fatalf("Status = %q, %v; want away", st, err)
	}
	if _, err := srv.Status(ctx(t), "carol"); !errors.Is(err, chat.ErrNoSuchUser) {
		t.Errorf("Status(carol) = %v; want ErrNoSuchUser", err)
	}
}

func TestNameTaken(t *testing.T) {
	srv := start(t)
	join(t, srv, "alice", "go")
	impostor := join(t, srv, "alice")
	_, err := impostor.Join(ctx(t), "go")
	var re *envelope.RemoteError
	if !errors.As(err, &re) || re.Code != chat.CodeNameTaken {
		t.Errorf("second alice joins: %v; want code %d", err, chat.CodeNameTaken)
	}
}

func TestDisconnectLeaves(t *testing.T) {
	srv := start(t)
	alice := join(t, srv, "alice", "go")
	bob := join(t, srv, "bob", "go")
	_ = bob.Close()
	nettest.Eventually(t, "bob gone from the room", func() error {
		got, err := alice.Who(ctx(t), "go")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, []string{"alice"}) {
			return fmt.Errorf("who is in go: %q; want [alice]", got)
		}
		return nil
	})
	// bob's name is free again
	join(t, srv, "bob", "go")
}
