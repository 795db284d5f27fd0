package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/netsys-go/netsys/bench"
	"github.com/netsys-go/netsys/internal/certs"
)

func init() {
	register("compare", command{summary: "benchmark netsys beside net, bare gnet and bare nbio", run: runCompare})
}

const (
	serverStartTimeout = 15 * time.Second      // for a server's "listening" line
	serverStopTimeout  = 10 * time.Second      // after SIGTERM, before SIGKILL
	procSampleEvery    = 20 * time.Millisecond // server CPU and memory sampling during a load run
	loadExtraTime      = 2 * time.Minute       // a load child's limit beyond its warm-up and window
	interruptDelay     = 5 * time.Second       // a load child's time to exit after an interrupt
	stderrTail         = 20                    // lines of a failed child's stderr kept for the error
	listeningPrefix    = "listening "          // a server's first line on stdout
	gcTracePrefix      = "gc "                 // GODEBUG=gctrace=1 lines: "gc 12 @3.456s 2%: ..."
	cpuServer, cpuLoad = 0, 1                  // CPUs when pinned
	runOverhead        = time.Second           // per run, beyond warm-up and window: start, connect, drain, stop
	connectsPerSecond  = 5000                  // for the estimate of a run's time
)

// runCompare is `echo compare`: every scenario against every server, each
// server a child process of this binary (pinned to CPU 0) and the load
// generator another (pinned to CPU 1), then a side-by-side report.
func runCompare(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "run the quick subset of scenarios, with short windows (about a minute and a half)")
	fixed := fs.Bool("fixed", false, "run the fixed-load scenarios only: CPU per message and latency at a load every server sustains")
	tlsSet := fs.Bool("tls", false, "run the TLS scenarios only: the engine and net on crypto/tls, with a certificate made for the run")
	list := fs.Bool("list", false, "list the scenarios (with -quick, -fixed or -tls: that set) and run nothing")
	filter := fs.String("scenario", "", "run only the scenarios whose name matches this regexp")
	serverList := fs.String("servers", strings.Join(bench.Servers, ","), "servers to compare, comma-separated: "+strings.Join(bench.Servers, ", ")+
		" (each runs in the scenarios meant for it)")
	jsonPath := fs.String("json", "", "also write the report as JSON to this file")
	svgPath := fs.String("svg", "", "also plot the report as SVG to this file")
	pngPath := fs.String("png", "", "also plot the report as PNG to this file")
	latency := fs.String("latency", "", "scenario whose latency percentiles the plot shows (default: "+defaultLatency+" if it ran, else the first with latencies)")
	noPin := fs.Bool("no-pin", false, "do not pin the server to CPU 0 and the load generator to CPU 1")
	warmup := fs.Duration("warmup", 0, "override every scenario's warm-up (0 = the scenario's own)")
	duration := fs.Duration("duration", 0, "override every scenario's measured window (0 = the scenario's own)")
	rate := fs.Int("rate", 0, "override the offered rate, msg/s, of every fixed-rate scenario (0 = the scenario's own): to calibrate one")
	rounds := fs.Int("rounds", 1, "run every scenario against every server this many times, in rotating order, and report the median run and the paired ratios per round")
	gogc := fs.String("gogc", "", "GOGC for every server child, the same for all (empty: Go's default)")
	from := fs.String("from", "", "run nothing: print the report of an earlier run from its -json file (with -json, -svg or -png, write it again)")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if *quick && *fixed {
		return errors.New("-quick and -fixed are two sets of scenarios: choose one")
	}
	if *tlsSet && (*quick || *fixed) {
		return errors.New("-tls and -quick or -fixed are sets of scenarios: choose one")
	}
	set := bench.Scenarios(*quick)
	switch {
	case *fixed:
		set = bench.FixedScenarios()
	case *tlsSet:
		set = tlsScenarios()
	}
	if *list {
		return listScenarios(stdout, set)
	}
	if *from != "" {
		var runFlags []string
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "from", "json", "svg", "png", "latency": // what -from reads and writes
			default:
				runFlags = append(runFlags, "-"+f.Name)
			}
		})
		if len(runFlags) > 0 {
			return fmt.Errorf("-from prints a saved report; %s would change a run", strings.Join(runFlags, ", "))
		}
		return reprint(*from, stdout, stderr, *jsonPath, *svgPath, *pngPath, *latency)
	}
	if *rounds < 1 {
		return fmt.Errorf("-rounds %d: want at least 1", *rounds)
	}
	if *rate < 0 {
		return fmt.Errorf("-rate %d: want 0 (the scenario's own) or more", *rate)
	}
	if *warmup < 0 || *duration < 0 {
		return fmt.Errorf("-warmup %v, -duration %v: want 0 (the scenario's own) or more", *warmup, *duration)
	}
	if _, err := strconv.Atoi(*gogc); *gogc != "" && *gogc != "off" && err != nil {
		return fmt.Errorf("-gogc %q: want a percentage or off, as GOGC takes", *gogc)
	}
	re, err := regexp.Compile(*filter)
	if err != nil {
		return fmt.Errorf("-scenario: %w", err)
	}
	var scenarios []bench.Scenario
	for _, s := range set {
		if re.MatchString(s.Name) {
			if *warmup > 0 {
				s.Warmup = *warmup
			}
			if *duration > 0 {
				s.Duration = *duration
			}
			if *rate > 0 && s.Rate > 0 {
				s.Rate = *rate
			}
			scenarios = append(scenarios, s)
		}
	}
	if len(scenarios) == 0 {
		return fmt.Errorf("-scenario: no scenario matches %q; the scenarios (-list for more) are:\n  %s",
			*filter, strings.Join(scenarioNames(set), "\n  "))
	}
	servers := strings.Split(*serverList, ",")
	for _, s := range servers {
		if _, ok := serverArgs[s]; !ok {
			return fmt.Errorf("-servers: unknown server %q; want some of %s", s, strings.Join(bench.Servers, ", "))
		}
	}
	plan := planRuns(scenarios, servers)
	if len(plan) == 0 {
		return fmt.Errorf("-servers %s: none of them runs in the scenarios chosen (-list says which run where)", *serverList)
	}
	if *latency != "" {
		if err := checkLatency(*latency, plan); err != nil {
			return err
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	_, lookErr := exec.LookPath("taskset")
	pin := !*noPin && lookErr == nil && runtime.NumCPU() >= 2
	if !pin && !*noPin {
		fmt.Fprintln(stderr, "compare: not pinning: taskset is missing or there are fewer than 2 CPUs")
	}

	tlsFiles, cleanup, err := compareCerts(plan) // tlsbench.go
	if err != nil {
		return err
	}
	defer cleanup()

	writeHeader(stderr, plan, *rounds, pin)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep := bench.Report{Pinned: pin, Rounds: *rounds, GOGC: *gogc}
	var failed []string
	runs := map[[2]string][]bench.Run{} // by scenario and server
	for round := range *rounds {
		for _, p := range plan {
			sc := p.scenario
			if ctx.Err() != nil {
				break
			}
			roundNote := ""
			if *rounds > 1 {
				roundNote = fmt.Sprintf(", round %d of %d", round+1, *rounds)
			}
			fmt.Fprintln(stderr, fit(fmt.Sprintf("%s (%s%s)", sc.Name, describe(sc), roundNote)))
			for i := range p.servers {
				// Rotate the order each round, so that no server always runs
				// first or last after a scenario's setup.
				server := p.servers[(i+round)%len(p.servers)]
				if ctx.Err() != nil {
					break
				}
				run, err := measure(ctx, exe, sc, server, pin, *gogc, tlsFiles, stderr)
				if err != nil {
					failed = append(failed, fmt.Sprintf("%s against %s (round %d): %v", sc.Name, server, round+1, err))
					fmt.Fprintf(stderr, "  %s: failed: %v\n", server, err)
					continue
				}
				key := [2]string{sc.Name, server}
				runs[key] = append(runs[key], run)
			}
		}
	}
	for _, p := range plan {
		for _, server := range p.servers {
			if rs := runs[[2]string{p.scenario.Name, server}]; len(rs) > 0 {
				rep.Runs = append(rep.Runs, bench.Median(rs))
			}
		}
	}
	if len(rep.Runs) > 0 {
		fmt.Fprintln(stdout)
		if err := rep.WriteTable(stdout); err != nil {
			return err
		}
		if err := writeRequestRatio(stdout, &rep); err != nil { // envelope.go
			return err
		}
		if err := writeOutputs(&rep, stderr, *jsonPath, *svgPath, *pngPath, *latency); err != nil {
			return err
		}
	}
	switch {
	case len(failed) > 0:
		return fmt.Errorf("%d of %d runs failed:\n  %s", len(failed), *rounds*countRuns(plan), strings.Join(failed, "\n  "))
	case ctx.Err() != nil:
		return errors.New("interrupted")
	}
	return nil
}

// reprint prints the report saved as JSON in path, and writes it again in
// the forms asked for: the table and ratios come from the report's figures
// by this build's rules, so an earlier run can be read with ratios added
// since.
func reprint(path string, stdout, stderr io.Writer, jsonPath, svgPath, pngPath, latency string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var rep bench.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return fmt.Errorf("-from %s: %w", path, err)
	}
	if len(rep.Runs) == 0 || rep.Rounds < 1 {
		return fmt.Errorf("-from %s: not a compare report: no runs", path)
	}
	if latency != "" && !rep.HasLatency(latency) {
		has := "none"
		if names := rep.LatencyScenarios(); len(names) > 0 {
			has = strings.Join(names, ", ")
		}
		return fmt.Errorf("-latency %q: %s has no latencies of that scenario; it has latencies of %s", latency, path, has)
	}
	if err := rep.WriteTable(stdout); err != nil {
		return err
	}
	if err := writeRequestRatio(stdout, &rep); err != nil { // envelope.go
		return err
	}
	return writeOutputs(&rep, stderr, jsonPath, svgPath, pngPath, latency)
}

