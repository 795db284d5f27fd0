package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netsys-go/netsys/bench"
	"github.com/netsys-go/netsys/engine"
	"github.com/netsys-go/netsys/envelope"
	"github.com/netsys-go/netsys/internal/nettest"
)

func TestServeEnvelopeAnswersRequests(t *testing.T) {
	addr, out, stop := startServe(t, "-envelope")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := envelope.Dial(ctx, addr, envelope.WithLogger(nettest.Quiet),
		envelope.WithEngineOptions(engine.WithLogger(nettest.Quiet)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, body := range []string{"hello netsys", "", strings.Repeat("x", 4096)} {
		reply, err := c.Request(ctx, []byte(body))
		if err != nil || string(reply) != body {
			t.Fatalf("Request(%d bytes) = %d bytes, %v; want the body back", len(body), len(reply), err)
		}
	}
	if err := c.Send([]byte("one-way")); err != nil { // dropped, not answered
		t.Fatal(err)
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if reply, err := c.Request(ctx, []byte("after")); err != nil || string(reply) != "after" {
		t.Fatalf("Request after a one-way message = %q, %v", reply, err)
	}
	_ = c.Close()
	summary := make(chan string, 1)
	go func() { b, _ := io.ReadAll(out); summary <- string(b) }()
	if err := stop(); err != nil {
		t.Fatalf("serve -envelope stopped with %v", err)
	}
	// The engine counts frames: in, the hello, 4 requests and the one-way
	// message; out, the hello and 4 replies (Flush sends nothing).
	if s := <-summary; !strings.Contains(s, "6 messages in, 5 out") {
		t.Errorf("serve -envelope summary %q; want 6 messages in, 5 out", s)
	}
}

func TestServeEnvelopeRefusesOtherFraming(t *testing.T) {
	for _, args := range [][]string{{"-envelope", "-codec", "line"}, {"-envelope", "-fanout"}} {
		if err := runServe(append([]string{"-addr", "127.0.0.1:0"}, args...), io.Discard, io.Discard); err == nil ||
			!strings.Contains(err.Error(), "-envelope") {
			t.Errorf("serve %q = %v; want an error about -envelope", args, err)
		}
	}
}

func TestLoadRequestsCommand(t *testing.T) {
	addr, _, _ := startServe(t, "-envelope")
	args := []string{"-addr", addr, "-conns", "2", "-requests", "4", "-warmup", "50ms", "-duration", "200ms", "-name", "r"}
	var stdout, stderr bytes.Buffer
	if err := runLoad(append(args, "-json"), &stdout, &stderr); err != nil {
		t.Fatalf("load -requests 4 -json: %v\n%s", err, stderr.String())
	}
	var res bench.Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("load -json printed %q: %v", stdout.String(), err)
	}
	if res.Name != "r" || res.Conns != 2 || res.InFlight != 4 || res.Messages == 0 || res.Errors != 0 {
		t.Errorf("load -requests 4 = %+v; want name r, 2 conns, 4 in flight, requests and no errors", res)
	}
	stdout.Reset()
	if err := runLoad(args, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "r: 2 conns, 64 B payload, closed loop, 4 in flight") {
		t.Errorf("load -requests printed %q", stdout.String())
	}
	for _, bad := range [][]string{{"-requests", "-1"}, {"-requests", "4", "-inflight", "2"}, {"-requests", "4", "-rate", "100"},
		{"-requests", "4", "-idle"}, {"-requests", "4", "-size", strconv.Itoa(bench.MaxRequestBody + 1)}} {
		if err := runLoad(append([]string{"-addr", addr}, bad...), &stdout, &stderr); err == nil {
			t.Errorf("load %q succeeded; want an error", bad)
		}
	}
}

func TestCompareListsRequests(t *testing.T) {
	for _, set := range [][]string{{"-list"}, {"-list", "-quick"}} {
		var stdout bytes.Buffer
		if err := runCompare(set, &stdout, io.Discard); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"requests-1c-64x-64B\n", "pipelined-1c-64x-64B\n"} {
			if !strings.Contains(stdout.String(), want) {
				t.Errorf("compare %q lacks %q:\n%s", set, want, stdout.String())
			}
		}
	}
	sc := bench.Scenario{Requests: true, InFlight: 64}
	if got := strings.Join(append(serveExtraArgs(sc, "engine"), loadExtraArgs(sc)...), " "); got != "-envelope -requests 64" {
		t.Errorf("request scenario's extra arguments = %q", got)
	}
	if serveExtraArgs(sc, "net") != nil || loadExtraArgs(bench.Scenario{InFlight: 64}) != nil {
		t.Error("extra arguments outside the engine's request scenario")
	}
}

// TestCompareRequests runs the request scenario and its yardstick against
// the engine and checks both rows and the ratio line.
func TestCompareRequests(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers and load generators as child processes")
	}
	t.Setenv("NETSYS_ECHO_MAIN", "1")
	jsonPath := filepath.Join(t.TempDir(), "report.json")
	var stdout, stderr bytes.Buffer
	err := runCompare([]string{"-quick", "-scenario", "^(requests|pipelined)-1c-64x-64B$",
		"-warmup", "100ms", "-duration", "300ms", "-json", jsonPath}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("compare: %v\nstderr:\n%s", err, stderr.String())
	}
	for _, want := range []string{"pipelined-1c-64x-64B\n  engine ", "requests-1c-64x-64B\n  engine ",
		"Envelope requests over the pipelined echo", " req/s / "} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("compare printed no %q:\n%s", want, stdout.String())
		}
	}
	for _, l := range strings.Split(stdout.String(), "\n") {
		if len([]rune(l)) > 80 {
			t.Errorf("report line of %d columns: %q", len([]rune(l)), l)
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
	if len(rep.Runs) != 2 {
		t.Fatalf("%d runs; want 2", len(rep.Runs))
	}
	for _, r := range rep.Runs {
		if r.Server != "engine" || r.Load.Messages == 0 || r.Load.Errors != 0 || r.Load.InFlight != 64 {
			t.Errorf("%s against %s: %d messages, %d errors, %d in flight; want the engine, messages, no errors, 64",
				r.Scenario, r.Server, r.Load.Messages, r.Load.Errors, r.Load.InFlight)
		}
	}
}

func TestWriteRequestRatio(t *testing.T) {
	run := func(scenario, server string, rate float64, rounds ...float64) bench.Run {
		return bench.Run{Scenario: scenario, Server: server, Load: bench.Result{MsgsPerSec: rate}, Headlines: rounds}
	}
	var b bytes.Buffer
	rep := &bench.Report{Runs: []bench.Run{run(pipelinedScenario, "engine", 200_000, 100_000, 200_000, 300_000),
		run(requestScenario, "engine", 190_000, 80_000, 190_000, 300_000), run(requestScenario, "net", 1, 1, 1, 1)}}
	if err := writeRequestRatio(&b, rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"190,000 req/s / 200,000 msg/s = 0.95x (at least the 0.9x wanted)",
		"per round: median 0.95x, from 0.80x to 1.00x over 3 rounds"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("ratio text %q lacks %q", b.String(), want)
		}
	}
	b.Reset()
	rep.Runs = rep.Runs[1:] // no yardstick: nothing to say
	if err := writeRequestRatio(&b, rep); err != nil || b.Len() != 0 {
		t.Errorf("without the pipelined run: %q, %v; want nothing", b.String(), err)
	}
}
