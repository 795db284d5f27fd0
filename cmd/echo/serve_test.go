package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/netsys-go/netsys/bench"
)

// startServe runs "echo serve" with args in-process and returns the address it
// listens on, the rest of its stdout, and a function that stops it and returns
// its error. A test that stops it must read its stdout (the summary) meanwhile.
func startServe(t *testing.T, args ...string) (addr string, out *bufio.Reader, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	serveContext = func() context.Context { return ctx }
	t.Cleanup(func() { serveContext = context.Background })
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := runServe(append([]string{"-addr", "127.0.0.1:0"}, args...), pw, io.Discard)
		pw.Close()
		done <- err
	}()
	out = bufio.NewReader(pr)
	line, err := out.ReadString('\n')
	if err != nil {
		t.Fatalf("reading the listening line: %v (serve: %v)", err, <-done)
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if !ok {
		t.Fatalf("first line = %q; want listening <addr>", line)
	}
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("serve did not stop")
			return nil
		}
	}
	t.Cleanup(func() {
		go io.Copy(io.Discard, out) // nobody else reads the summary
		_ = stop()
	})
	return addr, out, stop
}

func TestServeEchoesFramedMessage(t *testing.T) {
	addr, out, stop := startServe(t)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msg := []byte("hello netsys")
	frame := binary.BigEndian.AppendUint32(nil, uint32(len(msg)))
	if _, err := conn.Write(append(frame, msg...)); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	reply := make([]byte, 4+len(msg))
	if _, err := io.ReadFull(conn, reply); err != nil {
		t.Fatal(err)
	}
	if got := string(reply[4:]); got != string(msg) || binary.BigEndian.Uint32(reply) != uint32(len(msg)) {
		t.Fatalf("reply = %q; want the framed %q", reply, msg)
	}
	conn.Close()
	summary := make(chan string, 1)
	go func() { s, _ := out.ReadString('\n'); summary <- s }()
	if err := stop(); err != nil {
		t.Fatalf("serve: %v", err)
	}
	if s := <-summary; !strings.Contains(s, "1 messages in, 1 out") {
		t.Errorf("summary = %q; want it to count 1 message in and 1 out", s)
	}
}

// TestServeUnixAnnounce serves on a Unix socket: the listening line gives
// the address as -addr takes it, and an echo load runs against it.
func TestServeUnixAnnounce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "echo.sock")
	addr, _, _ := startServe(t, "-addr", "unix://"+path)
	if addr != "unix://"+path {
		t.Fatalf("serve -addr unix://%s announced %q; want the same address", path, addr)
	}
	res, err := bench.Load(context.Background(), bench.LoadConfig{Addr: addr, Duration: 100 * time.Millisecond})
	if err != nil || res.Messages == 0 || res.Errors != 0 {
		t.Errorf("load against %s = %d messages, %d errors, %v; want messages and no errors", addr, res.Messages, res.Errors, err)
	}
}

func TestServeMonitor(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	monAddr := ln.Addr().String()
	ln.Close()
	addr, _, _ := startServe(t, "-monitor", monAddr)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for range 3 {
		if _, err := conn.Write([]byte{0, 0, 0, 2, 'h', 'i'}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(conn, make([]byte, 6)); err != nil {
			t.Fatal(err)
		}
	}

	resp, err := http.Get("http://" + monAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	mf, ok := families["netsys_messages_received_total"]
	if !ok || len(mf.Metric) == 0 || mf.Metric[0].GetCounter().GetValue() != 3 {
		t.Errorf("netsys_messages_received_total = %v; want 3", mf)
	}

	resp, err = http.Get("http://" + monAddr + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	var stats struct {
		Total struct {
			Messages struct{ In, Out uint64 }
		}
	}
	err = json.NewDecoder(resp.Body).Decode(&stats)
	resp.Body.Close()
	if err != nil || stats.Total.Messages.In != 3 || stats.Total.Messages.Out != 3 {
		t.Errorf("/stats messages = %+v, %v; want 3 in and 3 out", stats.Total.Messages, err)
	}
	resp, err = http.Get("http://" + monAddr + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/debug/pprof/ without -pprof: status %d; want 404", resp.StatusCode)
	}
}

func TestServeFlags(t *testing.T) {
	for _, bad := range [][]string{
		{"-loops", "-1"}, {"-max-conns", "0"}, {"-max-frame", "0"}, {"-write-high-water", "-5"},
		{"-idle-timeout", "-1s"}, {"-report-every", "-1s"},
	} {
		err := runServe(append([]string{"-addr", "127.0.0.1:0"}, bad...), io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), bad[0]) {
			t.Errorf("serve %q = %v; want an error naming %s", bad, err, bad[0])
		}
	}
}
