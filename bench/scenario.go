package bench

import (
	"fmt"
	"slices"
	"time"
)

// Servers are the servers `echo compare` knows, in the order it reports
// them: the netsys engine, the net-package baseline, the bare gnet echo and
// the bare nbio echo.
var Servers = []string{"engine", "net", "gnet", "nbio"}

// throughputServers are the servers of the closed-loop throughput
// scenarios; the peer library, nbio, runs in the fixed-load and memory
// scenarios only.
var throughputServers = []string{"engine", "net", "gnet"}

// Scenario is a named load run, as `echo compare` runs it against each
// server.
type Scenario struct {
	Name     string // unique, usable in a regexp filter
	About    string // what it measures
	Conns    int
	Payload  int
	InFlight int  // closed loop: messages in flight per connection; open loop: messages per burst
	Rate     int  // 0: closed loop
	Idle     bool // memory: one message per connection, then held open
	// Fixed marks a fixed-load scenario: a load every server sustains well
	// below its core, where what counts is the server's CPU time per message
	// and its latency, not messages per second.
	Fixed bool
	// Unix runs s over a Unix socket: compare gives each server a socket
	// path of its own, in a directory made for the run, instead of a TCP
	// port on the loopback.
	Unix bool
	// Requests marks a request/reply scenario (issue 22): the engine serves
	// with `serve -envelope` and the load sends envelope requests with
	// `load -requests InFlight` (LoadRequests). It runs against the engine only.
	Requests bool
	// TLS runs s over TLS: compare gives each server a certificate and the
	// load generator its CA (LoadConfig leaves TLS nil: the caller sets
	// LoadConfig.TLS). Only TLSServers run TLS scenarios.
	TLS      bool
	Servers  []string // the servers it runs against; nil: all of Servers
	Warmup   time.Duration
	Duration time.Duration
}

// RunsOn reports whether s runs against server.
func (s Scenario) RunsOn(server string) bool {
	return s.Servers == nil || slices.Contains(s.Servers, server)
}

// Mode describes how s drives load, in a few words: "closed loop, 16 in
// flight", "open loop, 30,000 msg/s", "idle".
func (s Scenario) Mode() string {
	switch {
	case s.Idle:
		return "idle"
	case s.Rate > 0 && s.InFlight > 1:
		return fmt.Sprintf("open loop, %s msg/s in bursts of %d", group(int64(s.Rate)), s.InFlight)
	case s.Rate > 0:
		return fmt.Sprintf("open loop, %s msg/s", group(int64(s.Rate)))
	case s.InFlight > 1:
		return fmt.Sprintf("closed loop, %d in flight", s.InFlight)
	}
	return "closed loop"
}

// LoadConfig returns the load configuration of s against addr.
func (s Scenario) LoadConfig(addr string) LoadConfig {
	return LoadConfig{
		Name:     s.Name,
		Addr:     addr,
		Conns:    s.Conns,
		Payload:  s.Payload,
		InFlight: s.InFlight,
		Rate:     s.Rate,
		Idle:     s.Idle,
		Warmup:   s.Warmup,
		Duration: s.Duration,
	}
}

// The offered rates of the fixed-load scenarios. On the 2-core reference
// machine, with the server and the load generator pinned to a core each,
// net uses about half its core at FixedRate in fixed-100c-64B, and every
// server stays well below its core in each fixed-load scenario
// (docs/benchmarks.md tells how they were chosen).
const (
	FixedRate          = 30_000
	FixedPipelinedRate = 160_000 // 10,000 bursts of 16 a second
	FixedConns5kRate   = 15_000  // 3 messages a second per connection
)

