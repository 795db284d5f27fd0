// Package bench measures netsys against three baselines: the load generator,
// the baseline echo servers, the benchmark scenarios and their reports.
// Command echo (load, compare) is a thin shell over it.
//
// The pieces:
//
//   - [Load] drives load against an echo server, over TCP or a Unix socket
//     ([SplitAddr]), in the default wire format (a 4-byte big-endian length,
//     then the payload): closed loop with one or
//     more messages in flight per connection, open loop at a fixed rate (one
//     message or a pipelined burst at each scheduled time), or idle
//     connections for measuring memory, in plaintext or over TLS
//     (LoadConfig.TLS: crypto/tls through internal/tlsio on the same loops).
//     Every echo is checked byte for byte; round trips go into HDR histograms.
//   - [LoadRequests] drives request/reply load against an envelope echo
//     (`echo serve -envelope`): a window of envelope requests in flight per
//     connection, the same Result.
//   - [ServeNet] is the net-package baseline: a goroutine per connection,
//     bufio, the same codec package; [ServeNetTLS] is the same over
//     crypto/tls, the baseline of the TLS scenarios ([TLSScenarios]).
//   - [ServeGnet] is a bare gnet echo: the ceiling for anything on gnet.
//   - [ServeNbio] is a bare nbio echo: the peer event-loop library.
//   - [Scenarios] are the benchmarks of the C++ original and the fixed-load
//     ones ([FixedScenarios]): a rate every server sustains well below its
//     core, where CPU time per message and latency compare the servers;
//     [Report] puts the runs of `echo compare` side by side as a table,
//     JSON or a plot.
//   - [ReadProcStats] and [CPUAt] read a server's CPU time and memory from
//     /proc.
//
// A run against a server listening on 127.0.0.1:9000:
//
//	res, err := bench.Load(ctx, bench.LoadConfig{
//		Addr:     "127.0.0.1:9000",
//		Conns:    100,
//		Payload:  64,
//		Warmup:   2 * time.Second,
//		Duration: 10 * time.Second,
//	})
//	if err != nil {
//		return err
//	}
//	return res.WriteText(os.Stdout)
//
// # Reading the numbers
//
// Closed loop (Rate 0) measures what the server sustains: each connection
// sends its next message when an echo comes back, so throughput and latency
// trade off as in Little's law (latency ≈ Conns×InFlight / msgs/s). Open
// loop (Rate > 0) sends on a fixed schedule whatever the server does and
// times each message from its scheduled send, so a server that stalls shows
// the whole stall in the latency instead of slowing the schedule down (no
// coordinated omission). Only messages sent in the measured window count;
// the warm-up's echoes are checked but not timed. Errors are connections
// lost, frames rejected, echoes that differ from what was sent (Mismatches)
// and messages never answered: any of them makes a run suspect.
//
// A figure means something only next to another measured in the same run on
// the same machine: `echo compare` reports each server against the net
// baseline, bare gnet and bare nbio as ratios. It also records the server's CPU time in
// the measured window. A server below BusyThreshold percent of a core was not
// the bottleneck: the load generator or the scenario set the pace, and the
// row speaks of latency at that load, not of the server's capacity.
//
// Over several rounds, Report.PairedRatios divides the engine's figures by
// each other server's within each round, and bare gnet's by net's (the
// ceiling for any server on gnet), and marks the calm rounds: host
// steal at most StealThreshold percent in both runs. The table gives the
// median of those ratios with a distribution-free 95% confidence interval,
// over all rounds and over the calm ones. One of the ratios is the server's
// CPU time per message: where the load generator set the pace, messages per
// second are the generator's and this is what compares the servers.
//
// # Pinning
//
// On a 2-core machine compare runs the server on CPU 0 and the load generator
// on CPU 1 (taskset), each with GOMAXPROCS=1, so that neither steals the
// other's core. Other load on the machine still shows: run on a quiet machine
// and repeat a run before trusting a small difference.
//
// # Concurrency
//
// Load runs its connections on gnet client event loops, one per GOMAXPROCS
// (at most one per connection), edge-triggered with one read per readiness
// event so that the generator serves its connections in the order their
// echoes arrive; each loop owns its connections, counters and
// histogram, so the per-message path takes no lock; Load gathers them by
// running a task on each loop. LoadConfig.Status is called on the goroutine
// that called Load. LoadRequests runs on the same loops, speaking the
// envelope's wire format itself, as lean as Load speaks the plain one (so
// that the ratio of the two measures the server, not two generators of
// different cost): it matches each answer to its request by ID and sends
// the next request under the ID just freed. ServeNet serves each connection on its own goroutine;
// ServeGnet's connections belong to its event loops, ServeNbio's to its
// pollers. Report and Scenario
// values are plain data.
package bench
