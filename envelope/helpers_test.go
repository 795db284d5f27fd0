package envelope_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/netsys-go/netsys/engine"
	"github.com/netsys-go/netsys/envelope"
	"github.com/netsys-go/netsys/internal/nettest"
)

// serve starts an envelope server with router r on a loopback port and
// returns its handler and address.
func serve(t testing.TB, r *envelope.Router, opts []envelope.Option, eopts ...engine.Option) (*envelope.ServerHandler, string) {
	t.Helper()
	opts = append([]envelope.Option{envelope.WithLogger(nettest.Quiet)}, opts...)
	h := envelope.NewServerHandler(r, opts...)
	srv := nettest.StartServer(t, h, eopts...)
	return h, srv.Addr().String()
}

// dial connects an envelope client and closes it when the test ends.
func dial(t testing.TB, addr string, opts ...envelope.Option) *envelope.Client {
	t.Helper()
	opts = append([]envelope.Option{envelope.WithLogger(nettest.Quiet),
		envelope.WithEngineOptions(engine.WithLogger(nettest.Quiet))}, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), nettest.Timeout)
	defer cancel()
	c, err := envelope.Dial(ctx, addr, opts...)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), nettest.Timeout)
	t.Cleanup(cancel)
	return ctx
}

// echoRouter answers every untyped request with its body, during the call.
func echoRouter() *envelope.Router {
	r := envelope.NewRouter(nil)
	r.HandleUntyped(func(m *envelope.Msg) {
		if !m.OneWay() {
			_ = m.Reply(m.Body())
		}
	})
	return r
}

// deferrer is a router handler that defers every request and keeps the
// Responders for the test to answer.
type deferrer struct {
	mu     sync.Mutex
	resps  []envelope.Responder
	bodies [][]byte
}

func (d *deferrer) handle(m *envelope.Msg) {
	w, err := m.Defer()
	if err != nil {
		return
	}
	d.mu.Lock()
	d.resps = append(d.resps, w)
	d.bodies = append(d.bodies, append([]byte(nil), m.Body()...))
	d.mu.Unlock()
}

func (d *deferrer) len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.resps)
}

// want returns nil if n requests are deferred, else an error saying how many
// are: a condition for nettest.Eventually.
func (d *deferrer) want(n int) error {
	if got := d.len(); got != n {
		return fmt.Errorf("%d requests deferred; want %d", got, n)
	}
	return nil
}

func (d *deferrer) take() ([]envelope.Responder, [][]byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r, b := d.resps, d.bodies
	d.resps, d.bodies = nil, nil
	return r, b
}
