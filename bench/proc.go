package bench

import (
	"bytes"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// clockTicks is the unit of the CPU times in /proc/<pid>/stat: 100 per
// second, the value of sysconf(_SC_CLK_TCK) on every Linux this runs on.
const clockTicks = 100

// ProcStats is a snapshot of a process's resource use, read from Linux's
// /proc.
type ProcStats struct {
	CPU     time.Duration // user plus system time so far (utime + stime), to 10 ms
	RSS     int64         // resident set size now, bytes (VmRSS)
	PeakRSS int64         // largest resident set size so far, bytes (VmHWM)
}

// ReadProcStats reads the statistics of process pid from /proc/<pid>/stat
// and /proc/<pid>/status. Errors wrap ErrProc.
func ReadProcStats(pid int) (ProcStats, error) {
	var s ProcStats
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, fmt.Errorf("%w: %w", ErrProc, err)
	}
	// The command name, in parentheses, may hold spaces: fields count from
	// the last ')'. After it come state (field 3) ... utime (14), stime (15).
	i := bytes.LastIndexByte(stat, ')')
	f := strings.Fields(string(stat[i+1:]))
	if i < 0 || len(f) < 13 {
		return s, fmt.Errorf("%w: /proc/%d/stat: %q", ErrProc, pid, stat)
	}
	var ticks int64
	for _, field := range f[11:13] {
		n, err := strconv.ParseInt(field, 10, 64)
		if err != nil {
			return s, fmt.Errorf("%w: /proc/%d/stat: %w", ErrProc, pid, err)
		}
		ticks += n
	}
	s.CPU = time.Duration(ticks) * time.Second / clockTicks

	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, fmt.Errorf("%w: %w", ErrProc, err)
	}
	for line := range strings.Lines(string(status)) {
		key, val, ok := strings.Cut(line, ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		if err != nil {
			return s, fmt.Errorf("%w: /proc/%d/status: %s: %w", ErrProc, pid, key, err)
		}
		if key == "VmRSS" {
			s.RSS = kb << 10
		} else {
			s.PeakRSS = kb << 10
		}
	}
	return s, nil
}

// ProcSample is a ProcStats read at a known time, with the host's CPU steal
// at that time.
type ProcSample struct {
	At time.Time
	ProcStats
	HostSteal time.Duration // time the hypervisor took from all CPUs so far; 0 if unknown
}

// SampleProc reads the statistics of process pid and the host's steal, and
// stamps them with the time. The steal is 0 where /proc/stat cannot say.
func SampleProc(pid int) (ProcSample, error) {
	s, err := ReadProcStats(pid)
	if err != nil {
		return ProcSample{}, err
	}
	steal, _ := ReadHostSteal()
	return ProcSample{At: time.Now(), ProcStats: s, HostSteal: steal}, nil
}

// ReadHostSteal returns the CPU time the hypervisor has taken from this
// machine's CPUs since boot, summed over all of them: the "steal" column of
// /proc/stat. Errors wrap ErrProc.
func ReadHostSteal() (time.Duration, error) {
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrProc, err)
	}
	line, _, _ := strings.Cut(string(stat), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("%w: /proc/stat: %q", ErrProc, line)
	}
	ticks, err := strconv.ParseInt(f[8], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: /proc/stat steal: %w", ErrProc, err)
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// CPUAt returns the CPU time of a process at t, interpolated linearly
// between the two samples around t, or the first or last sample's if t is
// outside them; 0 without samples. samples must be in time order. With
// samples every few tens of milliseconds it finds a process's CPU time at an
// instant that another process chose, such as Result.Start.
func CPUAt(samples []ProcSample, t time.Time) time.Duration {
	return interpolate(samples, t, func(s ProcSample) time.Duration { return s.CPU })
}

// StealAt is CPUAt for the host's steal time.
func StealAt(samples []ProcSample, t time.Time) time.Duration {
	return interpolate(samples, t, func(s ProcSample) time.Duration { return s.HostSteal })
}

func interpolate(samples []ProcSample, t time.Time, get func(ProcSample) time.Duration) time.Duration {
	if len(samples) == 0 {
		return 0
	}
	i := sort.Search(len(samples), func(i int) bool { return samples[i].At.After(t) })
	switch i {
	case 0:
		return get(samples[0])
	case len(samples):
		return get(samples[i-1])
	}
	a, b := samples[i-1], samples[i]
	frac := float64(t.Sub(a.At)) / float64(b.At.Sub(a.At))
	return get(a) + time.Duration(frac*float64(get(b)-get(a)))
}
