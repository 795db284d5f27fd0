//go:build race

package pool

// raceEnabled reports whether the race detector is on: sync.Pool then drops
// a quarter of the buffers put back, so Get allocates.
const raceEnabled = true
