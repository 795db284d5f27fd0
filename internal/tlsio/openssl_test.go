package tlsio_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netsys-go/netsys/internal/tlsio"
)

// TestInteropOpenSSL: `openssl s_client -tls1_2` and `-tls1_3` send a framed
// message (4-byte length, payload) to a tlsio server over TCP loopback and
// read the echo. Skipped when openssl is not installed or under -short.
func TestInteropOpenSSL(t *testing.T) {
	if testing.Short() {
		t.Skip("runs openssl")
	}
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed")
	}
	b := testBundle(t)
	files, err := b.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		flag string
		v    uint16
	}{{"-tls1_2", tls.VersionTLS12}, {"-tls1_3", tls.VersionTLS13}} {
		t.Run(c.flag, func(t *testing.T) {
			ln := listen(t)
			h := tlsio.NewHandshaker(tlsio.Config{})
			accepted := make(chan *loop, 1)
			go func() {
				nc, err := ln.Accept()
				if err != nil {
					return
				}
				srv := tlsio.NewServer(b.ServerConfig(), socketOut(t, &nc))
				accepted <- runLoop(t, h, nc, srv, true)
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, port, _ := net.SplitHostPort(ln.Addr().String())
			cmd := exec.CommandContext(ctx, bin, "s_client", c.flag, "-connect", "127.0.0.1:"+port,
				"-servername", "localhost", "-CAfile", files.CA, "-verify_return_error", "-quiet")
			frame := []byte("\x00\x00\x00\x0dhello, netsys")
			cmd.Stdin = bytes.NewReader(frame)
			var out, stderr syncBuffer
			cmd.Stdout, cmd.Stderr = &out, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			var l *loop
			select {
			case l = <-accepted:
			case err := <-exited:
				t.Fatalf("openssl exited before connecting: %v\n%s", err, stderr.String())
			}
			var st tls.ConnectionState
			select {
			case st = <-l.state:
			case err := <-l.errs:
				t.Fatalf("handshake with openssl: %v\n%s", err, stderr.String())
			case <-ctx.Done():
				t.Fatalf("no handshake\n%s", stderr.String())
			}
			if st.Version != c.v {
				t.Fatalf("negotiated %s, want %s", tls.VersionName(st.Version), tls.VersionName(c.v))
			}
			// s_client -quiet keeps reading after its stdin ends; once the
			// echo is back, the server closes (close_notify) and it exits.
			var waitErr error
			exitedEarly := false
			for !strings.Contains(out.String(), "hello, netsys") && !exitedEarly {
				select {
				case err := <-l.errs:
					t.Fatalf("server: %v", err)
				case waitErr = <-exited:
					exitedEarly = true
				case <-ctx.Done():
					t.Fatalf("no echo\n%s", stderr.String())
				case <-time.After(10 * time.Millisecond):
				}
			}
			if !exitedEarly {
				close(l.bye) // close_notify, then close the socket
				select {
				case waitErr = <-exited:
				case <-ctx.Done():
					t.Fatal("openssl did not exit")
				}
			}
			if waitErr != nil {
				t.Fatalf("openssl: %v\n%s", waitErr, stderr.String())
			}
			if got := out.String(); got != string(frame) {
				t.Fatalf("openssl read %q, want the echo %q\n%s", got, frame, stderr.String())
			}
			t.Logf("openssl s_client %s: echo of %d bytes over %s, %s", c.flag, len(frame), tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
		})
	}
}

// syncBuffer is a bytes.Buffer safe to read while exec copies into it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