// writeOutputs writes the JSON report and the plots that were asked for,
// and says on w what it wrote where.
func writeOutputs(rep *bench.Report, w io.Writer, jsonPath, svgPath, pngPath, latency string) error {
	if jsonPath != "" {
		var b bytes.Buffer
		if err := rep.WriteJSON(&b); err != nil {
			return err
		}
		if err := os.WriteFile(jsonPath, b.Bytes(), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(w, "wrote the report as JSON to %s (-from prints it again)\n", jsonPath)
	}
	if latency == "" {
		latency = defaultLatency
	}
	for _, path := range []string{svgPath, pngPath} {
		if path != "" {
			shown, err := rep.Plot(path, latency)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "wrote the plot to %s (latency of %s)\n", path, shown)
		}
	}
	return nil
}

// defaultLatency is the scenario whose latencies the plot shows unless
// -latency names another.
const defaultLatency = "closed-100c-64B"

// planned is a scenario with the servers it runs against.
type planned struct {
	scenario bench.Scenario
	servers  []string
}

// planRuns returns, for each scenario, the servers of servers that it runs
// against, leaving out scenarios with none.
func planRuns(scenarios []bench.Scenario, servers []string) []planned {
	var plan []planned
	for _, sc := range scenarios {
		p := planned{scenario: sc}
		for _, s := range servers {
			if sc.RunsOn(s) {
				p.servers = append(p.servers, s)
			}
		}
		if len(p.servers) > 0 {
			plan = append(plan, p)
		}
	}
	return plan
}

