package sess

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

func TestFDReuseGivesNewID(t *testing.T) {
	r := NewRegistry()
	old := r.Register(7, nopWriter{}, nil, nil)
	r.Unregister(old)
	s := r.Register(7, nopWriter{}, nil, nil)

	if old.ID() == 0 || s.ID() == 0 {
		t.Fatalf("IDs %#x, %#x; want both non-zero", old.ID(), s.ID())
	}
	if old.ID() == s.ID() {
		t.Fatalf("two sessions on fd 7 share ID %#x", s.ID())
	}
	if old.FD() != 7 || s.FD() != 7 {
		t.Errorf("FD() = %d, %d; want 7, 7", old.FD(), s.FD())
	}
	if got := r.Get(old.ID()); got != nil {
		t.Errorf("Get(%#x) (stale ID) = session %#x; want nil", old.ID(), got.ID())
	}
	if got := r.Get(s.ID()); got != s {
		t.Errorf("Get(%#x) = %p; want the new session %p", s.ID(), got, s)
	}
	if got := r.ByFD(7); got != s {
		t.Errorf("ByFD(7) = %p; want the new session %p", got, s)
	}
	if got := r.Len(); got != 1 {
		t.Errorf("Len() = %d; want 1", got)
	}
}

func TestIDsUniquePerFD(t *testing.T) {
	r := NewRegistry()
	seen := make(map[uint64]bool)
	for range 100 {
		for _, fd := range []int{0, 1, 7, 5000} {
			s := r.Register(fd, nopWriter{}, nil, nil)
			if s.ID() == 0 || seen[s.ID()] {
				t.Fatalf("Register(%d) gave ID %#x: zero or already used", fd, s.ID())
			}
			seen[s.ID()] = true
			r.Unregister(s)
		}
	}
}

func TestUnregisterStaleLeavesNewerSession(t *testing.T) {
	r := NewRegistry()
	old := r.Register(7, nopWriter{}, nil, nil)
	r.Unregister(old)
	s := r.Register(7, nopWriter{}, nil, nil)
	s.SetState(StateConnected)
	s.Join("g")

	r.Unregister(old) // late, repeated: must not touch s
	if got := r.Get(s.ID()); got != s {
		t.Errorf("Get(%#x) after a stale Unregister = %p; want %p", s.ID(), got, s)
	}
	if got := s.State(); got != StateConnected {
		t.Errorf("State() of the newer session = %v; want %v", got, StateConnected)
	}
	if got := r.GroupLen("g"); got != 1 {
		t.Errorf("GroupLen(%q) = %d; want 1", "g", got)
	}
	if got := r.Len(); got != 1 {
		t.Errorf("Len() = %d; want 1", got)
	}
}

func TestRegisterOverStaleSession(t *testing.T) {
	// The transport missed an Unregister: the next Register on the fd makes
	// the first session stale, and its late Unregister must not free the slot.
	r := NewRegistry()
	old := r.Register(8, nopWriter{}, nil, nil)
	old.Join("g")
	s := r.Register(8, nopWriter{}, nil, nil)
	if got := r.Get(old.ID()); got != nil {
		t.Errorf("Get(%#x) (displaced) = %p; want nil", old.ID(), got)
	}
	if got := r.Len(); got != 1 {
		t.Errorf("Len() = %d; want 1", got)
	}
	r.Unregister(old)
	if got := r.Get(s.ID()); got != s {
		t.Errorf("Get(%#x) after Unregister of the displaced session = %p; want %p", s.ID(), got, s)
	}
	if got := r.GroupLen("g"); got != 0 {
		t.Errorf("GroupLen(%q) = %d; want 0", "g", got)
	}
	if got := r.Len(); got != 1 {
		t.Errorf("Len() = %d; want 1", got)
	}
}

