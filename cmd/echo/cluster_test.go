package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netsys-go/netsys/cluster"
	"github.com/netsys-go/netsys/engine"
	"github.com/netsys-go/netsys/session"
)

// frameReader collects the length-prefixed frames a connection receives.
type frameReader struct {
	mu  sync.Mutex
	got []string
}

func readFrames(c net.Conn) *frameReader {
	fr := &frameReader{}
	go func() {
		r := bufio.NewReader(c)
		for {
			var hdr [4]byte
			if _, err := io.ReadFull(r, hdr[:]); err != nil {
				return
			}
			b := make([]byte, binary.BigEndian.Uint32(hdr[:]))
			if _, err := io.ReadFull(r, b); err != nil {
				return
			}
			fr.mu.Lock()
			fr.got = append(fr.got, string(b))
			fr.mu.Unlock()
		}
	}()
	return fr
}

func (fr *frameReader) count(m string) (n, at int) {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	at = -1
	for i, g := range fr.got {
		if g == m {
			n++
			if at < 0 {
				at = i
			}
		}
	}
	return n, at
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func sendFrame(t *testing.T, c net.Conn, m string) {
	t.Helper()
	if _, err := c.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(m))), m...)); err != nil {
		t.Fatal(err)
	}
}

// TestServeClusterFanout runs `serve -cluster embedded -fanout` and a second
// node in the test, on serve's embedded NATS server: a frame sent to serve
// reaches the sender and the other node's session, once each, in order.
func TestServeClusterFanout(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: runs a NATS server")
	}
	natsPort, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	monPort, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	monAddr := "127.0.0.1:" + strconv.Itoa(monPort)
	addr, out, stop := startServe(t, "-cluster", "embedded", "-cluster-nats", "127.0.0.1:"+strconv.Itoa(natsPort),
		"-node", "serve1", "-fanout", "-monitor", monAddr)

	node, err := cluster.New(cluster.WithNodeID("test2"), cluster.WithHeartbeat(50*time.Millisecond, 0))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := engine.NewServer(engine.HandlerFuncs{Connect: func(s *session.Session) { s.Join(fanoutGroup) }},
		engine.WithGroupHook(node.GroupHook))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer srv.Stop(context.Background())
	if err := node.Join(srv, "nats://127.0.0.1:"+strconv.Itoa(natsPort)); err != nil {
		t.Fatal(err)
	}
	defer node.Close()

	a, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ra, rb := readFrames(a), readFrames(b)
	waitFor(t, "both sessions in the fan-out group", func() bool { return node.GroupCount(fanoutGroup) == 2 })
	for i := 0; ; i++ {
		p := fmt.Sprintf("probe-%d", i)
		sendFrame(t, a, p)
		time.Sleep(5 * time.Millisecond)
		if n, _ := rb.count(p); n > 0 {
			break
		}
		if i > 1000 {
			t.Fatal("no probe reached the other node")
		}
	}
	sendFrame(t, a, "m1")
	sendFrame(t, a, "m2")
	for name, r := range map[string]*frameReader{"sender": ra, "other node": rb} {
		waitFor(t, name+" to get m2", func() bool { n, _ := r.count("m2"); return n > 0 })
		n1, at1 := r.count("m1")
		n2, at2 := r.count("m2")
		if n1 != 1 || n2 != 1 || at1 > at2 {
			t.Errorf("%s got m1 %d times at %d, m2 %d times at %d; want once each, in order", name, n1, at1, n2, at2)
		}
	}

	resp, err := http.Get("http://" + monAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(body, []byte(`netsys_cluster_published_total{kind="group",node="serve1"}`)) {
		t.Errorf("/metrics lacks the cluster's series")
	}

	lines := make(chan string, 4)
	go func() {
		for {
			l, err := out.ReadString('\n')
			if l != "" {
				lines <- l
			}
			if err != nil {
				close(lines)
				return
			}
		}
	}()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	var st *cluster.Stats
	for l := range lines {
		if js, ok := strings.CutPrefix(l, "cluster "); ok {
			st = new(cluster.Stats)
			if err := json.Unmarshal([]byte(js), st); err != nil {
				t.Fatal(err)
			}
		}
	}
	if st == nil || st.Node != "serve1" || st.Published.Group < 3 {
		t.Errorf("serve's cluster line = %+v; want node serve1 with its group publishes", st)
	}
}

// TestFanoutLoadOneNode drives `load -fanout` against one `serve -fanout`:
// every frame reaches every session, once and in order.
func TestFanoutLoadOneNode(t *testing.T) {
	addr, _, _ := startServe(t, "-fanout")
	var out bytes.Buffer
	err := loadFanout(context.Background(), &out, addr, 5, 64, 200, 100*time.Millisecond, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if !strings.Contains(s, "same node") || !strings.Contains(s, "(0 missing, 0 duplicated or out of order)") {
		t.Errorf("load -fanout printed:\n%s", s)
	}
}

func TestClusterFlags(t *testing.T) {
	for _, bad := range [][]string{
		{"-cluster-listen", "127.0.0.1:0"},
		{"-cluster", "nats://127.0.0.1:1", "-cluster-routes", "nats-route://127.0.0.1:2"},
		{"-cluster", "embedded", "-node", "bad id"},
	} {
		if err := runServe(append([]string{"-addr", "127.0.0.1:0"}, bad...), io.Discard, io.Discard); err == nil {
			t.Errorf("serve %q: no error", bad)
		}
	}
	if err := runLoad([]string{"-fanout", "-addr", "127.0.0.1:1", "-rate", "0", "-duration", "1s"}, io.Discard, io.Discard); err == nil {
		t.Error("load -fanout without -rate: no error")
	}
}
