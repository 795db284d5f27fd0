// Package testmsg holds msgp-generated message types for the envelope's
// tests and benchmarks. The limit directive at the top of testmsg.go bounds
// every array, bin and map header its decoders accept, so a header cannot
// make them allocate whatever length it claims.
//
//	var v testmsg.Echo
//	_, err := v.UnmarshalMsg(body) // msgp.ErrLimitExceeded past the limits
//
// Concurrency: plain values; a value is not safe for concurrent use.
package testmsg
