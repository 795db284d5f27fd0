package tlsio_test

import (
	"bytes"
	"crypto/tls"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"

	"github.com/netsys-go/netsys/internal/tlsio"
)

// TestIdleMemory measures the heap a server Conn holds once idle after its
// handshake and one small message each way: the figure for the
// 10,000-idle-connection target (net+crypto/tls holds about 17 KB per
// connection). It reports it, with Feed's own plaintext buffer and without it
// (FeedAppend into the engine's buffer), and fails above 8 KiB with FeedAppend.
func TestIdleMemory(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("slow; heap figures are meaningless under -race")
	}
	cases := []struct {
		name   string
		v      uint16
		curves []tls.CurveID
	}{
		{"TLS12", tls.VersionTLS12, nil},
		{"TLS13", tls.VersionTLS13, nil}, // Go's default client hello carries an X25519MLKEM768 key share (1.2 KB)
		{"TLS13-X25519", tls.VersionTLS13, []tls.CurveID{tls.X25519}},
	}
	for _, ver := range cases {
		t.Run(ver.name, func(t *testing.T) {
			const n = 300
			srvCfg, cliCfg := configs(t, ver.v)
			cliCfg.CurvePreferences = ver.curves
			h := tlsio.NewHandshaker(tlsio.Config{})
			msg := bytes.Repeat([]byte{'m'}, 64)
			var scratch []byte
			measure := func(useFeed bool) float64 {
				servers := make([]*tlsio.Conn, 0, n)
				runtime.GC()
				runtime.GC()
				var before runtime.MemStats
				runtime.ReadMemStats(&before)
				for i := 0; i < n; i++ {
					p := newPair(t, h, srvCfg, cliCfg)
					p.mustHandshake()
					if err := p.cli.Write(msg); err != nil {
						t.Fatal(err)
					}
					var pt []byte
					var err error
					if useFeed {
						pt, err = p.srv.Feed(p.c2s.take())
					} else {
						scratch, err = p.srv.FeedAppend(scratch[:0], p.c2s.take())
						pt = scratch
					}
					if err != nil || len(pt) != len(msg) {
						t.Fatalf("Feed: %d bytes, %v", len(pt), err)
					}
					if err := p.srv.Write(pt); err != nil {
						t.Fatal(err)
					}
					// Keep the server only: the client goes, and so do the
					// pipe's buffers (its out still points at the pipe: 120 B
					// of test harness counted in the figure).
					p.s2c.take()
					p.s2c.bufs = [2][]byte{}
					servers = append(servers, p.srv)
				}
				runtime.GC()
				runtime.GC() // sync.Pool caches survive one cycle
				var after runtime.MemStats
				runtime.ReadMemStats(&after)
				per := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
				if f := os.Getenv("TLSIO_HEAPPROFILE"); f != "" {
					w, err := os.Create(f + "." + ver.name)
					if err == nil {
						_ = pprof.WriteHeapProfile(w)
						w.Close()
					}
				}
				runtime.KeepAlive(servers)
				return per
			}
			withFeed := measure(true)
			withAppend := measure(false)
			t.Logf("%s: idle server Conn holds %.0f B with Feed's buffer, %.0f B with FeedAppend into a shared buffer", ver.name, withFeed, withAppend)
			if withAppend > 8<<10 {
				t.Fatalf("%.0f B per idle connection, want at most 8 KiB", withAppend)
			}
		})
	}
}

// TestReleaseAfterHandshake: what only the handshake needs (its goroutine,
// timer, wake channel, input queue, onDone) is gone once it is over.
func TestReleaseAfterHandshake(t *testing.T) {
	srvCfg, cliCfg := configs(t, tls.VersionTLS13)
	h := tlsio.NewHandshaker(tlsio.Config{})
	before := runtime.NumGoroutine()
	for i := 0; i < 20; i++ {
		p := newPair(t, h, srvCfg, cliCfg)
		p.mustHandshake()
		for _, c := range []*tlsio.Conn{p.srv, p.cli} {
			if inCap, wake, timer, onDone := tlsio.Residue(c); inCap != 0 || wake || timer || onDone {
				t.Fatalf("after Activate: input queue capacity %d, wake %v, timer %v, onDone %v", inCap, wake, timer, onDone)
			}
		}
	}
	waitFor(t, func() bool { return h.Stats().Running == 0 && runtime.NumGoroutine() <= before })
}
