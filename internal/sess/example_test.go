package sess_test

import (
	"errors"
	"fmt"

	"github.com/netsys-go/netsys/internal/sess"
)

// printWriter stands in for the engine: it prints what a session sends.
type printWriter struct{ name string }

func (w printWriter) Send(p []byte) error    { fmt.Printf("%s <- %s\n", w.name, p); return nil }
func (w printWriter) Reply(p []byte) error   { return w.Send(p) }
func (w printWriter) SendRaw(b []byte) error { return w.Send(b) }
func (w printWriter) Close(reason error)     { fmt.Printf("%s closing: %v\n", w.name, reason) }

// A new connection on a reused fd gets a new ID, and the old ID no longer
// finds anything.
func ExampleRegistry() {
	reg := sess.NewRegistry()

	old := reg.Register(7, printWriter{"a"}, nil, nil)
	fmt.Printf("first session on fd %d: ID %#x\n", old.FD(), old.ID())
	reg.Unregister(old) // the connection closed; the kernel may reuse fd 7

	s := reg.Register(7, printWriter{"b"}, nil, nil)
	fmt.Printf("next session on fd %d: ID %#x\n", s.FD(), s.ID())
	fmt.Println("old ID finds:", reg.Get(old.ID()))
	fmt.Println("new ID finds the new session:", reg.Get(s.ID()) == s)
	// Output:
	// first session on fd 7: ID 0x100000007
	// next session on fd 7: ID 0x200000007
	// old ID finds: <nil>
	// new ID finds the new session: true
}

func ExampleRegistry_RangeGroup() {
	reg := sess.NewRegistry()
	for i, name := range []string{"ada", "bob", "cy"} {
		s := reg.Register(10+i, printWriter{name}, nil, nil)
		s.SetState(sess.StateConnected)
		s.Join("room")
	}
	reg.RangeGroup("room", func(s *sess.Core) bool {
		_ = s.Send([]byte("hello"))
		return true
	})
	fmt.Println("members:", reg.GroupLen("room"))
	// Unordered output:
	// ada <- hello
	// bob <- hello
	// cy <- hello
	// members: 3
}

func ExampleCore_Close() {
	reg := sess.NewRegistry()
	s := reg.Register(3, printWriter{"ada"}, nil, nil)
	s.SetState(sess.StateConnected)
	s.Set("user", "ada")

	_ = s.Send([]byte("bye"))
	s.Close(errors.New("logged out"))
	s.Close(errors.New("ignored: already closing"))
	fmt.Println(s.State())
	fmt.Println(errors.Is(s.Send([]byte("late")), sess.ErrClosed))

	reg.Unregister(s) // by the transport, once the connection is gone
	fmt.Println(s.State(), reg.Len())
	// Output:
	// ada <- bye
	// ada closing: logged out
	// closing
	// true
	// closed 0
}
