package engine_test

import (
	"strings"
	"testing"

	"github.com/netsys-go/netsys/engine"
	"github.com/netsys-go/netsys/internal/nettest"
	"github.com/netsys-go/netsys/metrics"
)

// TestMonitorCountsScriptedExchange checks that the monitor's counters match
// exactly what a scripted loopback exchange did.
func TestMonitorCountsScriptedExchange(t *testing.T) {
	const (
		admitted, rejected = 3, 4
		perClient          = 50
	)
	mon := metrics.NewMonitor()
	rec := &nettest.Recorder{Echo: true}
	srv, addr := start(t, rec, engine.WithMonitor(mon), engine.WithName("scripted"), engine.WithMaxConns(admitted))
	var clients []*nettest.Client
	for range admitted {
		clients = append(clients, nettest.Dial(t, addr))
	}
	rec.WaitCount(t, "connect", admitted)
	for range rejected {
		nettest.Dial(t, addr).WaitClosed(t)
	}
	wantBytes := 0
	for i, c := range clients {
		for j := range perClient {
			p := strings.Repeat("x", 1+(i*perClient+j)%37)
			wantBytes += len(p)
			c.Send(t, []byte(p))
			if got := c.Recv(t); string(got) != p {
				t.Fatalf("echo %q; want %q", got, p)
			}
		}
	}
	clients[0].Close()
	rec.WaitCount(t, "disconnect", 1)

	s := mon.Snapshot()
	if len(s.Sources) != 1 || s.Sources[0].Name != "scripted" || s.Sources[0].Kind != metrics.KindServer {
		t.Fatalf("sources = %+v; want one server source named scripted", s.Sources)
	}
	got := s.Sources[0].Stats
	const msgs = admitted * perClient
	checks := []struct {
		name      string
		got, want any
	}{
		{"connections", got.Connections, metrics.Connections{Total: admitted, Active: admitted - 1, Rejected: rejected}},
		{"messages", got.Messages, metrics.InOut{In: msgs, Out: msgs}},
		{"bytes", got.Bytes, metrics.InOut{In: uint64(wantBytes), Out: uint64(wantBytes)}},
		{"latency count", got.Latency.SinceStart.Count, uint64(msgs)},
		{"server count", srv.Count(), admitted - 1},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %+v; want %+v", c.name, c.got, c.want)
		}
	}
}
