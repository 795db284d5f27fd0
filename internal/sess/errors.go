package sess

import "errors"

// ErrClosed is returned by Core.Send, Reply and SendRaw once the session is
// closing or closed. Package session sets it to session.ErrClosed in its init,
// so that both name one value.
var ErrClosed = errors.New("session: closed")
