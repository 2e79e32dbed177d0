#!/usr/bin/env bash
# Cluster benchmarks (spec §17; figures in BENCHMARKS.md). Starts fresh
# servers for every run, in alternating order, on loopback only:
#   one    one tagarela-server, no Redis (the baseline)
#   two    two nodes and one redis-server, clients split between them
# and prints each run's JSON, then the medians and the two/one ratios.
#
#   bench/cluster.sh fanout REPS -- <tagarela-bench fanout flags>
#   bench/cluster.sh rooms REPS -- <tagarela-bench rooms flags>
#                                            the same for rooms (§19.7)
#   bench/cluster.sh latency REPS            paced s1: one server, one node
#                                            of a cluster, and across two
#   bench/cluster.sh ops                     Redis commands per join and
#                                            per message (INFO commandstats)
#   bench/cluster.sh comeback REPS           how long a node takes to be
#                                            back in the cluster after a
#                                            killed Redis answers again
#
# Needs target/release/{tagarela-server,tagarela-bench} and redis-server.
set -euo pipefail
cd "$(dirname "$0")/.."
SERVER=target/release/tagarela-server
BENCH=target/release/tagarela-bench
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
ulimit -n 20000 2>/dev/null || true

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
FLAGS=(--listen 127.0.0.1 --no-audit-log --rate-limit off --max-per-address 100000 --max-connections 100000 --ping-interval 300)

