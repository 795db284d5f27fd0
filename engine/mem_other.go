//go:build !linux

package engine

// physicalMemory returns the machine's memory in bytes, or 0 if unknown.
func physicalMemory() int64 { return 0 }
