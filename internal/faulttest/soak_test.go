package faulttest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/netsys-go/netsys/bench"
	"github.com/netsys-go/netsys/codec"
	"github.com/netsys-go/netsys/engine"
	"github.com/netsys-go/netsys/internal/nettest"
	"github.com/netsys-go/netsys/session"
)

// soakHandler echoes every message and counts disconnects by reason.
type soakHandler struct {
	mu      sync.Mutex
	reasons map[string]int // guarded by mu
}

func (h *soakHandler) OnConnect(*session.Session) {}

func (h *soakHandler) OnMessage(s *session.Session, msg []byte) { _ = s.Send(msg) }

func (h *soakHandler) OnDisconnect(_ *session.Session, reason error) {
	h.mu.Lock()
	h.reasons[reasonKind(reason)]++
	h.mu.Unlock()
}

func (h *soakHandler) counts() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return maps.Clone(h.reasons)
}

func reasonKind(err error) string {
	kinds := []struct {
		err  error
		name string
	}{
		{codec.ErrFrameTooLarge, "frame_too_large"},
		{codec.ErrBadLength, "bad_length"},
		{engine.ErrIdleTimeout, "idle_timeout"},
		{engine.ErrSlowConsumer, "slow_consumer"},
		{engine.ErrHandlerPanic, "panic"},
		{engine.ErrServerStopping, "server_stopping"},
		{engine.ErrPeerClosed, "peer_closed"},
	}
	if err == nil {
		return "nil"
	}
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			return k.name
		}
	}
	return "other"
}

// procStats is what the soak reports of the process.
type procStats struct {
	rssKiB     int
	goroutines int
	fds        int
}

func readProc(t testing.TB) procStats {
	t.Helper()
	debug.FreeOSMemory() // RSS then reflects what is live, not what the runtime has yet to return
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatalf("read /proc/self/status: %v", err)
	}
	var st procStats
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			st.rssKiB, _ = strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
		}
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("read /proc/self/fd: %v", err)
	}
	st.fds = len(fds)
	st.goroutines = runtime.NumGoroutine()
	return st
}

func (p procStats) String() string {
	return fmt.Sprintf("RSS %.1f MiB, %d goroutines, %d open fds", float64(p.rssKiB)/1024, p.goroutines, p.fds)
}

// TestSoak runs mixed load, churn and faults for the duration in NETSYS_SOAK
// and checks that the server comes back to where it started.
func TestSoak(t *testing.T) {
	env := os.Getenv("NETSYS_SOAK")
	if env == "" {
		t.Skip("set NETSYS_SOAK to a duration, such as 60s, to soak (make soak)")
	}
	d, err := time.ParseDuration(env)
	if err != nil || d <= 0 {
		t.Fatalf("NETSYS_SOAK=%q; want a positive duration such as 60s", env)
	}
	const (
		idle           = 500 * time.Millisecond
		echoClients    = 8
		churners       = 2
		faultEvery     = 20 * time.Millisecond
		maxSlowloris   = 4
		maxSlowReaders = 2
		// slack for goroutines and fds the runtime and the test itself may
		// still hold at the end (a timer, a poller descriptor)
		slack = 2
	)
	sh := &soakHandler{reasons: make(map[string]int)}
	f := newFixture(t, defaultWire, sh,
		engine.WithIdleTimeout(idle),
		engine.WithWriteHighWater(256<<10),
		engine.WithSocketBuffers(32<<10, 32<<10),
		engine.WithMaxFrameSize(64<<10))
	f.rec = nil
	start := readProc(t)
	t.Logf("start: %v, errors %v", start, f.srv.Monitor().Snapshot().Total.Errors)
	// The host's steal, logged at the end: the 500 ms idle timeout closes
	// healthy clients too if the machine is starved for that long.
	stealFrom, _ := bench.ReadHostSteal()
	began := time.Now()

	var mu sync.Mutex
	var errs []error
	report := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup

	// Load: echo clients verifying every byte.
	echo := startHealthy(t, f, echoClients)

	// Churn: connect, one verified round trip, close (every third with a reset).
	var cycles atomic.Int64
	for w := range churners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				if err := soakCycle(f.addr, w, i, i%3 == 0); err != nil {
					report(fmt.Errorf("churn %d cycle %d: %w", w, i, err))
					return
				}
				cycles.Add(1)
			}
		}()
	}

	// Faults, one every faultEvery, in turn.
	faults := map[string]*atomic.Int64{}
	for _, k := range []string{"oversized", "garbage", "slowloris", "slow_consumer"} {
		faults[k] = new(atomic.Int64)
	}
	slowloris := make(chan struct{}, maxSlowloris)
	slowReaders := make(chan struct{}, maxSlowReaders)
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(faultEvery)
		defer tick.Stop()
		rng := rand.New(rand.NewPCG(1, 2))
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			switch i % 4 {
			case 0:
				faults["oversized"].Add(1)
				soakFault(f.addr, be32(1<<31), report)
			case 1:
				junk := make([]byte, 2<<10)
				for j := range junk {
					junk[j] = byte(rng.Uint32())
				}
				faults["garbage"].Add(1)
				soakFault(f.addr, junk, report)
			case 2:
				select {
				case slowloris <- struct{}{}:
				default:
					continue // enough of them under way
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() { <-slowloris }()
					if soakSlowloris(ctx, f.addr, report) {
						faults["slowloris"].Add(1) // counted once cut off, as the soak may end first
					}
				}()
			case 3:
				select {
				case slowReaders <- struct{}{}:
				default:
					continue
				}
				faults["slow_consumer"].Add(1)
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() { <-slowReaders }()
					soakSlowConsumer(f.addr, report)
				}()
			}
		}
	}()

	<-ctx.Done()
	wg.Wait()
	if stealTo, err := bench.ReadHostSteal(); err == nil {
		t.Logf("host steal: %.0f%% of the machine's CPU time during the load",
			100*float64(stealTo-stealFrom)/float64(time.Since(began))/float64(runtime.NumCPU()))
	}
	echo.check(t)
	nettest.Eventually(t, "every session closed", func() error {
		if n := f.srv.Count(); n != 0 {
			return fmt.Errorf("%d sessions open", n)
		}
		return nil
	})

	// Settle: goroutines and fds come back to where they started.
	var end procStats
	deadline := time.Now().Add(nettest.Timeout)
	for end = readProc(t); time.Now().Before(deadline); end = readProc(t) {
		if end.goroutines <= start.goroutines+slack && end.fds <= start.fds+slack {
			break
		}
		time.Sleep(50 * time.Millisecond) // polling for the settle, bounded by deadline
	}
	snap := f.srv.Monitor().Snapshot().Total
	t.Logf("end:   %v, errors %v", end, snap.Errors)
	reasons := sh.counts()
	t.Logf("work: %d echo clients, %d churn cycles, faults %v; connections %d total, %d rejected; disconnects by reason %v",
		echoClients, cycles.Load(), faultCounts(faults), snap.Connections.Total, snap.Connections.Rejected, reasons)

	mu.Lock()
	reportErrors(t, errs)
	mu.Unlock()
	if end.goroutines > start.goroutines+slack || end.fds > start.fds+slack {
		t.Errorf("after settling: %d goroutines and %d fds; want at most %d and %d (start + %d)",
			end.goroutines, end.fds, start.goroutines+slack, start.fds+slack, slack)
	}
	if limit := start.rssKiB + 128<<10; end.rssKiB > limit {
		t.Errorf("RSS %d MiB after settling; want at most %d MiB (start + 128 MiB)", end.rssKiB>>10, limit>>10)
	}
	for reason, want := range map[string]int64{
		"frame_too_large": faults["oversized"].Load(),
		"idle_timeout":    faults["slowloris"].Load(), // those cut off
		"slow_consumer":   faults["slow_consumer"].Load(),
	} {
		if int64(reasons[reason]) < want {
			t.Errorf("%d disconnects for %s; want at least %d, one per fault sent", reasons[reason], reason, want)
		}
	}
	for _, bad := range []string{"nil", "other", "panic"} {
		if reasons[bad] > 0 {
			t.Errorf("%d disconnects with reason %s", reasons[bad], bad)
		}
	}
}

