package session

import "errors"

// ErrClosed is returned by Session.Send and Session.SendRaw once the session
// is closing or closed.
var ErrClosed = errors.New("session: closed")
