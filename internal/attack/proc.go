package main

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// proc reads the server's figures from /proc/PID.
type proc struct{ pid int }

func (p proc) path(name string) string { return fmt.Sprintf("/proc/%d/%s", p.pid, name) }

// rssKiB returns the process's resident set (VmRSS) in KiB, or -1 when it
// cannot be read (the process is gone).
func (p proc) rssKiB() int64 {
	b, err := os.ReadFile(p.path("status"))
	if err != nil {
		return -1
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, err := strconv.ParseInt(f[0], 10, 64)
				if err == nil {
					return n
				}
			}
		}
	}
	return -1
}

// fds returns how many file descriptors the process holds, or -1.
func (p proc) fds() int {
	ents, err := os.ReadDir(p.path("fd"))
	if err != nil {
		return -1
	}
	return len(ents)
}

// alive reports whether the process exists and is neither a zombie nor dead.
func (p proc) alive() bool {
	b, err := os.ReadFile(p.path("stat"))
	if err != nil {
		return false
	}
	// pid (comm) state ...: comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return false
	}
	state := b[i+2]
	return state != 'Z' && state != 'X'
}

// listening reports whether the process holds a TCP socket listening on port.
func (p proc) listening(port int) bool { return slices.Contains(p.listenPorts(), port) }

// listenPorts returns the ports of the TCP sockets the process listens on.
func (p proc) listenPorts() []int {
	byInode := map[string]int{} // "socket:[inode]" of every listening socket
	for _, table := range []string{"net/tcp", "net/tcp6"} {
		f, err := os.Open(p.path(table))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			fs := strings.Fields(sc.Text())
			if len(fs) < 10 || fs[3] != "0A" {
				continue
			}
			_, hexPort, _ := strings.Cut(fs[1], ":")
			if n, err := strconv.ParseInt(hexPort, 16, 32); err == nil {
				byInode["socket:["+fs[9]+"]"] = int(n)
			}
		}
		f.Close()
	}
	ents, err := os.ReadDir(p.path("fd"))
	if err != nil {
		return nil
	}
	var ports []int
	for _, e := range ents {
		link, err := os.Readlink(p.path("fd/" + e.Name()))
		if port, ok := byInode[link]; err == nil && ok && !slices.Contains(ports, port) {
			ports = append(ports, port)
		}
	}
	slices.Sort(ports)
	return ports
}

// mib converts KiB to MiB rounded to 0.1; -1 stays -1.
func mib(kib int64) float64 {
	if kib < 0 {
		return -1
	}
	return math.Round(float64(kib)/1024*10) / 10
}

// rssSampler reads the server's RSS every 100 ms and keeps the peak.
type rssSampler struct {
	p    proc
	peak atomic.Int64
	done chan struct{}
	wg   sync.WaitGroup
}

func sampleRSS(p proc) *rssSampler {
	s := &rssSampler{p: p, done: make(chan struct{})}
	s.peak.Store(p.rssKiB())
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.done:
				return
			case <-t.C:
				if v := p.rssKiB(); v > s.peak.Load() {
					s.peak.Store(v)
				}
			}
		}
	}()
	return s
}

func (s *rssSampler) stop() {
	close(s.done)
	s.wg.Wait()
}
