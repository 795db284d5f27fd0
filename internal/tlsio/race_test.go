//go:build race

package tlsio_test

const raceEnabled = true
