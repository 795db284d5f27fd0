package cluster

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// Addr is a session's address in the cluster: the node it is on and its
// local session ID there (engine session IDs are never reused on one
// server, so an Addr never finds a later session).
type Addr struct {
	Node    string // the node's ID
	Session uint64 // the session's ID on that node
}

// String returns the address as "node/id", id in hexadecimal.
func (a Addr) String() string { return a.Node + "/" + strconv.FormatUint(a.Session, 16) }

// ParseAddr parses what Addr.String returns.
func ParseAddr(s string) (Addr, error) {
	node, id, ok := strings.Cut(s, "/")
	if !ok || !validID(node) {
		return Addr{}, fmt.Errorf("%w: %q", ErrBadAddr, s)
	}
	n, err := strconv.ParseUint(id, 16, 64)
	if err != nil || n == 0 {
		return Addr{}, fmt.Errorf("%w: %q", ErrBadAddr, s)
	}
	return Addr{Node: node, Session: n}, nil
}

// validID reports whether s can be a node ID: 1 to 64 characters of A-Z,
// a-z, 0-9, '-' and '_', so that it is one subject token.
func validID(s string) bool { return len(s) >= 1 && len(s) <= 64 && plainToken(s) }

// plainToken reports whether every byte of s is A-Z, a-z, 0-9, '-' or '_'.
func plainToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// groupToken turns a group name into one subject token: the name itself
// when it is plain (A-Z, a-z, 0-9, '-', '_'), else '=' and its unpadded
// URL-safe base64, which no plain name starts with.
func groupToken(group string) string {
	if group != "" && plainToken(group) {
		return group
	}
	return "=" + base64.RawURLEncoding.EncodeToString([]byte(group))
}
