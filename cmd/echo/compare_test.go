package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/netsys-go/netsys/bench"
)

// TestMain lets the test binary stand in for the echo binary: compare starts
// its servers and load generator as children of os.Executable(), which in a
// test is this binary, so with NETSYS_ECHO_MAIN=1 it runs the command line
// instead of the tests.
func TestMain(m *testing.M) {
	if os.Getenv("NETSYS_ECHO_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func TestCompare(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers and load generators as child processes")
	}
	t.Setenv("NETSYS_ECHO_MAIN", "1")
	dir := t.TempDir()
	jsonPath, svgPath := filepath.Join(dir, "report.json"), filepath.Join(dir, "report.svg")
	var stdout, stderr bytes.Buffer
	err := runCompare([]string{"-quick", "-scenario", "^(closed-100c-64B|fixed-100c-64B)$", "-servers", "net,gnet,nbio",
		"-warmup", "100ms", "-duration", "300ms", "-json", jsonPath, "-svg", svgPath}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("compare: %v\nstderr:\n%s", err, stderr.String())
	}
	for _, row := range []string{"closed-100c-64B net ", "closed-100c-64B gnet ", "fixed-100c-64B nbio "} {
		if !slices.ContainsFunc(tableLines(stdout.String()), func(l string) bool { return strings.HasPrefix(l, row) }) {
			t.Errorf("compare table lacks a row %q:\n%s", row, stdout.String())
		}
	}
	checkWidth(t, stdout.String())
	for _, want := range []string{"compare: 2 scenarios, 5 runs a round", "wrote the report as JSON to " + jsonPath,
		"wrote the plot to " + svgPath + " (latency of closed-100c-64B)"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("compare said on stderr:\n%s\nwant %q", stderr.String(), want)
		}
	}
	for _, l := range strings.Split(stderr.String(), "\n") {
		if strings.HasPrefix(l, "wrote ") { // as long as the path it names
			continue
		}
		if len([]rune(l)) > maxColumns || strings.Contains(l, "\r") {
			t.Errorf("stderr line of %d columns (or with a carriage return): %q", len([]rune(l)), l)
		}
	}

	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep bench.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	var servers []string
	for _, r := range rep.Runs {
		servers = append(servers, r.Server)
		if r.Load.Messages == 0 || r.Load.Errors != 0 {
			t.Errorf("%s: %d messages, %d errors; want messages and no errors", r.Server, r.Load.Messages, r.Load.Errors)
		}
		// A server echoing flat out for 300 ms uses some CPU: at least a
		// clock tick.
		if r.ServerCPU <= 0 || r.PeakRSS <= 0 || r.LoadRSS < r.IdleRSS || r.IdleRSS <= 0 {
			t.Errorf("%s: server CPU %v s, RSS idle %d, under load %d, peak %d; want CPU time and memory",
				r.Server, r.ServerCPU, r.IdleRSS, r.LoadRSS, r.PeakRSS)
		}
	}
	if want := []string{"net", "gnet", "net", "gnet", "nbio"}; !reflect.DeepEqual(servers, want) {
		t.Errorf("report runs against %q; want %q", servers, want)
	}
	if svg, err := os.ReadFile(svgPath); err != nil || !bytes.HasPrefix(svg, []byte("<?xml")) {
		t.Errorf("compare -svg wrote %d bytes, %v; want an SVG file", len(svg), err)
	}
}

