package sess

import "sync/atomic"

// group is a set of sessions. Its members map is guarded by Registry.gmu.
type group struct {
	members map[*Core]struct{}
	// snap holds the members as a slice for RangeGroup; a change sets it to
	// nil and the next RangeGroup rebuilds it. Written only under gmu (read
	// or write lock), so a stale slice is never stored after a change.
	snap atomic.Pointer[[]*Core]
}

// join adds s to the named group and returns its new member count.
// Called with s.mu held.
func (r *Registry) join(s *Core, name string) int {
	r.gmu.Lock()
	defer r.gmu.Unlock()
	g := r.groups[name]
	if g == nil {
		g = &group{members: make(map[*Core]struct{})}
		r.groups[name] = g
	}
	g.members[s] = struct{}{}
	g.snap.Store(nil)
	return len(g.members)
}

// leave removes s from the named groups and deletes those left empty. It
// appends each group's new member count to counts and returns it. Called
// with s.mu held.
func (r *Registry) leave(s *Core, counts []int, names ...string) []int {
	r.gmu.Lock()
	defer r.gmu.Unlock()
	for _, name := range names {
		g := r.groups[name]
		if g == nil {
			counts = append(counts, 0)
			continue
		}
		delete(g.members, s)
		g.snap.Store(nil)
		if len(g.members) == 0 {
			delete(r.groups, name)
		}
		counts = append(counts, len(g.members))
	}
	return counts
}

// changed tells the group hook, if any, that group now has members members.
// Called with no lock held.
func (r *Registry) changed(group string, members int) {
	if r.hook != nil {
		r.hook(group, members)
	}
}

// SetGroupHook makes r call fn after each Join or Leave that changed a
// group's membership, and for each group a session leaves when it is
// unregistered, with the group's member count after the change (0: the group
// is gone). fn runs on the goroutine that made the change, with no lock held;
// calls for one group made by different goroutines may arrive out of order,
// so a hook that keeps state per group reads GroupLen again. Set it before
// any session registers.
func (r *Registry) SetGroupHook(fn func(group string, members int)) { r.hook = fn }

// Groups returns the names of the groups that have members, in no particular
// order, as a new slice the caller owns.
func (r *Registry) Groups() []string {
	r.gmu.RLock()
	defer r.gmu.RUnlock()
	out := make([]string, 0, len(r.groups))
	for name := range r.groups {
		out = append(out, name)
	}
	return out
}

// Members returns the named group's members, in no particular order, as a
// snapshot shared with other callers: it must not be modified, and stays
// valid (as a snapshot) for as long as it is held. It does not allocate unless
// the membership changed since the group's previous snapshot.
func (r *Registry) Members(name string) []*Core {
	r.gmu.RLock()
	defer r.gmu.RUnlock()
	g := r.groups[name]
	if g == nil {
		return nil
	}
	if p := g.snap.Load(); p != nil {
		return *p
	}
	m := make([]*Core, 0, len(g.members))
	for s := range g.members {
		m = append(m, s)
	}
	g.snap.Store(&m)
	return m
}

// RangeGroup calls fn for each member of group, in no particular order, until
// fn returns false. It iterates over a snapshot of the members taken when it
// is called and holds no lock while fn runs, so fn may call any method,
// including Join, Leave and Unregister; a session that leaves the group
// during the iteration may still be visited. It does not allocate unless the
// membership changed since the previous RangeGroup on the group, in which case
// it builds one new snapshot.
func (r *Registry) RangeGroup(group string, fn func(*Core) bool) {
	for _, s := range r.Members(group) {
		if !fn(s) {
			return
		}
	}
}

// GroupLen returns the number of members of group; 0 if it does not exist.
func (r *Registry) GroupLen(group string) int {
	r.gmu.RLock()
	defer r.gmu.RUnlock()
	if g := r.groups[group]; g != nil {
		return len(g.members)
	}
	return 0
}
