package envelope

// callTable holds a peer's requests in flight by ID: a power-of-two array
// indexed by the ID's low bits. nextID only gives out IDs whose slot is free,
// and the table stays at most half full, so a lookup is one index and one
// compare, and a round trip churns no map (Go re-seeds a map that empties,
// which a window of one request does every time). It grows by doubling and
// never shrinks; a peer that sends no request never allocates it. Guarded by
// Peer.mu.
type callTable struct {
	slots []callSlot
	n     int // requests in flight
}

// callSlot is one request in flight, or a free slot (c nil).
type callSlot struct {
	id uint32
	c  *call
}

// get returns the request in flight under id, or nil.
func (t *callTable) get(id uint32) *call {
	if len(t.slots) == 0 {
		return nil
	}
	if s := &t.slots[id&uint32(len(t.slots)-1)]; s.id == id {
		return s.c
	}
	return nil
}

// free reports whether id's slot is free, so that id may be given out.
// Called after reserve.
func (t *callTable) free(id uint32) bool { return t.slots[id&uint32(len(t.slots)-1)].c == nil }

// reserve makes room for one more request, keeping the table at most half full.
func (t *callTable) reserve() {
	if 2*(t.n+1) <= len(t.slots) {
		return
	}
	old := t.slots
	t.slots = make([]callSlot, max(8, 2*len(old)))
	mask := uint32(len(t.slots) - 1)
	for _, s := range old {
		if s.c != nil { // IDs apart in fewer low bits are apart in more
			t.slots[s.id&mask] = s
		}
	}
}

// put records c under id, whose slot is free (reserve, then nextID).
func (t *callTable) put(id uint32, c *call) {
	t.slots[id&uint32(len(t.slots)-1)] = callSlot{id: id, c: c}
	t.n++
}

// remove frees id's slot if the request under id is in flight, and returns it.
func (t *callTable) remove(id uint32) *call {
	c := t.get(id)
	if c != nil {
		t.slots[id&uint32(len(t.slots)-1)].c = nil
		t.n--
	}
	return c
}

// takeAll empties the table and returns the requests that were in flight.
func (t *callTable) takeAll() []*call {
	var all []*call
	for i := range t.slots {
		if c := t.slots[i].c; c != nil {
			all = append(all, c)
			t.slots[i].c = nil
		}
	}
	t.n = 0
	return all
}
