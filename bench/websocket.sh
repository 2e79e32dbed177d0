#!/usr/bin/env bash
# Issue 24's pair (BENCHMARKS.md, "The web door"): the same load over the
# TCP port and over the web door's WebSocket (spec §21), a fresh server for
# every run, alternating, 3 reps: fan-out in the s1 shape (100 clients, 10
# senders x 1000 x 64 B) and N idle registered clients (RSS per client).
# Loopback only. Build first: cargo build --release
#   bench/websocket.sh [IDLE_CLIENTS]      (default 19000)
set -u
cd "$(dirname "$0")/.."
IDLE=${1:-19000}
ulimit -n 65536 2>/dev/null || ulimit -n 20000
FLAGS="--listen 127.0.0.1 --no-audit-log --no-history --max-per-address 100000 --max-connections 100000 --rate-limit off --ping-interval 300"
run() {
  local via=$1; shift
  local state; state=$(mktemp -d)
  # Free ports chosen by the server itself, read back from what it prints.
  XDG_STATE_HOME=$state target/release/tagarela-server $FLAGS --port 0 --web-port 0 >"$state/server.out" 2>"$state/server.log" &
  local pid=$!
  sleep 1
  local tcp web
  tcp=$(awk '/listening on/ && !/\(/ {print $4; exit}' "$state/server.out")
  web=$(awk '/\(web\)/ {print $4; exit}' "$state/server.out")
  local addr="$tcp" extra=""
  if [ "$via" = websocket ]; then addr="$web"; extra="--websocket"; fi
  echo "== $via: $*"
  target/release/tagarela-bench "$@" $extra ${BENCH_ARGS:-} --addr "$addr" --pid "$pid" --src-ips 4 2>/dev/null
  kill "$pid" 2>/dev/null || echo "(the server had stopped: see $state/server.log)"; wait "$pid" 2>/dev/null
  rm -rf "$state"
}
[ "${ONLY:-}" = fanout ] && { for via in tcp websocket; do run "$via" fanout --clients 100 --senders 10 --messages 1000 --size 64; done; exit 0; }
[ "${ONLY:-}" = idle ] && { for via in tcp websocket; do run "$via" idle --clients "$IDLE" --hold 5 --connect-batch 256; done; exit 0; }
for rep in 1 2 3; do
  for via in tcp websocket; do
    run "$via" fanout --clients 100 --senders 10 --messages 1000 --size 64
  done
done
for rep in 1 2 3; do
  for via in tcp websocket; do
    run "$via" idle --clients "$IDLE" --hold 5 --connect-batch 256
  done
done
