package embed

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Config describes an embedded NATS server. The zero value is a lone server
// on 127.0.0.1 with a free port.
type Config struct {
	// Name is the server's name in the NATS cluster; default: NATS picks one.
	Name string
	// Listen is the client address, "host:port"; default "127.0.0.1:0".
	// Port 0 picks a free port; ClientURL tells which.
	Listen string
	// ClusterName names the NATS cluster; every server of it must use the
	// same. Default "netsys".
	ClusterName string
	// ClusterListen is the address other servers' routes connect to,
	// "host:port" (port 0 picks a free one; RouteURL tells which). Empty: the
	// server does not cluster.
	ClusterListen string
	// Routes are the route URLs of other servers of the cluster
	// (nats-route://host:port); a route to the server itself is ignored.
	Routes []string
	// ReadyTimeout bounds the wait for the server to accept connections;
	// default 10s.
	ReadyTimeout time.Duration
}

// Server is a running embedded NATS server.
type Server struct {
	s *server.Server
}

// Start starts a NATS server in this process and waits until it accepts
// connections.
func Start(cfg Config) (*Server, error) {
	host, port, err := splitAddr(cfg.Listen, "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("embed: listen address: %w", err)
	}
	opts := &server.Options{
		ServerName: cfg.Name,
		Host:       host,
		Port:       port,
		NoLog:      true,
		NoSigs:     true,
	}
	if cfg.ClusterListen != "" {
		ch, cp, err := splitAddr(cfg.ClusterListen, "")
		if err != nil {
			return nil, fmt.Errorf("embed: cluster address: %w", err)
		}
		opts.Cluster = server.ClusterOpts{Name: cfg.ClusterName, Host: ch, Port: cp}
		if opts.Cluster.Name == "" {
			opts.Cluster.Name = "netsys"
		}
		for _, r := range cfg.Routes {
			u, err := url.Parse(strings.TrimSpace(r))
			if err != nil || u.Host == "" {
				return nil, fmt.Errorf("embed: route %q: want nats-route://host:port", r)
			}
			opts.Routes = append(opts.Routes, u)
		}
	} else if len(cfg.Routes) > 0 {
		return nil, errors.New("embed: routes need a cluster listen address")
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embed: %w", err)
	}
	s.Start()
	wait := cfg.ReadyTimeout
	if wait <= 0 {
		wait = 10 * time.Second
	}
	if !s.ReadyForConnections(wait) {
		s.Shutdown()
		return nil, fmt.Errorf("embed: NATS server not ready after %v", wait)
	}
	return &Server{s: s}, nil
}

// splitAddr parses "host:port"; port 0 becomes NATS's "pick a free port".
func splitAddr(addr, def string) (string, int, error) {
	if addr == "" {
		addr = def
	}
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port in %q", addr)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return host, port, nil
}

// ClientURL returns the URL clients connect to, nats://host:port.
func (s *Server) ClientURL() string { return s.s.ClientURL() }

// RouteURL returns the URL other servers' routes connect to,
// nats-route://host:port, or "" if the server does not cluster.
func (s *Server) RouteURL() string {
	a := s.s.ClusterAddr()
	if a == nil {
		return ""
	}
	return "nats-route://" + net.JoinHostPort(a.IP.String(), strconv.Itoa(a.Port))
}

// Routes returns the number of route connections to other servers.
func (s *Server) Routes() int { return s.s.NumRoutes() }

// Shutdown stops the server and waits until it has stopped; its clients
// see the connection drop.
func (s *Server) Shutdown() {
	s.s.Shutdown()
	s.s.WaitForShutdown()
}
