package bench

import (
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"
)

func TestReadProcStats(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	s, err := ReadProcStats(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.RSS <= 0 || s.PeakRSS < s.RSS || s.CPU < 0 {
		t.Errorf("ReadProcStats(self) = %+v; want RSS > 0, PeakRSS >= RSS, CPU >= 0", s)
	}
	// A process that has exited and been reaped has no /proc entry.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip(err)
	}
	if _, err := ReadProcStats(cmd.Process.Pid); !errors.Is(err, ErrProc) {
		t.Errorf("ReadProcStats(reaped pid) = %v; want ErrProc", err)
	}
}

func TestCPUAt(t *testing.T) {
	t0 := time.Unix(1000, 0)
	sample := func(ms int, cpu time.Duration) ProcSample {
		return ProcSample{At: t0.Add(time.Duration(ms) * time.Millisecond), ProcStats: ProcStats{CPU: cpu}}
	}
	samples := []ProcSample{sample(0, 0), sample(100, 100*time.Millisecond), sample(200, 100*time.Millisecond)}
	tests := []struct {
		name string
		ms   int
		want time.Duration
	}{
		{name: "before the first", ms: -50, want: 0},
		{name: "on a sample", ms: 100, want: 100 * time.Millisecond},
		{name: "between", ms: 25, want: 25 * time.Millisecond},
		{name: "flat stretch", ms: 150, want: 100 * time.Millisecond},
		{name: "after the last", ms: 500, want: 100 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := CPUAt(samples, t0.Add(time.Duration(tt.ms)*time.Millisecond)); got != tt.want {
			t.Errorf("%s: CPUAt(+%dms) = %v; want %v", tt.name, tt.ms, got, tt.want)
		}
	}
	if got := CPUAt(nil, t0); got != 0 {
		t.Errorf("CPUAt(no samples) = %v; want 0", got)
	}
}

func TestReadHostSteal(t *testing.T) {
	a, err := ReadHostSteal()
	if err != nil {
		t.Fatalf("ReadHostSteal: %v", err)
	}
	b, err := ReadHostSteal()
	if err != nil || a < 0 || b < a {
		t.Fatalf("ReadHostSteal = %v then %v, %v; want a non-negative, non-decreasing total", a, b, err)
	}
}

func TestStealAt(t *testing.T) {
	t0 := time.Unix(1000, 0)
	samples := []ProcSample{
		{At: t0, HostSteal: time.Second},
		{At: t0.Add(100 * time.Millisecond), HostSteal: 3 * time.Second},
	}
	tests := []struct {
		at   time.Time
		want time.Duration
	}{
		{at: t0.Add(-time.Second), want: time.Second},
		{at: t0.Add(50 * time.Millisecond), want: 2 * time.Second},
		{at: t0.Add(time.Second), want: 3 * time.Second},
	}
	for _, tt := range tests {
		if got := StealAt(samples, tt.at); got != tt.want {
			t.Errorf("StealAt(%v) = %v; want %v", tt.at.Sub(t0), got, tt.want)
		}
	}
}
