// Package faulttest is the reliability suite of netsys: it runs a live
// engine.Server on loopback and attacks it with misbehaving peers (oversized
// and malformed frames, garbage on every codec, slowloris, slow consumers,
// connection floods, resets, half-closes, connect/disconnect churn, Stop under
// load, panicking handlers) while a small group of healthy clients exchange
// echo messages, verifying every byte. Each case asserts that the misbehaving
// session is closed with the right reason, that the healthy clients lose and
// corrupt nothing, and that goroutines and heap return to where they started.
//
// The package holds tests only. A fault case reads like this:
//
//	f := newFixture(t, defaultWire, nil, engine.WithIdleTimeout(150*time.Millisecond))
//	h := startHealthy(t, f, 4)                  // echo round trips in the background
//	bad := dial(t, f.addr)
//	write(t, bad, []byte{0, 0, 0, 9, 'x'})      // a partial frame, then silence
//	waitClosed(t, bad)
//	if err := f.rec.reason(t, bad); !errors.Is(err, engine.ErrIdleTimeout) { ... }
//	h.check(t)                                  // every round trip verified
//
// TestSoak runs only when NETSYS_SOAK holds a duration ("60s"; make soak sets
// it): mixed load, churn and faults at bounded rates, with the process's RSS,
// goroutines and open fds printed at the start and the end.
//
// # Concurrency
//
// Every case runs its server's handlers on the server's event loops, its
// healthy clients and attackers on goroutines of their own, and waits on
// conditions with a deadline (nettest.Eventually), never on a sleep. Cases do
// not run in parallel: each measures the process's goroutines and heap.
package faulttest
