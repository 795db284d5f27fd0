package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/netsys-go/netsys/bench"
)

func init() {
	register("load", command{summary: "drive load against an echo server and report latency", run: runLoad})
}

// runLoad is `echo load`: one bench.Load run, with a live status line on
// stderr and the result on stdout. An interrupt ends the measured window
// early; the result is still printed.
func runLoad(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:9000", "address of the echo server: host:port or unix:///path")
	conns := fs.Int("conns", 100, "connections")
	size := fs.Int("size", 64, "payload bytes per message")
	inflight := fs.Int("inflight", 1, "messages in flight per connection (1 = request/response, more = pipelined); with -rate, messages per burst")
	warmup := fs.Duration("warmup", 2*time.Second, "traffic before the measured window, not measured")
	duration := fs.Duration("duration", 10*time.Second, "the measured window")
	rate := fs.Int("rate", 0, "open loop: messages per second over all connections, timed from their scheduled send (0 = closed loop)")
	idle := fs.Bool("idle", false, "send one message per connection, then hold the connections open (for server memory)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	name := fs.String("name", "", "name of the run, copied into the result")
	fanout := fs.Bool("fanout", false, "fan-out: against `serve -fanout` nodes (-addr a,b,c), every frame reaches every session; measures delivery latency at every receiver (needs -rate)")
	// envelope.go: request/reply (issue 22)
	requests := fs.Int("requests", 0, "envelope requests in flight per connection, against `serve -envelope` (0: plain echo messages)")
	tlsFlags := addLoadTLSFlags(fs) // tls.go
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	tlsCfg, err := tlsFlags.config(*addr)
	if err != nil {
		return err
	}
	// bench.LoadConfig reads zero as "the default"; on the command line the
	// defaults are the flags', so a zero there is a mistake, not a request.
	switch {
	case *conns < 1:
		return fmt.Errorf("-conns %d: want 1 or more", *conns)
	case *size < 1 || *size > bench.MaxPayload:
		return fmt.Errorf("-size %d: want 1 to %d bytes", *size, bench.MaxPayload)
	case *inflight < 1:
		return fmt.Errorf("-inflight %d: want 1 or more", *inflight)
	case *rate < 0:
		return fmt.Errorf("-rate %d: want 0 (closed loop) or more messages per second", *rate)
	case *warmup < 0:
		return fmt.Errorf("-warmup %v: want 0 or more", *warmup)
	case *duration <= 0:
		return fmt.Errorf("-duration %v: want more than 0", *duration)
	case *idle && (*rate > 0 || *inflight > 1):
		return errors.New("-idle sends one message per connection: no -rate or -inflight with it")
	case *requests < 0:
		return fmt.Errorf("-requests %d: want 0 (plain echo) or more", *requests)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *requests > 0 { // envelope.go
		return loadRequests(ctx, stdout, stderr, *asJSON, requestsFlags{inflight: *inflight, rate: *rate, idle: *idle, fanout: *fanout, tls: tlsCfg != nil},
			bench.RequestLoadConfig{Name: *name, Addr: *addr, Conns: *conns, Payload: *size, Requests: *requests, Warmup: *warmup, Duration: *duration})
	}
	if *fanout { // fanout.go
		return loadFanout(ctx, stdout, *addr, *conns, *size, *rate, *warmup, *duration)
	}
	status := newStatusLine(stderr)
	res, err := bench.Load(ctx, bench.LoadConfig{
		Name:     *name,
		Addr:     *addr,
		Conns:    *conns,
		Payload:  *size,
		InFlight: *inflight,
		Warmup:   *warmup,
		Duration: *duration,
		Rate:     *rate,
		Idle:     *idle,
		TLS:      tlsCfg,
		Status:   func(p bench.Progress) { status.show(p.String()) },
	})
	status.end()
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	return res.WriteText(stdout)
}

// maxColumns is the widest line the commands print as status: an
// 80-column terminal shows it whole without wrapping.
const maxColumns = 79

// statusLine shows lines of status. On a terminal each new line replaces
// the last (carriage return, then padding over any longer previous line);
// anywhere else, such as a file or a pipe, each is a plain line of its own.
// Lines are cut to maxColumns either way.
type statusLine struct {
	w     io.Writer
	tty   bool
	width int
}

// newStatusLine returns a statusLine writing to w, in place if w is a
// terminal.
func newStatusLine(w io.Writer) *statusLine {
	return &statusLine{w: w, tty: isTerminal(w)}
}

func (s *statusLine) show(line string) {
	line = fit(line)
	if !s.tty {
		fmt.Fprintln(s.w, line)
		return
	}
	n := len([]rune(line))
	fmt.Fprintf(s.w, "\r%s%*s", line, max(s.width-n, 0), "")
	s.width = n
}

// end moves past the status line, if one was shown in place.
func (s *statusLine) end() {
	if s.width > 0 {
		fmt.Fprintln(s.w)
		s.width = 0
	}
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// fit cuts line to maxColumns, ending it with "…" if it was longer.
func fit(line string) string {
	r := []rune(line)
	if len(r) <= maxColumns {
		return line
	}
	return string(r[:maxColumns-1]) + "…"
}
