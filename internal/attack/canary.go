package main

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// canaryTimeout bounds one canary round trip; a slower one counts as broken.
const canaryTimeout = 5 * time.Second

// canary is one healthy session doing an echo round trip every interval in
// the background, recording each round trip's time.
type canary struct {
	conn net.Conn
	mu   sync.Mutex
	rtts []time.Duration // since the last take
	err  error           // what broke the canary; nil while it echoes
	done chan struct{}
	wg   sync.WaitGroup
}

// startCanary dials addr, checks one round trip and starts the loop.
func startCanary(addr string, every time.Duration) (*canary, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	payload, buf := []byte("canary-0123456789abcdef"), make([]byte, 64)
	if _, err := roundTrip(c, payload, buf, canaryTimeout); err != nil {
		c.Close()
		return nil, err
	}
	k := &canary{conn: c, done: make(chan struct{})}
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-k.done:
				return
			case <-t.C:
			}
			d, err := roundTrip(c, payload, buf, canaryTimeout)
			k.mu.Lock()
			if err != nil {
				k.err = err
			} else {
				k.rtts = append(k.rtts, d)
			}
			k.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return k, nil
}

// take returns the round trips since the last take and what broke the
// canary, if anything.
func (k *canary) take() ([]time.Duration, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	d := k.rtts
	k.rtts = nil
	return d, k.err
}

// stop ends the loop; the connection stays open for check.
func (k *canary) stop() {
	select {
	case <-k.done:
	default:
		close(k.done)
	}
	k.wg.Wait()
}

// check stops the loop and makes one more round trip, within timeout. A
// canary that failed once stays failed: its stream may be out of step.
func (k *canary) check(timeout time.Duration) error {
	k.stop()
	if _, err := k.take(); err != nil {
		return err
	}
	_, err := roundTrip(k.conn, []byte("canary-check"), make([]byte, 64), timeout)
	k.mu.Lock()
	k.err = err
	k.mu.Unlock()
	return err
}

func (k *canary) close() {
	k.stop()
	k.conn.Close()
}

// addLatency adds a phase's round-trip figures to r under prefix.
func addLatency(r *report, prefix string, d []time.Duration) latency {
	l := summarise(d)
	r.add(prefix+"_round_trips", l.n)
	r.add(prefix+"_p50_ms", ms(l.p50))
	r.add(prefix+"_p99_ms", ms(l.p99))
	r.add(prefix+"_max_ms", ms(l.max))
	return l
}

// errText names err as endKind does, or says "none".
func errText(err error) string {
	if err == nil {
		return "none"
	}
	return endKind(err)
}

// watched is a set of attack connections whose closing by the server is
// noticed by a goroutine per connection blocked in Read.
type watched struct {
	mu     sync.Mutex
	conns  []net.Conn
	closed atomic.Int64 // connections the server closed (a read returned EOF or an error)
	ending atomic.Bool  // set by closeAll: errors from then on are ours
	wg     sync.WaitGroup
}

// add tracks c, reading from r (c itself, or a buffered reader over it);
// reads discard whatever the server sends.
func (w *watched) add(c net.Conn, r io.Reader) {
	w.mu.Lock()
	w.conns = append(w.conns, c)
	w.mu.Unlock()
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		buf := make([]byte, 512)
		for {
			if _, err := r.Read(buf); err != nil {
				if !w.ending.Load() {
					w.closed.Add(1)
				}
				return
			}
		}
	}()
}

func (w *watched) len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.conns)
}

// open is how many tracked connections the server has not closed.
func (w *watched) open() int { return w.len() - int(w.closed.Load()) }

// closeAll closes every connection and waits for the readers.
func (w *watched) closeAll() {
	w.ending.Store(true)
	w.mu.Lock()
	for _, c := range w.conns {
		c.Close()
	}
	w.mu.Unlock()
	w.wg.Wait()
}
