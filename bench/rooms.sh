#!/usr/bin/env bash
# Issue 22's fan-out pair (BENCHMARKS.md, "Rooms"): the single-room s1
# shape and 100 rooms of 100 clients with 10 senders each, a fresh server
# for every run, alternating, 3 reps. Loopback only. Build first:
# cargo build --release
set -u
cd "$(dirname "$0")/.."
FLAGS="--listen 127.0.0.1 --no-audit-log --no-history --max-per-address 100000 --max-connections 100000 --rate-limit off --ping-interval 300 --rooms-max 2000"
run() {
  local port=$1; shift
  local state; state=$(mktemp -d)
  XDG_STATE_HOME=$state target/release/tagarela-server $FLAGS --port "$port" >"$state/server.log" 2>&1 &
  local pid=$!
  sleep 1
  target/release/tagarela-bench "$@" ${BENCH_ARGS:-} --addr "127.0.0.1:$port" --pid "$pid" --src-ips 4 2>/dev/null
  kill "$pid"; wait "$pid" 2>/dev/null
  rm -rf "$state"
}
for rep in 1 2 3; do
  echo "== rep $rep: one room, s1 shape (100 clients, 10 senders x 1000)"
  run $((9100 + rep)) fanout --clients 100 --senders 10 --messages 1000 --size 64
  echo "== rep $rep: 100 rooms x 100 clients, 10 senders each x 1000"
  run $((9200 + rep)) rooms --rooms 100 --per-room 100 --senders 10 --messages 1000 --size 64 --max-secs 600
done
