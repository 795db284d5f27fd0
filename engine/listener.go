package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/netsys-go/netsys/metrics"
)

// The server owns its listening socket and accepts connections itself,
// handing each accepted fd to an event loop, as the client does with the
// connections it dials. gnet's own acceptor ends the whole engine on an
// accept error (EMFILE when the fd table is full), dropping every session;
// this one survives it: it refuses one waiting connection at a time with a
// spare fd, backs off, logs (rate-limited) and counts, and accepts again by
// itself once fds free up.

// parseAddr splits "host:port", "tcp://host:port" or "unix:///path" into a
// network and an address for the net package.
func parseAddr(addr string) (network, address string, err error) {
	if path, ok := strings.CutPrefix(addr, "unix://"); ok {
		if path == "" {
			return "", "", fmt.Errorf("%w: %q: no socket path", ErrBadAddress, addr)
		}
		return "unix", path, nil
	}
	hostPort, ok := strings.CutPrefix(addr, "tcp://")
	if !ok && strings.Contains(addr, "://") {
		return "", "", fmt.Errorf("%w: %q: only tcp:// and unix:// are supported", ErrBadAddress, addr)
	}
	if _, _, err := net.SplitHostPort(hostPort); err != nil {
		return "", "", fmt.Errorf("%w: %q: %w", ErrBadAddress, addr, err)
	}
	return "tcp", hostPort, nil
}

// listen opens the listening socket, with o's socket options set before
// listen(2) (see socketControl). For a Unix socket, a stale socket file
// (nothing accepts on it) is removed first; one a live server holds is not.
func listen(network, address string, o *options) (net.Listener, error) {
	if network == "unix" {
		if err := removeStaleSocket(address); err != nil {
			return nil, err
		}
	}
	lc := net.ListenConfig{Control: o.socketControl(o.reusePort)}
	return lc.Listen(context.Background(), network, address)
}

// socketControl sets, on a TCP socket before listen(2) or connect(2),
// SO_REUSEPORT (if reusePort) and the buffer sizes of WithSocketBuffers.
// The buffers must be set that early (tcp(7)): the window scale is agreed in
// the handshake, and a receive buffer shrunk after it holds less than the
// window already offered, so the kernel drops what the peer sends into the
// rest and the peer's retransmissions back off for seconds. An accepted
// connection inherits the listener's buffers. It returns nil when there is
// nothing to set.
func (o *options) socketControl(reusePort bool) func(network, address string, rc syscall.RawConn) error {
	if !reusePort && o.recvBuf == 0 && o.sendBuf == 0 {
		return nil
	}
	return func(network, _ string, rc syscall.RawConn) error {
		if !strings.HasPrefix(network, "tcp") {
			return nil // a Unix socket: none of these
		}
		var errs []error
		err := rc.Control(func(fd uintptr) {
			set := func(name string, opt, v int) {
				if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, opt, v); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", name, err))
				}
			}
			if reusePort {
				set("SO_REUSEPORT", unix.SO_REUSEPORT, 1)
			}
			if o.recvBuf > 0 {
				set("SO_RCVBUF", unix.SO_RCVBUF, o.recvBuf)
			}
			if o.sendBuf > 0 {
				set("SO_SNDBUF", unix.SO_SNDBUF, o.sendBuf)
			}
		})
		return errors.Join(append(errs, err)...)
	}
}

// removeStaleSocket removes path if it is a Unix socket no one accepts on.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("%w: %s exists and is not a socket", ErrBadAddress, path)
	}
	nc, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		_ = nc.Close()
		return fmt.Errorf("%w: %s: a live server listens on it", syscall.EADDRINUSE, path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("%w: %s: %w", ErrBadAddress, path, err)
	}
	return os.Remove(path)
}

// acceptor accepts connections on ln and enrolls them into the server's loops.
type acceptor struct {
	srv   *Server
	ln    net.Listener
	spare int           // an fd kept open to be given up when the table is full; -1 if none
	stop  chan struct{} // closed by Stop
	done  chan struct{} // closed when run returns
}

func newAcceptor(srv *Server, ln net.Listener) *acceptor {
	spare, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		spare = -1
	}
	return &acceptor{srv: srv, ln: ln, spare: spare, stop: make(chan struct{}), done: make(chan struct{})}
}

// run accepts until the listener is closed. A failure that is not about the
// listener being closed never ends it: it backs off, from 5 ms doubling to
// 1 s, and tries again. It returns the error that ended it, nil after Stop.
func (a *acceptor) run() error {
	defer close(a.done)
	defer func() {
		if a.spare >= 0 {
			unix.Close(a.spare)
		}
	}()
	t := a.srv.t
	var delay time.Duration
	// failed counts, logs (rate-limited) and backs off after an accept or
	// enrollment failure; false if the server is stopping meanwhile.
	failed := func(err error) bool {
		t.src.Error(metrics.AcceptFailed)
		if exhausted(err) {
			a.shed()
		}
		delay = min(max(2*delay, 5*time.Millisecond), time.Second)
		t.logs.log("accept_failed", slog.LevelWarn, "netsys: accept failed; retrying", "err", err, "retry_in", delay)
		select {
		case <-a.stop:
			return false
		case <-time.After(delay):
			return true
		}
	}
	for {
		nc, err := a.ln.Accept()
		if err != nil {
			select {
			case <-a.stop:
				return nil
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("engine: listener closed: %w", err)
			}
			if !failed(err) {
				return nil
			}
			continue
		}
		if !t.admit() {
			t.src.ConnRejected()
			t.logs.log("rejected", slog.LevelWarn, "netsys: connection refused: at the session limit",
				"remote", nc.RemoteAddr(), "limit", t.limit)
			_ = nc.Close()
			continue
		}
		if err := a.srv.loops.enroll(nc, &endpoints{local: nc.LocalAddr(), remote: nc.RemoteAddr()}); err != nil {
			t.active.Add(-1) // enroll closed nc
			if !failed(err) {
				return nil
			}
			continue
		}
		delay = 0
	}
}

// exhausted reports whether err says the process or system is out of fds.
func exhausted(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// shed refuses one waiting connection when no fd is free: it gives up the
// spare fd, accepts with it and closes the connection at once, so that the
// peer hears no rather than waiting in the backlog, then takes the spare back.
func (a *acceptor) shed() {
	if a.spare < 0 {
		return
	}
	unix.Close(a.spare)
	a.spare = -1
	if tl, ok := a.ln.(interface {
		SyscallConn() (syscall.RawConn, error)
	}); ok {
		if rc, err := tl.SyscallConn(); err == nil {
			_ = rc.Read(func(fd uintptr) bool {
				if nfd, _, err := unix.Accept4(int(fd), unix.SOCK_CLOEXEC); err == nil {
					a.srv.t.src.ConnRejected()
					unix.Close(nfd)
				}
				return true
			})
		}
	}
	if spare, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0); err == nil {
		a.spare = spare
	}
}

// DefaultMaxConns returns the session limit a server gets without
// WithMaxConns: what the process's open-file limit (RLIMIT_NOFILE) leaves
// after a tenth of it, and at least 64, for everything else the process
// opens (listeners, log files, lingering closes, its clients).
func DefaultMaxConns() int {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == unix.RLIM_INFINITY || rl.Cur > 1<<24 {
		return 100_000
	}
	n := int(rl.Cur)
	return max(n-max(n/10, 64), 1)
}
