package engine

import (
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netsys-go/netsys/internal/sess"
	"github.com/netsys-go/netsys/metrics"
)

// budget is a server's (or client's) memory budget for bytes it buffers for
// peers: partial inbound frames and outbound bytes the sockets have not
// taken. Sessions add and remove what they hold; a session that would take
// the total over the limit while holding a large share itself is refused
// (and closed with ErrMemoryLimit), and if small holdings take it over the
// limit all the same, the sessions holding the most are closed until it fits
// again. A session holding less than bigHolding is never refused below the
// hard cap (the limit plus a sixteenth), so sessions of small messages keep
// working while an attack is turned away.
type budget struct {
	t     *transport
	limit int64
	used  atomic.Int64

	reclaiming atomic.Bool // a reclaim is under way
	freedBig   atomic.Int64
	mu         sync.Mutex
	lastFree   time.Time   // guarded by mu: when the runtime was last told to return memory
	freeTimer  *time.Timer // guarded by mu: a FreeOSMemory on its way, or nil
}

// bigHolding is what a session may hold before it can be refused at the limit.
const bigHolding = 64 << 10

func newBudget(t *transport, limit int64) *budget {
	return &budget{t: t, limit: limit}
}

// add changes what is held by d bytes, on behalf of a session that would then
// hold held bytes, and reports whether that fits: false when the total passes
// the limit and the session holds a large share, or the total passes the hard
// cap. The change is made either way; the caller undoes it or closes the
// session.
func (b *budget) add(d, held int64) bool {
	used := b.used.Add(d)
	if d <= 0 || used <= b.limit {
		return true
	}
	if held >= bigHolding || used > b.limit+b.limit/16 {
		return false
	}
	b.reclaim()
	return true
}

// reclaim closes the sessions that hold the most until what they hold
// brings the total back under the limit. It runs on its own goroutine, one
// at a time.
func (b *budget) reclaim() {
	if !b.reclaiming.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer b.reclaiming.Store(false)
		type holder struct {
			c    *conn
			held int64
		}
		var hs []holder
		b.t.rangeConns(func(_ *sess.Core, c *conn) bool {
			if h := c.holding(); h >= bigHolding {
				hs = append(hs, holder{c, h})
			}
			return true
		})
		over := b.used.Load() - b.limit
		for over > 0 && len(hs) > 0 {
			top := 0
			for i := range hs {
				if hs[i].held > hs[top].held {
					top = i
				}
			}
			h := hs[top]
			hs[top] = hs[len(hs)-1]
			hs = hs[:len(hs)-1]
			h.c.fail(fmt.Errorf("%w: holding %d bytes, the largest share", ErrMemoryLimit, h.held), metrics.MemoryLimit)
			over -= h.held
		}
	}()
}

// freed notes that n bytes of large buffers went back to the garbage
// collector. Once 64 MiB have, the runtime is asked to return the memory to
// the operating system, a second later (so that one call covers a whole wave
// of closes) and at most once every 5 s: after an attack the heap would
// otherwise stay at its peak until the next GC cycle, which may be long in
// coming on a server at rest.
func (b *budget) freed(n int64) {
	if b.freedBig.Add(n) < 64<<20 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.freeTimer != nil {
		return // one is on its way and will cover these too
	}
	wait := max(time.Second, 5*time.Second-time.Since(b.lastFree))
	b.freeTimer = time.AfterFunc(wait, func() {
		b.freedBig.Store(0)
		debug.FreeOSMemory()
		b.mu.Lock()
		b.lastFree, b.freeTimer = time.Now(), nil
		b.mu.Unlock()
	})
}

// holding returns what c holds in the budget, as its loop last counted it.
func (c *conn) holding() int64 { return c.unsent.Load() + c.partBytes.Load() }

// DefaultMemoryLimit returns the memory budget a server or client gets when
// WithMemoryLimit is not given: a sixteenth of the machine's physical memory,
// at least 64 MiB and at most 2 GiB, or a quarter of the Go memory limit
// (GOMEMLIMIT, debug.SetMemoryLimit) if that is lower.
func DefaultMemoryLimit() int64 {
	limit := int64(2 << 30)
	if ram := physicalMemory(); ram > 0 {
		limit = min(limit, ram/16)
	}
	if gl := debug.SetMemoryLimit(-1); gl > 0 && gl < 1<<62 {
		limit = min(limit, gl/4)
	}
	return max(limit, 64<<20)
}
