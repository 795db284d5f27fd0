// Package tlsio runs the standard crypto/tls, unforked, on an event loop that
// must never block: each connection is a tls.Conn over an in-memory net.Conn
// that the loop feeds with the ciphertext it read and that hands the records
// crypto/tls writes to a callback.
//
//	socket bytes --Feed--> memConn.Read --> tls.Conn.Read --> plaintext
//	Write --> tls.Conn.Write --> memConn.Write --> out(records)
//
// After the handshake, a read that finds no more bytes returns a temporary
// net.Error; crypto/tls keeps the partial record and resumes on the next
// Feed (TestPinTemporaryResume pins it for TLS 1.2 and 1.3, at every split
// point). The handshake cannot resume after "would block", so it runs on a
// goroutine of a [Handshaker]: at most Config.MaxHandshakes at once, at most
// Config.MaxQueue more waiting in order, the rest refused with [ErrBusy];
// each bounded by Config.HandshakeTimeout from Start.
//
// # Life of a connection
//
//	h := tlsio.NewHandshaker(tlsio.Config{})       // one per server
//	c := tlsio.NewServer(cfg, appendToOutbound)    // on open
//	err := c.Start(h, func(st tls.ConnectionState, err error) {
//		wakeLoop(session, st, err) // never blocks, never calls c
//	})
//	// on the loop, for each read while handshaking: c.Feed(b) buffers, returns (nil, nil)
//	// on the loop, when the wake-up says success:
//	runOnConnect(st)
//	pt, err := c.Activate() // plaintext that came with the client's Finished
//	// on the loop, for each read afterwards:
//	pt, err = c.Feed(b)     // or FeedAppend(dst, b); decode pt, then look at err
//	// to send: c.Write(payload) calls appendToOutbound with the records
//	// to close: c.CloseNotify() (optional), flush, close the socket, c.Close()
//
// # Concurrency
//
// A Conn belongs to its event loop: Feed, FeedAppend, Activate, Write,
// CloseNotify and Close are called there, one at a time. The only other
// goroutines are the handshake's: it calls out while the handshake runs, then
// onDone once; Feed (buffering) and Close may run concurrently with it. After
// onDone, out is called only from the loop's own calls. A Handshaker is safe
// for concurrent use.
//
// # Allocation
//
// Write allocates nothing. crypto/tls allocates 24 bytes each time it refills
// its record buffer from the net.Conn: once per Feed of whole records that
// fit in its buffer, one more when a Feed ends inside a record (see
// TestFeedAllocs). Feed itself allocates only to grow its plaintext buffer.
package tlsio
