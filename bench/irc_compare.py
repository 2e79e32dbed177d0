#!/usr/bin/env python3
"""Our IRC port (spec §20) against ngIRCd and against our own protocol,
in one run, with the shared harness's load generator (--proto irc).

    cargo build --release -p tagarela-server
    bench/irc_compare.py [--reps 3] [--scenarios s1,s2,paced,idle] [--idle-clients 19000] [--server-threads N]

Every server is started fresh for every run, in the order irc line ngircd
irc line ngircd ..., on 127.0.0.1 only. The load generator is the one in
../shared/bench/loadgen (built into target/shared-loadgen, used in place);
its scenarios are the harness's: s1 100 clients, 10 senders x 1000 x 64 B;
s2 1000 clients, 1 sender x 1000; paced s1 at 100 messages/s per sender
(p99 latency); idle N registered clients, joined to a channel (RSS per
client). Prints medians and ratios; every RESULT line goes to --json.
--server-threads gives our server that many worker threads (--threads;
0, the default, is one per core): ngIRCd has one, and the load generator
runs on the same cores.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOADGEN_SRC = os.path.join(ROOT, "..", "shared", "bench", "loadgen")
SERVER = os.path.join(ROOT, "target", "release", "tagarela-server")
# The harness floods by design (no rate limit) and its idle clients do not
# answer PING; the connection caps are raised past the idle crowd.
SERVER_FLAGS = [
    "--no-audit-log", "--max-per-address", "100000", "--max-connections", "100000",
    "--rate-limit", "off", "--ping-interval", "300",
]
SCENARIOS = {
    "s1": ["fanout", "--clients", "100", "--senders", "10", "--messages", "1000"],
    "s2": ["fanout", "--clients", "1000", "--senders", "1", "--messages", "1000"],
    "paced": ["fanout", "--clients", "100", "--senders", "10", "--messages", "1000", "--rate", "100"],
    "idle": ["idle", "--hold-s", "5", "--settle-max-s", "120"],
}
# ngIRCd as the shared harness configures it: loopback, no PAM, DNS or
# ident, no flood penalty, one channel.
NGIRCD_CONF = """[Global]
\tName = irc.bench.local
\tInfo = loopback benchmark
\tListen = 127.0.0.1
\tPorts = {port}
\tMotdPhrase = bench
\tPidFile = {dir}/ngircd.pid
\tServerUID = irc
\tServerGID = irc
[Limits]
\tMaxConnections = 0
\tMaxConnectionsIP = 0
\tMaxJoins = 10
\tMaxNickLength = 9
\tMaxPenaltyTime = 0
\tPingTimeout = 120
\tPongTimeout = 20
[Options]
\tDNS = no
\tIdent = no
\tPAM = no
[Channel]
\tName = #c
\tTopic = load
\tModes = tn
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, limit=10.0):
    end = time.time() + limit
    while time.time() < end:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def start(peer, workdir, threads=0):
    """Starts `peer`; returns the process, the port to load and the protocol."""
    log = open(os.path.join(workdir, f"{peer}.log"), "a")
    port = free_port()
    if peer in ("irc", "line"):
        other = free_port()
        plain, irc = (other, port) if peer == "irc" else (port, other)
        state = tempfile.mkdtemp(dir=workdir)
        cmd = [SERVER, "--listen", "127.0.0.1", "--port", str(plain), "--irc-port", str(irc),
               "--threads", str(threads)] + SERVER_FLAGS
        env = dict(os.environ, XDG_STATE_HOME=state)
        proto = "irc" if peer == "irc" else "line"
    elif peer == "ngircd":
        d = tempfile.mkdtemp(dir=workdir)
        os.chmod(d, 0o777)
        conf = os.path.join(d, "ngircd.conf")
        with open(conf, "w") as f:
            f.write(NGIRCD_CONF.format(port=port, dir=d))
        cmd, env, proto = ["ngircd", "-n", "-f", conf], None, "irc"
    else:
        raise SystemExit(f"unknown peer {peer}")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    if not wait_port(port, proc):
        stop(proc)
        raise RuntimeError(f"{peer} did not start: see {log.name}")
    time.sleep(0.3)
    return proc, port, proto


