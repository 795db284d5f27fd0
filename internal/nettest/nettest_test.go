package nettest

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// fatalTB records Fatalf and ends the goroutine as testing.T does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestEventuallyReportsWhatItLastSaw(t *testing.T) {
	f := &fatalTB{TB: t}
	n := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		eventually(f, "three connected", func() error {
			n++
			return fmt.Errorf("%d of 3 connected", min(n, 2))
		}, 20*time.Millisecond)
	}()
	<-done
	if !strings.Contains(f.msg, "waiting for three connected: last saw: 2 of 3 connected") {
		t.Errorf("Fatalf message %q; want it to name the wait and the last error", f.msg)
	}
}

func TestEventuallyReturnsOnNil(t *testing.T) {
	f := &fatalTB{TB: t}
	calls := 0
	eventually(f, "the third poll", func() error {
		if calls++; calls < 3 {
			return fmt.Errorf("poll %d", calls)
		}
		return nil
	}, Timeout)
	if f.msg != "" || calls != 3 {
		t.Errorf("after %d polls: Fatalf %q; want 3 polls and no failure", calls, f.msg)
	}
}
