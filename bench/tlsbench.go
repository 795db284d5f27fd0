package bench

import (
	"crypto/tls"
	"net"
	"time"

	"github.com/netsys-go/netsys/codec"
)

// ServeNetTLS is ServeNet over crypto/tls: the net-package baseline of the
// TLS scenarios. Each accepted net.Conn is wrapped with tls.Server(nc, cfg)
// and served on a goroutine of its own by the same code as ServeNet, with the
// same codec; the handshake runs on that goroutine at its first read. This is
// the TLS server a Go engineer writes with the standard library (what
// tls.NewListener gives), with no limit of its own on handshakes.
//
// When ln is closed, ServeNetTLS closes every connection it serves (sending
// a close_notify on those past their handshake), waits for their goroutines
// and returns nil.
func ServeNetTLS(ln net.Listener, c codec.Codec, cfg *tls.Config) error {
	return ServeNet(tls.NewListener(ln, cfg), c)
}

// TLSServers are the servers of the TLS scenarios: the engine with WithTLS
// and the net baseline on crypto/tls (ServeNetTLS). Bare gnet and bare nbio
// have no TLS, so they are left out.
var TLSServers = []string{"engine", "net"}

// FixedTLSRate is the offered rate of fixed-pipelined-tls-100c-16x-1KiB:
// 2,000 bursts of 16 a second, 32 MiB/s of 1 KiB messages each way. It is
// a guess well below what the net baseline sustained over TLS in the short
// functional runs; calibrate it with `echo compare -tls -rate` on the
// judging machine before quoting CPU per message.
const FixedTLSRate = 32_000

// TLSScenarios returns the TLS scenarios, run by `echo compare -tls` against
// TLSServers only (neither the default nor the quick set holds them): 10,000
// idle TLS 1.3 connections, where the figure is the server's memory per
// connection, and pipelined 1 KiB messages, closed loop and at a fixed rate,
// where it is the server's CPU time per message. Each connection does a full
// handshake first (Go's crypto/tls negotiates TLS 1.3 between the load
// generator and either server); the warm-up and the window start after the
// last one.
func TLSScenarios() []Scenario {
	return []Scenario{
		{Name: "idle-tls-10000c", About: "10,000 idle TLS 1.3 connections: server memory per connection",
			Conns: 10000, Payload: 64, InFlight: 1, Idle: true, TLS: true, Servers: TLSServers,
			Warmup: time.Second, Duration: 5 * time.Second},
		{Name: "pipelined-tls-100c-16x-1KiB", About: "100 TLS clients, 16 messages of 1 KiB in flight each: CPU per message",
			Conns: 100, Payload: 1024, InFlight: 16, TLS: true, Servers: TLSServers,
			Warmup: 2 * time.Second, Duration: 10 * time.Second},
		{Name: "fixed-pipelined-tls-100c-16x-1KiB", About: "100 TLS clients sending bursts of 16 at a fixed rate: CPU per message and latency",
			Conns: 100, Payload: 1024, InFlight: 16, Rate: FixedTLSRate, Fixed: true, TLS: true, Servers: TLSServers,
			Warmup: time.Second, Duration: 5 * time.Second},
	}
}
