package engine

import (
	"fmt"

	"github.com/netsys-go/netsys/internal/sess"
	"github.com/netsys-go/netsys/session"
)

// GroupLen returns the number of sessions in group; 0 if it has none.
func (s *Server) GroupLen(group string) int { return s.t.reg.GroupLen(group) }

// GroupMembers returns the sessions in group, in no particular order, as a new
// slice the caller owns; nil if the group has none. RangeGroup visits them
// without copying.
func (s *Server) GroupMembers(group string) []*session.Session {
	members := s.t.reg.Members(group)
	if len(members) == 0 {
		return nil
	}
	out := make([]*session.Session, len(members))
	for i, x := range members {
		out[i] = sessionOf(x)
	}
	return out
}

// RangeGroup calls fn for each session in group, in no particular order,
// until fn returns false. It walks a snapshot taken when it is called and
// holds no lock while fn runs, so fn may send, join, leave or close; it does
// not allocate unless the membership changed since the group was last walked.
func (s *Server) RangeGroup(group string, fn func(*session.Session) bool) {
	for _, x := range s.t.reg.Members(group) {
		if !fn(sessionOf(x)) {
			return
		}
	}
}

// Groups returns the names of the groups that have members, in no particular
// order.
func (s *Server) Groups() []string { return s.t.reg.Groups() }

// Join adds the session with this ID to group. It returns ErrUnknownSession
// if no open session has the ID (it closed, or the ID is stale).
func (s *Server) Join(id uint64, group string) error {
	x, err := s.lookup(id)
	if err == nil {
		x.Join(group)
	}
	return err
}

// Leave removes the session with this ID from group. It returns
// ErrUnknownSession if no open session has the ID.
func (s *Server) Leave(id uint64, group string) error {
	x, err := s.lookup(id)
	if err == nil {
		x.Leave(group)
	}
	return err
}

// Send frames payload and queues it to the session with this ID, like
// Session.Send. It returns ErrUnknownSession if no open session has the ID,
// and session.ErrClosed if it is closing.
func (s *Server) Send(id uint64, payload []byte) error {
	x, err := s.lookup(id)
	if err != nil {
		return err
	}
	return x.Send(payload)
}

func (s *Server) lookup(id uint64) (*sess.Core, error) {
	if x := s.t.reg.Get(id); x != nil {
		return x, nil
	}
	return nil, fmt.Errorf("%w: %#x", ErrUnknownSession, id)
}
