#!/usr/bin/env bash
# Runs the same irctest selection as run.sh against a peer server from
# Debian's packages, for the comparison in BENCHMARKS.md (never in CI):
#
#   conformance/irctest/peers.sh ngircd|inspircd      (as root; installs by apt)
#
# InspIRCd refuses to run as root, and Debian's package keeps its example
# files under /usr/share/doc while irctest's configuration includes them
# from /etc/inspircd/examples: the script runs InspIRCd's cases as an
# unprivileged user `irctest` (in group irc, which owns /etc/inspircd),
# links the examples where the configuration looks for them, and gives
# that user /run/inspircd for the pid file. Its own venv and TMPDIR keep
# the run apart from run.sh's (irctest records used ports in TMPDIR).
set -euo pipefail
peer="${1:?usage: peers.sh ngircd|inspircd}"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
irctest="${IRCTEST_DIR:-$root/../shared/irctest}"
selection='not Ergo and not deprecated and not strict'
command -v "$peer" >/dev/null || { apt-get update -qq; apt-get install -y -qq "$peer" >/dev/null; }
log="$root/target/irctest-$peer.log"
mkdir -p "$root/target"
if [ "$peer" = inspircd ]; then
  id irctest >/dev/null 2>&1 || useradd -m irctest
  usermod -aG irc irctest
  ln -sfn /usr/share/doc/inspircd/examples /etc/inspircd/examples
  install -d -o irctest -g irc /run/inspircd
  venv=/home/irctest/venv
  [ -x "$venv/bin/pytest" ] || runuser -u irctest -- sh -c "python3 -m venv $venv && $venv/bin/pip install --quiet 'pytest!=9.0.0' filelock"
  tmp="$(mktemp -d)"; chown irctest "$tmp"
  runuser -u irctest -- env TMPDIR="$tmp" PYTHONDONTWRITEBYTECODE=1 sh -c \
    "cd '$irctest' && '$venv/bin/pytest' --controller irctest.controllers.inspircd -m '$selection' -p no:cacheprovider -q -rN" >"$log" 2>&1 || true
else
  venv="$root/target/irctest-venv"
  [ -x "$venv/bin/pytest" ] || { python3 -m venv "$venv"; "$venv/bin/pip" install --quiet 'pytest!=9.0.0' filelock; }
  (cd "$irctest" && PYTHONDONTWRITEBYTECODE=1 TMPDIR="$(mktemp -d)" "$venv/bin/pytest" \
    --controller "irctest.controllers.$peer" -m "$selection" -p no:cacheprovider -q -rN) >"$log" 2>&1 || true
fi
echo "$peer: $(tail -n 1 "$log") (full log: $log)"