// TestCompareRounds runs two rounds against the engine and net and checks
// that the engine's paired ratios come out, one per round, in the table and
// the JSON.
func TestCompareRounds(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers and load generators as child processes")
	}
	t.Setenv("NETSYS_ECHO_MAIN", "1")
	jsonPath := filepath.Join(t.TempDir(), "report.json")
	var stdout, stderr bytes.Buffer
	err := runCompare([]string{"-rounds", "2", "-scenario", "^closed-100c-64B$", "-servers", "engine,net",
		"-warmup", "100ms", "-duration", "200ms", "-json", jsonPath}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("compare: %v\nstderr:\n%s", err, stderr.String())
	}
	out := stdout.String()
	if !strings.Contains(out, "the median of the rounds' ratios") {
		t.Errorf("compare -rounds 2 printed no paired ratios:\n%s", out)
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Rounds int            `json:"rounds"`
		Runs   []bench.Run    `json:"runs"`
		Paired []bench.Paired `json:"paired"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Rounds != 2 || len(rep.Paired) != 1 || rep.Paired[0].Versus != "net" {
		t.Fatalf("report: rounds %d, paired %+v; want 2 rounds and the engine paired with net", rep.Rounds, rep.Paired)
	}
	p := rep.Paired[0]
	if len(p.Headline) != 2 || len(p.P99) != 2 || len(p.Tail) != 2 || len(p.CPU) != 2 ||
		slices.ContainsFunc(slices.Concat(p.Headline, p.Tail, p.CPU), func(r float64) bool { return !(r > 0) }) {
		t.Errorf("paired ratios %+v; want two positive msgs/s, p99.9 and CPU-per-message ratios, one per round", p)
	}
	if len(rep.Runs) != 2 || len(rep.Runs[0].Steals) != 2 || len(rep.Runs[1].Steals) != 2 || len(p.Calm) != 2 {
		t.Fatalf("runs %+v, calm %v; want two runs with each round's steal and a calm flag per round", rep.Runs, p.Calm)
	}
	for i, calm := range p.Calm {
		if want := max(rep.Runs[0].Steals[i], rep.Runs[1].Steals[i]) <= bench.StealThreshold; calm != want {
			t.Errorf("round %d: calm %v with steals %v and %v; want %v", i, calm, rep.Runs[0].Steals[i], rep.Runs[1].Steals[i], want)
		}
	}
}

// TestCompareUnix runs the ping-pong over a Unix socket against every
// server: each listens on a socket of its own, in a directory under TMPDIR
// that is gone afterwards.
func TestCompareUnix(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers and load generators as child processes")
	}
	t.Setenv("NETSYS_ECHO_MAIN", "1")
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	jsonPath := filepath.Join(t.TempDir(), "report.json")
	var stdout, stderr bytes.Buffer
	err := runCompare([]string{"-fixed", "-scenario", "^pingpong-unix-1c-64B$", "-warmup", "100ms", "-duration", "300ms",
		"-json", jsonPath}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("compare: %v\nstderr:\n%s", err, stderr.String())
	}
	if want := "1 conns, 64 B, closed loop, Unix socket, 100ms + 300ms"; !strings.Contains(stderr.String(), want) {
		t.Errorf("compare said on stderr:\n%s\nwant %q", stderr.String(), want)
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep bench.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	var servers []string
	for _, r := range rep.Runs {
		servers = append(servers, r.Server)
		if r.Scenario != "pingpong-unix-1c-64B" || r.Load.Messages == 0 || r.Load.Errors != 0 {
			t.Errorf("%s: %s, %d messages, %d errors; want the Unix ping-pong with messages and no errors",
				r.Server, r.Scenario, r.Load.Messages, r.Load.Errors)
		}
	}
	if !reflect.DeepEqual(servers, bench.Servers) {
		t.Errorf("report runs against %q; want %q", servers, bench.Servers)
	}
	if left, err := os.ReadDir(tmp); err != nil || len(left) > 0 {
		t.Errorf("TMPDIR after compare holds %v (%v); want the runs' socket directories removed", left, err)
	}
}

func TestCompareFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string // in the error
	}{
		{args: []string{"-scenario", "no such scenario"}, want: "no scenario matches"},
		{args: []string{"-scenario", "nomatch"}, want: "\n  closed-100c-64B\n"}, // lists the valid names
		{args: []string{"-latency", "nomatch"}, want: `-latency "nomatch": not in this run; scenarios with latencies`},
		{args: []string{"-latency", "nomatch"}, want: "\n  closed-100c-64B\n"}, // one name a line
		{args: []string{"-latency", "idle-10000c"}, want: `-latency "idle-10000c": idle, no latencies`},
		{args: []string{"-quick", "-fixed"}, want: "-quick and -fixed"},
		{args: []string{"-scenario", "^closed-", "-servers", "nbio"}, want: "none of them runs"},
		{args: []string{"-scenario", "("}, want: "-scenario"},
		{args: []string{"-servers", "net,apache"}, want: `unknown server "apache"; want some of engine, net, gnet, nbio`},
		{args: []string{"-rounds", "0"}, want: "-rounds"},
		{args: []string{"-warmup", "-1s"}, want: "-warmup"},
		{args: []string{"-duration", "-1s"}, want: "-duration"},
		{args: []string{"-gogc", "abc"}, want: "-gogc"},
		{args: []string{"-rate", "-5"}, want: "-rate -5"},
		{args: []string{"-from", "report.json", "-rounds", "3", "-no-pin"}, want: "-no-pin, -rounds would change a run"},
		{args: []string{"-from", filepath.Join(t.TempDir(), "missing.json")}, want: "missing.json"},
	}
	for _, tt := range tests {
		err := runCompare(tt.args, &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("compare %q = %v; want an error containing %q", tt.args, err, tt.want)
		}
	}
}

// TestCompareFrom reprints a saved report, with the ratios of this build,
// and writes it again.
func TestCompareFrom(t *testing.T) {
	dir := t.TempDir()
	run := func(server string, rates ...float64) bench.Run {
		lat := bench.Latency{P50: 100, P99: 200, P999: 300}
		return bench.Run{Scenario: "closed-100c-64B", Server: server, Headlines: rates, P99s: []float64{200, 200},
			Tails: []float64{300, 300}, Steals: []float64{0, 0}, CPUPerMsg: []float64{5, 5},
			Load: bench.Result{Conns: 100, Payload: 64, InFlight: 1, MsgsPerSec: rates[0], Latency: lat}}
	}
	saved := bench.Report{Pinned: true, Rounds: 2, Runs: []bench.Run{
		run("engine", 110, 120), run("net", 100, 100), run("gnet", 130, 140),
	}}
	var b bytes.Buffer
	if err := saved.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	in, out := filepath.Join(dir, "in.json"), filepath.Join(dir, "out.json")
	if err := os.WriteFile(in, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if err := runCompare([]string{"-from", in, "-json", out}, &stdout, &stderr); err != nil {
		t.Fatalf("compare -from: %v", err)
	}
	if want := "wrote the report as JSON to " + out; !strings.Contains(stderr.String(), want) {
		t.Errorf("compare -from -json said %q; want %q", stderr.String(), want)
	}
	if err := runCompare([]string{"-from", in, "-latency", "nomatch", "-svg", filepath.Join(dir, "x.svg")}, &stdout, &stderr); err == nil ||
		!strings.Contains(err.Error(), `-latency "nomatch"`) {
		t.Errorf("compare -from -latency nomatch = %v; want an error naming -latency", err)
	}
	for _, want := range []string{"closed-100c-64B engine 110",
		"closed-100c-64B engine÷gnet all 2 / calm 2 headline 0.85 (0.85 - 0.86) calm 0.85 (0.85 - 0.86)",
		"closed-100c-64B gnet÷net all 2 / calm 2 headline 1.30 (1.30 - 1.40) calm 1.30 (1.30 - 1.40)"} {
		if !slices.ContainsFunc(tableLines(stdout.String()), func(l string) bool { return strings.HasPrefix(l, want) }) {
			t.Errorf("compare -from printed no line starting %q:\n%s", want, stdout.String())
		}
	}
	again, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, b.Bytes()) {
		t.Errorf("compare -from -json wrote\n%s\nwant the report as saved:\n%s", again, b.Bytes())
	}

	notReport := filepath.Join(dir, "other.json")
	if err := os.WriteFile(notReport, []byte(`{"rounds": 2}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := runCompare([]string{"-from", notReport}, &bytes.Buffer{}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "not a compare report") {
		t.Errorf("compare -from a file without runs = %v; want \"not a compare report\"", err)
	}
}