func TestUnregisterIdempotent(t *testing.T) {
	r := NewRegistry()
	s := r.Register(5, nopWriter{}, nil, nil)
	s.Join("g")
	r.Unregister(s)
	r.Unregister(s)
	if got := r.Len(); got != 0 {
		t.Errorf("Len() after two Unregister calls = %d; want 0", got)
	}
	if got := s.State(); got != StateClosed {
		t.Errorf("State() = %v; want %v", got, StateClosed)
	}
	if got := r.Get(s.ID()); got != nil {
		t.Errorf("Get(%#x) after Unregister = %p; want nil", s.ID(), got)
	}
	if got := r.ByFD(5); got != nil {
		t.Errorf("ByFD(5) after Unregister = %p; want nil", got)
	}
}

func TestGetUnknown(t *testing.T) {
	r := NewRegistry()
	s := r.Register(7, nopWriter{}, nil, nil)
	tests := []struct {
		name string
		id   uint64
	}{
		{name: "zero", id: 0},
		{name: "fd never registered", id: 1<<32 | 8},
		{name: "fd in an unmade chunk", id: 1<<32 | 100_000},
		{name: "generation ahead", id: s.ID() + 1<<32},
		{name: "generation zero", id: uint64(s.FD())},
		{name: "fd beyond the table", id: 1<<32 | tableFDs + 3},
		{name: "largest fd", id: 1<<32 | math.MaxUint32},
	}
	for _, tt := range tests {
		if got := r.Get(tt.id); got != nil {
			t.Errorf("%s: Get(%#x) = session %#x; want nil", tt.name, tt.id, got.ID())
		}
	}
	for _, fd := range []int{-1, 8, 100_000, tableFDs + 3} {
		if got := r.ByFD(fd); got != nil {
			t.Errorf("ByFD(%d) = session %#x; want nil", fd, got.ID())
		}
	}
}

func TestLargeFD(t *testing.T) {
	for _, fd := range []int{tableFDs - 1, tableFDs, tableFDs + 5, math.MaxUint32} {
		r := NewRegistry()
		old := r.Register(fd, nopWriter{}, nil, nil)
		r.Unregister(old)
		s := r.Register(fd, nopWriter{}, nil, nil)
		if s.FD() != fd || s.ID() == old.ID() {
			t.Errorf("fd %d: FD() = %d, IDs %#x then %#x; want fd %d and distinct IDs", fd, s.FD(), old.ID(), s.ID(), fd)
		}
		if got := r.Get(s.ID()); got != s {
			t.Errorf("fd %d: Get(%#x) = %p; want %p", fd, s.ID(), got, s)
		}
		if got := r.Get(old.ID()); got != nil {
			t.Errorf("fd %d: Get(%#x) (stale) = %p; want nil", fd, old.ID(), got)
		}
		if got := r.ByFD(fd); got != s {
			t.Errorf("fd %d: ByFD = %p; want %p", fd, got, s)
		}
		var visited []*Core
		r.Range(func(x *Core) bool { visited = append(visited, x); return true })
		if len(visited) != 1 || visited[0] != s {
			t.Errorf("fd %d: Range visited %v; want only %p", fd, visited, s)
		}
		r.Unregister(s)
		if got := r.Len(); got != 0 {
			t.Errorf("fd %d: Len() after Unregister = %d; want 0", fd, got)
		}
	}
}

func TestRegisterBadFDPanics(t *testing.T) {
	for _, fd := range []int{-1, math.MaxUint32 + 1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Register(%d) did not panic", fd)
				}
			}()
			NewRegistry().Register(fd, nopWriter{}, nil, nil)
		}()
	}
}

