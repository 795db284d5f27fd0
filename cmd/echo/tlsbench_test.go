package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/netsys-go/netsys/bench"
)

// TestCompareTLS runs every TLS scenario, with few connections and short
// windows (through the tlsScenarios hook), against the engine and the net
// baseline on crypto/tls: each run must echo without errors, the idle one
// must hold its connections, and the run's certificate directory must be
// gone afterwards.
func TestCompareTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers and load generators as child processes")
	}
	t.Setenv("NETSYS_ECHO_MAIN", "1")
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	full := bench.TLSScenarios()
	old := tlsScenarios
	t.Cleanup(func() { tlsScenarios = old })
	tlsScenarios = func() []bench.Scenario {
		set := bench.TLSScenarios()
		for i := range set {
			set[i].Conns = min(set[i].Conns, 20)
			if set[i].Rate > 0 {
				set[i].Rate = 2000
			}
		}
		return set
	}
	jsonPath := filepath.Join(t.TempDir(), "report.json")
	var stdout, stderr bytes.Buffer
	err := runCompare([]string{"-tls", "-warmup", "100ms", "-duration", "300ms", "-json", jsonPath}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("compare: %v\nstderr:\n%s", err, stderr.String())
	}
	for _, want := range []string{"compare: 3 scenarios, 6 runs a round", "  idle-tls-10000c against engine, net\n",
		"20 conns, 1 KiB, closed loop, 16 in flight, TLS, 100ms + 300ms"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("compare said on stderr:\n%s\nwant %q", stderr.String(), want)
		}
	}
	checkWidth(t, stdout.String())
	t.Logf("compare -tls, 20 connections each:\n%s", stdout.String())
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep bench.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	var got [][2]string
	for _, r := range rep.Runs {
		got = append(got, [2]string{r.Scenario, r.Server})
		if r.Load.Messages == 0 || r.Load.Errors != 0 || r.Load.Mismatches != 0 {
			t.Errorf("%s against %s: %d messages, %d errors, %d mismatches; want messages and no errors",
				r.Scenario, r.Server, r.Load.Messages, r.Load.Errors, r.Load.Mismatches)
		}
		if r.Load.Idle && r.Load.Conns != 20 {
			t.Errorf("%s against %s: %d connections held; want 20", r.Scenario, r.Server, r.Load.Conns)
		}
	}
	var want [][2]string
	for _, s := range full {
		for _, server := range bench.TLSServers {
			want = append(want, [2]string{s.Name, server})
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("report runs %q; want %q", got, want)
	}
	if left, err := os.ReadDir(tmp); err != nil || len(left) > 0 {
		t.Errorf("TMPDIR after compare holds %v (%v); want the run's certificates removed", left, err)
	}
}

func TestCompareTLSListAndFlags(t *testing.T) {
	var stdout bytes.Buffer
	if err := runCompare([]string{"-list", "-tls"}, &stdout, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	out := stdout.String()
	for _, want := range []string{"idle-tls-10000c\n", "pipelined-tls-100c-16x-1KiB\n", "fixed-pipelined-tls-100c-16x-1KiB\n",
		"10,000 conns, 64 B, idle, TLS, 1s + 5s", "servers: engine, net\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("compare -list -tls lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "gnet") || strings.Contains(out, "nbio") || strings.Contains(out, "closed-100c-64B") {
		t.Errorf("compare -list -tls:\n%s\nwant the TLS scenarios only, against engine and net only", out)
	}
	stdout.Reset()
	if err := runCompare([]string{"-list"}, &stdout, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stdout.String(), "tls") {
		t.Errorf("compare -list (the default set) holds TLS scenarios:\n%s", stdout.String())
	}
	for _, args := range [][]string{{"-tls", "-quick"}, {"-tls", "-fixed"}} {
		if err := runCompare(args, &bytes.Buffer{}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "choose one") {
			t.Errorf("compare %q = %v; want an error saying to choose one set", args, err)
		}
	}
	if err := runCompare([]string{"-tls", "-servers", "gnet,nbio"}, &bytes.Buffer{}, &bytes.Buffer{}); err == nil ||
		!strings.Contains(err.Error(), "none of them runs") {
		t.Errorf("compare -tls -servers gnet,nbio = %v; want none of them runs", err)
	}
}

func TestBaselineTLSFlags(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-tls-cert", "a.pem"}, "go together"},
		{[]string{"-kind", "gnet", "-tls-cert", "a.pem", "-tls-key", "b.pem"}, "only -kind net"},
		{[]string{"-tls-cert", filepath.Join(t.TempDir(), "missing.pem"), "-tls-key", "b.pem"}, "missing.pem"},
	} {
		done := make(chan error, 1)
		go func() { done <- runBaseline(tt.args, &bytes.Buffer{}, &bytes.Buffer{}) }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("baseline %q = %v; want an error containing %q", tt.args, err, tt.want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("baseline %q did not fail", tt.args)
		}
	}
}
