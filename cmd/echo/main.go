package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sort"
)

// command is one subcommand: its one-line summary and its entry point, which
// parses its own flags from args.
type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
	hidden  bool // internal commands (child processes of compare) are not listed
}

var commands = map[string]command{}

func register(name string, c command) { commands[name] = c }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		return 2
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "echo: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	if err := c.run(args[1:], stdout, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 2
		}
		fmt.Fprintf(stderr, "echo %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// parseArgs parses a command's flags from args and refuses positional
// arguments: every command takes flags only.
func parseArgs(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return nil
}

// announce tells whoever started a server where it listens, with the first
// line "listening <addr>" on stdout, where addr is host:port or, for a Unix
// socket, unix:///path: an address that -addr takes as it is. Every server (serve and baseline) first
// collects the garbage of its start-up (flag parsing, the plotting package's
// fonts, the metrics registry), so that a measurement is not charged with it.
func announce(stdout io.Writer, addr net.Addr) {
	runtime.GC()
	if addr.Network() == "unix" {
		fmt.Fprintf(stdout, "listening unix://%s\n", addr)
		return
	}
	fmt.Fprintf(stdout, "listening %s\n", addr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: echo <command> [flags]")
	fmt.Fprintln(w, "\ncommands:")
	names := make([]string, 0, len(commands))
	for n, c := range commands {
		if !c.hidden {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	width := 0
	for _, n := range names {
		width = max(width, len(n))
	}
	for _, n := range names {
		fmt.Fprintf(w, "  %-*s  %s\n", width, n, commands[n].summary)
	}
}