func TestRange(t *testing.T) {
	r := NewRegistry()
	fds := []int{0, 3, chunkSize + 4, tableFDs + 1}
	for _, fd := range fds {
		r.Register(fd, nopWriter{}, nil, nil)
	}
	r.Unregister(r.Register(9, nopWriter{}, nil, nil))

	var got []int
	r.Range(func(s *Core) bool { got = append(got, s.FD()); return true })
	if !slices.Equal(got, fds) {
		t.Errorf("Range visited fds %v; want %v", got, fds)
	}
	visits := 0
	r.Range(func(*Core) bool { visits++; return false })
	if visits != 1 {
		t.Errorf("Range with fn returning false visited %d sessions; want 1", visits)
	}
	if got := r.Len(); got != len(fds) {
		t.Errorf("Len() = %d; want %d", got, len(fds))
	}
}

// TestConcurrentRegisterGet reuses a few fds across goroutines the way the
// kernel does (an fd is handed out again only after it was freed) while other
// goroutines look up recent IDs: a lookup must never return a session with
// another ID.
func TestConcurrentRegisterGet(t *testing.T) {
	const workers, readers, fds = 4, 2, 8
	iters := 2000
	if testing.Short() {
		iters = 200
	}
	r := NewRegistry()
	free := make(chan int, fds)
	for fd := range fds {
		free <- fd
	}
	var recent [64]atomic.Uint64 // IDs handed out lately, for the readers
	var writersDone atomic.Bool
	ids := make([][]uint64, workers)

	var readersWG sync.WaitGroup
	for range readers {
		readersWG.Add(1)
		go func() {
			defer readersWG.Done()
			for !writersDone.Load() {
				for i := range recent {
					id := recent[i].Load()
					if s := r.Get(id); s != nil && s.ID() != id {
						t.Errorf("Get(%#x) returned session %#x", id, s.ID())
						return
					}
					fd := int(uint32(id))
					if s := r.ByFD(fd); s != nil && s.FD() != fd {
						t.Errorf("ByFD(%d) returned session on fd %d", fd, s.FD())
						return
					}
				}
			}
		}()
	}

	var writersWG sync.WaitGroup
	for w := range workers {
		writersWG.Add(1)
		go func() {
			defer writersWG.Done()
			for i := range iters {
				fd := <-free
				s := r.Register(fd, nopWriter{}, nil, nil)
				recent[(w*iters+i)%len(recent)].Store(s.ID())
				ids[w] = append(ids[w], s.ID())
				if got := r.Get(s.ID()); got != s {
					t.Errorf("Get(%#x) right after Register = %p; want %p", s.ID(), got, s)
				}
				r.Unregister(s)
				if got := r.Get(s.ID()); got != nil {
					t.Errorf("Get(%#x) after Unregister = session %#x; want nil", s.ID(), got.ID())
				}
				free <- fd
			}
		}()
	}
	writersWG.Wait()
	writersDone.Store(true)
	readersWG.Wait()

	seen := make(map[uint64]bool, workers*iters)
	for _, list := range ids {
		for _, id := range list {
			if seen[id] {
				t.Fatalf("ID %#x handed out twice", id)
			}
			seen[id] = true
		}
	}
	if got := r.Len(); got != 0 {
		t.Errorf("Len() after all Unregister calls = %d; want 0", got)
	}
}

// groupFDs returns the fds of group's members, sorted, as RangeGroup sees them.
func groupFDs(r *Registry, group string) []int {
	var fds []int
	r.RangeGroup(group, func(s *Core) bool { fds = append(fds, s.FD()); return true })
	slices.Sort(fds)
	return fds
}

