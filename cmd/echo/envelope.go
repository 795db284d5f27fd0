package main

// The envelope's request/reply on the command line (issue 22): `serve
// -envelope` answers each request with its body, `load -requests N` keeps N
// requests in flight per connection, and compare's request scenario runs the
// two against each other beside the pipelined echo with as many messages in
// flight, for the ratio of requests to echoes per second.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"

	"github.com/netsys-go/netsys/bench"
	"github.com/netsys-go/netsys/engine"
	"github.com/netsys-go/netsys/envelope"
)

// envelopeEcho returns the handler of `serve -envelope`: the envelope on
// every session, each request answered during the call with its own body,
// one-way messages dropped. Bodies are bounded by maxFrame less the
// envelope's header. log gets the reasons of the sessions the envelope
// closes (bad input).
func envelopeEcho(log *slog.Logger, maxFrame int) engine.Handler {
	r := envelope.NewRouter(nil)
	r.HandleUntyped(func(m *envelope.Msg) {
		if !m.OneWay() {
			_ = m.Reply(m.Body())
		}
	})
	return envelope.NewServerHandler(r, envelope.WithLogger(log),
		envelope.WithMaxBodySize(max(maxFrame-envelope.MaxHeaderLen, 1)))
}

// checkEnvelopeServe refuses -envelope with flags it does not go with.
func checkEnvelopeServe(on bool, codecName string, fanout bool) error {
	switch {
	case !on:
		return nil
	case codecName != "length":
		return fmt.Errorf("-envelope needs -codec length (got %q): the envelope travels in length-prefixed frames", codecName)
	case fanout:
		return errors.New("-envelope and -fanout are two different servers: choose one")
	}
	return nil
}

// requestsFlags are the load flags that go with -requests, for the checks
// of loadRequests.
type requestsFlags struct {
	inflight, rate    int
	idle, fanout, tls bool
}

// loadRequests is `load -requests N`: one bench.LoadRequests run against a
// `serve -envelope` server, with the same status line and result as a plain
// load run.
func loadRequests(ctx context.Context, stdout, stderr io.Writer, asJSON bool, f requestsFlags, cfg bench.RequestLoadConfig) error {
	switch {
	case f.inflight > 1 && f.inflight != cfg.Requests:
		return fmt.Errorf("-inflight %d with -requests %d: -requests sets the requests in flight; give one", f.inflight, cfg.Requests)
	case f.rate > 0, f.idle, f.fanout, f.tls:
		return errors.New("-requests runs closed loop in plaintext against `serve -envelope`: no -rate, -idle, -fanout or -tls with it")
	case cfg.Payload < bench.MinRequestBody || cfg.Payload > bench.MaxRequestBody:
		return fmt.Errorf("-size %d: with -requests, want %d to %d bytes", cfg.Payload, bench.MinRequestBody, bench.MaxRequestBody)
	}
	status := newStatusLine(stderr)
	cfg.Status = func(p bench.Progress) { status.show(p.String()) }
	res, err := bench.LoadRequests(ctx, cfg)
	status.end()
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	return res.WriteText(stdout)
}

// serveExtraArgs returns what the server of sc needs beyond its usual
// command line: -envelope for the engine in a request scenario.
func serveExtraArgs(sc bench.Scenario, server string) []string {
	if sc.Requests && server == "engine" {
		return []string{"-envelope"}
	}
	return nil
}

// loadExtraArgs returns what the load generator of sc needs beyond its
// usual command line: -requests in a request scenario.
func loadExtraArgs(sc bench.Scenario) []string {
	if sc.Requests {
		return []string{"-requests", strconv.Itoa(max(sc.InFlight, 1))}
	}
	return nil
}

// The scenarios of issue 22's figure: the engine's requests per second over
// its pipelined echo's messages per second, with the same connection, window
// and body size.
const (
	requestScenario   = "requests-1c-64x-64B"
	pipelinedScenario = "pipelined-1c-64x-64B"
	requestRatioWant  = 0.9
)

// writeRequestRatio writes, when rep has the engine's runs of both
// scenarios, the ratio of requests to pipelined echoes per second: of the
// reported (median) runs and, with several rounds, the median and range of
// the rounds' own ratios (in each round the two run one after the other, so
// that most of the host's drift cancels).
func writeRequestRatio(w io.Writer, rep *bench.Report) error {
	var req, pipe bench.Run
	for _, r := range rep.Runs {
		if r.Server != "engine" {
			continue
		}
		switch r.Scenario {
		case requestScenario:
			req = r
		case pipelinedScenario:
			pipe = r
		}
	}
	if req.Load.MsgsPerSec <= 0 || pipe.Load.MsgsPerSec <= 0 {
		return nil
	}
	ratio := req.Load.MsgsPerSec / pipe.Load.MsgsPerSec
	verdict := "at least"
	if ratio < requestRatioWant {
		verdict = "below"
	}
	text := fmt.Sprintf("\nEnvelope requests over the pipelined echo (engine, 1 conn, 64 in flight, 64 B):\n"+
		"  %s req/s / %s msg/s = %.2fx (%s the %.1fx wanted)\n",
		group(req.Load.MsgsPerSec), group(pipe.Load.MsgsPerSec), ratio, verdict, requestRatioWant)
	if rounds := roundRatios(req.Headlines, pipe.Headlines); len(rounds) > 1 {
		text += fmt.Sprintf("  per round: median %.2fx, from %.2fx to %.2fx over %d rounds\n",
			rounds[(len(rounds)-1)/2], rounds[0], rounds[len(rounds)-1], len(rounds))
	}
	_, err := io.WriteString(w, text)
	return err
}

// roundRatios returns a[i]/b[i] for every round where both are positive,
// sorted; nil unless a and b have a figure for every round.
func roundRatios(a, b []float64) []float64 {
	if len(a) != len(b) {
		return nil
	}
	var out []float64
	for i := range a {
		if a[i] > 0 && b[i] > 0 {
			out = append(out, a[i]/b[i])
		}
	}
	slices.Sort(out)
	return out
}
