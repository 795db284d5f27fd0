package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Reconnect is the backoff of a client that reconnects by itself (see
// WithReconnect). Attempt n waits Initial·Multiplier^(n-1), capped at Max,
// less a random part of up to Jitter of it, then dials. A zero field means its
// default.
type Reconnect struct {
	Initial     time.Duration // wait before the first attempt; default 100 ms
	Max         time.Duration // longest wait; default 10 s
	Multiplier  float64       // growth of the wait per attempt, at least 1; default 2
	Jitter      float64       // random fraction, 0..1, taken off each wait; default 0.2; negative: none
	MaxAttempts int           // attempts before giving up; default 0: never give up
	// RetryDial makes Dial (and NewPool) retry the first connection with this
	// backoff too, instead of failing at the first refusal. Default false.
	RetryDial bool
}

func (r Reconnect) withDefaults() Reconnect {
	if r.Initial <= 0 {
		r.Initial = 100 * time.Millisecond
	}
	if r.Max <= 0 {
		r.Max = 10 * time.Second
	}
	r.Max = max(r.Max, r.Initial)
	if r.Multiplier < 1 {
		r.Multiplier = 2
	}
	switch {
	case r.Jitter == 0:
		r.Jitter = 0.2 // clients that lost one server do not all come back at once
	case r.Jitter < 0:
		r.Jitter = 0
	}
	r.Jitter = min(r.Jitter, 1)
	r.MaxAttempts = max(r.MaxAttempts, 0)
	return r
}

// delay returns the wait before attempt n (from 1).
func (r Reconnect) delay(n int) time.Duration {
	d := min(float64(r.Initial)*math.Pow(r.Multiplier, float64(n-1)), float64(r.Max))
	d -= d * r.Jitter * rand.Float64()
	return time.Duration(d)
}

// ReconnectHandler is implemented by a client's Handler that wants to hear of
// reconnecting. Its methods run on the client's reconnect goroutine, not on
// an event loop; they may block, which delays the next attempt.
type ReconnectHandler interface {
	// OnReconnecting is called before attempt (from 1) starts to wait delay and
	// dial. lastErr is why the connection was lost (attempt 1) or why the
	// previous attempt failed.
	OnReconnecting(attempt int, delay time.Duration, lastErr error)
	// OnGiveUp is called once when the client stops after Reconnect.MaxAttempts
	// failed attempts. err wraps ErrGaveUp and the last attempt's error; if
	// messages were queued (WithSendQueue), it also wraps ErrSendsDropped and
	// says how many were discarded. The client is finished: Send and Request
	// fail with err, and a client made by Dial has stopped its event loop, so
	// a later Close has nothing left to release.
	OnGiveUp(err error)
}

// reconnect re-establishes a lost connection. It runs on its own goroutine,
// started by the loss, and ends when a connection is made, when the client is
// closed, or when it gives up.
func (cl *Client) reconnect(lastErr error) {
	rh, _ := cl.h.(ReconnectHandler)
	r := cl.rc
	for attempt := 1; ; attempt++ {
		if r.MaxAttempts > 0 && attempt > r.MaxAttempts {
			cl.giveUp(r.MaxAttempts, lastErr, rh)
			return
		}
		delay := r.delay(attempt)
		if cl.ctx.Err() != nil {
			return
		}
		if rh != nil {
			rh.OnReconnecting(attempt, delay, lastErr)
		}
		timer := time.NewTimer(delay)
		select {
		case <-timer.C:
		case <-cl.ctx.Done():
			timer.Stop()
			return
		}
		err := cl.connect(cl.ctx)
		if err == nil {
			if cl.pool != nil {
				cl.pool.replaced.Add(1)
			}
			return
		}
		if cl.ctx.Err() != nil {
			return
		}
		lastErr = err
	}
}

// giveUp ends a client whose reconnect attempts all failed.
func (cl *Client) giveUp(attempts int, lastErr error, rh ReconnectHandler) {
	err := fmt.Errorf("%w after %d attempts: %w", ErrGaveUp, attempts, lastErr)
	cl.mu.Lock()
	if cl.closed {
		cl.mu.Unlock()
		return
	}
	if n := len(cl.queue); n > 0 {
		err = fmt.Errorf("%w; %w: %d", err, ErrSendsDropped, n)
		cl.queue = nil
	}
	cl.dead = err
	cl.mu.Unlock()
	cl.cancel()
	if cl.owned {
		cl.loops.stop()
	}
	cl.t.o.logger.Warn("netsys: client gave up reconnecting", "addr", cl.addr, "err", err)
	if rh != nil {
		rh.OnGiveUp(err)
	}
}
