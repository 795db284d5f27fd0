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
	err := runCompare([]string{"-quick", "-scenario", "^closed-100c-64B$", "-servers", "net,gnet",
		"-warmup", "100ms", "-duration", "300ms", "-json", jsonPath, "-svg", svgPath}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("compare: %v\nstderr:\n%s", err, stderr.String())
	}
	for _, row := range []string{"closed-100c-64B  net ", "closed-100c-64B  gnet "} {
		if !strings.Contains(stdout.String(), row) {
			t.Errorf("compare table lacks a row %q:\n%s", row, stdout.String())
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
	if want := []string{"net", "gnet"}; !reflect.DeepEqual(servers, want) {
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

func TestCompareFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string // in the error
	}{
		{args: []string{"-scenario", "no such scenario"}, want: "no scenario matches"},
		{args: []string{"-scenario", "("}, want: "-scenario"},
		{args: []string{"-servers", "net,apache"}, want: `unknown server "apache"`},
		{args: []string{"-rounds", "0"}, want: "-rounds"},
		{args: []string{"-warmup", "-1s"}, want: "-warmup"},
		{args: []string{"-duration", "-1s"}, want: "-duration"},
		{args: []string{"-gogc", "abc"}, want: "-gogc"},
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
	var stdout bytes.Buffer
	if err := runCompare([]string{"-from", in, "-json", out}, &stdout, &bytes.Buffer{}); err != nil {
		t.Fatalf("compare -from: %v", err)
	}
	for _, want := range []string{"closed-100c-64B engine 110", "closed-100c-64B engine÷gnet all 2 0.85 (0.85 - 0.86)",
		"closed-100c-64B gnet÷net all 2 1.30 (1.30 - 1.40)"} {
		if !slices.ContainsFunc(strings.Split(stdout.String(), "\n"), func(l string) bool {
			return strings.HasPrefix(strings.Join(strings.Fields(l), " "), want)
		}) {
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
		}
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