// TestCompareFromCommitted reprints every report committed under docs/bench,
// so that docs/benchmarks.md's -from commands keep working.
func TestCompareFromCommitted(t *testing.T) {
	files, err := filepath.Glob("../../docs/bench/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no reports under docs/bench: %v", err)
	}
	for _, f := range files {
		var stdout bytes.Buffer
		if err := runCompare([]string{"-from", f}, &stdout, &bytes.Buffer{}); err != nil {
			t.Errorf("compare -from %s: %v", f, err)
		} else if !strings.HasPrefix(stdout.String(), "scenario ") {
			t.Errorf("compare -from %s printed no table:\n%s", f, stdout.String())
		} else {
			checkWidth(t, stdout.String())
		}
	}
}

// tableLines returns the lines of the tables compare printed, each line
// under a scenario's heading (indented) prefixed with that heading, and
// reduced to its fields joined by single spaces: "closed-100c-64B engine
// 110 ..." for a run's row, "closed-100c-64B engine÷gnet all 2 / calm 2
// headline 0.85 ..." for a line of paired ratios.
func tableLines(out string) []string {
	var lines []string
	heading := ""
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) == 0:
		case strings.HasPrefix(l, " "):
			lines = append(lines, heading+" "+strings.Join(f, " "))
		default:
			heading = strings.Join(f, " ")
			lines = append(lines, heading)
		}
	}
	return lines
}

