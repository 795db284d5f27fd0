package bench

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/netsys-go/netsys/codec"
	"github.com/netsys-go/netsys/envelope"
	"github.com/netsys-go/netsys/internal/nettest"
)

// startEnvelope runs an envelope server whose untyped requests go to fn and
// returns its address.
func startEnvelope(t *testing.T, fn func(m *envelope.Msg)) string {
	t.Helper()
	r := envelope.NewRouter(nil)
	r.HandleUntyped(fn)
	srv := nettest.StartServer(t, envelope.NewServerHandler(r, envelope.WithLogger(nettest.Quiet)))
	return srv.Addr().String()
}

func echoRequest(m *envelope.Msg) {
	if !m.OneWay() {
		_ = m.Reply(m.Body())
	}
}

func TestLoadRequests(t *testing.T) {
	addr := startEnvelope(t, echoRequest)
	var phases []Phase
	res, err := LoadRequests(context.Background(), RequestLoadConfig{
		Addr: addr, Conns: 2, Payload: 100, Requests: 8,
		Warmup: 50 * time.Millisecond, Duration: 300 * time.Millisecond,
		Status: func(p Progress) { phases = append(phases, p.Phase) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Name != "requests" || res.Conns != 2 || res.Payload != 100 || res.InFlight != 8 ||
		res.Messages == 0 || res.Bytes != 100*res.Messages || res.Errors != 0 {
		t.Errorf("result %+v; want requests, 2 conns, 100 B, 8 in flight, messages of 100 B and no errors", res)
	}
	if res.MsgsPerSec <= 0 || res.Latency.P50 <= 0 || res.Latency.Max < res.Latency.P99 || len(res.Percentiles) == 0 {
		t.Errorf("rate %v, latency %+v, %d percentiles; want a rate and latencies", res.MsgsPerSec, res.Latency, len(res.Percentiles))
	}
	if len(phases) == 0 || phases[0] != PhaseConnect || phases[len(phases)-1] != PhaseDone {
		t.Errorf("phases %v; want connect first and done last", phases)
	}
}

// TestLoadRequestsCountsBadAnswers: an answer that is not the echo, and an
// error reply, are mismatches.
func TestLoadRequestsCountsBadAnswers(t *testing.T) {
	for name, fn := range map[string]func(m *envelope.Msg){
		"other body":  func(m *envelope.Msg) { _ = m.Reply([]byte("not the body")) },
		"error reply": func(m *envelope.Msg) { _ = m.Error(envelope.CodeApplication, "no") },
	} {
		t.Run(name, func(t *testing.T) {
			addr := startEnvelope(t, fn)
			res, err := LoadRequests(context.Background(), RequestLoadConfig{Addr: addr, Requests: 2, Duration: 100 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			if res.Messages != 0 || res.Mismatches == 0 || res.Errors != res.Mismatches {
				t.Errorf("%d messages, %d mismatches, %d errors; want only mismatches", res.Messages, res.Mismatches, res.Errors)
			}
		})
	}
}

// TestLoadRequestsCountsLostConnection: a server that closes the session at
// the first request loses that connection before any answer, and the
// requests in flight on it.
func TestLoadRequestsCountsLostConnection(t *testing.T) {
	addr := startEnvelope(t, func(m *envelope.Msg) { m.Session().Close(errors.New("go away")) })
	res, err := LoadRequests(context.Background(), RequestLoadConfig{Addr: addr, Requests: 4, Duration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.ClosedEarly != 1 || res.Unanswered == 0 || res.Messages != 0 {
		t.Errorf("closed early %d, unanswered %d, messages %d; want 1, some, 0", res.ClosedEarly, res.Unanswered, res.Messages)
	}
}

// TestLoadRequestsAgainstOtherServers: a plain echo returns the hello, which
// is a hello, and the requests as requests, none of them a reply: every
// answer is a mismatch and the requests stay unanswered. A server whose
// first frame is not a hello leaves the stream unusable: the connection is
// rejected and closed.
func TestLoadRequestsAgainstOtherServers(t *testing.T) {
	cfg := RequestLoadConfig{Addr: startNet(t, codec.Default()), Requests: 4, Duration: 100 * time.Millisecond}
	res, err := LoadRequests(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Messages != 0 || res.Mismatches != 4 || res.Unanswered != 4 || res.Rejected != 0 {
		t.Errorf("against a plain echo: %d messages, %d mismatches, %d unanswered, %d rejected; want 0, 4, 4, 0",
			res.Messages, res.Mismatches, res.Unanswered, res.Rejected)
	}
	cfg.Addr = startNet(t, flipCodec{codec.Default()})
	if res, err = LoadRequests(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	// The requests are lost with the connection if they went out before the
	// garbage came back, and never sent if not.
	if res.Messages != 0 || res.Rejected != 1 || (res.Unanswered != 0 && res.Unanswered != 4) {
		t.Errorf("against a server answering the hello with garbage: %d messages, %d rejected, %d unanswered; want 0, 1, 0 or 4",
			res.Messages, res.Rejected, res.Unanswered)
	}
}

func TestLoadRequestsConfigErrors(t *testing.T) {
	for _, cfg := range []RequestLoadConfig{
		{},
		{Addr: "x", Conns: -1},
		{Addr: "x", Requests: -1},
		{Addr: "x", Payload: -1},
		{Addr: "x", Payload: MaxRequestBody + 1},
		{Addr: "x", Warmup: -time.Second},
	} {
		if _, err := LoadRequests(context.Background(), cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("LoadRequests(%+v) = %v; want ErrConfig", cfg, err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nothing listens there now
	if _, err := LoadRequests(context.Background(), RequestLoadConfig{Addr: addr, Duration: time.Second}); !errors.Is(err, ErrConnect) {
		t.Errorf("LoadRequests(%s) with no listener = %v; want ErrConnect", addr, err)
	}
}

func TestRequestScenarios(t *testing.T) {
	for _, quick := range []bool{false, true} {
		var got []string
		for _, s := range Scenarios(quick) {
			if strings.HasSuffix(s.Name, "-1c-64x-64B") {
				got = append(got, s.Name)
				if s.Conns != 1 || s.InFlight != 64 || s.Payload != 64 || !s.RunsOn("engine") || s.RunsOn("net") {
					t.Errorf("%s = %+v; want 1 conn, 64 in flight, 64 B, on the engine only", s.Name, s)
				}
				if s.Requests != (s.Name == "requests-1c-64x-64B") {
					t.Errorf("%s: Requests %v", s.Name, s.Requests)
				}
			}
		}
		if strings.Join(got, " ") != "pipelined-1c-64x-64B requests-1c-64x-64B" {
			t.Errorf("Scenarios(%v) has %q; want the pipelined yardstick, then the requests", quick, got)
		}
	}
}