func TestGroups(t *testing.T) {
	r := NewRegistry()
	s1 := r.Register(1, nopWriter{}, nil, nil)
	s2 := r.Register(2, nopWriter{}, nil, nil)
	s3 := r.Register(3, nopWriter{}, nil, nil)

	s1.Join("a")
	s1.Join("b")
	s1.Join("a") // twice: no-op
	s2.Join("a")
	s3.Join("b")
	s3.Leave("a") // not a member: no-op

	tests := []struct {
		group string
		want  []int
	}{
		{group: "a", want: []int{1, 2}},
		{group: "b", want: []int{1, 3}},
		{group: "none", want: nil},
	}
	for _, tt := range tests {
		if got := groupFDs(r, tt.group); !slices.Equal(got, tt.want) {
			t.Errorf("RangeGroup(%q) visited fds %v; want %v", tt.group, got, tt.want)
		}
		if got := r.GroupLen(tt.group); got != len(tt.want) {
			t.Errorf("GroupLen(%q) = %d; want %d", tt.group, got, len(tt.want))
		}
	}
	if got, want := s1.Groups(), []string{"a", "b"}; !slices.Equal(got, want) {
		t.Errorf("s1.Groups() = %q; want %q", got, want)
	}

	s1.Leave("a")
	if got, want := groupFDs(r, "a"), []int{2}; !slices.Equal(got, want) {
		t.Errorf("after s1.Leave(%q): RangeGroup visited fds %v; want %v", "a", got, want)
	}
	if got, want := s1.Groups(), []string{"b"}; !slices.Equal(got, want) {
		t.Errorf("after s1.Leave(%q): s1.Groups() = %q; want %q", "a", got, want)
	}

	s2.Leave("a")
	if _, ok := r.groups["a"]; ok || r.GroupLen("a") != 0 {
		t.Errorf("group %q still kept after its last member left", "a")
	}

	visits := 0
	r.RangeGroup("b", func(*Core) bool { visits++; return false })
	if visits != 1 {
		t.Errorf("RangeGroup with fn returning false visited %d members; want 1", visits)
	}
}

func TestUnregisterLeavesAllGroups(t *testing.T) {
	r := NewRegistry()
	s := r.Register(1, nopWriter{}, nil, nil)
	other := r.Register(2, nopWriter{}, nil, nil)
	for _, g := range []string{"a", "b", "c"} {
		s.Join(g)
	}
	other.Join("b")

	r.Unregister(s)
	for _, tt := range []struct {
		group string
		want  []int
	}{
		{group: "a", want: nil},
		{group: "b", want: []int{2}},
		{group: "c", want: nil},
	} {
		if got := groupFDs(r, tt.group); !slices.Equal(got, tt.want) {
			t.Errorf("after Unregister: RangeGroup(%q) visited fds %v; want %v", tt.group, got, tt.want)
		}
	}
	if got := s.Groups(); got != nil {
		t.Errorf("Groups() after Unregister = %q; want nil", got)
	}
	if len(r.groups) != 1 {
		t.Errorf("registry keeps %d groups; want 1 (only %q has members)", len(r.groups), "b")
	}

	s.Join("d")
	if got := r.GroupLen("d"); got != 0 {
		t.Errorf("Join after Unregister: GroupLen(%q) = %d; want 0", "d", got)
	}
	if got := s.Groups(); got != nil {
		t.Errorf("Join after Unregister: Groups() = %q; want nil", got)
	}
}

func TestJoinWhileClosingIsNoop(t *testing.T) {
	r := NewRegistry()
	s := r.Register(1, nopWriter{}, nil, nil)
	s.Close(nil)
	s.Join("g")
	if got := r.GroupLen("g"); got != 0 {
		t.Errorf("Join after Close: GroupLen(%q) = %d; want 0", "g", got)
	}
}

// TestConcurrentJoinUnregister races joins against Unregister: no membership
// may outlive the session.
func TestConcurrentJoinUnregister(t *testing.T) {
	groups := []string{"a", "b", "c", "d"}
	r := NewRegistry()
	for round := range 200 {
		s := r.Register(round%16, nopWriter{}, nil, nil)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for _, g := range groups {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				s.Join(g)
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r.Unregister(s)
		}()
		close(start)
		wg.Wait()
		if got := s.Groups(); got != nil {
			t.Fatalf("round %d: Groups() after Unregister = %q; want nil", round, got)
		}
	}
	for _, g := range groups {
		if got := r.GroupLen(g); got != 0 {
			t.Errorf("GroupLen(%q) = %d; want 0: a membership outlived its session", g, got)
		}
	}
}

