package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/netsys-go/netsys/envelope"
)

// MaxRequestBody is the largest body LoadRequests sends: the envelope's
// default body limit.
const MaxRequestBody = envelope.DefaultMaxBodySize

// MinRequestBody is the smallest body LoadRequests sends.
const MinRequestBody = 1

// RequestLoadConfig describes a request/reply load run against an envelope
// echo server (`echo serve -envelope`, which answers each request with its
// body). The zero value of each field means its default, given in its
// comment.
type RequestLoadConfig struct {
	Name    string // copied to Result.Name; default "requests"
	Addr    string // host:port of the server; required
	Conns   int    // connections; default 1
	Payload int    // body bytes per request, MinRequestBody to MaxRequestBody; default 64
	// Requests is the requests in flight per connection, kept so by sending
	// the next one from each answer's callback. Default 1.
	Requests int
	Warmup   time.Duration // traffic before the measured window, checked but not measured; default none
	Duration time.Duration // the measured window; default 10s
	// Status, if not nil, is called about once a second and at each change
	// of phase, on the goroutine that called LoadRequests. Default nil.
	Status func(Progress)
}

// withDefaults validates c and fills in its defaults.
func (c RequestLoadConfig) withDefaults() (RequestLoadConfig, error) {
	if c.Name == "" {
		c.Name = "requests"
	}
	if c.Conns == 0 {
		c.Conns = 1
	}
	if c.Payload == 0 {
		c.Payload = 64
	}
	if c.Requests == 0 {
		c.Requests = 1
	}
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	switch {
	case c.Addr == "":
		return c, fmt.Errorf("%w: no address", ErrConfig)
	case c.Conns < 0:
		return c, fmt.Errorf("%w: Conns %d: want 1 or more", ErrConfig, c.Conns)
	case c.Requests < 0:
		return c, fmt.Errorf("%w: Requests %d: want 1 or more", ErrConfig, c.Requests)
	case c.Warmup < 0:
		return c, fmt.Errorf("%w: Warmup %v: want 0 or more", ErrConfig, c.Warmup)
	case c.Duration < 0:
		return c, fmt.Errorf("%w: Duration %v: want more than 0", ErrConfig, c.Duration)
	case c.Payload < MinRequestBody || c.Payload > MaxRequestBody:
		return c, fmt.Errorf("%w: body of %d bytes; want %d to %d", ErrConfig, c.Payload, MinRequestBody, MaxRequestBody)
	}
	return c, nil
}

// LoadRequests drives request/reply load against the envelope echo server
// at cfg.Addr and returns what it measured, in the Result that Load returns:
// Messages counts the answers to requests sent in the measured window,
// InFlight is cfg.Requests. It runs on Load's gnet loops, speaking the
// envelope's wire format (docs/wire-format.md) as lean as Load speaks the
// plain one, so that comparing the two measures the server: each connection
// sends its hello, then cfg.Requests requests with IDs 1 to cfg.Requests,
// and answers each reply by sending the next request under the ID just
// freed. Every answer is matched by its ID and checked byte for byte against
// the body sent; an error reply, or an answer to an ID not in flight, counts
// as a mismatch, and a frame that is not an envelope frame (or a first frame
// that is not a hello of this version) as rejected, closing the connection.
//
// Cancelling ctx during the measured window ends it early and LoadRequests
// still returns the result; cancelling it before returns ctx's error. A
// connection that cannot be opened fails the run with an error wrapping
// ErrConnect.
func LoadRequests(ctx context.Context, cfg RequestLoadConfig) (Result, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Result{}, err
	}
	return load(ctx, LoadConfig{
		Name: cfg.Name, Addr: cfg.Addr, Conns: cfg.Conns, Payload: cfg.Payload, InFlight: cfg.Requests,
		Warmup: cfg.Warmup, Duration: cfg.Duration, Status: cfg.Status,
	}, true)
}

// reqSlot is the request in flight under one ID of a connection.
type reqSlot struct {
	sent int64  // send time
	seq  uint64 // the payload's sequence number
	busy bool   // in flight
}

// appendHello appends the generator's hello frame: this version, no
// features (bodies go as they are, as in the plain echo).
func appendHello(out []byte) []byte {
	return appendFrame(out, envelope.AppendHello(nil, envelope.Hello{Version: envelope.Version}))
}

// appendFrame appends frame with the default codec's 4-byte length.
func appendFrame(out, frame []byte) []byte {
	out = binary.BigEndian.AppendUint32(out, uint32(len(frame)))
	return append(out, frame...)
}

// appendRequest appends c's next request, under ID id, and marks it in
// flight from ts.
func (l *loop) appendRequest(out []byte, c *conn, id int, ts int64) []byte {
	start := len(out)
	out = append(out, 0, 0, 0, 0)
	out = envelope.AppendHeader(out, envelope.Header{Kind: envelope.KindRequest, ID: uint32(id)})
	out = l.r.payloads.append(out, c.id, c.sendSeq)
	binary.BigEndian.PutUint32(out[start:], uint32(len(out)-start-4))
	c.req[id-1] = reqSlot{sent: ts, seq: c.sendSeq, busy: true}
	c.sendSeq++
	c.reqs++
	l.tally.outstanding++
	return out
}

// answer takes one frame from the server: its hello first, then answers.
// It returns the ID an answer freed (0 for the hello, or an answer to no
// request of c's), and false if the frame is not an envelope frame, or the
// first is not a hello of this version: the stream is unusable.
func (l *loop) answer(c *conn, frame []byte, now int64) (int, bool) {
	h, body, err := envelope.ParseHeader(frame)
	if err != nil {
		return 0, false
	}
	if !c.helloSeen {
		hello, err := envelope.ParseHello(body)
		if h.Kind != envelope.KindHello || err != nil || hello.Version != envelope.Version {
			return 0, false
		}
		c.helloSeen = true
		return 0, true
	}
	l.tally.echoes++
	c.echoed = true
	id := int(h.ID)
	if (h.Kind != envelope.KindReply && h.Kind != envelope.KindError) || id == 0 || id > len(c.req) || !c.req[id-1].busy {
		l.tally.mismatches++
		return 0, true
	}
	s := &c.req[id-1]
	s.busy = false
	c.reqs--
	l.tally.outstanding--
	switch {
	case h.Kind == envelope.KindError || h.Compressed || !l.r.payloads.check(body, c.id, s.seq):
		l.tally.mismatches++
	case s.sent >= l.r.measStart.Load() && s.sent < l.r.measEnd.Load():
		_ = l.hist.RecordValue(min((now-s.sent)/1e3, histMaxMicros)) // cannot fail: 0 <= value <= the maximum
		l.tally.messages++
		l.tally.bytes += int64(len(body))
	}
	return id, true
}
