package bench

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// window is what both load generators (Load and LoadRequests) share: the
// run's clock, its warm-up and measured window, and its status reports.
type window struct {
	base   time.Time      // timestamps are nanoseconds since base, on the monotonic clock
	warmup time.Duration  // the configured warm-up
	status func(Progress) // the configured Status, or nil

	start     atomic.Int64 // when traffic began
	measStart atomic.Int64 // messages sent from here on are measured...
	measEnd   atomic.Int64 // ...up to here, when sending stops

	// Used by report only, on the run's goroutine.
	lastEchoes int64
	lastReport time.Time
	lastRate   float64
	lastPhase  Phase     // of the last Status call
	lastShown  time.Time // when it was made
}

func newWindow(warmup time.Duration, status func(Progress)) window {
	now := time.Now()
	return window{base: now, warmup: warmup, status: status, lastReport: now}
}

// now returns the time since w.base in nanoseconds.
func (w *window) now() int64 { return int64(time.Since(w.base)) }

// wait lets the warm-up and the measured window run, calling report at each
// change of phase and every statusEvery.
func (w *window) wait(ctx context.Context, report func(Phase)) error {
	tick := time.NewTicker(statusEvery)
	defer tick.Stop()
	phase := PhaseWarmup
	if w.warmup == 0 {
		phase = PhaseMeasure
	}
	report(phase)
	for {
		until := w.measEnd.Load()
		if phase == PhaseWarmup {
			until = w.measStart.Load()
		}
		timer := time.NewTimer(time.Duration(until - w.now()))
		select {
		case <-ctx.Done():
			timer.Stop()
			if phase == PhaseWarmup {
				return ctx.Err()
			}
			w.measEnd.Store(w.now())
			return nil
		case <-tick.C:
			report(phase)
		case <-timer.C:
			if phase == PhaseMeasure {
				return nil
			}
			phase = PhaseMeasure
			report(phase)
		}
		timer.Stop()
	}
}

// report calls the configured Status, if any, with the progress so far:
// conns connections open, and the tally and histogram gather returns.
func (w *window) report(phase Phase, conns int, gather func(bool) (tally, *hdrhistogram.Histogram)) {
	if w.status == nil {
		return
	}
	now := time.Now()
	if phase == w.lastPhase && now.Sub(w.lastShown) < statusEvery/2 {
		return // a tick right after the phase began: it would say the same
	}
	w.lastPhase, w.lastShown = phase, now
	p := Progress{Phase: phase, Elapsed: now.Sub(w.base), Conns: conns}
	switch phase { // the time in the phase, from its start on the run's clock
	case PhaseWarmup:
		p.Elapsed, p.Of = now.Sub(w.base.Add(time.Duration(w.start.Load()))), w.warmup
	case PhaseMeasure:
		p.Elapsed, p.Of = now.Sub(w.base.Add(time.Duration(w.measStart.Load()))), time.Duration(w.measEnd.Load()-w.measStart.Load())
	case PhaseDrain, PhaseDone:
		p.Elapsed = now.Sub(w.base.Add(time.Duration(w.measEnd.Load())))
	}
	p.Elapsed = max(p.Elapsed, 0)
	if phase != PhaseConnect {
		t, h := gather(true)
		// A report right after another (at a change of phase) repeats its
		// rate rather than divide by a tiny interval.
		if dt := now.Sub(w.lastReport); dt >= statusEvery/2 {
			w.lastRate = float64(t.echoes-w.lastEchoes) / dt.Seconds()
			w.lastEchoes, w.lastReport = t.echoes, now
		}
		p.Rate = w.lastRate
		p.P99 = float64(h.ValueAtQuantile(99))
		p.Messages = t.messages
		p.Errors = t.errs()
	} else {
		w.lastReport = now
	}
	w.status(p)
}

// result returns a Result carrying the final tally and histogram of the
// measured window (see Result.fill); the caller sets the configuration.
func (w *window) result(t tally, h *hdrhistogram.Histogram) Result {
	var res Result
	res.fill(t, h, w.base.Add(time.Duration(w.measStart.Load())), time.Duration(w.measEnd.Load()-w.measStart.Load()))
	return res
}
