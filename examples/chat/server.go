package chat

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/netsys-go/netsys/engine"
	"github.com/netsys-go/netsys/envelope"
	"github.com/netsys-go/netsys/envelope/msgpser"
	"github.com/netsys-go/netsys/session"
)

// ErrNoSuchUser is returned by Server.Status for a name no session uses.
var ErrNoSuchUser = errors.New("chat: no such user")

// Server is a chat server: rooms of named sessions on an envelope server.
type Server struct {
	srv *engine.Server

	mu    sync.Mutex
	rooms map[string]map[string]bool // guarded by mu: room -> member names
	users map[string]*envelope.Peer  // guarded by mu: name -> its peer
}

// nameKey is the session data key of a session's name.
const nameKey = "chat.name"

// NewServer returns a chat server; opts go to envelope.NewServerHandler and
// eopts to engine.NewServer.
func NewServer(opts []envelope.Option, eopts ...engine.Option) (*Server, error) {
	s := &Server{rooms: make(map[string]map[string]bool), users: make(map[string]*envelope.Peer)}
	r := envelope.NewRouter(msgpser.Serializer{})
	envelope.Handle(r, TypeJoin, s.join)
	envelope.Handle(r, TypeLeave, s.leave)
	envelope.Handle(r, TypeSay, s.say)
	envelope.Handle(r, TypeWho, s.who)
	h := envelope.NewServerHandler(r, append(opts[:len(opts):len(opts)], envelope.OnDisconnect(s.gone))...)
	srv, err := engine.NewServer(h, eopts...)
	if err != nil {
		return nil, err
	}
	s.srv = srv
	return s, nil
}

// Start listens on addr; see engine.Server.Start.
func (s *Server) Start(addr string) error { return s.srv.Start(addr) }

// Addr returns the address the server listens on.
func (s *Server) Addr() string { return s.srv.Addr().String() }

// Stop stops the server; see engine.Server.Stop.
func (s *Server) Stop(ctx context.Context) error { return s.srv.Stop(ctx) }

// Status asks the client of user name for its status line: a request from
// the server to a client.
func (s *Server) Status(ctx context.Context, name string) (string, error) {
	s.mu.Lock()
	p := s.users[name]
	s.mu.Unlock()
	if p == nil {
		return "", fmt.Errorf("%w: %q", ErrNoSuchUser, name)
	}
	var st StatusReply
	if err := p.Call(ctx, TypeStatus, &Status{}, &st); err != nil {
		return "", err
	}
	return st.Text, nil
}

func nameOf(sess *session.Session) string {
	v, _ := sess.Get(nameKey)
	n, _ := v.(string)
	return n
}

func (s *Server) join(m *envelope.Msg, v *Join) {
	sess := m.Session()
	name := nameOf(sess)
	s.mu.Lock()
	if name == "" {
		if v.Name == "" || s.users[v.Name] != nil {
			s.mu.Unlock()
			_ = m.Error(CodeNameTaken, fmt.Sprintf("name %q is taken", v.Name))
			return
		}
		name = v.Name
		sess.Set(nameKey, name)
		s.users[name] = m.Peer()
	}
	room := s.rooms[v.Room]
	if room == nil {
		room = make(map[string]bool)
		s.rooms[v.Room] = room
	}
	room[name] = true
	members := Members{Names: sortedNames(room)}
	s.mu.Unlock()
	sess.Join(group(v.Room))
	_ = m.ReplyValue(&members)
}

func (s *Server) leave(m *envelope.Msg, v *Leave) {
	m.Session().Leave(group(v.Room))
	s.mu.Lock()
	s.removeLocked(v.Room, nameOf(m.Session()))
	s.mu.Unlock()
	_ = m.Reply(nil)
}

// say pushes the line to the room's members, if the speaker is one: one
// frame, built once, sent to the whole group.
func (s *Server) say(m *envelope.Msg, v *Say) {
	name := nameOf(m.Session())
	s.mu.Lock()
	in := s.rooms[v.Room][name]
	s.mu.Unlock()
	if !in {
		return
	}
	frame := envelope.AppendHeader(nil, envelope.Header{Kind: envelope.KindMessage, Typed: true, Type: TypeSaid})
	frame, err := Said{Room: v.Room, From: name, Text: v.Text}.MarshalMsg(frame)
	if err == nil {
		_, _ = s.srv.BroadcastGroup(group(v.Room), frame)
	}
}

func (s *Server) who(m *envelope.Msg, v *Who) {
	s.mu.Lock()
	members := Members{Names: sortedNames(s.rooms[v.Room])}
	s.mu.Unlock()
	_ = m.ReplyValue(&members)
}

// gone removes a closed session's user from every room.
func (s *Server) gone(p *envelope.Peer, _ error) {
	name := nameOf(p.Session())
	if name == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.users[name] == p {
		delete(s.users, name)
	}
	for room := range s.rooms {
		s.removeLocked(room, name)
	}
}

func (s *Server) removeLocked(room, name string) {
	members := s.rooms[room]
	delete(members, name)
	if len(members) == 0 {
		delete(s.rooms, room)
	}
}

func group(room string) string { return "room:" + room }

func sortedNames(members map[string]bool) []string {
	names := make([]string, 0, len(members))
	for n := range members {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
