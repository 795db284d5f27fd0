package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/netsys-go/netsys/cluster"
)

func init() {
	register("cluster-demo", command{summary: "a cluster of serve -fanout nodes over NATS, under fan-out load", run: runClusterDemo})
}

// runClusterDemo is `echo cluster-demo`: -nodes `echo serve -fanout`
// processes, each with an embedded NATS server routed to the others, then
// fan-out load across them; it prints the load's table and each node's
// cluster figures. With -nodes 1 the one server runs without a cluster, the
// reference for cross-node figures.
func runClusterDemo(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cluster-demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nodes := fs.Int("nodes", 3, "serve processes (1: one server without a cluster)")
	conns := fs.Int("conns", 300, "sessions, spread over the nodes")
	size := fs.Int("size", 1024, "frame payload bytes")
	rate := fs.Int("rate", 100, "frames per second over all sessions; each is delivered to every session")
	warmup := fs.Duration("warmup", time.Second, "traffic before the measured window")
	duration := fs.Duration("duration", 5*time.Second, "the measured window")
	timeout := fs.Duration("timeout", 2*time.Minute, "the bound on the whole demo")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if *nodes < 1 || *conns < 1 {
		return fmt.Errorf("-nodes and -conns must be at least 1")
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	var routes []string
	for range *nodes {
		p, err := freePort()
		if err != nil {
			return err
		}
		routes = append(routes, "nats-route://127.0.0.1:"+strconv.Itoa(p))
	}
	var procs []*demoProc
	defer func() {
		for _, p := range procs {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
	}()
	for i := range *nodes {
		args := []string{"serve", "-addr", "127.0.0.1:0", "-fanout", "-loops", "1"}
		if *nodes > 1 {
			args = append(args, "-cluster", "embedded", "-node", fmt.Sprintf("n%d", i+1),
				"-cluster-listen", strings.TrimPrefix(routes[i], "nats-route://"),
				"-cluster-routes", strings.Join(routes, ","), "-cluster-wait", strconv.Itoa(*nodes))
		}
		p, err := startDemoProc(ctx, exe, args)
		if err != nil {
			return err
		}
		procs = append(procs, p)
	}
	var addrs []string
	for i, p := range procs {
		addr, err := p.listening(ctx)
		if err != nil {
			return fmt.Errorf("node %d: %w\n%s", i+1, err, p.stderr.String())
		}
		addrs = append(addrs, addr)
	}
	fmt.Fprintf(stdout, "%d node(s) up: %s\n", len(addrs), strings.Join(addrs, " "))
	res, err := runFanout(ctx, fanoutConfig{addrs: addrs, conns: *conns, size: *size, rate: *rate, warmup: *warmup, duration: *duration})
	if err != nil {
		return err
	}
	if err := res.writeText(stdout); err != nil {
		return err
	}
	var stats []cluster.Stats
	for i, p := range procs {
		s, err := p.stop(ctx)
		if err != nil {
			return fmt.Errorf("node %d: %w\n%s", i+1, err, p.stderr.String())
		}
		if s != nil {
			stats = append(stats, *s)
		}
	}
	procs = nil
	return writeNodeStats(stdout, stats)
}

// writeNodeStats prints each node's cluster figures and the NATS messages
// per broadcast.
func writeNodeStats(w io.Writer, stats []cluster.Stats) error {
	if len(stats) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "node\tpublished\treceived\tdeliveries\tdropped\tNATS p50 µs\tNATS p99 µs\theartbeats out\t")
	var pub, recv uint64
	for _, s := range stats {
		d := s.Dropped
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%.0f\t%.0f\t%d\t\n", s.Node, s.Published.Group, s.Received.Group, s.Deliveries,
			d.Undecodable+d.NoTarget+d.Publish+d.SlowConsumer, s.Latency.P50, s.Latency.P99, s.Published.Heartbeat)
		pub += s.Published.Group
		recv += s.Received.Group
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if pub > 0 {
		fmt.Fprintf(w, "NATS messages per broadcast: 1 published + %.2f received = %.2f (nodes with members: %d)\n",
			float64(recv)/float64(pub), float64(pub+recv)/float64(pub), len(stats))
	}
	fmt.Fprintln(w, "(published/received: group messages; NATS latency: publish on the origin to local fan-out queued)")
	return nil
}

// demoProc is one `echo serve` child process.
type demoProc struct {
	cmd    *exec.Cmd
	out    *bufio.Reader
	stderr *bytes.Buffer
}

func startDemoProc(ctx context.Context, exe string, args []string) (*demoProc, error) {
	cmd := exec.CommandContext(ctx, exe, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p := &demoProc{cmd: cmd, out: bufio.NewReader(out), stderr: &bytes.Buffer{}}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return p, nil
}

// listening reads the child's first line, "listening <addr>".
func (p *demoProc) listening(ctx context.Context) (string, error) {
	type result struct {
		line string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		line, err := p.out.ReadString('\n')
		ch <- result{line, err}
	}()
	select {
	case r := <-ch:
		addr, ok := strings.CutPrefix(strings.TrimSpace(r.line), "listening ")
		if !ok {
			return "", fmt.Errorf("first line %q, %v", r.line, r.err)
		}
		return addr, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// stop asks the child to stop and returns the cluster figures it printed.
func (p *demoProc) stop(ctx context.Context) (*cluster.Stats, error) {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return nil, err
	}
	var stats *cluster.Stats
	for {
		line, err := p.out.ReadString('\n')
		if js, ok := strings.CutPrefix(line, "cluster "); ok {
			stats = new(cluster.Stats)
			if jerr := json.Unmarshal([]byte(js), stats); jerr != nil {
				return nil, jerr
			}
		}
		if err != nil {
			break
		}
	}
	if err := p.cmd.Wait(); err != nil && ctx.Err() == nil {
		return stats, err
	}
	return stats, nil
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
