package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// fdExhaust opens plain connections, each proved accepted by one echo, until
// one is not accepted (the dial fails, or no echo comes within 2 s) or the
// cap is reached. Then: does the canary opened first still echo, is the
// server alive and listening; and after half the attack connections close,
// does a new connection get an echo within 5 s?
func fdExhaust(cfg config, r *report) error {
	k, err := startCanary(cfg.addr, 10*time.Millisecond)
	if err != nil {
		return fmt.Errorf("canary: %w", err)
	}
	defer k.close()
	r.add("server_fds_before", cfg.srv.fds())

	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	payload, buf := []byte("fd"), make([]byte, 16)
	accepted, stopped := 0, "cap reached"
	for len(conns) < cfg.conns {
		c, err := net.DialTimeout("tcp", cfg.addr, 2*time.Second)
		if err != nil {
			stopped = "dial: " + endKind(err)
			break
		}
		conns = append(conns, c)
		if _, err := roundTrip(c, payload, buf, 2*time.Second); err != nil {
			stopped = "echo: " + endKind(err)
			break
		}
		accepted++
	}
	time.Sleep(500 * time.Millisecond) // let a failing server finish failing
	r.add("conns_cap", cfg.conns)
	r.add("conns_accepted", accepted)
	r.add("stopped_by", stopped)
	canaryErr := k.check(2 * time.Second)
	r.add("canary_echoes", canaryErr == nil)
	r.add("canary_error", errText(canaryErr))
	alive, listening := cfg.srv.alive(), cfg.srv.listening(cfg.port)
	r.add("server_alive", alive)
	r.add("server_listening", listening)
	r.add("server_fds_full", cfg.srv.fds())

	half := len(conns) / 2
	for _, c := range conns[half:] {
		c.Close()
	}
	r.add("conns_closed_by_us", len(conns)-half)
	conns = conns[:half]
	took, err := echoWithin(cfg.addr, 5*time.Second)
	r.add("new_conn_echoes", err == nil)
	r.add("new_conn_error", errText(err))
	r.add("new_conn_ms", ms(took))
	canaryAfter := k.check(2 * time.Second)
	r.add("canary_echoes_after", canaryAfter == nil)
	r.add("server_fds_after", cfg.srv.fds())

	r.summary = fmt.Sprintf("%d conns accepted (stopped by %s); canary echoes: %s; server alive: %s, listening: %s; new conn echoes after freeing half: %s",
		accepted, stopped, format(canaryErr == nil), format(alive), format(listening), format(err == nil))
	return nil
}

// echoWithin dials addr and tries a round trip, again and again, until one
// succeeds or within has passed; it returns the time to success.
func echoWithin(addr string, within time.Duration) (time.Duration, error) {
	start := time.Now()
	deadline := start.Add(within)
	for {
		left := time.Until(deadline)
		c, err := net.DialTimeout("tcp", addr, left)
		if err == nil {
			_, err = roundTrip(c, []byte("new"), make([]byte, 16), time.Until(deadline))
			c.Close()
			if err == nil {
				return time.Since(start), nil
			}
		}
		if time.Until(deadline) < 100*time.Millisecond {
			return time.Since(start), err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// monitorIdle opens N connections to the monitor, makes one GET /stats on
// each, then leaves them idle: how many are still open after 5 s and after
// -hold, and how many fds the server holds.
func monitorIdle(cfg config, r *report) error {
	w := &watched{}
	defer w.closeAll()
	fdsBefore := cfg.srv.fds()
	var failed error
	for range cfg.conns {
		c, br, err := statsRequest(cfg.monitor)
		if err != nil {
			failed = err
			break
		}
		w.add(c, br)
	}
	opened := time.Now()
	r.add("conns", cfg.conns)
	r.add("conns_opened", w.len())
	r.add("open_error", errText(failed))
	r.add("server_fds_before", fdsBefore)
	time.Sleep(5 * time.Second)
	r.add("open_after_5s", w.open())
	r.add("server_fds_after_5s", cfg.srv.fds())
	time.Sleep(time.Until(opened.Add(cfg.hold)))
	open := w.open()
	r.add(fmt.Sprintf("open_after_%s", cfg.hold), open)
	fds := cfg.srv.fds()
	r.add(fmt.Sprintf("server_fds_after_%s", cfg.hold), fds)
	r.summary = fmt.Sprintf("%d of %d idle monitor conns still open after %s; server holds %d fds (%d before)",
		open, w.len(), cfg.hold, fds, fdsBefore)
	return nil
}

// statsRequest dials the monitor and makes one keep-alive GET /stats,
// reading the whole response.
func statsRequest(addr string) (net.Conn, *bufio.Reader, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, nil, err
	}
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		c.Close()
		return nil, nil, err
	}
	if _, err := io.WriteString(c, "GET /stats HTTP/1.1\r\nHost: monitor\r\n\r\n"); err != nil {
		c.Close()
		return nil, nil, err
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("GET /stats: %s", resp.Status)
		}
	}
	if err == nil {
		err = c.SetDeadline(time.Time{})
	}
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	return c, br, nil
}

// trickle opens K connections and writes one byte a second on each, the
// header and then the payload of a 1 KiB frame that never completes: how many
// are still open after -hold, and how many fds the server holds.
func trickle(cfg config, r *report) error {
	w := &watched{}
	defer w.closeAll()
	fdsBefore := cfg.srv.fds()
	var conns []net.Conn
	var failed error
	for range cfg.conns {
		c, err := net.DialTimeout("tcp", cfg.addr, 2*time.Second)
		if err != nil {
			failed = err
			break
		}
		conns = append(conns, c)
		w.add(c, c)
	}
	r.add("conns", cfg.conns)
	r.add("conns_opened", len(conns))
	r.add("open_error", errText(failed))
	r.add("server_fds_before", fdsBefore)
	stream := appendFrame(nil, make([]byte, 1024))
	writeFailed := make([]bool, len(conns))
	start := time.Now()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	next := 10 * time.Second
	for i := 0; time.Since(start) < cfg.hold; i++ {
		for j, c := range conns {
			if writeFailed[j] {
				continue
			}
			_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			if _, err := c.Write(stream[i%len(stream) : i%len(stream)+1]); err != nil {
				writeFailed[j] = true
			}
		}
		if el := time.Since(start); el >= next && el < cfg.hold {
			r.add(fmt.Sprintf("open_after_%s", next), w.open())
			next += 10 * time.Second
		}
		<-t.C
	}
	open := w.open()
	fds := cfg.srv.fds()
	r.add(fmt.Sprintf("open_after_%s", cfg.hold), open)
	r.add(fmt.Sprintf("server_fds_after_%s", cfg.hold), fds)
	r.summary = fmt.Sprintf("%d of %d trickling conns still open after %s; server holds %d fds (%d before)",
		open, len(conns), cfg.hold, fds, fdsBefore)
	return nil
}
