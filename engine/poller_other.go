//go:build !linux

package engine

import (
	"sync"

	"golang.org/x/sys/unix"
)

// poller is the engine's own readiness poller for what gnet does not watch:
// sockets waiting to become writable. This portable version polls the
// watched set with poll(2), interrupted through a pipe.
type poller struct {
	r, w    int
	mu      sync.Mutex
	watched map[int]int16 // fd -> events; guarded by mu
}

func newPoller() (*poller, error) {
	var fds [2]int
	if err := unix.Pipe(fds[:]); err != nil {
		return nil, err
	}
	unix.SetNonblock(fds[0], true)
	unix.SetNonblock(fds[1], true)
	return &poller{r: fds[0], w: fds[1], watched: make(map[int]int16)}, nil
}

func (p *poller) watch(fd int, write, read bool) error {
	ev := int16(0)
	if write {
		ev |= unix.POLLOUT
	}
	if read {
		ev |= unix.POLLIN
	}
	p.mu.Lock()
	p.watched[fd] = ev
	p.mu.Unlock()
	p.interrupt()
	return nil
}

func (p *poller) forget(fd int) {
	p.mu.Lock()
	delete(p.watched, fd)
	p.mu.Unlock()
}

func (p *poller) wait(ms int, fn func(fd int)) error {
	p.mu.Lock()
	fds := make([]unix.PollFd, 0, len(p.watched)+1)
	fds = append(fds, unix.PollFd{Fd: int32(p.r), Events: unix.POLLIN})
	for fd, ev := range p.watched {
		fds = append(fds, unix.PollFd{Fd: int32(fd), Events: ev})
	}
	p.mu.Unlock()
	n, err := unix.Poll(fds, ms)
	if err != nil && err != unix.EINTR {
		return err
	}
	if n <= 0 {
		return nil
	}
	if fds[0].Revents != 0 {
		var b [64]byte
		_, _ = unix.Read(p.r, b[:])
	}
	for _, f := range fds[1:] {
		if f.Revents == 0 {
			continue
		}
		p.mu.Lock()
		_, ok := p.watched[int(f.Fd)]
		delete(p.watched, int(f.Fd)) // one report per watch, as with epoll's one-shot
		p.mu.Unlock()
		if ok {
			fn(int(f.Fd))
		}
	}
	return nil
}

func (p *poller) interrupt() { _, _ = unix.Write(p.w, []byte{1}) }

func (p *poller) close() {
	unix.Close(p.r)
	unix.Close(p.w)
}
