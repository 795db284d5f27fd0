package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/netsys-go/netsys/bench"
	"github.com/netsys-go/netsys/codec"
)

func init() {
	register("baseline", command{
		summary: "run a baseline echo server: the net package, bare gnet or bare nbio (for compare)",
		run:     runBaseline,
		hidden:  true,
	})
}

// runBaseline is `echo baseline`: the net-package baseline, the bare gnet
// echo or the bare nbio echo, in the default wire format, until SIGINT or SIGTERM. Its first line
// on stdout is "listening <addr>".
func runBaseline(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("baseline", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kind := fs.String("kind", "net", "server: net (goroutine per connection), gnet (bare gnet echo) or nbio (bare nbio echo)")
	addr := fs.String("addr", "127.0.0.1:0", "listen address: host:port (port 0 picks a free port) or unix:///path")
	loops := fs.Int("loops", 0, "gnet, nbio: event loops (0 = the library's default)")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if *loops < 0 {
		return fmt.Errorf("-loops %d: want 0 (the library's default) or more", *loops)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch *kind {
	case "net":
		ln, err := net.Listen(bench.SplitAddr(*addr))
		if err != nil {
			return err
		}
		announce(stdout, ln.Addr())
		done := make(chan error, 1)
		go func() { done <- bench.ServeNet(ln, codec.Default()) }()
		select {
		case <-ctx.Done():
			_ = ln.Close()
			return <-done
		case err := <-done:
			return err
		}
	case "gnet":
		srv, err := bench.ServeGnet(*addr, *loops)
		if err != nil {
			return err
		}
		announce(stdout, srv.Addr())
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Stop(sctx)
	case "nbio":
		srv, err := bench.ServeNbio(*addr, *loops)
		if err != nil {
			return err
		}
		announce(stdout, srv.Addr())
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Stop(sctx)
	default:
		return fmt.Errorf("-kind %q: want net, gnet or nbio", *kind)
	}
}