// countRuns returns the runs of one round of plan.
func countRuns(plan []planned) int {
	n := 0
	for _, p := range plan {
		n += len(p.servers)
	}
	return n
}

// runTime estimates how long one run of sc takes.
func runTime(sc bench.Scenario) time.Duration {
	perSecond := connectsPerSecond
	if sc.TLS {
		perSecond = tlsConnectsPerSecond // tlsbench.go
	}
	return sc.Warmup + sc.Duration + runOverhead + time.Duration(sc.Conns)*time.Second/time.Duration(perSecond)
}

// checkLatency refuses a -latency that names no scenario with latencies in
// plan.
func checkLatency(name string, plan []planned) error {
	var names []string
	why := "not in this run"
	for _, p := range plan {
		switch {
		case p.scenario.Idle && p.scenario.Name == name:
			why = "idle, no latencies"
		case p.scenario.Idle:
		case p.scenario.Name == name:
			return nil
		default:
			names = append(names, p.scenario.Name)
		}
	}
	return fmt.Errorf("-latency %q: %s; scenarios with latencies:\n  %s", name, why, strings.Join(names, "\n  "))
}

// describe says in a few words what sc runs: "100 conns, 64 B, closed loop,
// 2s + 10s".
func describe(sc bench.Scenario) string {
	over := ""
	if sc.Unix {
		over = ", Unix socket"
	}
	if sc.TLS {
		over += ", TLS"
	}
	return fmt.Sprintf("%s conns, %s, %s%s, %v + %v", group(float64(sc.Conns)), size(sc.Payload), sc.Mode(), over, sc.Warmup, sc.Duration)
}

