package cluster

import "errors"

// Errors returned by the cluster package; match them with errors.Is.
var (
	// ErrNotJoined is returned by a Node's methods before Join or after Close.
	ErrNotJoined = errors.New("cluster: node has not joined")
	// ErrAlreadyJoined is returned by Join on a node that has joined.
	ErrAlreadyJoined = errors.New("cluster: node has already joined")
	// ErrUnknownNode is returned by Send for an address whose node is not
	// live (never seen, or declared down).
	ErrUnknownNode = errors.New("cluster: no such node")
	// ErrPublish is returned, wrapping the NATS error, when a message for
	// other nodes could not be handed to NATS: the connection is closed, or
	// the broker is away and the bounded publish buffer (WithPublishBuffer)
	// is full. The message is dropped and counted; local delivery has
	// already happened.
	ErrPublish = errors.New("cluster: publish to other nodes failed")
	// ErrBadNodeID is returned by New for a node ID that is not 1 to 64
	// characters of A-Z, a-z, 0-9, '-' and '_'.
	ErrBadNodeID = errors.New("cluster: bad node ID")
	// ErrBadAddr is returned by ParseAddr for a string that is not an Addr.
	ErrBadAddr = errors.New("cluster: bad address")
	// ErrPayloadTooLarge is returned when a message with its header would
	// exceed the NATS server's maximum payload.
	ErrPayloadTooLarge = errors.New("cluster: payload too large for NATS")
)
