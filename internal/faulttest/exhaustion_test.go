package faulttest

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/netsys-go/netsys/engine"
	"github.com/netsys-go/netsys/internal/nettest"
)

// Issue 19.1: the server survives running out of file descriptors. Its
// sessions keep working, accepting stops while no fd is free and resumes by
// itself, and the failure is logged and counted. The case runs in a child
// process whose fd limit it lowers, so the rest of the suite keeps its own.
func TestFDExhaustion(t *testing.T) {
	if os.Getenv("NETSYS_FD_CHILD") == "" {
		if testing.Short() {
			t.Skip("fills the fd table of a child process: not in -short")
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestFDExhaustion$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), "NETSYS_FD_CHILD=1")
		out, err := cmd.CombinedOutput()
		t.Logf("child:\n%s", out)
		if err != nil || !strings.Contains(string(out), "--- PASS: TestFDExhaustion") {
			t.Fatalf("child process: %v", err)
		}
		return
	}

	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count open fds: %v", err)
	}
	limit := uint64(len(entries) + 300)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: limit, Max: limit}); err != nil {
		t.Skipf("cannot lower the fd limit: %v", err)
	}
	var logs logBuffer
	f := newFixture(t, defaultWire, nil, engine.WithMaxConns(100_000),
		engine.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	stopped := make(chan error, 1)
	go func() { stopped <- f.srv.Wait() }()
	canary := dial(t, f.addr)
	echo := func(nc net.Conn) error {
		_ = nc.SetDeadline(time.Now().Add(nettest.Timeout))
		if _, err := nc.Write(nettest.Frame([]byte("ping"))); err != nil {
			return err
		}
		got, _, err := readOne(nc)
		if err == nil && string(got) != "ping" {
			err = errors.New("wrong echo")
		}
		return err
	}
	if err := echo(canary); err != nil {
		t.Fatalf("canary before: %v", err)
	}

	// Fill the fd table: each connection takes one fd here and one in the
	// server, until a dial (or the server's accept) finds none free. The
	// dialer and the server share the table, so the last free fd may go to
	// a dial whose connection the server had already accepted: then no
	// connection waits and no accept fails. A reserve fd, freed after the
	// fill, lets one more dial through whose accept finds the table full.
	reserve, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	for len(conns) < int(limit) {
		nc, err := net.DialTimeout("tcp", f.addr, time.Second)
		if err != nil {
			if !errors.Is(err, syscall.EMFILE) && !errors.Is(err, syscall.ENFILE) {
				t.Logf("dial stopped with: %v", err)
			}
			break
		}
		conns = append(conns, nc)
	}
	_ = reserve.Close()
	if nc, err := net.DialTimeout("tcp", f.addr, time.Second); err == nil {
		conns = append(conns, nc)
	} else {
		t.Logf("the dial after freeing the reserve: %v", err)
	}
	nettest.Eventually(t, "an accept failure counted", func() error {
		if f.errorCount("accept_failed") == 0 {
			return errors.New("no accept_failed error counted")
		}
		return nil
	})
	if err := echo(canary); err != nil {
		t.Fatalf("canary with the fd table full: %v", err)
	}
	select {
	case err := <-stopped:
		t.Fatalf("the server stopped: %v", err)
	default:
	}
	// Free fds: the server accepts again by itself.
	for _, nc := range conns[:len(conns)/2] {
		_ = nc.Close()
	}
	var fresh net.Conn
	nettest.Eventually(t, "a new connection echoed", func() error {
		if fresh == nil {
			if fresh, err = net.DialTimeout("tcp", f.addr, time.Second); err != nil {
				fresh = nil
				return fmt.Errorf("dial: %w", err)
			}
		}
		if err := echo(fresh); err != nil {
			return fmt.Errorf("echo: %w", err)
		}
		return nil
	})
	if err := echo(canary); err != nil {
		t.Fatalf("canary after: %v", err)
	}
	if !strings.Contains(logs.String(), "accept failed") {
		t.Errorf("no warning logged; log:\n%s", logs.String())
	}
	t.Logf("%d connections filled a table of %d fds; accept failures %d, rejected %d; canary and a new connection echo",
		len(conns), limit, f.errorCount("accept_failed"), f.srv.Monitor().Snapshot().Total.Connections.Rejected)
	for _, nc := range append(conns[len(conns)/2:], fresh) {
		_ = nc.Close()
	}
}