// size formats a payload size: 64 B, 1 KiB, 1 MiB.
func size(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// writeHeader says what compare is about to run, and for about how long.
func writeHeader(w io.Writer, plan []planned, rounds int, pin bool) {
	var total time.Duration
	for _, p := range plan {
		total += time.Duration(len(p.servers)) * runTime(p.scenario)
	}
	total *= time.Duration(rounds)
	fmt.Fprintln(w, fit(fmt.Sprintf("compare: %s, %s a round, %s: about %v",
		plural(len(plan), "scenario"), plural(countRuns(plan), "run"), plural(rounds, "round"), total.Round(time.Second))))
	for _, p := range plan {
		fmt.Fprintln(w, fit(fmt.Sprintf("  %s against %s", p.scenario.Name, strings.Join(p.servers, ", "))))
		fmt.Fprintln(w, fit("      "+describe(p.scenario)))
	}
	if pin {
		fmt.Fprintln(w, "Server on CPU 0, load generator on CPU 1, GOMAXPROCS=1 each.")
	}
	fmt.Fprintln(w)
}

// plural formats n things: "1 round", "2 rounds".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// listScenarios writes the scenarios of set, what each measures and the
// servers it runs against.
func listScenarios(w io.Writer, set []bench.Scenario) error {
	for _, sc := range set {
		servers := bench.Servers
		if sc.Servers != nil {
			servers = sc.Servers
		}
		if _, err := fmt.Fprintf(w, "%s\n    %s\n    %s\n    servers: %s\n", sc.Name, sc.About, describe(sc), strings.Join(servers, ", ")); err != nil {
			return err
		}
	}
	return nil
}

// scenarioNames returns the names of set.
func scenarioNames(set []bench.Scenario) []string {
	names := make([]string, len(set))
	for i, sc := range set {
		names[i] = sc.Name
	}
	return names
}

// serverArgs are the command lines, after the binary, of the servers, less
// their -addr flag.
var serverArgs = map[string][]string{
	"engine": {"serve", "-loops", "1", "-max-conns", "20000"},
	"net":    {"baseline", "-kind", "net"},
	"gnet":   {"baseline", "-kind", "gnet", "-loops", "1"},
	"nbio":   {"baseline", "-kind", "nbio", "-loops", "1"},
}

// loopbackAddr is where a server listens in a TCP scenario: a free port on
// the loopback.
const loopbackAddr = "127.0.0.1:0"

// measure runs scenario sc against a fresh server child and returns the load
// result with the server's CPU time, GC cycles and memory in the measured
// window. The load child reports when its window began, on the wall clock;
// the server's CPU time at both ends is interpolated from samples taken
// meanwhile, so the figures do not depend on how promptly either child is
// scheduled.
func measure(ctx context.Context, exe string, sc bench.Scenario, server string, pin bool, gogc string, tlsFiles *certs.Files, stderr io.Writer) (bench.Run, error) {
	addr := loopbackAddr
	if sc.Unix { // a socket in a directory of its own, removed after the server stops
		dir, err := os.MkdirTemp("", "netsys-compare-")
		if err != nil {
			return bench.Run{}, err
		}
		defer os.RemoveAll(dir)
		addr = "unix://" + filepath.Join(dir, "echo.sock")
	}
	srv, err := startServer(exe, server, addr, pin, gogc, append(serveExtraArgs(sc, server), serverTLSArgs(sc, tlsFiles)...)...) // envelope.go, tlsbench.go
	if err != nil {
		return bench.Run{}, err
	}
	defer srv.stop()
	before, err := bench.ReadProcStats(srv.pid)
	if err != nil {
		return bench.Run{}, err
	}
	quit := make(chan struct{})
	sampled := make(chan []bench.ProcSample, 1)
	go func() { sampled <- sampleProc(srv.pid, quit) }()

	status := newStatusLine(stderr)
	label := fmt.Sprintf("  %-6s ", server)
	out, err := runLoadChild(ctx, exe, sc, srv.addr, pin, loadTLSArgs(sc, tlsFiles), func(line string) { status.show(label + line) })
	close(quit)
	samples := <-sampled
	status.end()
	if err != nil {
		return bench.Run{}, err
	}
	var res bench.Result
	if err := json.Unmarshal(out, &res); err != nil {
		return bench.Run{}, fmt.Errorf("load result %q: %w", out, err)
	}
	after, err := bench.SampleProc(srv.pid)
	if err != nil {
		return bench.Run{}, err
	}
	samples = append(samples, after)
	end := res.Start.Add(res.Duration)
	run := bench.Run{
		Scenario:  sc.Name,
		Server:    server,
		Load:      res,
		ServerCPU: (bench.CPUAt(samples, end) - bench.CPUAt(samples, res.Start)).Seconds(),
		GCCycles:  srv.gcsBetween(res.Start, end),
		IdleRSS:   before.RSS,
		LoadRSS:   before.RSS,
		PeakRSS:   after.PeakRSS,
	}
	for _, s := range samples {
		run.LoadRSS = max(run.LoadRSS, s.RSS)
	}
	if d := res.Duration.Seconds(); d > 0 {
		run.ServerBusy = 100 * run.ServerCPU / d
		stolen := (bench.StealAt(samples, end) - bench.StealAt(samples, res.Start)).Seconds()
		run.HostSteal = 100 * stolen / (d * float64(runtime.NumCPU()))
	}
	fmt.Fprintln(stderr, summaryLine(label, run))
	return run, nil
}

// summaryLine says in one line of at most maxColumns how a run went: for an
// idle run the server's memory per connection, else its throughput, tail
// latency and CPU per message.
func summaryLine(label string, run bench.Run) string {
	res := run.Load
	var line string
	if res.Idle {
		line = fmt.Sprintf("%s%s conns held  %.1f KiB/conn  cpu %.0f%%  steal %.0f%%",
			label, group(float64(res.Conns)), run.RSSPerConn()/(1<<10), run.ServerBusy, run.HostSteal)
	} else {
		line = fmt.Sprintf("%s%s msg/s  p99 %s µs  cpu %.0f%% %.2f µs/msg  steal %.0f%%",
			label, group(res.MsgsPerSec), group(res.Latency.P99), run.ServerBusy, run.CPUPerMessage(), run.HostSteal)
	}
	if res.Errors > 0 {
		line += fmt.Sprintf("  %s errors", group(float64(res.Errors)))
	}
	return fit(line)
}

// sampleProc reads the statistics of process pid every procSampleEvery
// until quit is closed, and returns them.
func sampleProc(pid int, quit <-chan struct{}) []bench.ProcSample {
	var samples []bench.ProcSample
	tick := time.NewTicker(procSampleEvery)
	defer tick.Stop()
	for {
		if s, err := bench.SampleProc(pid); err == nil {
			samples = append(samples, s)
		}
		select {
		case <-quit:
			return samples
		case <-tick.C:
		}
	}
}

// runLoadChild runs `echo load -json` for sc against addr, with the extra
// flags (a TLS scenario's), pinned to CPU 1 if pin, passes each status line
// to onStatus and returns its stdout.
func runLoadChild(ctx context.Context, exe string, sc bench.Scenario, addr string, pin bool, extra []string, onStatus func(string)) ([]byte, error) {
	args := []string{"load", "-json", "-addr", addr, "-name", sc.Name,
		"-conns", strconv.Itoa(sc.Conns), "-size", strconv.Itoa(sc.Payload),
		"-inflight", strconv.Itoa(max(sc.InFlight, 1)), "-rate", strconv.Itoa(sc.Rate),
		"-warmup", sc.Warmup.String(), "-duration", sc.Duration.String()}
	if sc.Idle {
		args = append(args, "-idle")
	}
	args = append(args, loadExtraArgs(sc)...) // envelope.go
	args = append(args, extra...)
	ctx, cancel := context.WithTimeout(ctx, sc.Warmup+sc.Duration+loadExtraTime)
	defer cancel()
	cmd := child(ctx, exe, args, pin, cpuLoad)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) } // the child still reports
	cmd.WaitDelay = interruptDelay
	var stdout bytes.Buffer
	tail := &lineTail{}
	cmd.Stdout = &stdout
	cmd.Stderr = &lineWriter{fn: func(line string) {
		onStatus(line)
		tail.add(line)
	}}
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("load generator: %w%s", err, tail)
	}
	return stdout.Bytes(), nil
}