func faultCounts(m map[string]*atomic.Int64) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(&b, "%s:%d ", k, m[k].Load())
	}
	return strings.TrimSpace(b.String())
}

// soakCycle connects, does one verified echo round trip and closes.
func soakCycle(addr string, w, i int, hard bool) error {
	nc, err := net.DialTimeout("tcp", addr, nettest.Timeout)
	if err != nil {
		return err
	}
	defer nc.Close()
	want := fmt.Appendf(nil, "churn %d.%d", w, i)
	_ = nc.SetDeadline(time.Now().Add(nettest.Timeout))
	if _, err := nc.Write(nettest.Frame(want)); err != nil {
		return err
	}
	got, err := readFrame(nc, bufio.NewReader(nc))
	if err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("echo %q; want %q", got, want)
	}
	if hard {
		_ = nc.(*net.TCPConn).SetLinger(0)
	}
	return nil
}

// soakFault sends b, half-closes and waits for the server to close.
func soakFault(addr string, b []byte, report func(error)) {
	nc, err := net.DialTimeout("tcp", addr, nettest.Timeout)
	if err != nil {
		report(fmt.Errorf("fault dial: %w", err))
		return
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(nettest.Timeout))
	_, _ = nc.Write(b) // the server may have closed already
	_ = nc.(*net.TCPConn).CloseWrite()
	if _, err := io.Copy(io.Discard, nc); isTimeout(err) {
		report(fmt.Errorf("fault peer still open after %v", nettest.Timeout))
	}
}

// soakSlowloris drips a frame that never completes, a byte every 20 ms,
// until the server closes it for being idle (it then returns true) or ctx
// ends.
func soakSlowloris(ctx context.Context, addr string, report func(error)) (cutOff bool) {
	nc, err := net.DialTimeout("tcp", addr, nettest.Timeout)
	if err != nil {
		report(fmt.Errorf("slowloris dial: %w", err))
		return false
	}
	defer nc.Close()
	frame := nettest.Frame(bytes.Repeat([]byte("s"), 1000))
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for i := range frame {
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
		_ = nc.SetWriteDeadline(time.Now().Add(nettest.Timeout))
		if _, err := nc.Write(frame[i : i+1]); err != nil {
			return true // closed by the server
		}
	}
	report(errors.New("slowloris: the whole frame dripped in; the idle timeout never closed it"))
	return false
}

// soakSlowConsumer sends echo requests and never reads, until the server
// cuts it off.
func soakSlowConsumer(addr string, report func(error)) {
	nc, err := net.DialTimeout("tcp", addr, nettest.Timeout)
	if err != nil {
		report(fmt.Errorf("slow consumer dial: %w", err))
		return
	}
	defer nc.Close()
	_ = nc.(*net.TCPConn).SetReadBuffer(16 << 10)
	msg := nettest.Frame(bytes.Repeat([]byte("z"), 16<<10))
	for sent := 0; sent < 64<<20; sent += len(msg) {
		_ = nc.SetWriteDeadline(time.Now().Add(nettest.Timeout))
		if _, err := nc.Write(msg); err != nil {
			return // cut off
		}
	}
	report(errors.New("slow consumer: sent 64 MiB without being cut off"))
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
