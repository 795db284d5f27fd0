package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/netsys-go/netsys/codec"
	"github.com/netsys-go/netsys/engine"
	"github.com/netsys-go/netsys/metrics"
	"github.com/netsys-go/netsys/metrics/export"
	"github.com/netsys-go/netsys/session"
)

func init() {
	register("serve", command{summary: "run the netsys engine as an echo server", run: runServe})
}

func runServe(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:9000", "listen address: host:port (port 0 picks a free port) or unix:///path")
	codecName := fs.String("codec", "length", "framing: length (4-byte big-endian length, then payload), line, or raw")
	loops := fs.Int("loops", 0, "event loops (0: GOMAXPROCS)")
	maxConns := fs.Int("max-conns", engine.DefaultMaxConns(), "most concurrent sessions (default: the open-file limit less a tenth)")
	maxFrame := fs.Int("max-frame", engine.DefaultMaxFrameSize, "largest message payload in bytes")
	idle := fs.Duration("idle-timeout", 0, "close sessions without a complete message for this long (0: off)")
	highWater := fs.Int("write-high-water", engine.DefaultWriteHighWater, "close a session whose unsent bytes pass this")
	monitorAddr := fs.String("monitor", "", "serve /metrics and /stats on this address (a bare :port binds to 127.0.0.1)")
	withPprof := fs.Bool("pprof", false, "also serve /debug/pprof on the monitor address")
	reportEvery := fs.Duration("report-every", 0, "print the monitor's report to stderr at this interval (0: off)")
	verbose := fs.Bool("v", false, "log debug lines")
	cf := addClusterFlags(fs)        // cluster.go
	tlsFlags := addServeTLSFlags(fs) // tls.go
	// envelope.go: request/reply (issue 22)
	withEnvelope := fs.Bool("envelope", false, "speak the envelope (request/reply) and answer each request with its body")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	// The engine reads zero or negative as "the default"; here the defaults
	// are the flags', so such a value is a mistake, not a request.
	switch {
	case *loops < 0:
		return fmt.Errorf("-loops must be 0 (one per GOMAXPROCS) or more (got %d)", *loops)
	case *maxConns < 1, *maxFrame < 1, *highWater < 1:
		return fmt.Errorf("-max-conns, -max-frame and -write-high-water must be at least 1 (got %d, %d, %d)", *maxConns, *maxFrame, *highWater)
	case *idle < 0, *reportEvery < 0:
		return fmt.Errorf("-idle-timeout and -report-every must not be negative")
	}

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	// The engine's one info line says "listening", as the plain line below
	// does: it logs its warnings only, unless -v.
	engineLog := log
	if !*verbose {
		engineLog = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	c, err := pickCodec(*codecName, *maxFrame)
	if err != nil {
		return err
	}
	if *monitorAddr != "" { // refuse a bad address before anything starts
		if _, err := parseMonitorAddr(*monitorAddr); err != nil {
			return err
		}
	}
	if err := checkEnvelopeServe(*withEnvelope, *codecName, cf.fanout); err != nil { // envelope.go
		return err
	}
	if err := cf.prepare(log); err != nil { // cluster.go
		return err
	}
	tlsOpts, tlsCleanup, err := tlsFlags.options(log) // tls.go
	if err != nil {
		return err
	}
	defer tlsCleanup()
	mon := metrics.NewMonitor()
	handler := cf.handler(engine.HandlerFuncs{ // cluster.go: -fanout
		Message: func(s *session.Session, msg []byte) { _ = s.Reply(msg) },
	})
	if *withEnvelope { // envelope.go
		handler = envelopeEcho(engineLog, *maxFrame)
	}
	srv, err := engine.NewServer(handler,
		append([]engine.Option{
			engine.WithGroupHook(cf.groupHook()), // cluster.go
			engine.WithCodec(c), engine.WithLoops(*loops), engine.WithMaxConns(*maxConns),
			engine.WithMaxFrameSize(*maxFrame), engine.WithIdleTimeout(*idle),
			engine.WithWriteHighWater(*highWater), engine.WithMonitor(mon),
			engine.WithName("echo"), engine.WithLogger(engineLog)}, tlsOpts...)...) // tls.go
	if err != nil {
		return err
	}
	if err := srv.Start(*addr); err != nil {
		return err
	}
	stopCluster, err := cf.start(srv, log) // cluster.go
	if err != nil {
		_ = srv.Stop(context.Background())
		return err
	}
	defer stopCluster()
	if *monitorAddr != "" {
		stop, err := serveMonitor(*monitorAddr, mon, *withPprof, log, cf.collectors()...)
		if err != nil {
			_ = srv.Stop(context.Background())
			return err
		}
		defer stop()
	}
	announce(stdout, srv.Addr()) // last: whoever waits for it may use the monitor too
	if *reportEvery > 0 {
		tick := time.NewTicker(*reportEvery)
		defer tick.Stop()
		go func() {
			for range tick.C {
				fmt.Fprint(stderr, report(mon.Snapshot()))
			}
		}()
	}

	ctx, cancel := signal.NotifyContext(serveContext(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	ended := make(chan error, 1)
	go func() { ended <- srv.Wait() }()
	select {
	case <-ctx.Done():
	case err := <-ended:
		// The server stopped without being asked: say why, exit non-zero.
		if err == nil {
			err = errors.New("the server stopped")
		}
		return fmt.Errorf("engine stopped unexpectedly: %w", err)
	}
	log.Info("netsys: stopping")
	cf.report(stdout) // cluster.go
	stopCtx, cancelStop := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelStop()
	stopErr := srv.Stop(stopCtx)
	snap := mon.Snapshot()
	t := snap.Total
	fmt.Fprintf(stdout, "stopped after %.1fs: %d connections (%d rejected), %d messages in, %d out, %d bytes in, p99 %.0fµs\n",
		snap.UptimeSeconds, t.Connections.Total, t.Connections.Rejected,
		t.Messages.In, t.Messages.Out, t.Bytes.In, t.Latency.SinceStart.P99)
	return stopErr
}

// report formats snap for -report-every: with one source, whose figures
// are the total's, the total only, named after the source.
func report(snap metrics.Snapshot) string {
	if len(snap.Sources) != 1 {
		return snap.Report()
	}
	src := snap.Sources[0]
	snap.Sources = nil
	r := snap.Report()
	r = strings.Replace(r, "sources 0\n", fmt.Sprintf("source %s/%s\n", src.Kind, src.Name), 1)
	return strings.Replace(r, "== total ==", fmt.Sprintf("== %s/%s ==", src.Kind, src.Name), 1)
}

// serveContext is the context serve runs under until SIGINT or SIGTERM; tests
// replace it to stop the server.
var serveContext = context.Background

// pickCodec returns the codec the -codec flag names, limited to maxFrame.
func pickCodec(name string, maxFrame int) (codec.Codec, error) {
	switch name {
	case "length":
		return codec.NewLengthField(codec.LengthFieldConfig{Size: 4, Strip: 4, MaxFrame: maxFrame + 4})
	case "line":
		return codec.NewLine(maxFrame + 2), nil
	case "raw":
		return codec.Raw{}, nil
	}
	return nil, fmt.Errorf("unknown -codec %q: want length, line or raw", name)
}

// serveMonitor serves /metrics (Prometheus text, with the process and Go
// runtime collectors, and extra), /stats (JSON snapshot) and, with withPprof,
// /debug/pprof, on a hardened HTTP server (see monitorConfig). A bare ":port"
// binds to loopback only; runServe checks addr with parseMonitorAddr before it
// starts anything.
func serveMonitor(addr string, mon *metrics.Monitor, withPprof bool, log *slog.Logger, extra ...prometheus.Collector) (stop func(), err error) {
	addr, err = parseMonitorAddr(addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", export.MetricsHandler(mon, extra...)) // extra: the cluster node's, with -cluster
	mux.Handle("/stats", export.StatsHandler(mon))
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	ms, err := startMonitor(addr, mux, defaultMonitorConfig(withPprof), log)
	if err != nil {
		return nil, err
	}
	log.Info("netsys: monitor", "addr", ms.Addr().String(), "pprof", withPprof)
	return ms.Close, nil
}