// serverChild is a server running as a child process.
type serverChild struct {
	cmd    *exec.Cmd
	pid    int
	addr   string
	tail   lineTail   // its last stderr lines other than GC traces, for errors
	exited chan error // receives Wait's result

	mu  sync.Mutex
	gcs []time.Time // when each "gc N @" line came on its stderr
}

// gcsBetween returns how many GC trace lines came between from and to.
func (s *serverChild) gcsBetween(from, to time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, t := range s.gcs {
		if !t.Before(from) && !t.After(to) {
			n++
		}
	}
	return n
}

// startServer starts server as a child of exe listening on addr, with the
// extra flags after its own (a TLS scenario's), pinned to
// CPU 0 if pin, with GOMAXPROCS=1 and GODEBUG=gctrace=1, and waits for its
// "listening" line.
func startServer(exe, server, addr string, pin bool, gogc string, extra ...string) (*serverChild, error) {
	s := &serverChild{exited: make(chan error, 1)}
	args := append(append(slices.Clip(serverArgs[server]), "-addr", addr), extra...) // extra: envelope.go, tlsbench.go
	s.cmd = child(context.Background(), exe, args, pin, cpuServer)
	s.cmd.Env = append(os.Environ(), "GOMAXPROCS=1", "GODEBUG=gctrace=1")
	if gogc != "" {
		s.cmd.Env = append(s.cmd.Env, "GOGC="+gogc)
	}
	listening := make(chan string, 1)
	s.cmd.Stdout = &lineWriter{fn: func(line string) {
		if a, ok := strings.CutPrefix(line, listeningPrefix); ok {
			select {
			case listening <- strings.TrimSpace(a):
			default:
			}
		}
	}}
	s.cmd.Stderr = &lineWriter{fn: func(line string) {
		if strings.HasPrefix(line, gcTracePrefix) && strings.Contains(line, " @") {
			s.mu.Lock()
			s.gcs = append(s.gcs, time.Now())
			s.mu.Unlock()
		} else {
			s.tail.add(line)
		}
	}}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s server: %w", server, err)
	}
	s.pid = s.cmd.Process.Pid // taskset execs the server: same process
	go func() { s.exited <- s.cmd.Wait() }()
	timer := time.NewTimer(serverStartTimeout)
	defer timer.Stop()
	select {
	case s.addr = <-listening:
		return s, nil
	case err := <-s.exited:
		return nil, fmt.Errorf("%s server exited before listening: %v%s", server, err, &s.tail)
	case <-timer.C:
		s.stop()
		return nil, fmt.Errorf("%s server did not print %q within %v%s", server, listeningPrefix+"<addr>", serverStartTimeout, &s.tail)
	}
}

