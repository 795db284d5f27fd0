package main

import (
	"bytes"
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/netsys-go/netsys/bench"
	"github.com/netsys-go/netsys/codec"
)

// startNetBaseline runs the net baseline in-process until the test ends and
// returns its address.
func startNetBaseline(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- bench.ServeNet(ln, codec.Default()) }()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
	})
	return ln.Addr().String()
}

func TestLoadCommand(t *testing.T) {
	addr := startNetBaseline(t)
	args := []string{"-addr", addr, "-conns", "3", "-size", "100", "-inflight", "2", "-warmup", "50ms", "-duration", "200ms", "-name", "t"}

	var stdout, stderr bytes.Buffer
	if err := runLoad(append(args, "-json"), &stdout, &stderr); err != nil {
		t.Fatalf("load -json: %v\n%s", err, stderr.String())
	}
	var res bench.Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("load -json printed %q: %v", stdout.String(), err)
	}
	if res.Name != "t" || res.Conns != 3 || res.Payload != 100 || res.InFlight != 2 || res.Messages == 0 || res.Errors != 0 {
		t.Errorf("load -json = %+v; want name t, 3 conns, 100 B, 2 in flight, messages and no errors", res)
	}
	// stderr is not a terminal: plain lines, no carriage returns.
	if strings.Contains(stderr.String(), "\r") {
		t.Errorf("load status on a non-terminal has carriage returns: %q", stderr.String())
	}
	for _, phase := range []bench.Phase{bench.PhaseConnect, bench.PhaseMeasure, bench.PhaseDone} {
		if !strings.Contains(stderr.String(), "\n"+string(phase)) && !strings.HasPrefix(stderr.String(), string(phase)) {
			t.Errorf("load status on stderr %q lacks a %q line", stderr.String(), phase)
		}
	}

	stdout.Reset()
	if err := runLoad(args, &stdout, &stderr); err != nil {
		t.Fatalf("load: %v", err)
	}
	for _, want := range []string{"t: 3 conns, 100 B payload", "messages", "latency µs"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("load printed %q; want it to contain %q", stdout.String(), want)
		}
	}

	for _, bad := range [][]string{{"-conns", "-1"}, {"-conns", "0"}, {"-size", "0"}, {"-inflight", "0"}, {"-duration", "0s"},
		{"-rate", "-10"}, {"-warmup", "-1s"}, {"-size", "99999999"}} {
		err := runLoad(append([]string{"-addr", addr}, bad...), &stdout, &stderr)
		if err == nil || !strings.HasPrefix(err.Error(), bad[0]+" "+bad[1]) {
			t.Errorf("load %q = %v; want an error naming %s %s", bad, err, bad[0], bad[1])
		}
	}
}

func TestStatusLine(t *testing.T) {
	long := strings.Repeat("x", 200)
	var plain bytes.Buffer
	s := newStatusLine(&plain) // not a terminal
	s.show("one")
	s.show(long)
	s.end()
	if got, want := plain.String(), "one\n"+strings.Repeat("x", maxColumns-1)+"…\n"; got != want {
		t.Errorf("status lines off a terminal = %q; want %q", got, want)
	}
	var tty bytes.Buffer
	s = &statusLine{w: &tty, tty: true}
	s.show("longer line")
	s.show("short")
	s.end()
	if got, want := tty.String(), "\rlonger line\rshort      \n"; got != want {
		t.Errorf("status lines on a terminal = %q; want %q", got, want)
	}
}
