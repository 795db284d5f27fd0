package bench

import "errors"

// Errors returned by the package, wrapped with detail; match them with
// errors.Is.
var (
	// ErrConfig reports a LoadConfig that cannot describe a run.
	ErrConfig = errors.New("bench: bad load configuration")
	// ErrConnect reports a connection the load generator could not open,
	// even after retrying.
	ErrConnect = errors.New("bench: connect failed")
	// ErrProc reports process statistics that could not be read from /proc.
	ErrProc = errors.New("bench: cannot read process statistics")
)
