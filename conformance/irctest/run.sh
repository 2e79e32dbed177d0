#!/usr/bin/env bash
# Runs irctest (the suite IRC servers test themselves with; a snapshot is
# in ../shared/irctest, or $IRCTEST_DIR) against tagarela-server's IRC port
# (spec §20) with our controller, tagarela_irctest.py, on the selection
# spec §20.8 justifies. Fails if our server stops (a crash), if the run
# does not finish in time (a hang), if a case cannot start (an error),
# or if fewer cases pass than the floor
# recorded in ./floor (so a regression cannot land unnoticed).
#
#   conformance/irctest/run.sh [path/to/tagarela-server] [extra pytest args]
#
# Needs python3 with venv; installs pytest, filelock and websockets (for
# the IRC over WebSocket cases) from PyPI into target/irctest-venv on
# first use.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
server="${1:-$root/target/debug/tagarela-server}"
shift || true
irctest="${IRCTEST_DIR:-$root/../shared/irctest}"
venv="$root/target/irctest-venv"
log="$root/target/irctest.log"

if [ ! -d "$irctest/irctest" ]; then
  echo "irctest not found at $irctest (set IRCTEST_DIR)"; exit 1
fi
server="$(realpath "$server" 2>/dev/null || echo "$server")"
if [ ! -x "$server" ]; then
  echo "no server binary at $server (cargo build -p tagarela-server)"; exit 1
fi
if [ ! -x "$venv/bin/pytest" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet 'pytest!=9.0.0' filelock
fi
"$venv/bin/python" -c 'import websockets' 2>/dev/null || "$venv/bin/pip" install --quiet websockets

# The selection irctest's README gives for servers other than Ergo; cases
# that need services, an operator block, websockets or TLS certificates of
# another kind are skipped by the controller (NotImplementedByController).
selection='not Ergo and not deprecated and not strict'
cd "$irctest"
set +e
PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$here" TAGARELA_SERVER="$server" \
  timeout 900 "$venv/bin/pytest" --controller tagarela_irctest -m "$selection" \
  -p no:cacheprovider -q -rN "$@" >"$log" 2>&1
status=$?
set -e
summary="$(tail -n 1 "$log")"
echo "irctest: $summary (full log: $log)"
if [ "$status" -eq 124 ]; then
  echo "irctest did not finish within 900 s: a hang"; exit 1
fi
if grep -q 'ProcessStopped' "$log"; then
  echo "tagarela-server stopped during a case: a crash"; grep -n -B5 'ProcessStopped' "$log" | head -40; exit 1
fi
if echo "$summary" | grep -qE '[0-9]+ errors?'; then
  echo "some cases could not even start (errors): see $log"; exit 1
fi
passed="$(echo "$summary" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' || echo 0)"
floor="$(cat "$here/floor")"
if [ "$passed" -lt "$floor" ]; then
  echo "only $passed cases passed; the floor is $floor"; exit 1
fi
echo "$passed passed (floor $floor)"
