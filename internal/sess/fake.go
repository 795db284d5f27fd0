package sess

// Connected registers a session on fd, with w as its Writer, in a registry of
// its own and moves it to StateConnected: for tests of packages above the
// engine that need a session without a transport. With package session linked
// in, Outer returns it as a *session.Session.
func Connected(fd int, w Writer) *Core {
	c := NewRegistry().Register(fd, w, nil, nil)
	c.SetState(StateConnected)
	return c
}
