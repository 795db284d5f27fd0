// Command attack drives one of issue 19's attacks against a running echo
// server (echo serve) on loopback and prints what it found as aligned
// "name value" lines and a summary line; -json FILE writes the same as JSON.
// The server's RSS, fd count, liveness and listening socket are read from
// /proc/PID, so -pid is required.
//
//	go run ./internal/attack -scenario NAME -addr 127.0.0.1:PORT -pid PID [flags]
//
// Scenarios (each bounded in time, stopping by itself):
//
//	fdexhaust    open plain connections (each proved by one echo) until the
//	             server stops accepting, with a canary opened first; then: does
//	             the canary echo, is the server alive and listening, and once
//	             half the connections close does a new one echo within 5 s?
//	             Start the server under a low fd limit (ulimit -n 2048).
//	monitoridle  -conns idle keep-alive connections to -monitor after one
//	             GET /stats each: how many are open after 5 s and -hold.
//	halfclose    send -frames frames, shut down the write side, wait -pause,
//	             read: whole frames, partial bytes, how the stream ended.
//	linger       a canary every 10 ms alone for -baseline, then while -conns
//	             peers send, half-close and read 4 KiB every 20 ms (-loops 1).
//	partial      -conns connections each send all but the last byte of a
//	             -frame-size frame: peak RSS, canary, RSS after closing.
//	noread       -conns peers write continuously and never read: peak RSS,
//	             how many the server cut.
//	trickle      -conns peers write one header byte a second: how many are
//	             open after -hold.
//
// run-all.sh beside this file starts a fresh server for each scenario (with
// the fd limit and flags it needs), runs it and stops the server:
//
//	internal/attack/run-all.sh /tmp/echo-after /tmp/attack-after [SCENARIO...]
//
// The wire format is the default of echo serve: a 4-byte big-endian payload
// length, then the payload. At most 9,000 attack connections a run.
//
// # Concurrency
//
// The main goroutine runs the scenario. A canary runs its round trips on a
// goroutine of its own; attack connections that wait to be closed each have a
// goroutine blocked in Read; peers that write or read (linger, noread,
// partial) each run on a goroutine. Shared counts are atomic or under a mutex,
// and every goroutine ends before the scenario returns.
package main
