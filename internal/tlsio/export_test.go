package tlsio

// Residue reports what of the handshake's state a Conn still holds: the
// capacity of its input queue, and whether it still has a wake channel, a
// timer and an onDone callback.
func Residue(c *Conn) (inCap int, wake, timer, onDone bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return cap(c.m.in), c.m.wake != nil, c.timer != nil, c.onDone != nil
}