// stop asks the server to stop with SIGTERM, kills it if it has not exited
// within serverStopTimeout, and waits for it.
func (s *serverChild) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	timer := time.NewTimer(serverStopTimeout)
	defer timer.Stop()
	select {
	case <-s.exited:
	case <-timer.C:
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// child returns the command running exe with args, under `taskset -c cpu`
// if pin.
func child(ctx context.Context, exe string, args []string, pin bool, cpu int) *exec.Cmd {
	if pin {
		return exec.CommandContext(ctx, "taskset", append([]string{"-c", strconv.Itoa(cpu), exe}, args...)...)
	}
	return exec.CommandContext(ctx, exe, args...)
}

// lineWriter is an io.Writer that calls fn with each line written to it,
// lines ending in '\n' or '\r' (status lines are rewritten in place with
// '\r'). exec.Cmd calls Write from one goroutine.
type lineWriter struct {
	buf []byte
	fn  func(line string)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexAny(w.buf, "\r\n")
		if i < 0 {
			break
		}
		if line := strings.TrimSpace(string(w.buf[:i])); line != "" {
			w.fn(line)
		}
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

// lineTail keeps the last stderrTail lines added to it. It is safe for
// concurrent use.
type lineTail struct {
	mu    sync.Mutex
	lines []string
}

func (t *lineTail) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, line)
	if len(t.lines) > stderrTail {
		t.lines = t.lines[1:]
	}
}

// String returns the lines kept, each on a new indented line, or "".
func (t *lineTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) == 0 {
		return ""
	}
	return "\n    " + strings.Join(t.lines, "\n    ")
}

// group formats n rounded, with commas between groups of three digits.
func group(n float64) string {
	s := strconv.FormatInt(int64(n+0.5), 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