// Scenarios returns the benchmarks: those of the C++ original
// (single-client echo latency, 10 to 100 clients in closed loop, message
// sizes from 1 KiB to 1 MiB, pipelining, 5,000 busy connections and 10,000
// idle ones) and the fixed-load ones (see FixedScenarios). quick returns a
// subset with short windows, about a minute in all.
func Scenarios(quick bool) []Scenario {
	const (
		warmup   = 2 * time.Second
		duration = 10 * time.Second
	)
	closed := func(name, about string, conns, payload int) Scenario {
		return Scenario{Name: name, About: about, Conns: conns, Payload: payload, InFlight: 1,
			Servers: throughputServers, Warmup: warmup, Duration: duration}
	}
	pipelined := Scenario{Name: "pipelined-100c-16x-64B", About: "100 clients, 16 messages in flight each",
		Conns: 100, Payload: 64, InFlight: 16, Servers: throughputServers, Warmup: warmup, Duration: duration}
	conns5k := closed("conns-5000c-1KiB", "5,000 busy connections: throughput and memory", 5000, 1024)
	conns5k.Servers = nil // a memory scenario too: every server
	idle := Scenario{Name: "idle-10000c", About: "10,000 idle connections: server memory per connection",
		Conns: 10000, Payload: 64, InFlight: 1, Idle: true, Warmup: time.Second, Duration: 5 * time.Second}
	closed100 := closed("closed-100c-64B", "100 clients, request/response", 100, 64)
	requests, pipelined1 := RequestScenarios(warmup, duration) // issue 22's ratio
	fixed := FixedScenarios()
	if quick {
		short := func(s Scenario, warmup, duration time.Duration) Scenario {
			s.Warmup, s.Duration = warmup, duration
			return s
		}
		return []Scenario{
			short(closed100, 250*time.Millisecond, time.Second),
			short(pipelined, 250*time.Millisecond, time.Second),
			short(conns5k, 250*time.Millisecond, time.Second),
			short(fixed[0], 250*time.Millisecond, time.Second),
			short(fixed[3], 250*time.Millisecond, time.Second),
			short(fixed[4], 250*time.Millisecond, time.Second),
			short(idle, 0, 500*time.Millisecond),
			short(pipelined1, 250*time.Millisecond, time.Second),
			short(requests, 250*time.Millisecond, time.Second),
		}
	}
	return append([]Scenario{
		closed("closed-10c-64B", "10 clients, request/response", 10, 64),
		closed("closed-50c-64B", "50 clients, request/response", 50, 64),
		closed100,
		closed("size-100c-1KiB", "100 clients, 1 KiB messages", 100, 1<<10),
		closed("size-100c-8KiB", "100 clients, 8 KiB messages", 100, 8<<10),
		closed("size-100c-64KiB", "100 clients, 64 KiB messages", 100, 64<<10),
		closed("size-10c-1MiB", "10 clients, 1 MiB messages", 10, 1<<20),
		pipelined,
		pipelined1,
		requests,
		conns5k,
		idle,
	}, fixed...)
}

// RequestScenarios returns issue 22's pair: envelope requests on one
// connection, 64 in flight, 64 B bodies, against the engine with -envelope,
// and the engine's pipelined echo with the same connection, window and size,
// whose messages per second the requests per second are compared with.
func RequestScenarios(warmup, duration time.Duration) (requests, pipelined Scenario) {
	engine := []string{"engine"}
	requests = Scenario{Name: "requests-1c-64x-64B", About: "one connection, 64 envelope requests in flight (serve -envelope)",
		Conns: 1, Payload: 64, InFlight: 64, Requests: true, Servers: engine, Warmup: warmup, Duration: duration}
	pipelined = Scenario{Name: "pipelined-1c-64x-64B", About: "one connection, 64 messages in flight: the requests' yardstick",
		Conns: 1, Payload: 64, InFlight: 64, Servers: engine, Warmup: warmup, Duration: duration}
	return requests, pipelined
}

// FixedScenarios returns the fixed-load scenarios: open loop at a rate every
// server sustains well below its core, each message timed from its scheduled
// send, so that the servers' CPU time per message and their latency compare
// at the same offered load; and one connection in ping-pong, where latency
// is the figure, over TCP and over a Unix socket. Each runs 1 s of warm-up and a 5 s window, so that several
// rounds of all four fit in minutes.
func FixedScenarios() []Scenario {
	const (
		warmup   = time.Second
		duration = 5 * time.Second
	)
	return []Scenario{
		{Name: "fixed-100c-64B", About: "100 clients at a fixed rate: CPU per message and latency",
			Conns: 100, Payload: 64, InFlight: 1, Rate: FixedRate, Fixed: true, Warmup: warmup, Duration: duration},
		{Name: "fixed-pipelined-100c-16x-64B", About: "100 clients sending bursts of 16 at a fixed rate",
			Conns: 100, Payload: 64, InFlight: 16, Rate: FixedPipelinedRate, Fixed: true, Warmup: warmup, Duration: duration},
		{Name: "fixed-5000c-1KiB", About: "5,000 connections, 1 KiB, at a fixed rate",
			Conns: 5000, Payload: 1024, InFlight: 1, Rate: FixedConns5kRate, Fixed: true, Warmup: warmup, Duration: duration},
		{Name: "pingpong-1c-64B", About: "one connection, request/response: latency",
			Conns: 1, Payload: 64, InFlight: 1, Fixed: true, Warmup: warmup, Duration: duration},
		{Name: "pingpong-unix-1c-64B", About: "one connection over a Unix socket, request/response: latency without TCP",
			Conns: 1, Payload: 64, InFlight: 1, Fixed: true, Unix: true, Warmup: warmup, Duration: duration},
	}
}
