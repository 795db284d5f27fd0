package main

import (
	"io"
	"strings"
	"testing"
)

func TestBaselineFlags(t *testing.T) {
	for _, bad := range [][]string{{"-loops", "-1"}, {"-kind", "apache"}} {
		err := runBaseline(bad, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), bad[0]) {
			t.Errorf("baseline %q = %v; want an error naming %s", bad, err, bad[0])
		}
	}
}
