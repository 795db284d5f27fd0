package tlsio_test

import (
	"crypto/tls"
	"errors"
	"testing"

	"github.com/netsys-go/netsys/internal/tlsio"
)

// FuzzFeed: whatever a peer sends after the handshake, in whatever pieces,
// Feed returns plaintext or one of its documented errors, never panics, and
// stays failed once it failed.
func FuzzFeed(f *testing.F) {
	f.Add([]byte{23, 3, 3, 0, 5, 1, 2, 3, 4, 5}, uint8(3))
	f.Add([]byte{21, 3, 3, 0, 2, 2, 40}, uint8(1))
	f.Add([]byte{22, 3, 3, 0x48, 0x01}, uint8(0))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"), uint8(7))
	f.Fuzz(func(t *testing.T, data []byte, step uint8) {
		srvCfg, cliCfg := configs(t, tls.VersionTLS13)
		p := newPair(t, nil, srvCfg, cliCfg)
		p.mustHandshake()
		n := int(step)%64 + 1
		failed := false
		for off := 0; off < len(data); off += n {
			_, err := p.srv.Feed(data[off:min(off+n, len(data))])
			if err != nil {
				if !errors.Is(err, tlsio.ErrRead) && !errors.Is(err, tlsio.ErrCloseNotify) {
					t.Fatalf("undocumented error %v", err)
				}
				failed = true
			} else if failed {
				t.Fatal("Feed succeeded after an error")
			}
		}
	})
}
