package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// notifyBuffer is a buffer safe for concurrent writes that signals on
// written after each write.
type notifyBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	written chan struct{}
}

func (n *notifyBuffer) Write(p []byte) (int, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	select {
	case n.written <- struct{}{}:
	default:
	}
	return n.b.Write(p)
}

func (n *notifyBuffer) String() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.b.String()
}

// TestServeOutput checks that serve says "listening" once, on stdout and
// stderr together, and that -report-every prints one block per report when
// there is one source, not the same figures as "total" and again under the
// source's name.
func TestServeOutput(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	serveContext = func() context.Context { return ctx }
	t.Cleanup(func() { serveContext = context.Background })
	stderr := &notifyBuffer{written: make(chan struct{}, 1)}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := runServe([]string{"-addr", "127.0.0.1:0", "-report-every", "20ms"}, pw, stderr)
		pw.Close()
		done <- err
	}()
	out := bufio.NewReader(pr)
	first, err := out.ReadString('\n')
	if err != nil || !strings.HasPrefix(first, "listening ") {
		t.Fatalf("first line %q, %v; want listening <addr>", first, err)
	}
	deadline := time.After(10 * time.Second)
	for strings.Count(stderr.String(), "uptime") < 2 {
		select {
		case <-stderr.written:
		case <-deadline:
			t.Fatalf("no two reports within 10 s; stderr:\n%s", stderr.String())
		}
	}
	cancel()
	rest, _ := io.ReadAll(out)
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	all := first + string(rest) + stderr.String()
	if n := strings.Count(all, "listening"); n != 1 {
		t.Errorf("serve said listening %d times; want once:\n%s", n, all)
	}
	report := stderr.String()
	blocks, headers := strings.Count(report, "== "), strings.Count(report, "uptime")
	if blocks != headers || strings.Contains(report, "== total ==") {
		t.Errorf("%d reports with %d blocks; want one block, named after the source, per report:\n%s", headers, blocks, report)
	}
}

// TestUsage checks that echo with no command lists every visible command,
// with the summaries in one column, in lines of at most 80 columns.
func TestUsage(t *testing.T) {
	var stderr bytes.Buffer
	if rc := run(nil, io.Discard, &stderr); rc != 2 {
		t.Fatalf("exit status %d; want 2", rc)
	}
	col := -1
	for n, c := range commands {
		if c.hidden {
			continue
		}
		line := ""
		for _, l := range strings.Split(stderr.String(), "\n") {
			if strings.HasPrefix(l, "  "+n+" ") {
				line = l
			}
		}
		if line == "" {
			t.Fatalf("usage does not list %q:\n%s", n, stderr.String())
		}
		at := strings.Index(line, c.summary)
		if at < 0 || (col >= 0 && at != col) {
			t.Errorf("summary of %q at column %d (others at %d):\n%s", n, at, col, stderr.String())
		}
		col = at
	}
	for _, l := range strings.Split(stderr.String(), "\n") {
		if len([]rune(l)) > 80 {
			t.Errorf("usage line of %d columns: %q", len([]rune(l)), l)
		}
	}
}
