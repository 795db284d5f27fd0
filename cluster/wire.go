package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The wire format of every message a node publishes (big-endian):
//
//	version  1 byte, wireVersion
//	kind     1 byte, a kind
//	origin   1 byte length, then the origin node's ID
//	sent at  8 bytes, the origin's wall clock in unix nanoseconds
//	then, by kind:
//	  broadcast      the payload
//	  group          2 byte length, the group name, then the payload
//	  unicast        8 byte local session ID, then the payload
//	  heartbeat      4 byte session count, 4 byte group count, then per group
//	                 2 byte name length, the name and a 4 byte member count
//	  bye            nothing
//	  members query  2 byte length, the group name (NATS reply subject set)
//	  members reply  4 byte count, then that many 8 byte local session IDs

const wireVersion = 1

// kind is the kind of a cluster message.
type kind uint8

const (
	kindBroadcast kind = iota + 1
	kindGroup
	kindUnicast
	kindHeartbeat
	kindBye
	kindMembersQuery
	kindMembersReply
	numKinds
)

var kindNames = [numKinds]string{"", "broadcast", "group", "unicast", "heartbeat", "bye", "members_query", "members_reply"}

func (k kind) String() string {
	if k > 0 && k < numKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// headerLen is the length of the common header for an origin of n bytes.
func headerLen(n int) int { return 3 + n + 8 }

var errDecode = errors.New("cluster: undecodable message")

// message is a decoded message; its slices alias the bytes decoded.
type message struct {
	kind    kind
	origin  []byte
	sentAt  int64
	group   []byte // group, members query
	session uint64 // unicast
	body    []byte // the payload, or the heartbeat's or members reply's body
}

// appendHeader appends the common header.
func appendHeader(b []byte, k kind, origin string, sentAt int64) []byte {
	b = append(b, wireVersion, byte(k), byte(len(origin)))
	b = append(b, origin...)
	return binary.BigEndian.AppendUint64(b, uint64(sentAt))
}

// appendGroupName appends a 2-byte length and the name.
func appendGroupName(b []byte, group string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(group)))
	return append(b, group...)
}

// decode parses b into m without allocating. It checks every length against
// what is there, so any bytes yield a message or errDecode.
func decode(b []byte, m *message) error {
	if len(b) < 3 || b[0] != wireVersion {
		return errDecode
	}
	m.kind = kind(b[1])
	n := int(b[2])
	if m.kind == 0 || m.kind >= numKinds || n == 0 || len(b) < headerLen(n) {
		return errDecode
	}
	m.origin = b[3 : 3+n]
	m.sentAt = int64(binary.BigEndian.Uint64(b[3+n:]))
	rest := b[headerLen(n):]
	m.group, m.session = nil, 0
	switch m.kind {
	case kindGroup, kindMembersQuery:
		if len(rest) < 2 {
			return errDecode
		}
		gl := int(binary.BigEndian.Uint16(rest))
		if gl == 0 || len(rest) < 2+gl {
			return errDecode
		}
		m.group, rest = rest[2:2+gl], rest[2+gl:]
	case kindUnicast:
		if len(rest) < 8 {
			return errDecode
		}
		m.session, rest = binary.BigEndian.Uint64(rest), rest[8:]
	case kindBye:
		if len(rest) != 0 {
			return errDecode
		}
	}
	m.body = rest
	return nil
}

// heartbeat is what a heartbeat carries.
type heartbeat struct {
	sessions int
	groups   map[string]int
}

// appendHeartbeat appends a heartbeat body of at most limit bytes: groups
// that do not fit are left out (in no particular order), and their number
// is returned.
func appendHeartbeat(b []byte, sessions int, groups map[string]int, limit int) ([]byte, int) {
	start := len(b)
	b = binary.BigEndian.AppendUint32(b, uint32(sessions))
	b = binary.BigEndian.AppendUint32(b, 0) // the count, set below
	n, left := 0, 0
	for g, c := range groups {
		if len(b)-start+2+len(g)+4 > limit {
			left++
			continue
		}
		b = appendGroupName(b, g)
		b = binary.BigEndian.AppendUint32(b, uint32(c))
		n++
	}
	binary.BigEndian.PutUint32(b[start+4:], uint32(n))
	return b, left
}

// decodeHeartbeat parses a heartbeat body.
func decodeHeartbeat(b []byte) (heartbeat, error) {
	if len(b) < 8 {
		return heartbeat{}, errDecode
	}
	hb := heartbeat{sessions: int(binary.BigEndian.Uint32(b))}
	n := int(binary.BigEndian.Uint32(b[4:]))
	b = b[8:]
	if n > len(b)/7 { // each entry takes at least 7 bytes
		return heartbeat{}, errDecode
	}
	hb.groups = make(map[string]int, n)
	for range n {
		if len(b) < 2 {
			return heartbeat{}, errDecode
		}
		gl := int(binary.BigEndian.Uint16(b))
		if gl == 0 || len(b) < 2+gl+4 {
			return heartbeat{}, errDecode
		}
		hb.groups[string(b[2:2+gl])] = int(binary.BigEndian.Uint32(b[2+gl:]))
		b = b[2+gl+4:]
	}
	if len(b) != 0 {
		return heartbeat{}, errDecode
	}
	return hb, nil
}

// decodeMembers parses a members reply body.
func decodeMembers(b []byte) ([]uint64, error) {
	if len(b) < 4 {
		return nil, errDecode
	}
	n := int(binary.BigEndian.Uint32(b))
	b = b[4:]
	if len(b) != 8*n {
		return nil, errDecode
	}
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = binary.BigEndian.Uint64(b[8*i:])
	}
	return ids, nil
}
