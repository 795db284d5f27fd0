package tlsio_test

import (
	"bytes"
	"fmt"
	"testing"
)

// roundTrip sends msg from the client to the server and the server's echo
// back: one Write and one Feed on each side.
func roundTrip(tb testing.TB, p *pair, msg []byte) {
	if err := p.cli.Write(msg); err != nil {
		tb.Fatal(err)
	}
	pt, err := p.srv.Feed(p.c2s.take())
	if err != nil || len(pt) != len(msg) {
		tb.Fatalf("server Feed: %d bytes, %v", len(pt), err)
	}
	if err := p.srv.Write(pt); err != nil {
		tb.Fatal(err)
	}
	pt, err = p.cli.Feed(p.s2c.take())
	if err != nil || len(pt) != len(msg) {
		tb.Fatalf("client Feed: %d bytes, %v", len(pt), err)
	}
}

// TestWriteAllocs: after the handshake, Write allocates nothing (crypto/tls
// seals into a pooled buffer and out copies it).
func TestWriteAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, ver := range versions {
		for _, size := range []int{64, 4096, 64 << 10} {
			t.Run(fmt.Sprintf("%s/%dB", ver.name, size), func(t *testing.T) {
				srvCfg, cliCfg := configs(t, ver.v)
				p := newPair(t, nil, srvCfg, cliCfg)
				p.mustHandshake()
				msg := bytes.Repeat([]byte{'m'}, size)
				for i := 0; i < 10; i++ {
					roundTrip(t, p, msg)
				}
				allocs := testing.AllocsPerRun(1000, func() {
					if err := p.srv.Write(msg); err != nil {
						t.Fatal(err)
					}
					p.s2c.take()
				})
				t.Logf("%s Write of %d B: %.2f allocations", ver.name, size, allocs)
				if allocs != 0 {
					t.Fatalf("Write of %d B: %.2f allocations, want 0", size, allocs)
				}
			})
		}
	}
}

// TestFeedAllocs pins what crypto/tls allocates on the read path: one object
// of 24 bytes (its atLeastReader, crypto/tls/conn.go readFromUntil) each time
// it refills its record buffer from the net.Conn. A Feed of whole records
// refills once while they fit in that buffer (it keeps the capacity of the
// largest record seen plus 512 bytes), so a Feed of one record costs one
// allocation and a Feed of many small records one in all; a Feed that ends
// inside a record costs one more (the refill that finds the bytes missing).
// Feed adds nothing of its own: it counts records so as not to make the read
// that would find nothing. Write allocates nothing.
func TestFeedAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, ver := range versions {
		for _, size := range []int{64, 4096} {
			t.Run(fmt.Sprintf("%s/%dB", ver.name, size), func(t *testing.T) {
				srvCfg, cliCfg := configs(t, ver.v)
				p := newPair(t, nil, srvCfg, cliCfg)
				p.mustHandshake()
				msg := bytes.Repeat([]byte{'m'}, size)
				for i := 0; i < 10; i++ {
					roundTrip(t, p, msg)
				}
				perTrip := testing.AllocsPerRun(1000, func() { roundTrip(t, p, msg) })
				// Pipelined: 16 records in one Feed.
				const batch = 16
				var wire []byte
				pipelined := testing.AllocsPerRun(200, func() {
					wire = wire[:0]
					for i := 0; i < batch; i++ {
						if err := p.cli.Write(msg); err != nil {
							t.Fatal(err)
						}
						wire = append(wire, p.c2s.take()...)
					}
					pt, err := p.srv.Feed(wire)
					if err != nil || len(pt) != batch*size {
						t.Fatalf("pipelined Feed: %d bytes, %v", len(pt), err)
					}
				})
				// A record split across two Feeds: the first Feed refills
				// twice (header, then the body it lacks), the second once.
				split := testing.AllocsPerRun(200, func() {
					if err := p.cli.Write(msg); err != nil {
						t.Fatal(err)
					}
					rec := p.c2s.take()
					if _, err := p.srv.Feed(rec[:len(rec)/2]); err != nil {
						t.Fatal(err)
					}
					if pt, err := p.srv.Feed(rec[len(rec)/2:]); err != nil || len(pt) != size {
						t.Fatalf("split Feed: %d bytes, %v", len(pt), err)
					}
				})
				t.Logf("%s %d B: %.2f allocations per round trip (2 Writes, 2 Feeds); %.2f per Feed of %d records (%.3f per message); %.2f per record split over 2 Feeds",
					ver.name, size, perTrip, pipelined, batch, pipelined/batch, split)
				if perTrip != 2 || pipelined > batch/2 || split != 3 {
					t.Fatalf("allocations changed: %.2f per round trip (want 2), %.2f per pipelined Feed (want at most %d), %.2f per split record (want 3)",
						perTrip, pipelined, batch/2, split)
				}
			})
		}
	}
}

func BenchmarkRoundTrip(b *testing.B) {
	for _, ver := range versions {
		for _, size := range []int{64, 1024, 4096} {
			b.Run(fmt.Sprintf("%s/%dB", ver.name, size), func(b *testing.B) {
				srvCfg, cliCfg := configs(b, ver.v)
				p := newPair(b, nil, srvCfg, cliCfg)
				p.mustHandshake()
				msg := bytes.Repeat([]byte{'m'}, size)
				b.ReportAllocs()
				b.SetBytes(int64(2 * size))
				for b.Loop() {
					roundTrip(b, p, msg)
				}
			})
		}
	}
}
