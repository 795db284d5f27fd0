//go:build linux

package engine

import "golang.org/x/sys/unix"

// poller is the engine's own readiness poller for what gnet does not watch:
// sockets waiting to become writable. It is an epoll instance with an eventfd
// to interrupt a wait.
type poller struct {
	epfd, evfd int
	events     []unix.EpollEvent
}

func newPoller() (*poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	evfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, err
	}
	p := &poller{epfd: epfd, evfd: evfd, events: make([]unix.EpollEvent, 128)}
	if err := p.ctl(unix.EPOLL_CTL_ADD, evfd, unix.EPOLLIN); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

func (p *poller) ctl(op, fd int, events uint32) error {
	return unix.EpollCtl(p.epfd, op, fd, &unix.EpollEvent{Events: events, Fd: int32(fd)})
}

// watch asks for one report when fd becomes writable (write) or readable
// (read), or fails. After a report, fd stays registered but silent until the
// next watch.
func (p *poller) watch(fd int, write, read bool) error {
	ev := uint32(unix.EPOLLONESHOT)
	if write {
		ev |= unix.EPOLLOUT
	}
	if read {
		ev |= unix.EPOLLIN | unix.EPOLLRDHUP
	}
	err := p.ctl(unix.EPOLL_CTL_MOD, fd, ev)
	if err == unix.ENOENT {
		err = p.ctl(unix.EPOLL_CTL_ADD, fd, ev)
	}
	return err
}

// forget removes fd; it must run before fd is closed.
func (p *poller) forget(fd int) { _ = p.ctl(unix.EPOLL_CTL_DEL, fd, 0) }

// wait blocks for up to ms milliseconds (-1: no bound) and calls fn for each
// fd reported, skipping wake-ups.
func (p *poller) wait(ms int, fn func(fd int)) error {
	n, err := unix.EpollWait(p.epfd, p.events, ms)
	if err != nil && err != unix.EINTR {
		return err
	}
	for _, ev := range p.events[:max(n, 0)] {
		fd := int(ev.Fd)
		if fd == p.evfd {
			var b [8]byte
			_, _ = unix.Read(p.evfd, b[:])
			continue
		}
		fn(fd)
	}
	return nil
}

// interrupt makes a wait in progress return.
func (p *poller) interrupt() {
	b := [8]byte{1}
	_, _ = unix.Write(p.evfd, b[:])
}

func (p *poller) close() {
	unix.Close(p.evfd)
	unix.Close(p.epfd)
}