start_redis() {
  REDIS_PORT=$(free_port)
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --dir "$WORK" >/dev/null &
  for _ in $(seq 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return; sleep 0.05; done
  echo "redis-server did not start" >&2; exit 1
}

# start_node NAME [--redis URL ...]: sets PORT_<NAME> and PID_<NAME>.
start_node() {
  local name=$1; shift
  local port; port=$(free_port)
  XDG_STATE_HOME="$WORK/$name" "$SERVER" "${FLAGS[@]}" --port "$port" "$@" 2>"$WORK/$name.log" >/dev/null &
  local pid=$!
  for _ in $(seq 200); do
    if grep -q "listening" "$WORK/$name.log" 2>/dev/null; then
      if [[ "$*" != *--redis* ]] || grep -q "in the cluster" "$WORK/$name.log"; then break; fi
    fi
    sleep 0.05
  done
  printf -v "PORT_$name" '%s' "$port"
  printf -v "PID_$name" '%s' "$pid"
}

stop_all() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "${WORK:?}"/*; }

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
field() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

SCENARIO=fanout

run_one() {  # ARGS...: one server; prints the JSON
  start_node one "${ROOM_FLAGS[@]}"
  "$BENCH" "$SCENARIO" --json --addr "127.0.0.1:$PORT_one" --pid "$PID_one" "$@"
  stop_all
}

run_two() {  # ARGS...: two nodes, clients split; prints the JSON
  start_redis
  start_node a "${ROOM_FLAGS[@]}" --redis "redis://127.0.0.1:$REDIS_PORT/0" --node-id a
  start_node b "${ROOM_FLAGS[@]}" --redis "redis://127.0.0.1:$REDIS_PORT/0" --node-id b
  "$BENCH" "$SCENARIO" --json --addr "127.0.0.1:$PORT_a" --also-addr "127.0.0.1:$PORT_b" "$@"
  stop_all
}

ROOM_FLAGS=()
case "${1:-}" in
  fanout|rooms)
    SCENARIO=$1
    [[ $SCENARIO == rooms ]] && ROOM_FLAGS=(--rooms-max 2000)
    reps=$2; shift 3
    : > "$WORK/../one.$$"; : > "$WORK/../two.$$"
    for r in $(seq "$reps"); do
      if (( r % 2 )); then order="one two"; else order="two one"; fi
      for which in $order; do
        json=$("run_$which" "$@")
        echo "$which: $json"
        echo "$json" | field 'd["deliveries_per_sec"]' >> "$WORK/../$which.$$"
      done
    done
    one=$(median < "$WORK/../one.$$"); two=$(median < "$WORK/../two.$$")
    rm -f "$WORK/../one.$$" "$WORK/../two.$$"
    echo "median deliveries/s: one server $one, two nodes $two, ratio two/one $(python3 -c "print(round($two/$one, 2))")"
    ;;
  latency)
    reps=$2
    args=(--clients 100 --senders 10 --messages 1000 --size 64 --rate 100)
    for r in $(seq "$reps"); do
      echo "one server: $(run_one "${args[@]}" | field 'd["latency_us"]')"
      start_redis
      start_node a --redis "redis://127.0.0.1:$REDIS_PORT/0" --node-id a
      start_node b --redis "redis://127.0.0.1:$REDIS_PORT/0" --node-id b
      echo "same node:  $("$BENCH" fanout --json --addr "127.0.0.1:$PORT_a" "${args[@]}" | field 'd["latency_us"]')"
      stop_all
      start_redis
      start_node a --redis "redis://127.0.0.1:$REDIS_PORT/0" --node-id a
      start_node b --redis "redis://127.0.0.1:$REDIS_PORT/0" --node-id b
      echo "cross node: $("$BENCH" fanout --json --addr "127.0.0.1:$PORT_a" --also-addr "127.0.0.1:$PORT_b" --apart 10 "${args[@]}" | field 'd["latency_us"]')"
      stop_all
    done
    ;;
  ops)
    start_redis
    start_node a --redis "redis://127.0.0.1:$REDIS_PORT/0" --node-id a
    start_node b --redis "redis://127.0.0.1:$REDIS_PORT/0" --node-id b
    stats() { redis-cli -p "$REDIS_PORT" info commandstats | tr -d '\r' | grep '^cmdstat_' | sed 's/^cmdstat_\([a-z|]*\):calls=\([0-9]*\),usec=\([0-9]*\).*/\1 \2 \3/'; }
    redis-cli -p "$REDIS_PORT" config resetstat >/dev/null
    sleep 5
    echo "== 5 s of two idle nodes (leases and reaping)"; stats
    redis-cli -p "$REDIS_PORT" config resetstat >/dev/null
    "$BENCH" churn --json --addr "127.0.0.1:$PORT_a" --also-addr "127.0.0.1:$PORT_b" --cycles 1000 --parallel 10 >/dev/null
    echo "== 1000 joins and quits (churn), over two nodes"; stats
    redis-cli -p "$REDIS_PORT" config resetstat >/dev/null
    "$BENCH" fanout --json --addr "127.0.0.1:$PORT_a" --also-addr "127.0.0.1:$PORT_b" --clients 10 --senders 10 --messages 1000 --size 64 >/dev/null
    echo "== 10 joins, 10,000 public messages, 10 leaves, over two nodes"; stats
    redis-cli -p "$REDIS_PORT" info cpu | tr -d '\r' | grep used_cpu_
    mem() { redis-cli -p "$REDIS_PORT" info memory | tr -d '\r' | sed -n 's/^used_memory:\([0-9]*\)/\1/p'; }
    before=$(mem)
    "$BENCH" idle --json --addr "127.0.0.1:$PORT_a" --also-addr "127.0.0.1:$PORT_b" --clients 10000 --hold 5 >/dev/null &
    online() { echo $(( $(redis-cli -p "$REDIS_PORT" scard tagarela:held:a.1) + $(redis-cli -p "$REDIS_PORT" scard tagarela:held:b.1) )); }
    for _ in $(seq 600); do (( $(online) >= 10000 )) && break; sleep 0.05; done
    during=$(mem); echo "online: $(online)"; wait %%
    echo "== Redis memory: $before B before, $during B with 10,000 clients online: $(( (during - before) / 10000 )) B per client"
    stop_all
    ;;
  comeback)
    reps=$2
    start_redis
    start_node a --redis "redis://127.0.0.1:$REDIS_PORT/0" --node-id a
    redis_pid=$(pgrep -f "redis-server 127.0.0.1:$REDIS_PORT")
    for r in $(seq "$reps"); do
      entries=$(grep -c "in the cluster" "$WORK/a.log")
      kill -9 "$redis_pid"; wait "$redis_pid" 2>/dev/null || true
      # Down for a time that is not a whole number of the node's retries.
      sleep "$(python3 -c "import random; print(round(2 + random.random(), 3))")"
      redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --dir "$WORK" >/dev/null &
      redis_pid=$!
      until redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; do sleep 0.005; done
      t0=$(date +%s.%N)
      until (( $(grep -c "in the cluster" "$WORK/a.log") > entries )); do sleep 0.005; done
      t1=$(date +%s.%N)
      python3 -c "print('back in the cluster %.3f s after Redis answered' % ($t1 - $t0))"
    done
    stop_all
    ;;
  *) sed -n 2,17p "$0"; exit 2 ;;
esac
