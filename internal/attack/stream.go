package main

import (
	"fmt"
	"net"
	"sync"
	"time"
)

// drain reads c until the stream ends or no byte comes for idle, counting
// frames; it paces its reads (chunk bytes, then a sleep of every) when every
// is positive, and stops at stop when that is set.
func drain(c net.Conn, fc *frameCounter, chunk int, every, idle time.Duration, stop time.Time) string {
	buf := make([]byte, chunk)
	for {
		dl := time.Now().Add(idle)
		if !stop.IsZero() && stop.Before(dl) {
			dl = stop
		}
		if err := c.SetReadDeadline(dl); err != nil {
			return endKind(err)
		}
		n, err := c.Read(buf)
		fc.feed(buf[:n])
		if err != nil {
			return endKind(err)
		}
		if every > 0 {
			time.Sleep(every)
		}
	}
}

// halfCloseTrial sends frames, shuts down its write side, waits pause and
// then reads every reply: the frames it got, partial bytes and the end.
func halfCloseTrial(addr string, out []byte, pause time.Duration) (frameCounter, string, error) {
	var fc frameCounter
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return fc, "", err
	}
	defer c.Close()
	if err := c.SetWriteDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return fc, "", err
	}
	if _, err := c.Write(out); err != nil {
		return fc, "", fmt.Errorf("write: %w", err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return fc, "", err
	}
	time.Sleep(pause)
	end := drain(c, &fc, 64<<10, 0, 3*time.Second, time.Time{})
	return fc, end, nil
}

// halfClose runs halfCloseTrial T times. A trial is whole when every reply
// came and then a clean EOF; cut when the stream ended cleanly short of that
// (the fault); reset when the server reset it.
func halfClose(cfg config, r *report) error {
	out := frames(cfg.frames, cfg.size)
	r.add("frames_sent", cfg.frames)
	r.add("frame_size", cfg.size)
	r.add("pause_ms", ms(cfg.pause))
	counts := map[string]int{}
	for i := range cfg.trials {
		fc, end, err := halfCloseTrial(cfg.addr, out, cfg.pause)
		if err != nil {
			return fmt.Errorf("trial %d: %w", i+1, err)
		}
		verdict := end
		switch {
		case end == "eof" && fc.frames == cfg.frames && fc.partial() == 0:
			verdict = "whole"
		case end == "eof":
			verdict = "cut"
		}
		counts[verdict]++
		r.add(fmt.Sprintf("trial_%d", i+1), fmt.Sprintf("frames=%d partial_bytes=%d end=%s", fc.frames, fc.partial(), end))
	}
	r.add("trials", cfg.trials)
	for _, k := range []string{"whole", "cut", "reset", "timeout"} {
		r.add("trials_"+k, counts[k])
	}
	r.summary = fmt.Sprintf("%d of %d trials whole; %d cut short then a clean EOF; %d reset; %d timed out",
		counts["whole"], cfg.trials, counts["cut"], counts["reset"], counts["timeout"])
	return nil
}

// peerLinger sends out, half-closes and reads slowly (4 KiB every 20 ms)
// until the stream ends or stop; it returns how it ended.
func peerLinger(addr string, out []byte, stop time.Time, fc *frameCounter) string {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return "dial " + endKind(err)
	}
	defer c.Close()
	_ = c.SetWriteDeadline(stop)
	if _, err := c.Write(out); err != nil {
		return "write " + endKind(err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return "shutdown " + endKind(err)
	}
	return drain(c, fc, 4096, 20*time.Millisecond, 5*time.Second, stop)
}

// linger measures a canary's round trips (every 10 ms) alone for -baseline,
// then while P peers each send their frames, half-close and read slowly
// (4 KiB every 20 ms) for -hold. Run the server with -loops 1 so that every
// session shares the canary's loop.
func linger(cfg config, r *report) error {
	k, err := startCanary(cfg.addr, 10*time.Millisecond)
	if err != nil {
		return fmt.Errorf("canary: %w", err)
	}
	defer k.close()
	time.Sleep(cfg.baseline)
	base, _ := k.take()

	out := frames(cfg.frames, cfg.size)
	stop := time.Now().Add(cfg.hold)
	var mu sync.Mutex
	ends := map[string]int{}
	got := 0
	var wg sync.WaitGroup
	for range cfg.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var fc frameCounter
			end := peerLinger(cfg.addr, out, stop, &fc)
			if end == "eof" && fc.frames == cfg.frames {
				end = "whole"
			} else if end == "eof" {
				end = "cut"
			}
			mu.Lock()
			ends[end]++
			got += fc.frames
			mu.Unlock()
		}()
	}
	wg.Wait()
	during, canaryErr := k.take()

	r.add("peers", cfg.conns)
	r.add("frames_per_peer", cfg.frames)
	bl := addLatency(r, "baseline", base)
	dl := addLatency(r, "attack", during)
	r.add("canary_error", errText(canaryErr))
	r.add("peer_frames_received", got)
	for _, e := range []string{"whole", "cut", "reset", "timeout"} {
		r.add("peers_"+e, ends[e])
		delete(ends, e)
	}
	for e, n := range ends {
		r.add("peers_other", fmt.Sprintf("%d (%s)", n, e))
	}
	r.summary = fmt.Sprintf("canary p99 %.2f ms (max %.2f) during %d lingering peers, against %.2f ms (max %.2f) alone",
		ms(dl.p99), ms(dl.max), cfg.conns, ms(bl.p99), ms(bl.max))
	return nil
}