def stop(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def run_one(loadgen, peer, scen, args, workdir):
    proc, port, proto = start(peer, workdir, args.server_threads)
    try:
        cmd = [loadgen] + SCENARIOS[scen] + ["--addr", f"127.0.0.1:{port}", "--proto", proto,
                                             "--pid", str(proc.pid), "--label", f"{peer}-{scen}"]
        if scen == "idle":
            cmd += ["--clients", str(args.idle_clients)]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
        for line in out.stdout.splitlines():
            if line.startswith("RESULT "):
                return json.loads(line[7:])
        print(f"  {peer}/{scen}: no RESULT; stderr tail: {out.stderr[-300:]}", file=sys.stderr)
    except subprocess.TimeoutExpired:
        print(f"  {peer}/{scen}: timed out after {args.timeout}s", file=sys.stderr)
    finally:
        stop(proc)
    return None


def figure(scen, r):
    """The figure a scenario is judged by (None if the run lost anything)."""
    if r is None:
        return None
    if scen == "idle":
        if r.get("disconnects", 0) or r.get("connected") != r.get("ready", r.get("connected")):
            return None
        return r["rss_per_conn_B"] / 1024.0
    if scen == "paced":
        return r["lat_us"]["p99"] / 1000.0
    if r.get("loss_pct", 0) != 0 or r.get("garbled", 0) != 0:
        return None
    return r["deliveries_per_s"] / 1e6


UNITS = {"s1": "M deliveries/s", "s2": "M deliveries/s", "paced": "p99 ms", "idle": "KiB RSS per client"}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--peers", default="irc,line,ngircd")
    ap.add_argument("--scenarios", default="s1,s2,paced,idle")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--idle-clients", type=int, default=19000)
    ap.add_argument("--timeout", type=int, default=400)
    ap.add_argument("--server-threads", type=int, default=0)
    ap.add_argument("--json", default=os.path.join(ROOT, "target", "irc-compare.jsonl"))
    args = ap.parse_args()
    if not os.access(SERVER, os.X_OK):
        raise SystemExit(f"no {SERVER}: cargo build --release -p tagarela-server")
    peers = args.peers.split(",")
    if "ngircd" in peers and shutil.which("ngircd") is None:
        raise SystemExit("ngircd is not installed (apt-get install ngircd)")
    target = os.path.join(ROOT, "target", "shared-loadgen")
    subprocess.run(["cargo", "build", "--release", "--quiet", "--manifest-path",
                    os.path.join(LOADGEN_SRC, "Cargo.toml"), "--target-dir", target], check=True)
    loadgen = os.path.join(target, "release", "loadgen")
    workdir = tempfile.mkdtemp(prefix="irc-compare-")
    figures = {}
    with open(args.json, "a") as sink:
        for scen in args.scenarios.split(","):
            for rep in range(args.reps):
                for peer in peers:
                    if scen == "idle" and peer == "ngircd":
                        continue  # the harness's ngIRCd does not hold a crowd this size
                    r = run_one(loadgen, peer, scen, args, workdir)
                    if r is not None:
                        sink.write(json.dumps(r) + "\n")
                    f = figure(scen, r)
                    figures.setdefault((scen, peer), []).append(f)
                    shown = "-" if f is None else f"{f:.3f}"
                    print(f"{scen} rep {rep + 1} {peer}: {shown}", flush=True)
    print()
    print("| scenario | unit | " + " | ".join(peers) + " | irc/ngircd | irc/line |")
    print("|---|---|" + "---|" * (len(peers) + 2))
    for scen in args.scenarios.split(","):
        med = {}
        for peer in peers:
            vals = figures.get((scen, peer), [])
            med[peer] = None if not vals or None in vals else statistics.median(vals)
        def ratio(a, b):
            return "-" if med.get(a) is None or med.get(b) in (None, 0) else f"{med[a] / med[b]:.2f}"
        cells = ["-" if med[p] is None else f"{med[p]:.3f}" for p in peers]
        print(f"| {scen} | {UNITS[scen]} | " + " | ".join(cells) + f" | {ratio('irc', 'ngircd')} | {ratio('irc', 'line')} |")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
