package sess

import (
	"fmt"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// The fd table: numChunks top-level pointers to chunks of chunkSize slots,
// each chunk made when its first fd registers. It covers fds below
// tableFDs (1<<22); larger fds go to an overflow map.
const (
	chunkBits = 12
	chunkSize = 1 << chunkBits
	numChunks = 1 << 10
	tableFDs  = chunkSize * numChunks
)

// slot is the registry's entry for one fd. Once made, a slot is never freed,
// so its generation keeps counting across sessions on the fd.
type slot struct {
	gen  atomic.Uint32        // generation of the last session registered on the fd
	sess atomic.Pointer[Core] // the registered session, or nil
}

type chunk [chunkSize]slot

// Registry holds the registered sessions, indexed by fd, and their groups.
// All methods are safe for concurrent use; lookups (Get, ByFD, Range) take no
// lock.
//
// File descriptors below 1<<22 live in a table that grows by chunks without
// moving what readers see; larger fds, rare with ordinary limits, live in a
// sync.Map and cost more per lookup. Either way an fd's slot, with its
// generation counter, is kept for the registry's lifetime.
type Registry struct {
	n     atomic.Int64 // slots holding a session
	table [numChunks]atomic.Pointer[chunk]
	bigMu sync.Mutex
	big   map[int]*slot // guarded by bigMu: the slots of fds >= tableFDs

	gmu    sync.RWMutex
	groups map[string]*group // guarded by gmu; no empty group is kept

	hook func(group string, members int) // set before use by SetGroupHook; nil: none
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{groups: make(map[string]*group)}
}

// slot returns fd's slot, or nil if it was never made and create is false.
func (r *Registry) slot(fd int, create bool) *slot {
	if uint(fd) < tableFDs { // a negative fd converts to a huge uint
		i := fd >> chunkBits
		c := r.table[i].Load()
		if c == nil {
			if !create {
				return nil
			}
			if c = new(chunk); !r.table[i].CompareAndSwap(nil, c) {
				c = r.table[i].Load()
			}
		}
		return &c[fd&(chunkSize-1)]
	}
	r.bigMu.Lock()
	defer r.bigMu.Unlock()
	sl := r.big[fd]
	if sl == nil && create {
		if r.big == nil {
			r.big = make(map[int]*slot)
		}
		sl = new(slot)
		r.big[fd] = sl
	}
	return sl
}

// NewOuter, when set, makes the value a session's Core lives in and returns it
// with a pointer to that Core, which must be zero. Package session sets it in
// its init to make a session.Session, so a session costs one allocation and
// Core.Outer returns the *session.Session. Nil (a test of this package alone):
// Register allocates a bare Core.
var NewOuter func() (outer any, c *Core)

// CoreOf returns the Core held in outer, a value NewOuter made: package
// session sets it in its init, so that packages of this module above the
// engine reach a *session.Session's Core (its Owner).
var CoreOf func(outer any) *Core

// Register makes the session for a new connection on fd and returns it in
// StateConnecting. It bumps the fd slot's generation, so the new ID differs
// from that of every earlier session on the fd (until the 32-bit generation
// wraps, after 2^32 sessions on one fd). A session still in the slot, never
// unregistered, becomes stale: lookups no longer find it, and it must still be
// unregistered to leave its groups.
//
// Register is called by the transport, on event loops, several at once.
// It panics if fd is negative or does not fit in 32 bits.
func (r *Registry) Register(fd int, w Writer, local, remote net.Addr) *Core {
	if fd < 0 || uint64(fd) > math.MaxUint32 {
		panic(fmt.Sprintf("session: Register: fd %d out of range", fd))
	}
	sl := r.slot(fd, true)
	gen := sl.gen.Add(1)
	if gen == 0 { // wrapped: 0 would make ID 0 possible on fd 0
		gen = sl.gen.Add(1)
	}
	now := time.Now().UnixNano()
	var s *Core
	var outer any
	if NewOuter != nil {
		outer, s = NewOuter()
	} else {
		s = new(Core)
		outer = s
	}
	s.id = uint64(gen)<<32 | uint64(fd)
	s.outer = outer
	s.reg = r
	s.w = w
	s.local, s.remote = local, remote
	s.connectedAt = now
	s.lastActive.Store(now)
	if sl.sess.Swap(s) == nil {
		r.n.Add(1)
	}
	return s
}

// Unregister moves s to StateClosed, removes it from all its groups and frees
// its fd slot. If the slot already holds a newer session, that session is left
// alone. Unregister is idempotent and is called by the transport when the
// connection closes.
func (r *Registry) Unregister(s *Core) {
	s.mu.Lock()
	s.state.Store(uint32(StateClosed)) // under mu: no Join can follow
	groups := s.groups
	var counts []int
	if len(groups) > 0 {
		counts = r.leave(s, make([]int, 0, len(groups)), groups...)
		s.groups = nil
	}
	s.mu.Unlock()
	for i, g := range groups {
		r.changed(g, counts[i])
	}
	if sl := r.slot(s.FD(), false); sl != nil && sl.sess.CompareAndSwap(s, nil) {
		r.n.Add(-1)
	}
}

// Get returns the registered session with the given ID, or nil if there is
// none: unknown, unregistered, or stale (its fd now holds a newer session).
// It takes no lock and does not allocate.
func (r *Registry) Get(id uint64) *Core {
	sl := r.slot(int(uint32(id)), false)
	if sl == nil {
		return nil
	}
	if s := sl.sess.Load(); s != nil && s.id == id {
		return s
	}
	return nil
}

// ByFD returns the session registered on fd, or nil.
// It takes no lock and does not allocate.
func (r *Registry) ByFD(fd int) *Core {
	if sl := r.slot(fd, false); sl != nil {
		return sl.sess.Load()
	}
	return nil
}

// Len returns the number of registered sessions.
func (r *Registry) Len() int { return int(r.n.Load()) }

// Range calls fn for every registered session, in fd order for fds below
// 1<<22, until fn returns false. It takes no lock: fn may call any method,
// and sessions registered or unregistered during Range may or may not be
// visited.
func (r *Registry) Range(fn func(*Core) bool) {
	for i := range r.table {
		c := r.table[i].Load()
		if c == nil {
			continue
		}
		for j := range c {
			if s := c[j].sess.Load(); s != nil && !fn(s) {
				return
			}
		}
	}
	for _, s := range r.bigSessions() {
		if !fn(s) {
			return
		}
	}
}

// bigSessions returns the sessions on fds past the table, rare with ordinary
// fd limits; nil (no allocation) when there are none.
func (r *Registry) bigSessions() []*Core {
	r.bigMu.Lock()
	defer r.bigMu.Unlock()
	var out []*Core
	for _, sl := range r.big {
		if s := sl.sess.Load(); s != nil {
			out = append(out, s)
		}
	}
	return out
}
