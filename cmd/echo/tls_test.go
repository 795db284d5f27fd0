package main

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/netsys-go/netsys/bench"
	"github.com/netsys-go/netsys/internal/certs"
)

// tlsEcho sends one framed message over TLS and reads the echo.
func tlsEcho(t *testing.T, addr string, cfg *tls.Config) error {
	t.Helper()
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	msg := "hello over TLS"
	frame := binary.BigEndian.AppendUint32(nil, uint32(len(msg)))
	if _, err := c.Write(append(frame, msg...)); err != nil {
		return err
	}
	got := make([]byte, len(frame)+len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if string(got[4:]) != msg {
		t.Errorf("echo = %q", got[4:])
	}
	return nil
}

func TestServeTLS(t *testing.T) {
	b, err := certs.SelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	files, err := b.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	addr, out, stop := startServe(t, "-tls-cert", files.ServerCert, "-tls-key", files.ServerKey, "-tls-client-ca", files.CA)
	if err := tlsEcho(t, addr, b.MutualClientConfig()); err != nil {
		t.Fatalf("mutual TLS echo: %v", err)
	}
	if err := tlsEcho(t, addr, b.ClientConfig()); err == nil {
		t.Error("a client without a certificate got an echo from a -tls-client-ca server")
	}
	go io.Copy(io.Discard, out) // the summary
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	addr, _, _ = startServe(t, "-tls-self-signed")
	if err := tlsEcho(t, addr, &tls.Config{InsecureSkipVerify: true}); err != nil {
		t.Fatalf("self-signed echo: %v", err)
	}
}

func TestServeTLSFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-tls-cert", "x.pem"},
		{"-tls-client-ca", "ca.pem"},
		{"-tls-self-signed", "-tls-cert", "a", "-tls-key", "b"},
		{"-tls-cert", "/nonexistent.pem", "-tls-key", "/nonexistent-key.pem"},
	} {
		err := runServe(append([]string{"-addr", "127.0.0.1:0"}, args...), io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "tls") && !strings.Contains(err.Error(), "certs") {
			t.Errorf("serve %v: err = %v; want an error", args, err)
		}
	}
}

// TestLoadTLS drives `echo load -tls` against `echo serve -tls-cert`, closed
// loop pipelined, open loop and idle, and checks that a client that does not
// trust the server fails to connect.
func TestLoadTLS(t *testing.T) {
	b, err := certs.SelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	files, err := b.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	addr, _, _ := startServe(t, "-tls-cert", files.ServerCert, "-tls-key", files.ServerKey)
	base := []string{"-addr", addr, "-conns", "4", "-size", "100", "-warmup", "50ms", "-duration", "200ms", "-json", "-tls", "-tls-ca", files.CA}
	for _, extra := range [][]string{{"-inflight", "8"}, {"-rate", "2000"}, {"-idle"}} {
		var stdout, stderr bytes.Buffer
		if err := runLoad(append(base, extra...), &stdout, &stderr); err != nil {
			t.Fatalf("load %v: %v\n%s", extra, err, stderr.String())
		}
		var res bench.Result
		if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
			t.Fatalf("load %v printed %q: %v", extra, stdout.String(), err)
		}
		if res.Messages == 0 || res.Errors != 0 || res.Mismatches != 0 {
			t.Errorf("load %v = %+v; want messages, no errors", extra, res)
		}
	}
	other, err := certs.SelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	otherFiles, err := other.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	bad := []string{"-addr", addr, "-conns", "2", "-duration", "100ms", "-tls", "-tls-ca", otherFiles.CA}
	if err := runLoad(bad, io.Discard, io.Discard); err == nil {
		t.Error("load trusting another CA succeeded")
	}
	if err := runLoad([]string{"-addr", addr, "-tls-insecure"}, io.Discard, io.Discard); err == nil {
		t.Error("-tls-insecure without -tls accepted")
	}
}
