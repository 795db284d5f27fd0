package main

import (
	"context"
	"encoding/json"
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
	addr := fs.String("addr", "127.0.0.1:9000", "address of the echo server")
	conns := fs.Int("conns", 100, "connections")
	size := fs.Int("size", 64, "payload bytes per message")
	inflight := fs.Int("inflight", 1, "closed loop: messages in flight per connection (1 = request/response, more = pipelined)")
	warmup := fs.Duration("warmup", 2*time.Second, "traffic before the measured window, not measured")
	duration := fs.Duration("duration", 10*time.Second, "the measured window")
	rate := fs.Int("rate", 0, "open loop: messages per second over all connections, timed from their scheduled send (0 = closed loop)")
	idle := fs.Bool("idle", false, "send one message per connection, then hold the connections open (for server memory)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	name := fs.String("name", "", "name of the run, copied into the result")
	tlsFlags := addLoadTLSFlags(fs)
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
	case *conns < 1, *size < 1, *inflight < 1:
		return fmt.Errorf("-conns, -size and -inflight must be at least 1 (got %d, %d, %d)", *conns, *size, *inflight)
	case *duration <= 0:
		return fmt.Errorf("-duration must be positive (got %v)", *duration)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	status := statusLine{w: stderr}
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

// statusLine shows a line of status on a terminal, each new one over the
// last (carriage return, then padding over any longer previous line).
type statusLine struct {
	w     io.Writer
	width int
}

func (s *statusLine) show(line string) {
	n := len([]rune(line))
	fmt.Fprintf(s.w, "\r%s%*s", line, max(s.width-n, 0), "")
	s.width = n
}

// end moves past the status line, if one was shown.
func (s *statusLine) end() {
	if s.width > 0 {
		fmt.Fprintln(s.w)
		s.width = 0
	}
}