// checkWidth fails t for every line of out wider than 80 columns.
func checkWidth(t *testing.T, out string) {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if n := len([]rune(l)); n > 80 {
			t.Errorf("line of %d columns; want at most 80: %q", n, l)
		}
	}
}

func TestCompareList(t *testing.T) {
	var stdout bytes.Buffer
	if err := runCompare([]string{"-list"}, &stdout, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"fixed-100c-64B\n", "open loop, 30,000 msg/s", "servers: engine, net, gnet, nbio\n",
		"closed-100c-64B\n", "servers: engine, net, gnet\n", "pingpong-1c-64B\n"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("compare -list lacks %q:\n%s", want, stdout.String())
		}
	}
	stdout.Reset()
	if err := runCompare([]string{"-list", "-fixed"}, &stdout, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stdout.String(), "closed-100c-64B") || !strings.Contains(stdout.String(), "fixed-5000c-1KiB") {
		t.Errorf("compare -list -fixed:\n%s\nwant the fixed-load scenarios only", stdout.String())
	}
}

func TestCompareHeader(t *testing.T) {
	plan := planRuns(bench.Scenarios(true), bench.Servers)
	var b bytes.Buffer
	writeHeader(&b, plan, 2, true)
	out := b.String()
	for _, want := range []string{"compare: 9 scenarios, 28 runs a round, 2 rounds: about ",
		"  idle-10000c against engine, net, gnet, nbio\n", "  closed-100c-64B against engine, net, gnet\n",
		"      100 conns, 64 B, closed loop, 250ms + 1s\n",
		"  pingpong-unix-1c-64B against engine, net, gnet, nbio\n      1 conns, 64 B, closed loop, Unix socket, 250ms + 1s\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("header lacks %q:\n%s", want, out)
		}
	}
	for _, l := range strings.Split(out, "\n") {
		if len([]rune(l)) > maxColumns {
			t.Errorf("header line of %d columns: %q", len([]rune(l)), l)
		}
	}
}

func TestSummaryLine(t *testing.T) {
	idle := bench.Run{Load: bench.Result{Conns: 10000, Idle: true, MsgsPerSec: 2000}, IdleRSS: 1 << 20, LoadRSS: 11 << 20}
	if got := summaryLine("  engine ", idle); strings.Contains(got, "msg/s") || !strings.Contains(got, "1.0 KiB/conn") {
		t.Errorf("idle summary %q; want KiB/conn and no msg/s", got)
	}
	busy := bench.Run{Load: bench.Result{Conns: 100, Messages: 300_000, MsgsPerSec: 30_000, Errors: 2,
		Latency: bench.Latency{P99: 12_345}}, ServerCPU: 1.5, ServerBusy: 15}
	got := summaryLine("  engine ", busy)
	for _, want := range []string{"30,000 msg/s", "p99 12,345 µs", "cpu 15% 5.00 µs/msg", "2 errors"} {
		if !strings.Contains(got, want) {
			t.Errorf("summary %q lacks %q", got, want)
		}
	}
	if len([]rune(got)) > maxColumns {
		t.Errorf("summary %q: %d columns; want at most %d", got, len([]rune(got)), maxColumns)
	}
}

func TestLineWriter(t *testing.T) {
	var lines []string
	w := &lineWriter{fn: func(l string) { lines = append(lines, l) }}
	for _, piece := range []string{"conn", "ect 1\rwarm", "up 2   \r\n", "\rmeasure 3\ngc 1 @0.1s", "\n"} {
		if _, err := w.Write([]byte(piece)); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"connect 1", "warmup 2", "measure 3", "gc 1 @0.1s"}
	if !reflect.DeepEqual(lines, want) {
		t.Errorf("lineWriter lines = %q; want %q", lines, want)
	}
}
