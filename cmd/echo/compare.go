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
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/netsys-go/netsys/bench"
)

func init() {
	register("compare", command{summary: "benchmark netsys against net and bare gnet, side by side", run: runCompare})
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
)

// runCompare is `echo compare`: every scenario against every server, each
// server a child process of this binary (pinned to CPU 0) and the load
// generator another (pinned to CPU 1), then a side-by-side report.
func runCompare(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "run the quick subset of scenarios (about 30 s for three servers)")
	filter := fs.String("scenario", "", "run only the scenarios whose name matches this regexp")
	serverList := fs.String("servers", "engine,net,gnet", "servers to compare, comma-separated: engine, net, gnet")
	jsonPath := fs.String("json", "", "also write the report as JSON to this file")
	svgPath := fs.String("svg", "", "also plot the report as SVG to this file")
	pngPath := fs.String("png", "", "also plot the report as PNG to this file")
	latency := fs.String("latency", "closed-100c-64B", "scenario whose latency percentiles the plot shows")
	noPin := fs.Bool("no-pin", false, "do not pin the server to CPU 0 and the load generator to CPU 1")
	warmup := fs.Duration("warmup", 0, "override every scenario's warm-up (0 = the scenario's own)")
	duration := fs.Duration("duration", 0, "override every scenario's measured window (0 = the scenario's own)")
	rounds := fs.Int("rounds", 1, "run every scenario against every server this many times, in rotating order, and report the median run and the paired ratios per round")
	gogc := fs.String("gogc", "", "GOGC for every server child, the same for all (empty: Go's default)")
	from := fs.String("from", "", "run nothing: print the report of an earlier run from its -json file (with -json, -svg or -png, write it again)")
	if err := parseArgs(fs, args); err != nil {
		return err
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
		return reprint(*from, stdout, *jsonPath, *svgPath, *pngPath, *latency)
	}
	if *rounds < 1 {
		return fmt.Errorf("-rounds %d: want at least 1", *rounds)
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
	for _, s := range bench.Scenarios(*quick) {
		if re.MatchString(s.Name) {
			if *warmup > 0 {
				s.Warmup = *warmup
			}
			if *duration > 0 {
				s.Duration = *duration
			}
			scenarios = append(scenarios, s)
		}
	}
	if len(scenarios) == 0 {
		return fmt.Errorf("no scenario matches %q", *filter)
	}
	servers := strings.Split(*serverList, ",")
	for _, s := range servers {
		if _, ok := serverArgs[s]; !ok {
			return fmt.Errorf("-servers: unknown server %q; want engine, net or gnet", s)
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

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep := bench.Report{Pinned: pin, Rounds: *rounds, GOGC: *gogc}
	var failed []string
	runs := map[[2]string][]bench.Run{} // by scenario and server
	for round := range *rounds {
		for _, sc := range scenarios {
			for i := range servers {
				// Rotate the order each round, so that no server always runs
				// first or last after a scenario's setup.
				server := servers[(i+round)%len(servers)]
				if ctx.Err() != nil {
					break
				}
				run, err := measure(ctx, exe, sc, server, pin, *gogc, stderr)
				if err != nil {
					failed = append(failed, fmt.Sprintf("%s against %s (round %d): %v", sc.Name, server, round+1, err))
					fmt.Fprintf(stderr, "%s %s: failed: %v\n", sc.Name, server, err)
					continue
				}
				key := [2]string{sc.Name, server}
				runs[key] = append(runs[key], run)
			}
		}
	}
	for _, sc := range scenarios {
		for _, server := range servers {
			if rs := runs[[2]string{sc.Name, server}]; len(rs) > 0 {
				rep.Runs = append(rep.Runs, bench.Median(rs))
			}
		}
	}
	if len(rep.Runs) > 0 {
		fmt.Fprintln(stdout)
		if err := rep.WriteTable(stdout); err != nil {
			return err
		}
		if err := writeOutputs(&rep, *jsonPath, *svgPath, *pngPath, *latency); err != nil {
			return err
		}
	}
	switch {
	case len(failed) > 0:
		return fmt.Errorf("%d of %d runs failed:\n  %s", len(failed), *rounds*len(scenarios)*len(servers), strings.Join(failed, "\n  "))
	case ctx.Err() != nil:
		return errors.New("interrupted")
	}
	return nil
}

// reprint prints the report saved as JSON in path, and writes it again in
// the forms asked for: the table and ratios come from the report's figures
// by this build's rules, so an earlier run can be read with ratios added
// since.
func reprint(path string, stdout io.Writer, jsonPath, svgPath, pngPath, latency string) error {
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
	if err := rep.WriteTable(stdout); err != nil {
		return err
	}
	return writeOutputs(&rep, jsonPath, svgPath, pngPath, latency)
}

// writeOutputs writes the JSON report and the plots that were asked for.
func writeOutputs(rep *bench.Report, jsonPath, svgPath, pngPath, latency string) error {
	if jsonPath != "" {
		var b bytes.Buffer
		if err := rep.WriteJSON(&b); err != nil {
			return err
		}
		if err := os.WriteFile(jsonPath, b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	for _, path := range []string{svgPath, pngPath} {
		if path != "" {
			if err := rep.Plot(path, latency); err != nil {
				return err
			}
		}
	}
	return nil
}

// serverArgs are the command lines, after the binary, of the servers.
var serverArgs = map[string][]string{
	"engine": {"serve", "-addr", "127.0.0.1:0", "-loops", "1", "-max-conns", "20000"},
	"net":    {"baseline", "-kind", "net", "-addr", "127.0.0.1:0"},
	"gnet":   {"baseline", "-kind", "gnet", "-addr", "127.0.0.1:0", "-loops", "1"},
}

// measure runs scenario sc against a fresh server child and returns the load
// result with the server's CPU time, GC cycles and memory in the measured
// window. The load child reports when its window began, on the wall clock;
// the server's CPU time at both ends is interpolated from samples taken
// meanwhile, so the figures do not depend on how promptly either child is
// scheduled.
func measure(ctx context.Context, exe string, sc bench.Scenario, server string, pin bool, gogc string, stderr io.Writer) (bench.Run, error) {
	srv, err := startServer(exe, server, pin, gogc)
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

	status := statusLine{w: stderr}
	label := fmt.Sprintf("%s %s: ", sc.Name, server)
	out, err := runLoadChild(ctx, exe, sc, srv.addr, pin, func(line string) { status.show(label + line) })
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
	fmt.Fprintf(stderr, "%s%s msg/s  p99 %.0f µs  errors %d  server cpu %.0f%%  gc %d  host steal %.0f%%\n",
		label, group(res.MsgsPerSec), res.Latency.P99, res.Errors, run.ServerBusy, run.GCCycles, run.HostSteal)
	return run, nil
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

// runLoadChild runs `echo load -json` for sc against addr, pinned to CPU 1
// if pin, passes each status line to onStatus and returns its stdout.
func runLoadChild(ctx context.Context, exe string, sc bench.Scenario, addr string, pin bool, onStatus func(string)) ([]byte, error) {
	args := []string{"load", "-json", "-addr", addr, "-name", sc.Name,
		"-conns", strconv.Itoa(sc.Conns), "-size", strconv.Itoa(sc.Payload),
		"-inflight", strconv.Itoa(sc.InFlight), "-rate", strconv.Itoa(sc.Rate),
		"-warmup", sc.Warmup.String(), "-duration", sc.Duration.String()}
	if sc.Idle {
		args = append(args, "-idle")
	}
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

// startServer starts server as a child of exe, pinned to CPU 0 if pin, with
// GOMAXPROCS=1 and GODEBUG=gctrace=1, and waits for its "listening" line.
func startServer(exe, server string, pin bool, gogc string) (*serverChild, error) {
	s := &serverChild{exited: make(chan error, 1)}
	s.cmd = child(context.Background(), exe, serverArgs[server], pin, cpuServer)
	s.cmd.Env = append(os.Environ(), "GOMAXPROCS=1", "GODEBUG=gctrace=1")
	if gogc != "" {
		s.cmd.Env = append(s.cmd.Env, "GOGC="+gogc)
	}
	addr := make(chan string, 1)
	s.cmd.Stdout = &lineWriter{fn: func(line string) {
		if a, ok := strings.CutPrefix(line, listeningPrefix); ok {
			select {
			case addr <- strings.TrimSpace(a):
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
	case s.addr = <-addr:
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
