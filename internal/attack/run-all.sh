#!/usr/bin/env bash
# run-all.sh ECHO_BINARY [OUTDIR [SCENARIO...]]
#
# Runs every attack of issue 19 (or only the named ones) against `ECHO_BINARY
# serve`, starting a fresh server on 127.0.0.1 for each and stopping it after,
# and writes each report to OUTDIR/NAME.txt and OUTDIR/NAME.json, with the
# server's stdout and stderr beside them. Run it from anywhere in the module.
# Sizes are the small ones of the "before" run (each under about a minute);
# ATTACK_FLAGS_<scenario> adds flags, e.g. ATTACK_FLAGS_partial="-conns 8000".
set -euo pipefail

if [[ $# -lt 1 ]]; then
	echo "usage: $0 ECHO_BINARY [OUTDIR [SCENARIO...]]" >&2
	exit 2
fi
bin=$(realpath "$1")
out=${2:-/tmp/attack-$(date +%Y%m%d-%H%M%S)}
shift $(($# < 2 ? $# : 2))
want=("$@")
mkdir -p "$out"
cd "$(dirname "$0")/../.."
go build -o "$out/attack" ./internal/attack
echo "run-all: $bin ($(sha256sum "$bin" | cut -c1-12)) at $(date -u +%FT%TZ), ulimit -n $(ulimit -n)"

pid= addr=

# start NAME NOFILE [serve flags...]: a server under an fd limit of NOFILE
# ("-": this shell's limit, which must pass 5,000 for trickle).
start() {
	local name=$1 nofile=$2
	shift 2
	bash -c '[[ $1 == - ]] || ulimit -n "$1" && shift && exec "$@"' _ "$nofile" \
		"$bin" serve -addr 127.0.0.1:0 "$@" >"$out/$name.server.out" 2>"$out/$name.server.err" &
	pid=$!
	for _ in $(seq 100); do
		addr=$(sed -n 's/^listening //p' "$out/$name.server.out" | head -n1)
		[[ -n $addr ]] && break
		sleep 0.1
	done
	if [[ -z $addr ]]; then
		echo "server did not start; see $out/$name.server.err" >&2
		kill "$pid" 2>/dev/null || true
		exit 1
	fi
}

# stop NAME: SIGTERM, then SIGKILL after 15 s; records the exit status and
# how many log lines of each level the server wrote.
stop() {
	local name=$1 rc=0
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 150); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" || rc=$?
	{
		echo "server_exit_status $rc"
		for level in ERROR WARN INFO; do
			echo "server_log_$level $(grep -c "level=$level" "$out/$name.server.err" || true)"
		done
	} | tee -a "$out/$name.txt"
}

# attack NAME [flags...]: one scenario against the running server.
attack() {
	local name=$1 extra="ATTACK_FLAGS_$1"
	shift
	# shellcheck disable=SC2086 # the extra flags are a word list
	"$out/attack" -scenario "$name" -addr "$addr" -pid "$pid" -json "$out/$name.json" "$@" ${!extra:-} |
		tee "$out/$name.txt" || echo "attack $name failed" | tee -a "$out/$name.txt"
}

selected() {
	[[ ${#want[@]} -eq 0 ]] && return 0
	local w
	for w in "${want[@]}"; do [[ $w == "$1" ]] && return 0; done
	return 1
}

run() {
	local name=$1 nofile=$2 serveflags=$3
	shift 3
	selected "$name" || return 0
	echo "== $name: $bin serve -addr 127.0.0.1:0 $serveflags (ulimit -n $nofile)"
	# shellcheck disable=SC2086 # serveflags is a word list
	start "$name" "$nofile" $serveflags
	attack "$name" "$@"
	stop "$name"
}

run fdexhaust 2048 "" -conns 4000
run monitoridle - "-monitor 127.0.0.1:0" -conns 2000 -hold 30s
run halfclose - "" -frames 2000 -frame-size 4096 -pause 300ms -trials 8
run linger - "-loops 1" -conns 300 -frames 500 -frame-size 4096 -baseline 3s -hold 15s
run partial - "" -conns 2000 -frame-size 1048576 -hold 20s
run noread - "" -conns 200 -frame-size 4096 -hold 30s
run trickle - "" -conns 5000 -hold 40s
echo "reports in $out"
