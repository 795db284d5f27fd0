package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strconv"
	"time"
)

// maxConns is the most attack connections one run opens: this process's fd
// limit is 20,000, and the server's side of loopback counts too.
const maxConns = 9000

// config is a run's settings; zero values take the scenario's defaults.
type config struct {
	scenario string
	addr     string // the echo server
	port     int    // addr's port
	monitor  string // the server's -monitor address (monitoridle)
	srv      proc
	conns    int           // attack connections (N, C, S, K, P; the cap for fdexhaust)
	frames   int           // frames per peer (halfclose, linger)
	size     int           // payload bytes per frame
	trials   int           // halfclose trials
	pause    time.Duration // halfclose: wait between shutdown and reading
	hold     time.Duration // how long the attack is held
	baseline time.Duration // linger: canary alone, before the attack
}

// scenario is one attack: its defaults and its run.
type scenario struct {
	about    string
	defaults config
	run      func(cfg config, r *report) error
}

var scenarios = map[string]scenario{
	"fdexhaust": {"fill the server's fd table with plain connections; does it keep serving and resume accepting?",
		config{conns: 4000}, fdExhaust},
	"monitoridle": {"idle HTTP keep-alive connections to -monitor: are they ever closed?",
		config{conns: 2000, hold: 30 * time.Second}, monitorIdle},
	"halfclose": {"send frames, shut down the write side, then read: are the replies whole?",
		config{frames: 2000, size: 4096, pause: 300 * time.Millisecond, trials: 8}, halfClose},
	"linger": {"peers half-close and read slowly: does a canary on the same loop stall?",
		config{conns: 300, frames: 500, size: 4096, hold: 15 * time.Second, baseline: 3 * time.Second}, linger},
	"partial": {"connections each hold an incomplete large frame: peak RSS, and is it returned?",
		config{conns: 8000, size: 1 << 20, hold: 20 * time.Second}, partial},
	"noread": {"peers send continuously and never read: peak RSS, and are they cut?",
		config{conns: 200, size: 4096, hold: 20 * time.Second}, noRead},
	"trickle": {"peers send one header byte a second: are they ever closed?",
		config{conns: 5000, hold: 40 * time.Second}, trickle},
}

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "attack:", err)
		}
		os.Exit(2)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	var cfg config
	var pid int
	var jsonPath string
	fs := flag.NewFlagSet("attack", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.scenario, "scenario", "", "the attack to run (see below)")
	fs.StringVar(&cfg.addr, "addr", "", "the echo server's address, host:port (loopback)")
	fs.StringVar(&cfg.monitor, "monitor", "", "the server's monitor address (monitoridle; default: the one other port the server listens on)")
	fs.IntVar(&pid, "pid", 0, "the server's process id, for its RSS and fds from /proc")
	fs.StringVar(&jsonPath, "json", "", "also write the report as JSON to this file (- for stdout)")
	fs.IntVar(&cfg.conns, "conns", 0, "attack connections (0: the scenario's default; at most 9000)")
	fs.IntVar(&cfg.frames, "frames", 0, "frames per peer (halfclose, linger)")
	fs.IntVar(&cfg.size, "frame-size", 0, "payload bytes per frame (halfclose, linger, partial, noread)")
	fs.IntVar(&cfg.trials, "trials", 0, "trials (halfclose)")
	fs.DurationVar(&cfg.pause, "pause", 0, "wait between shutdown and reading (halfclose)")
	fs.DurationVar(&cfg.hold, "hold", 0, "how long the attack is held (partial: the longest wait for RSS to settle)")
	fs.DurationVar(&cfg.baseline, "baseline", 0, "canary alone before the attack (linger)")
	fs.Usage = func() { usage(fs) }
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	sc, ok := scenarios[cfg.scenario]
	if !ok {
		usage(fs)
		return fmt.Errorf("unknown -scenario %q", cfg.scenario)
	}
	if pid <= 0 {
		return errors.New("-pid is required: the server's RSS and fds are read from /proc/PID")
	}
	cfg.srv = proc{pid}
	_, port, err := net.SplitHostPort(cfg.addr)
	if err != nil {
		return fmt.Errorf("-addr: %w", err)
	}
	if cfg.port, err = strconv.Atoi(port); err != nil {
		return fmt.Errorf("-addr port: %w", err)
	}
	if cfg.scenario == "monitoridle" && cfg.monitor == "" {
		if cfg.monitor, err = findMonitor(cfg); err != nil {
			return err
		}
	}
	cfg = withDefaults(cfg, sc.defaults)
	if cfg.conns > maxConns || cfg.conns < 0 {
		return fmt.Errorf("-conns %d: at most %d", cfg.conns, maxConns)
	}

	r := &report{scenario: cfg.scenario}
	start := time.Now()
	if err := sc.run(cfg, r); err != nil {
		return fmt.Errorf("%s: %w", cfg.scenario, err)
	}
	r.add("run_seconds", float64(time.Since(start).Round(10*time.Millisecond))/1e9)
	if err := r.text(stdout); err != nil {
		return err
	}
	if jsonPath == "" {
		return nil
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if jsonPath == "-" {
		_, err = stdout.Write(b)
		return err
	}
	return os.WriteFile(jsonPath, b, 0o644)
}

// findMonitor returns the one address, other than -addr, that the server
// listens on: its monitor.
func findMonitor(cfg config) (string, error) {
	var other []int
	for _, p := range cfg.srv.listenPorts() {
		if p != cfg.port {
			other = append(other, p)
		}
	}
	if len(other) != 1 {
		return "", fmt.Errorf("monitoridle: give -monitor (the server listens on ports %v besides %d)", other, cfg.port)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(other[0])), nil
}

// withDefaults fills cfg's zero settings from d.
func withDefaults(cfg, d config) config {
	pick := func(v *int, dv int) {
		if *v == 0 {
			*v = dv
		}
	}
	pickD := func(v *time.Duration, dv time.Duration) {
		if *v == 0 {
			*v = dv
		}
	}
	pick(&cfg.conns, d.conns)
	pick(&cfg.frames, d.frames)
	pick(&cfg.size, d.size)
	pick(&cfg.trials, d.trials)
	pickD(&cfg.pause, d.pause)
	pickD(&cfg.hold, d.hold)
	pickD(&cfg.baseline, d.baseline)
	return cfg
}

func usage(fs *flag.FlagSet) {
	out := fs.Output()
	fmt.Fprintln(out, "usage: go run ./internal/attack -scenario NAME -addr HOST:PORT -pid PID [flags]")
	fmt.Fprintln(out, "\nscenarios:")
	names := make([]string, 0, len(scenarios))
	for n := range scenarios {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(out, "  %-12s %s\n", n, scenarios[n].about)
	}
	fmt.Fprintln(out, "\nflags:")
	fs.PrintDefaults()
}
