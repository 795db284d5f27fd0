package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/netsys-go/netsys/engine"
)

// An option given to a constructor it does not apply to, or with a value out
// of range, is an error that names the option.
func TestOptionMisuse(t *testing.T) {
	h := engine.HandlerFuncs{}
	dial := func(opts ...engine.Option) error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := engine.Dial(ctx, "127.0.0.1:1", opts...) // refused, unless an option is refused first
		return err
	}
	pool := func(opts ...engine.Option) error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := engine.NewPool(ctx, "127.0.0.1:1", 1, opts...)
		return err
	}
	server := func(opts ...engine.Option) error {
		_, err := engine.NewServer(h, opts...)
		return err
	}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"WithIdleTimeout on Dial", dial(engine.WithIdleTimeout(time.Second)), "WithIdleTimeout does not apply to Dial"},
		{"WithWorkers on Dial", dial(engine.WithWorkers(4)), "WithWorkers does not apply to Dial"},
		{"WithMaxConns on NewPool", pool(engine.WithMaxConns(10)), "WithMaxConns does not apply to NewPool"},
		{"WithHandler on NewServer", server(engine.WithHandler(h)), "WithHandler does not apply to NewServer"},
		{"WithReconnect on NewServer", server(engine.WithReconnect(engine.Reconnect{})), "WithReconnect does not apply to NewServer"},
		{"WithPoolTimeout on Dial", dial(engine.WithPoolTimeout(time.Second)), "WithPoolTimeout does not apply to Dial"},
		{"WithLoops on Dial", dial(engine.WithLoops(2)), "WithLoops does not apply to Dial"},
		{"negative max frame", server(engine.WithMaxFrameSize(-1)), "WithMaxFrameSize: negative value -1"},
		{"negative idle timeout", server(engine.WithIdleTimeout(-time.Second)), "WithIdleTimeout: negative duration -1s"},
		{"negative high water", dial(engine.WithWriteHighWater(-5)), "WithWriteHighWater: negative value -5"},
		{"negative workers", server(engine.WithWorkers(-2)), "WithWorkers: negative value -2"},
		{"bad reconnect", dial(engine.WithReconnect(engine.Reconnect{Initial: -time.Second})), "WithReconnect: Initial, Max"},
	}
	for _, tt := range tests {
		t.Logf("%s: %v", tt.name, tt.err)
		if !errors.Is(tt.err, engine.ErrBadOption) || !strings.Contains(tt.err.Error(), tt.want) {
			t.Errorf("%s: err = %v; want ErrBadOption saying %q", tt.name, tt.err, tt.want)
		}
	}
	// Options that apply, with zero meaning the default, are accepted.
	if err := server(engine.WithIdleTimeout(0), engine.WithMaxConns(0), engine.WithWorkers(2), engine.WithFrameTimeout(-1)); err != nil {
		t.Errorf("NewServer with valid options: %v", err)
	}
	if err := dial(engine.WithHandler(h), engine.WithSendQueue(4), engine.WithReconnect(engine.Reconnect{})); errors.Is(err, engine.ErrBadOption) {
		t.Errorf("Dial with valid options: %v", err)
	}
}
