package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// fanoutConfig is one fan-out load run (echo load -fanout): conns sessions
// spread round-robin over addrs (the nodes of a cluster, each running
// `serve -fanout`), sending rate frames a second in all; every frame comes
// back to every session, and each receiver records its delivery latency.
type fanoutConfig struct {
	addrs    []string
	conns    int
	size     int
	rate     int
	warmup   time.Duration
	duration time.Duration
	drain    time.Duration // the most to wait, after sending, for frames in flight
}

// The fan-out frame: sender index, sequence number, send time (unix ns), a
// measured flag, then padding up to the size.
const fanoutHeader = 4 + 8 + 8 + 1

// fanoutResult is what a fan-out run measured.
type fanoutResult struct {
	cfg        fanoutConfig
	sent       uint64 // frames sent in the measured window
	expected   uint64 // sent × conns
	delivered  uint64 // measured frames received, over all receivers
	disordered uint64 // frames received not after the last one from the same sender
	same       *hdrhistogram.Histogram
	cross      *hdrhistogram.Histogram
	cpu        float64 // the load generator's CPU seconds per second of the run
}

type fanoutConn struct {
	c    net.Conn
	node int
	last []uint64 // last sequence number received from each sender, +1
}

// runFanout runs the fan-out load described by cfg.
func runFanout(ctx context.Context, cfg fanoutConfig) (*fanoutResult, error) {
	switch {
	case len(cfg.addrs) == 0:
		return nil, errors.New("fan-out needs at least one address")
	case cfg.size < fanoutHeader:
		return nil, fmt.Errorf("-size must be at least %d for fan-out frames", fanoutHeader)
	case cfg.rate < 1:
		return nil, errors.New("fan-out needs -rate, frames per second over all connections")
	}
	if cfg.drain <= 0 {
		cfg.drain = 3 * time.Second
	}
	conns := make([]*fanoutConn, cfg.conns)
	defer func() {
		for _, fc := range conns {
			if fc != nil {
				_ = fc.c.Close()
			}
		}
	}()
	for i := range conns {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", cfg.addrs[i%len(cfg.addrs)])
		if err != nil {
			return nil, fmt.Errorf("connection %d: %w", i, err)
		}
		conns[i] = &fanoutConn{c: c, node: i % len(cfg.addrs), last: make([]uint64, cfg.conns)}
	}
	res := &fanoutResult{cfg: cfg, same: newLatencyHist(), cross: newLatencyHist()}
	var (
		mu        sync.Mutex // guards the histograms
		delivered atomic.Uint64
		disorder  atomic.Uint64
		wg        sync.WaitGroup
	)
	for _, fc := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := bufio.NewReaderSize(fc.c, 64<<10)
			buf := make([]byte, 4+cfg.size)
			for {
				if _, err := io.ReadFull(r, buf[:4]); err != nil {
					return
				}
				n := int(binary.BigEndian.Uint32(buf))
				if n != cfg.size {
					return // not our frame: the server is not a fan-out server
				}
				if _, err := io.ReadFull(r, buf[4:4+n]); err != nil {
					return
				}
				now := time.Now().UnixNano()
				f := buf[4:]
				from := int(binary.BigEndian.Uint32(f))
				seq := binary.BigEndian.Uint64(f[4:])
				if from >= len(fc.last) {
					continue
				}
				if seq+1 <= fc.last[from] {
					disorder.Add(1)
				}
				fc.last[from] = seq + 1
				if f[20] == 0 {
					continue // warm-up
				}
				delivered.Add(1)
				us := max((now-int64(binary.BigEndian.Uint64(f[12:])))/1000, 1)
				h := res.cross
				if from%len(cfg.addrs) == fc.node {
					h = res.same
				}
				mu.Lock()
				_ = h.RecordValue(min(us, h.HighestTrackableValue()))
				mu.Unlock()
			}
		}()
	}

	// One sender, open loop: frame k is due at start + k/rate, from
	// connection k mod conns.
	frame := make([]byte, 4+cfg.size)
	binary.BigEndian.PutUint32(frame, uint32(cfg.size))
	seqs := make([]uint64, cfg.conns)
	start := time.Now()
	measureFrom, end := start.Add(cfg.warmup), start.Add(cfg.warmup+cfg.duration)
	cpu0 := cpuSeconds()
	var sendErr error
	for k := 0; ; k++ {
		due := start.Add(time.Duration(int64(k) * int64(time.Second) / int64(cfg.rate)))
		if !due.Before(end) {
			break
		}
		if d := time.Until(due); d > 0 {
			select {
			case <-ctx.Done():
				sendErr = ctx.Err()
			case <-time.After(d):
			}
		}
		if sendErr != nil {
			break
		}
		i := k % cfg.conns
		f := frame[4:]
		binary.BigEndian.PutUint32(f, uint32(i))
		binary.BigEndian.PutUint64(f[4:], seqs[i])
		seqs[i]++
		now := time.Now()
		binary.BigEndian.PutUint64(f[12:], uint64(now.UnixNano()))
		f[20] = 0
		if !due.Before(measureFrom) {
			f[20] = 1
			res.sent++
		}
		if _, err := conns[i].c.Write(frame); err != nil {
			sendErr = fmt.Errorf("connection %d: %w", i, err)
			break
		}
	}
	res.expected = res.sent * uint64(cfg.conns)
	wait := time.Now().Add(cfg.drain)
	for delivered.Load() < res.expected && time.Now().Before(wait) {
		time.Sleep(10 * time.Millisecond)
	}
	res.cpu = (cpuSeconds() - cpu0) / time.Since(start).Seconds()
	for _, fc := range conns {
		_ = fc.c.Close()
	}
	wg.Wait()
	res.delivered, res.disordered = delivered.Load(), disorder.Load()
	return res, sendErr
}

func newLatencyHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, 60_000_000, 3) }

// cpuSeconds returns the process's user and system CPU time so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// writeText prints the result as a table.
func (r *fanoutResult) writeText(w io.Writer) error {
	c := r.cfg
	fmt.Fprintf(w, "fan-out: %d sessions on %d node(s), %d B frames, %d frames/s for %v after %v warm-up; every frame to every session\n",
		c.conns, len(c.addrs), c.size, c.rate, c.duration, c.warmup)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "delivery\tframes\tp50 µs\tp90 µs\tp99 µs\tp99.9 µs\tmax µs\t")
	all := newLatencyHist()
	all.Merge(r.same)
	all.Merge(r.cross)
	for _, row := range []struct {
		name string
		h    *hdrhistogram.Histogram
	}{{"same node", r.same}, {"cross node", r.cross}, {"all", all}} {
		if row.h.TotalCount() == 0 {
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t\n", row.name, row.h.TotalCount(),
			row.h.ValueAtQuantile(50), row.h.ValueAtQuantile(90), row.h.ValueAtQuantile(99),
			row.h.ValueAtQuantile(99.9), row.h.Max())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	missing := int64(r.expected) - int64(r.delivered)
	fmt.Fprintf(w, "sent %d frames; %d deliveries expected, %d made (%d missing, %d duplicated or out of order)\n",
		r.sent, r.expected, r.delivered, missing, r.disordered)
	_, err := fmt.Fprintf(w, "load generator CPU: %.2f cores\n", r.cpu)
	return err
}

// splitAddrs splits a comma-separated address list.
func splitAddrs(s string) []string {
	var out []string
	for _, a := range strings.Split(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// loadFanout is `echo load -fanout`.
func loadFanout(ctx context.Context, stdout io.Writer, addrs string, conns, size, rate int, warmup, duration time.Duration) error {
	res, err := runFanout(ctx, fanoutConfig{addrs: splitAddrs(addrs), conns: conns, size: size, rate: rate, warmup: warmup, duration: duration})
	if res != nil {
		if werr := res.writeText(stdout); err == nil {
			err = werr
		}
	}
	return err
}
