package bench

import "time"

// Scenario is a named load run, as `echo compare` runs it against each
// server.
type Scenario struct {
	Name     string // unique, usable in a regexp filter
	About    string // what it measures
	Conns    int
	Payload  int
	InFlight int
	Rate     int // 0: closed loop
	Idle     bool
	Warmup   time.Duration
	Duration time.Duration
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

// Scenarios returns the benchmarks of the C++ original: single-client echo
// latency, 10 to 100 clients in closed loop, message sizes from 1 KiB to
// 1 MiB, pipelining, 5,000 busy connections and 10,000 idle ones. quick
// returns a subset with short windows, about 30 s in all against three
// servers.
func Scenarios(quick bool) []Scenario {
	const (
		warmup   = 2 * time.Second
		duration = 10 * time.Second
	)
	closed := func(name, about string, conns, payload int) Scenario {
		return Scenario{Name: name, About: about, Conns: conns, Payload: payload, InFlight: 1, Warmup: warmup, Duration: duration}
	}
	pipelined := Scenario{Name: "pipelined-100c-16x-64B", About: "100 clients, 16 messages in flight each",
		Conns: 100, Payload: 64, InFlight: 16, Warmup: warmup, Duration: duration}
	conns5k := closed("conns-5000c-1KiB", "5,000 busy connections", 5000, 1024)
	idle := Scenario{Name: "idle-10000c", About: "10,000 idle connections: server memory per connection",
		Conns: 10000, Payload: 64, InFlight: 1, Idle: true, Warmup: time.Second, Duration: 5 * time.Second}
	closed100 := closed("closed-100c-64B", "100 clients, request/response", 100, 64)
	if quick {
		short := func(s Scenario, warmup, duration time.Duration) Scenario {
			s.Warmup, s.Duration = warmup, duration
			return s
		}
		return []Scenario{
			short(closed100, 250*time.Millisecond, time.Second),
			short(pipelined, 250*time.Millisecond, time.Second),
			short(conns5k, 250*time.Millisecond, time.Second),
			short(idle, 0, 500*time.Millisecond),
		}
	}
	return []Scenario{
		closed("closed-1c-64B", "single client echo latency", 1, 64),
		closed("closed-10c-64B", "10 clients, request/response", 10, 64),
		closed("closed-50c-64B", "50 clients, request/response", 50, 64),
		closed100,
		closed("size-100c-1KiB", "100 clients, 1 KiB messages", 100, 1<<10),
		closed("size-100c-8KiB", "100 clients, 8 KiB messages", 100, 8<<10),
		closed("size-100c-64KiB", "100 clients, 64 KiB messages", 100, 64<<10),
		closed("size-10c-1MiB", "10 clients, 1 MiB messages", 10, 1<<20),
		pipelined,
		conns5k,
		idle,
	}
}
