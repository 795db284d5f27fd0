package engine

import (
	"testing"
	"time"
)

func TestReconnectDelay(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name     string
		r        Reconnect
		attempt  int
		min, max time.Duration
	}{
		{name: "defaults, first", r: Reconnect{}, attempt: 1, min: 80 * ms, max: 100 * ms},
		{name: "defaults, third", r: Reconnect{}, attempt: 3, min: 320 * ms, max: 400 * ms},
		{name: "defaults, capped", r: Reconnect{}, attempt: 20, min: 8 * time.Second, max: 10 * time.Second},
		{name: "no jitter", r: Reconnect{Initial: 10 * ms, Multiplier: 3, Jitter: -1}, attempt: 3, min: 90 * ms, max: 90 * ms},
		{name: "full jitter", r: Reconnect{Initial: 10 * ms, Jitter: 1}, attempt: 1, min: 0, max: 10 * ms},
		{name: "max below initial", r: Reconnect{Initial: time.Second, Max: ms, Jitter: -1}, attempt: 5, min: time.Second, max: time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.r.withDefaults()
			for range 200 {
				if d := r.delay(tt.attempt); d < tt.min || d > tt.max {
					t.Fatalf("delay(%d) = %v; want within [%v, %v]", tt.attempt, d, tt.min, tt.max)
				}
			}
		})
	}
}