func TestRangeGroupCallbackMayChangeGroups(t *testing.T) {
	r := NewRegistry()
	for fd := range 10 {
		r.Register(fd, nopWriter{}, nil, nil).Join("g")
	}
	visits := 0
	r.RangeGroup("g", func(s *Core) bool {
		visits++
		if s.FD()%2 == 0 {
			s.Leave("g")
		} else {
			r.Unregister(s)
		}
		s.Join("other") // allowed for the even ones, no-op for the closed ones
		return true
	})
	if visits != 10 {
		t.Errorf("RangeGroup visited %d members; want the 10 of its snapshot", visits)
	}
	if got := r.GroupLen("g"); got != 0 {
		t.Errorf("GroupLen(%q) = %d; want 0", "g", got)
	}
	if got, want := groupFDs(r, "other"), []int{0, 2, 4, 6, 8}; !slices.Equal(got, want) {
		t.Errorf("RangeGroup(%q) visited fds %v; want %v", "other", got, want)
	}
}

func TestZeroAllocs(t *testing.T) {
	r := NewRegistry()
	s := r.Register(7, nopWriter{}, nil, nil)
	for fd := range 100 {
		r.Register(1000+fd, nopWriter{}, nil, nil).Join("g")
	}
	id := s.ID()
	var sink *Core
	visits := 0
	r.RangeGroup("g", func(*Core) bool { return true }) // build the snapshot

	tests := []struct {
		name string
		fn   func()
	}{
		{name: "Get", fn: func() { sink = r.Get(id) }},
		{name: "Get stale", fn: func() { sink = r.Get(id + 1<<32) }},
		{name: "ByFD", fn: func() { sink = r.ByFD(7) }},
		{name: "CountIn", fn: func() { s.CountIn(1, 100) }},
		{name: "CountOut", fn: func() { s.CountOut(1, 100) }},
		{name: "RangeGroup", fn: func() {
			r.RangeGroup("g", func(*Core) bool { visits++; return true })
		}},
	}
	for _, tt := range tests {
		if allocs := testing.AllocsPerRun(1000, tt.fn); allocs != 0 {
			t.Errorf("%s: %v allocs per run; want 0", tt.name, allocs)
		}
	}
	if sink != s {
		t.Errorf("ByFD(7) = %p; want %p", sink, s)
	}
	if visits != 100*1001 {
		t.Errorf("RangeGroup visited %d members over 1001 runs; want %d", visits, 100*1001)
	}
}

func BenchmarkRegister(b *testing.B) {
	r := NewRegistry()
	b.ReportAllocs()
	for b.Loop() {
		r.Unregister(r.Register(7, nopWriter{}, nil, nil))
	}
}

func BenchmarkGet(b *testing.B) {
	r := NewRegistry()
	ids := make([]uint64, 1024)
	for fd := range ids {
		ids[fd] = r.Register(fd, nopWriter{}, nil, nil).ID()
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if r.Get(ids[i&1023]) == nil {
			b.Fatal("Get returned nil for a registered ID")
		}
		i++
	}
}

func BenchmarkGetParallel(b *testing.B) {
	r := NewRegistry()
	ids := make([]uint64, 1024)
	for fd := range ids {
		ids[fd] = r.Register(fd, nopWriter{}, nil, nil).ID()
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if r.Get(ids[i&1023]) == nil {
				b.Error("Get returned nil for a registered ID")
				return
			}
			i++
		}
	})
}

func BenchmarkRangeGroup(b *testing.B) {
	const members = 1000
	r := NewRegistry()
	for fd := range members {
		r.Register(fd, nopWriter{}, nil, nil).Join("room")
	}
	payload := []byte("fan-out")
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		r.RangeGroup("room", func(s *Core) bool {
			_ = s.Send(payload)
			n++
			return true
		})
		if n != members {
			b.Fatalf("RangeGroup visited %d members; want %d", n, members)
		}
	}
}
