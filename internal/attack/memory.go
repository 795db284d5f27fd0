package main

import (
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// sendLimit bounds partial's sending: connections not opened by then are
// not opened, and a write still blocked then (the server stopped reading)
// counts as blocked.
const sendLimit = 30 * time.Second

// sendWorkers bounds the goroutines that dial and write in partial.
const sendWorkers = 32

// partial opens C connections that each send the header of a frame of
// -frame-size bytes and all of it but its last byte, with a canary running and
// the server's RSS sampled every 100 ms. Once sent, it waits (at most -hold)
// for the server's RSS to stop growing, then reports the peak RSS, the canary's
// round trips and how many connections the server closed; then it closes them
// all and reports RSS 1 s, 5 s and 15 s later, and the peak counting that
// time too (a server that lags behind keeps reading what was sent).
func partial(cfg config, r *report) error {
	rss := sampleRSS(cfg.srv)
	defer rss.stop()
	r.add("conns", cfg.conns)
	r.add("frame_size", cfg.size)
	r.add("rss_before_mib", mib(cfg.srv.rssKiB()))
	k, err := startCanary(cfg.addr, 10*time.Millisecond)
	if err != nil {
		return fmt.Errorf("canary: %w", err)
	}
	defer k.close()

	body := make([]byte, headerLen+cfg.size-1)
	binary.BigEndian.PutUint32(body, uint32(cfg.size))
	w := &watched{}
	defer w.closeAll()
	var sent, blocked, failed, next atomic.Int64
	start := time.Now()
	stop := start.Add(sendLimit)
	var wg sync.WaitGroup
	for range sendWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) && next.Add(1) <= int64(cfg.conns) {
				c, err := net.DialTimeout("tcp", cfg.addr, 2*time.Second)
				if err != nil {
					failed.Add(1)
					continue
				}
				w.add(c, c)
				_ = c.SetWriteDeadline(stop)
				switch _, err := c.Write(body); {
				case err == nil:
					sent.Add(1)
				case endKind(err) == "timeout":
					blocked.Add(1)
				default:
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	r.add("send_seconds", float64(time.Since(start).Round(10*time.Millisecond))/1e9)
	r.add("settle_seconds", float64(settle(cfg.srv, cfg.hold).Round(10*time.Millisecond))/1e9)
	during, canaryErr := k.take()
	r.add("conns_opened", w.len())
	r.add("conns_sent_whole", sent.Load())
	r.add("conns_write_blocked", blocked.Load())
	r.add("conns_failed", failed.Load())
	peak := rss.peak.Load()
	r.add("rss_peak_mib", mib(peak))
	r.add("server_fds", cfg.srv.fds())
	l := addLatency(r, "canary", during)
	r.add("canary_error", errText(canaryErr))
	closed := w.closed.Load()
	r.add("conns_closed_by_server", closed)

	w.closeAll()
	closedAt := time.Now()
	var after []string
	for _, d := range []time.Duration{time.Second, 5 * time.Second, 15 * time.Second} {
		time.Sleep(time.Until(closedAt.Add(d)))
		v := mib(cfg.srv.rssKiB())
		r.add(fmt.Sprintf("rss_after_%s_mib", d), v)
		after = append(after, fmt.Sprintf("%.0f", v))
	}
	overall := rss.peak.Load()
	r.add("rss_peak_overall_mib", mib(overall))
	r.summary = fmt.Sprintf("%d conns x %d B partial frames (%d sent, %d blocked): peak RSS %.0f MiB (%.0f MiB counting after the close), canary p99 %.2f ms (%d round trips, error: %s), %d closed by the server; RSS %s MiB 1/5/15 s after closing",
		cfg.conns, cfg.size, sent.Load(), blocked.Load(), mib(peak), mib(overall), ms(l.p99), l.n, errText(canaryErr), closed, strings.Join(after, "/"))
	return nil
}

// settle waits until the server's RSS has grown by less than 8 MiB over 2 s
// (it has read what was sent), or at most limit; it returns the time waited.
func settle(p proc, limit time.Duration) time.Duration {
	start := time.Now()
	last := p.rssKiB()
	for time.Since(start) < limit {
		time.Sleep(min(2*time.Second, limit-time.Since(start)))
		now := p.rssKiB()
		if now-last < 8<<10 {
			break
		}
		last = now
	}
	return time.Since(start)
}

// noRead starts S peers that write frames continuously and never read, for
// -hold, with a canary running: peak RSS, and how many the server cut.
func noRead(cfg config, r *report) error {
	rss := sampleRSS(cfg.srv)
	defer rss.stop()
	r.add("peers", cfg.conns)
	r.add("frame_size", cfg.size)
	r.add("rss_before_mib", mib(cfg.srv.rssKiB()))
	k, err := startCanary(cfg.addr, 10*time.Millisecond)
	if err != nil {
		return fmt.Errorf("canary: %w", err)
	}
	defer k.close()

	chunk := frames(max(1, 64<<10/(headerLen+cfg.size)), cfg.size)
	stop := time.Now().Add(cfg.hold)
	var cut, blocked, running, failed atomic.Int64
	var bytes atomic.Int64
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	for range cfg.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", cfg.addr, 2*time.Second)
			if err != nil {
				failed.Add(1)
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			_ = c.SetWriteDeadline(stop)
			for {
				n, err := c.Write(chunk)
				bytes.Add(int64(n))
				switch {
				case err == nil && time.Now().Before(stop):
					continue
				case err == nil:
					running.Add(1)
				case endKind(err) == "timeout":
					blocked.Add(1) // a write blocked when the hold ended
				default:
					cut.Add(1)
				}
				return
			}
		}()
	}
	wg.Wait()
	during, canaryErr := k.take()
	peak := rss.peak.Load()
	r.add("rss_peak_mib", mib(peak))
	r.add("server_fds", cfg.srv.fds())
	r.add("sent_mib", float64(bytes.Load()>>20))
	r.add("peers_cut_by_server", cut.Load())
	r.add("peers_blocked_at_end", blocked.Load())
	r.add("peers_still_writing", running.Load())
	r.add("peers_failed_dial", failed.Load())
	l := addLatency(r, "canary", during)
	r.add("canary_error", errText(canaryErr))
	for _, c := range conns {
		c.Close()
	}
	time.Sleep(5 * time.Second)
	after := mib(cfg.srv.rssKiB())
	r.add("rss_after_5s_mib", after)
	r.summary = fmt.Sprintf("%d non-reading peers for %s: peak RSS %.0f MiB, %d cut by the server, %d blocked in a write at the end, %d still writing; canary p99 %.2f ms; RSS %.0f MiB 5 s after closing",
		cfg.conns, cfg.hold, mib(peak), cut.Load(), blocked.Load(), running.Load(), ms(l.p99), after)
	return nil
}
