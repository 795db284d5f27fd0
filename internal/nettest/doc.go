// Package nettest is the loopback test harness of netsys: a framed client
// over a plain net.Conn, a handler that records events for assertions, and
// condition waits with deadlines (tests never sleep to synchronise).
//
// It is internal: only netsys's own tests use it.
package nettest
