package bench

import (
	"context"
	"crypto/tls"
	"io"
	"testing"
	"time"

	"github.com/netsys-go/netsys/internal/certs"
)

// TestLoadTLS runs the load generator over TLS against a crypto/tls echo
// server (goroutine per connection, bytes echoed as they come), with small,
// pipelined, large (several records per frame) and idle runs, and against a
// server it does not trust.
func TestLoadTLS(t *testing.T) {
	b, err := certs.SelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", b.ServerConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	for _, cfg := range []LoadConfig{
		{Conns: 4, Payload: 64},
		{Conns: 4, Payload: 64, InFlight: 8},
		{Conns: 2, Payload: 100 << 10, InFlight: 2},
		{Conns: 20, Idle: true},
	} {
		cfg.Addr, cfg.TLS = ln.Addr().String(), b.ClientConfig()
		cfg.Warmup, cfg.Duration = 50*time.Millisecond, 300*time.Millisecond
		res, err := Load(context.Background(), cfg)
		if err != nil {
			t.Fatalf("%+v: Load: %v", cfg, err)
		}
		if res.Messages == 0 || res.Errors != 0 || res.Mismatches != 0 {
			t.Errorf("payload %d, in flight %d, idle %v: %d messages, %d errors, %d mismatches; want messages and no errors",
				cfg.Payload, cfg.InFlight, cfg.Idle, res.Messages, res.Errors, res.Mismatches)
		}
	}
	other, err := certs.SelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	_, err = Load(context.Background(), LoadConfig{Addr: ln.Addr().String(), Conns: 2, Duration: 100 * time.Millisecond, TLS: other.ClientConfig()})
	if err == nil {
		t.Error("Load trusting another CA succeeded")
	}
}
