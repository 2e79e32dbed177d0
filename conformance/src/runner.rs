//! Runs one scenario: starts a fresh `tagarela-server` on `--port 0` with
//! short test timeouts, executes the steps in order, and records every line
//! each party sent and received (the wire log, reported on failure). Waits
//! are deadlines on expected lines, never fixed sleeps (what only a file
//! can tell, a node's log, is looked at every 20 ms until a deadline);
//! "nothing else arrived" is proven with a ping round trip.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncBufReadExt;
use tokio::process::{Child, Command};

use crate::binaries::Binaries;
use crate::pattern::Pattern;
use crate::peer::{Peer, Read};
use crate::redis::Redis;
use crate::script::{Scenario, SendMode, Step, StepKind};

/// How long an expected line may take.
pub const WAIT: Duration = Duration::from_secs(5);

/// Server flags every scenario starts from; a scenario's `server:` line
/// overrides them flag by flag. The rate limit is off: most scenarios
/// pump lines as fast as they can, and those about the limit set it.
/// History is off, so that v1 scenarios see v1 lines; a scenario that
/// gives any `--history…` flag has it on (its state directory holds the
/// database).
const DEFAULT_SERVER_ARGS: &[(&str, Option<&str>)] = &[
    ("--listen", Some("127.0.0.1")),
    ("--port", Some("0")),
    ("--no-audit-log", None),
    ("--registration-timeout", Some("5")),
    ("--ping-interval", Some("5")),
    ("--ping-timeout", Some("5")),
    ("--shutdown-grace", Some("2")),
    ("--rate-limit", Some("off")),
    ("--no-history", None),
];

/// The result of one scenario.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub error: Option<String>,
    pub duration: Duration,
    pub wire_log: Vec<String>,
}

/// One server process: the only one, or node N of a cluster.
struct Node {
    child: Child,
    addr: SocketAddr,
    /// Its stderr, where it logs each entry into the cluster.
    log: std::path::PathBuf,
    /// Its flags and state directory, to start it again.
    args: Vec<String>,
    state: std::path::PathBuf,
    /// Its way to Redis, which `node N cut` cuts (in a cluster).
    relay: Option<crate::redis::Relay>,
}

struct Run<'b> {
    bins: &'b Binaries,
    /// The servers: node 1 first (the only one, outside a cluster).
    nodes: Vec<Node>,
    /// The TLS port and the certificate's fingerprint, with `--tls`.
    tls: Option<(SocketAddr, String)>,
    /// The IRC port, with `--irc-port` (spec §20).
    irc: Option<SocketAddr>,
    /// The state directory this scenario's server (and clients) use.
    state: std::path::PathBuf,
    /// The cluster's Redis (`cluster: N`).
    redis: Option<Redis>,
    /// How many times each node had entered the cluster when Redis was
    /// stopped or a node cut (`redis start` and `node N mend` wait for
    /// one more).
    entries_at_stop: Vec<usize>,
    /// How many times the node last cut had left the cluster then.
    losses_at_cut: usize,
    peers: HashMap<String, Peer>,
    /// What `{=NAME}` patterns captured, for `{$NAME}` in sent lines.
    vars: HashMap<String, String>,
    log: Vec<String>,
    started: Instant,
}

/// Runs `scenario`; the server's stderr goes to `server_log`.
pub async fn run(scenario: &Scenario, bins: &Binaries, server_log: &Path) -> Outcome {
    let started = Instant::now();
    let mut log = Vec::new();
    let state = server_log.with_extension("state");
    let _ = std::fs::remove_dir_all(&state);
    let result = match start(scenario, bins, server_log, &state).await {
        Ok((nodes, Ports { tls, irc }, redis)) => {
            let mut run = Run {
                bins,
                nodes,
                tls,
                irc,
                state,
                redis,
                entries_at_stop: Vec::new(),
                losses_at_cut: 0,
                peers: HashMap::new(),
                vars: HashMap::new(),
                log: Vec::new(),
                started,
            };
            let mut result = Ok(());
            for step in &scenario.steps {
                if let Err(e) = run.step(step).await {
                    result = Err(format!("line {}: `{}`: {e}", step.line, step.text));
                    break;
                }
            }
            for node in &mut run.nodes {
                let _ = node.child.start_kill();
            }
            if let Some(redis) = &mut run.redis {
                redis.stop().await;
            }
            for peer in run.peers.values_mut() {
                if let crate::peer::PeerKind::Client(c) = &mut peer.kind {
                    let _ = c.child.start_kill();
                }
            }
            log = run.log;
            result
        }
        Err(e) => Err(format!("server did not start: {e}")),
    };
    Outcome {
        error: result.err(),
        duration: started.elapsed(),
        wire_log: log,
    }
}

fn server_args(extra: &[String]) -> Vec<String> {
    let mut args: Vec<(String, Option<String>)> = DEFAULT_SERVER_ARGS
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.map(str::to_owned)))
        .collect();
    let mut i = 0;
    while i < extra.len() {
        let key = extra[i].clone();
        let value = extra.get(i + 1).filter(|v| !v.starts_with("--")).cloned();
        i += if value.is_some() { 2 } else { 1 };
        match args.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => args.push((key, value)),
        }
    }
    if extra.iter().any(|a| a.starts_with("--history")) {
        args.retain(|(k, _)| k != "--no-history");
    }
    args.into_iter()
        .flat_map(|(k, v)| std::iter::once(k).chain(v))
        .collect()
}

/// Starts the scenario's server, or its Redis and nodes (each waited for
/// until it is in the cluster).
async fn start(
    scenario: &Scenario,
    bins: &Binaries,
    log: &Path,
    state: &Path,
) -> Result<(Vec<Node>, Ports, Option<Redis>), String> {
    let Some(n) = scenario.cluster else {
        let (child, addr, ports) = start_server(bins, &scenario.server_args, log, state).await?;
        let node = Node {
            child,
            addr,
            log: log.to_owned(),
            args: scenario.server_args.clone(),
            state: state.to_owned(),
            relay: None,
        };
        return Ok((vec![node], ports, None));
    };
    let binary = crate::redis::find().ok_or("redis-server is not installed")?;
    let redis = Redis::start(binary, &state.join("redis")).await?;
    let mut nodes = Vec::new();
    for k in 1..=n {
        // Each node reaches Redis through a relay of its own.
        let relay = crate::redis::Relay::start(redis.port).await?;
        let mut args = scenario.server_args.clone();
        args.extend([
            "--redis".to_owned(),
            format!("redis://127.0.0.1:{}/0", relay.port),
        ]);
        args.extend(["--node-id".to_owned(), format!("n{k}")]);
        let node_log = log.with_extension(format!("n{k}.log"));
        let node_state = state.join(format!("n{k}"));
        let (child, addr, _) = start_server(bins, &args, &node_log, &node_state).await?;
        nodes.push(Node {
            child,
            addr,
            log: node_log,
            args,
            state: node_state,
            relay: Some(relay),
        });
    }
    for node in &nodes {
        entered(node, 1).await?;
    }
    Ok((nodes, Ports::default(), Some(redis)))
}

/// Times `node` has logged entering its cluster.
fn entries(node: &Node) -> usize {
    std::fs::read_to_string(&node.log)
        .map(|l| l.matches("in the cluster").count())
        .unwrap_or(0)
}

/// Times `node` has logged leaving its cluster.
fn losses(node: &Node) -> usize {
    std::fs::read_to_string(&node.log)
        .map(|l| l.matches("lost the cluster").count())
        .unwrap_or(0)
}

/// Waits until `node` has entered its cluster `times` times in all.
async fn entered(node: &Node, times: usize) -> Result<(), String> {
    let deadline = Instant::now() + WAIT;
    while entries(node) < times {
        if Instant::now() >= deadline {
            return Err(format!(
                "the node on {} did not enter its cluster within {WAIT:?}",
                node.addr
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// The ports a server listens on besides its plain one.
#[derive(Debug, Default)]
struct Ports {
    /// With `--tls`: the TLS address and the certificate's fingerprint.
    tls: Option<(SocketAddr, String)>,
    /// With `--irc-port`: the IRC address (spec §20).
    irc: Option<SocketAddr>,
}

/// The next line the server prints about where it listens (`what`).
async fn address_line(
    lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    what: &str,
) -> Result<String, String> {
    tokio::time::timeout(WAIT, lines.next_line())
        .await
        .map_err(|_| format!("no {what} line in time"))?
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("server exited before printing its {what}"))
}

async fn start_server(
    bins: &Binaries,
    extra: &[String],
    log: &Path,
    state: &Path,
) -> Result<(Child, SocketAddr, Ports), String> {
    let stderr = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let mut child = Command::new(&bins.server)
        .args(server_args(extra))
        .env("RUST_LOG", "info")
        .env("XDG_STATE_HOME", state)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| e.to_string())?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let first = address_line(&mut lines, "address").await?;
    let addr = first
        .rsplit(' ')
        .next()
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| format!("unexpected first line {first:?}"))?;
    // With --tls a second line gives the TLS address and fingerprint:
    // `... listening on ADDR (TLS; certificate SHA256:...)`.
    let tls = if extra.iter().any(|a| a == "--tls") {
        let second = address_line(&mut lines, "TLS address").await?;
        let mut words = second.split_whitespace();
        let addr = words
            .nth(3)
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| format!("unexpected TLS line {second:?}"))?;
        let fingerprint = second
            .split_whitespace()
            .find(|w| w.starts_with("SHA256:"))
            .map(|w| w.trim_end_matches(')').to_owned())
            .ok_or_else(|| format!("no fingerprint in {second:?}"))?;
        Some((addr, fingerprint))
    } else {
        None
    };
    // With --irc-port, the next line: `... listening on ADDR (IRC)`.
    let irc = if extra.iter().any(|a| a == "--irc-port") {
        let line = address_line(&mut lines, "IRC address").await?;
        let addr = line
            .strip_suffix(" (IRC)")
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| format!("unexpected IRC line {line:?}"))?;
        Some(addr)
    } else {
        None
    };
    Ok((child, addr, Ports { tls, irc }))
}

impl Run<'_> {
    fn note(&mut self, who: &str, dir: &str, text: &str) {
        let t = self.started.elapsed().as_secs_f64();
        self.log.push(format!("[{t:8.3}s] {who:>8} {dir} {text}"));
    }

    /// Starts `command` as the peer `name`, scripted through its stdin
    /// and stdout.
    fn spawn_peer(&mut self, name: &str, mut command: Command, what: &str) -> Result<(), String> {
        let child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("spawn {what}: {e}"))?;
        let p = Peer::client(child).map_err(|e| e.to_string())?;
        self.peers.insert(name.to_owned(), p);
        Ok(())
    }

    /// The server's TLS address and fingerprint (the scenario must start
    /// it with `--tls`).
    fn tls(&self) -> Result<(SocketAddr, String), String> {
        self.tls
            .clone()
            .ok_or_else(|| "the server has no TLS port: add `server: --tls --tls-port 0`".into())
    }

    /// `bytes` with each `{$NAME}` replaced by what `{=NAME}` captured.
    fn substitute(&self, bytes: &[u8]) -> Result<Vec<u8>, String> {
        let mut out = Vec::with_capacity(bytes.len());
        let mut rest = bytes;
        while let Some(at) = rest.windows(2).position(|w| w == b"{$") {
            out.extend_from_slice(&rest[..at]);
            let end = rest[at..]
                .iter()
                .position(|&b| b == b'}')
                .ok_or("unclosed {$ in a sent line")?
                + at;
            let name = String::from_utf8_lossy(&rest[at + 2..end]).into_owned();
            let value = self
                .vars
                .get(&name)
                .ok_or_else(|| format!("nothing captured as {name}"))?;
            out.extend_from_slice(value.as_bytes());
            rest = &rest[end + 1..];
        }
        out.extend_from_slice(rest);
        Ok(out)
    }

    /// Node `n`'s address (1: the only server outside a cluster).
    fn addr(&self, n: usize) -> Result<SocketAddr, String> {
        self.nodes
            .get(n.wrapping_sub(1))
            .map(|node| node.addr)
            .ok_or_else(|| format!("there is no node {n}: add `cluster: N`"))
    }

    fn peer(&mut self, name: &str) -> Result<&mut Peer, String> {
        self.peers
            .get_mut(name)
            .ok_or_else(|| format!("no peer called {name}"))
    }

    async fn send(&mut self, name: &str, bytes: &[u8], bytewise: bool) -> Result<(), String> {
        let shown = String::from_utf8_lossy(bytes).escape_debug().to_string();
        self.note(name, "->", &shown);
        self.peer(name)?
            .write(bytes, bytewise)
            .await
            .map_err(|e| format!("{name} cannot send: {e}"))
    }

    async fn read(&mut self, name: &str) -> Result<Read, String> {
        self.read_within(name, WAIT).await
    }

    async fn read_within(&mut self, name: &str, wait: Duration) -> Result<Read, String> {
        let read = self.peer(name)?.read(wait).await;
        match &read {
            Read::Line(l) => self.note(name, "<-", &l.escape_debug().to_string()),
            Read::Eof => self.note(name, "<-", "(eof)"),
            Read::Timeout => self.note(name, "<-", "(nothing within the wait)"),
        }
        Ok(read)
    }

    async fn expect(&mut self, name: &str, pattern: &Pattern) -> Result<String, String> {
        self.expect_within(name, pattern, WAIT).await
    }

    async fn expect_within(
        &mut self,
        name: &str,
        pattern: &Pattern,
        wait: Duration,
    ) -> Result<String, String> {
        match self.read_within(name, wait).await? {
            Read::Line(l) if pattern.matches(&l) => {
                self.vars.extend(pattern.captures(&l).unwrap_or_default());
                Ok(l)
            }
            Read::Line(l) => Err(format!("{name} expected `{}`, got `{l}`", pattern.source())),
            Read::Eof => Err(format!(
                "{name} expected `{}`, got end of stream",
                pattern.source()
            )),
            Read::Timeout => Err(format!(
                "{name} expected `{}`, got nothing within {wait:?}",
                pattern.source()
            )),
        }
    }

    async fn nothing(&mut self, name: &str) -> Result<(), String> {
        let peer = self.peer(name)?;
        peer.pings += 1;
        let token = format!("barrier{}", peer.pings);
        self.send(name, format!("/ping {token}\n").as_bytes(), false)
            .await?;
        let want = format!("PONG {token}");
        match self.read(name).await? {
            Read::Line(l) if l == want => Ok(()),
            Read::Line(l) => Err(format!("{name} expected nothing more, got `{l}`")),
            other => Err(format!(
                "{name} expected `{want}` for the barrier, got {other:?}"
            )),
        }
    }

    async fn step(&mut self, step: &Step) -> Result<(), String> {
        match &step.kind {
            StepKind::Connect { peer: name, node } => {
                let peer = Peer::connect(self.addr(*node)?)
                    .await
                    .map_err(|e| format!("connect: {e}"))?;
                self.peers.insert(name.clone(), peer);
                Ok(())
            }
            StepKind::ConnectPlainToTls(name) => {
                let (addr, _) = self.tls()?;
                let peer = Peer::connect(addr)
                    .await
                    .map_err(|e| format!("connect: {e}"))?;
                self.peers.insert(name.clone(), peer);
                Ok(())
            }
            StepKind::ConnectTls(name) => {
                let (addr, _) = self.tls()?;
                let cert = self.state.join("tagarela/tls-cert.pem");
                let peer = Peer::connect_tls(addr, &cert)
                    .await
                    .map_err(|e| format!("TLS connect: {e}"))?;
                self.peers.insert(name.clone(), peer);
                Ok(())
            }
            StepKind::Join { peer: name, node } => {
                let peer = Peer::connect(self.addr(*node)?)
                    .await
                    .map_err(|e| format!("connect: {e}"))?;
                self.peers.insert(name.clone(), peer);
                self.expect(name, &Pattern::new("HELLO 1 :{any}")?).await?;
                self.send(name, format!("{name}\n").as_bytes(), false)
                    .await?;
                let welcome = Pattern::new(&format!(
                    "WELCOME {name} online={{num}} line-max=1024 name-max=32 :{{any}}"
                ))?;
                self.expect(name, &welcome).await.map(drop)
            }
            StepKind::Spawn { peer, args } => {
                // `{tls-port}` and `{fingerprint}` stand for the server's;
                // a scenario that gives `--port` chooses the port itself.
                let tls = self.tls.clone();
                let args: Vec<String> = args
                    .iter()
                    .map(|a| match &tls {
                        Some((addr, fp)) => a
                            .replace("{tls-port}", &addr.port().to_string())
                            .replace("{fingerprint}", fp),
                        None => a.clone(),
                    })
                    .collect();
                let addr = self.addr(1)?;
                let mut command = Command::new(&self.bins.client);
                command.args(["--host", &addr.ip().to_string()]);
                if !args.iter().any(|a| a == "--port") {
                    command.args(["--port", &addr.port().to_string()]);
                }
                command.args(&args).env("XDG_STATE_HOME", &self.state);
                self.spawn_peer(peer, command, "client")
            }
            StepKind::SpawnIrcLibrary { peer, nick } => {
                let irc = self
                    .irc
                    .ok_or("the server has no IRC port: add `server: --irc-port 0`")?;
                let python = crate::irc_library::find()
                    .ok_or("no Python with the `irc` package (pip install irc)")?;
                let mut command = Command::new(python);
                command
                    .arg(crate::irc_library::peer_script())
                    .args(["--host", &irc.ip().to_string()])
                    .args(["--port", &irc.port().to_string()])
                    .args(["--nick", nick]);
                self.spawn_peer(peer, command, "the IRC library's peer")
            }
            StepKind::Send { peer, bytes, mode } => {
                let mut out = self.substitute(bytes)?;
                if *mode != SendMode::Raw {
                    out.push(b'\n');
                }
                self.send(peer, &out, *mode == SendMode::Bytewise).await
            }
            StepKind::Expect {
                peer,
                pattern,
                wait,
            } => self
                .expect_within(peer, pattern, wait.unwrap_or(WAIT))
                .await
                .map(drop),
            StepKind::Nothing(peer) => self.nothing(peer).await,
            StepKind::Eof(peer) => match self.read(peer).await? {
                Read::Eof => Ok(()),
                other => Err(format!("{peer} expected end of stream, got {other:?}")),
            },
            StepKind::SkipToEof(peer) => {
                let deadline = Instant::now() + WAIT;
                let mut skipped = 0usize;
                loop {
                    let left = deadline.saturating_duration_since(Instant::now());
                    match self.peer(peer)?.read(left).await {
                        Read::Line(_) => skipped += 1,
                        Read::Eof => {
                            self.note(peer, "<-", &format!("({skipped} lines, then eof)"));
                            return Ok(());
                        }
                        Read::Timeout => return Err(format!("{peer} did not end within {WAIT:?}")),
                    }
                }
            }
            StepKind::Exit { peer, code } => self.exit(peer, *code).await,
            StepKind::Close(peer) => {
                self.note(peer, "--", "(close)");
                self.peer(peer)?.close();
                Ok(())
            }
            StepKind::Reset(peer) => {
                self.note(peer, "--", "(reset)");
                self.peer(peer)?.reset()
            }
            StepKind::Silent(peer) => {
                self.peer(peer)?.auto_pong = false;
                Ok(())
            }
            StepKind::Kill { node, signal } => self.kill(*node, signal),
            StepKind::NodeCut { node: n, cut } => {
                let relay = self
                    .nodes
                    .get(n.wrapping_sub(1))
                    .and_then(|node| node.relay.as_ref())
                    .ok_or_else(|| format!("there is no node {n} in a cluster"))?;
                relay.set_cut(*cut);
                let what = if *cut { "(cut from Redis)" } else { "(mended)" };
                self.note(&format!("node {n}"), "--", what);
                let node = &self.nodes[n - 1];
                if *cut {
                    self.entries_at_stop = self.nodes.iter().map(entries).collect();
                    self.losses_at_cut = losses(node);
                } else if losses(node) > self.losses_at_cut {
                    // It left the cluster meanwhile, and enters it again
                    // by itself.
                    let before = self.entries_at_stop.get(n - 1).copied().unwrap_or(0);
                    entered(node, before + 1).await?;
                    self.note(&format!("node {n}"), "--", "(back in the cluster)");
                }
                Ok(())
            }
            StepKind::NodeStart { node: n, wait_in } => {
                let bins = self.bins;
                let node = self
                    .nodes
                    .get_mut(n.wrapping_sub(1))
                    .ok_or_else(|| format!("there is no node {n}"))?;
                // Started again from scratch, whatever state it was in.
                let _ = node.child.start_kill();
                let _ = tokio::time::timeout(WAIT, node.child.wait()).await;
                // A port of its own again: the old one may linger.
                let mut args = node.args.clone();
                args.extend(["--port".to_owned(), "0".to_owned()]);
                let (child, addr, _) = start_server(bins, &args, &node.log, &node.state).await?;
                node.child = child;
                node.addr = addr;
                if self.redis.is_some() && *wait_in {
                    entered(node, 1).await?;
                }
                self.note(&format!("node {n}"), "--", "(started again)");
                Ok(())
            }
            StepKind::NodeLogs {
                node: n,
                text,
                present,
            } => {
                let node = self
                    .nodes
                    .get(n.wrapping_sub(1))
                    .ok_or_else(|| format!("there is no node {n}"))?;
                let deadline = Instant::now() + WAIT;
                let said =
                    || std::fs::read_to_string(&node.log).is_ok_and(|l| l.contains(text.as_str()));
                if !present {
                    if said() {
                        return Err(format!("node {n} logged `{text}`"));
                    }
                    self.note(
                        &format!("node {n}"),
                        "--",
                        &format!("(never logged `{text}`)"),
                    );
                    return Ok(());
                }
                while !said() {
                    if Instant::now() >= deadline {
                        return Err(format!("node {n} did not log `{text}` within {WAIT:?}"));
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                self.note(&format!("node {n}"), "--", &format!("(logged `{text}`)"));
                Ok(())
            }
            StepKind::RedisLibrary(version) => {
                let redis = self.redis.as_ref().ok_or("no Redis: add `cluster: N`")?;
                let library = format!(
                    "#!lua name=tagarela\nredis.register_function('tagarela_version', function() return {version} end)\n"
                );
                let reply = redis
                    .command(&["FUNCTION", "LOAD", "REPLACE", &library])
                    .await?;
                self.note(
                    "redis",
                    "--",
                    &format!("(library of version {version}: {reply})"),
                );
                Ok(())
            }
            StepKind::RedisStop => {
                self.entries_at_stop = self.nodes.iter().map(entries).collect();
                self.note("redis", "--", "(stopped)");
                let redis = self.redis.as_mut().ok_or("no Redis: add `cluster: N`")?;
                redis.stop().await;
                Ok(())
            }
            StepKind::RedisStart => {
                let redis = self.redis.as_mut().ok_or("no Redis: add `cluster: N`")?;
                redis.resume().await?;
                self.note("redis", "--", "(started, empty)");
                // Every node still running enters the cluster again.
                for (i, node) in self.nodes.iter_mut().enumerate() {
                    if matches!(node.child.try_wait(), Ok(None)) {
                        let before = self.entries_at_stop.get(i).copied().unwrap_or(0);
                        entered(node, before + 1).await?;
                    }
                }
                self.note("*", "--", "(every node is back in the cluster)");
                Ok(())
            }
            StepKind::Race { peers, name } => self.race(peers, name).await,
            StepKind::Pump {
                from,
                to,
                count,
                size,
            } => self.pump(from, to, *count, *size).await,
            StepKind::Mix { senders, to, count } => self.mix(senders, to, *count).await,
        }
    }

    fn kill(&mut self, node: usize, signal: &str) -> Result<(), String> {
        let child = &self
            .nodes
            .get(node.wrapping_sub(1))
            .ok_or_else(|| format!("there is no node {node}"))?
            .child;
        let pid = child.id().ok_or("server already exited")?;
        let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).map_err(|e| e.to_string())?);
        let sig = match signal {
            "KILL" => nix::sys::signal::Signal::SIGKILL,
            "STOP" => nix::sys::signal::Signal::SIGSTOP,
            "CONT" => nix::sys::signal::Signal::SIGCONT,
            _ => nix::sys::signal::Signal::SIGTERM,
        };
        let who = if self.nodes.len() > 1 || self.redis.is_some() {
            format!("node {node}")
        } else {
            "server".to_owned()
        };
        self.note(&who, "--", &format!("(SIG{signal})"));
        nix::sys::signal::kill(pid, sig).map_err(|e| e.to_string())
    }

    async fn exit(&mut self, name: &str, code: i32) -> Result<(), String> {
        let child = if name == "server" {
            &mut self.nodes.first_mut().ok_or("no server")?.child
        } else {
            match &mut self.peer(name)?.kind {
                crate::peer::PeerKind::Client(c) => &mut c.child,
                crate::peer::PeerKind::Tcp(_) | crate::peer::PeerKind::Tls(_) => {
                    return Err(format!("{name} is not a process"));
                }
            }
        };
        let status = tokio::time::timeout(WAIT, child.wait())
            .await
            .map_err(|_| format!("{name} did not exit within {WAIT:?}"))?
            .map_err(|e| e.to_string())?;
        self.note(name, "--", &format!("(exit {status})"));
        match status.code() {
            Some(c) if c == code => Ok(()),
            _ => Err(format!("{name} exited with {status}, expected {code}")),
        }
    }

    async fn race(&mut self, peers: &[String], name: &str) -> Result<(), String> {
        let line = format!("{name}\n");
        let mut writes = Vec::new();
        for p in peers {
            self.note(p, "->", name);
            let peer = self
                .peers
                .remove(p)
                .ok_or_else(|| format!("no peer called {p}"))?;
            writes.push((p.clone(), peer));
        }
        // Send from all peers concurrently.
        let sent = futures_join(writes, line.into_bytes()).await;
        let mut winners = 0;
        let taken = Pattern::new(&format!("ERR name-taken {name} :{{any}}"))?;
        let won = Pattern::new(&format!("WELCOME {name} {{any}}"))?;
        for (p, peer) in sent {
            self.peers.insert(p, peer?);
        }
        for p in peers {
            match self.read(p).await? {
                Read::Line(l) if won.matches(&l) => winners += 1,
                Read::Line(l) if taken.matches(&l) => {}
                other => return Err(format!("{p} got {other:?} in the race")),
            }
        }
        if winners == 1 {
            Ok(())
        } else {
            Err(format!("{winners} peers won the race for {name}"))
        }
    }

    async fn pump(
        &mut self,
        from: &str,
        to: &str,
        count: usize,
        size: usize,
    ) -> Result<(), String> {
        // Rounds of at most 16 KiB, so a reader that keeps up never has
        // much queued at the server.
        let round = (16 * 1024 / size.max(1)).max(1);
        let mut got = 0;
        let mut sent = 0;
        let mut set_aside = Vec::new();
        self.note(
            from,
            "->",
            &format!("(pump: {count} numbered lines of {size} octets, in rounds of {round})"),
        );
        while sent < count {
            let mut batch = Vec::new();
            for _ in 0..round.min(count - sent) {
                let head = format!("pump {sent} ");
                let body = "p".repeat(size.saturating_sub(head.len()));
                batch.extend_from_slice(format!("{head}{body}\n").as_bytes());
                sent += 1;
            }
            self.peer(from)?
                .write(&batch, false)
                .await
                .map_err(|e| format!("{from} cannot send: {e}"))?;
            while got < sent {
                let line = match self.peer(to)?.read_wire(WAIT).await {
                    Read::Line(l) => l,
                    other => {
                        return Err(format!(
                            "{to} stopped receiving after {got} of {count}: {other:?}"
                        ));
                    }
                };
                match line.split_once(&format!(" {from} :pump ")) {
                    Some((_, rest)) if line.starts_with("MSG ") => {
                        let n: usize = rest
                            .split(' ')
                            .next()
                            .and_then(|n| n.parse().ok())
                            .unwrap_or(usize::MAX);
                        if n != got {
                            return Err(format!("{to} got pump line {n}, expected {got}"));
                        }
                        got += 1;
                    }
                    _ => {
                        self.note(to, "<-", &line);
                        set_aside.push(line);
                    }
                }
            }
        }
        self.note(to, "<-", &format!("(pump: all {count} lines, in order)"));
        self.peer(to)?.pending.extend(set_aside);
        Ok(())
    }

    async fn mix(&mut self, senders: &[String], to: &str, count: usize) -> Result<(), String> {
        for i in 0..count {
            for s in senders {
                self.peer(s)?
                    .write(format!("mix {s} {i}\n").as_bytes(), false)
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        self.note(
            "*",
            "->",
            &format!("(mix: {} senders x {count} numbered lines)", senders.len()),
        );
        let mut next: HashMap<&str, usize> = senders.iter().map(|s| (s.as_str(), 0)).collect();
        let mut set_aside = Vec::new();
        let mut remaining = senders.len() * count;
        while remaining > 0 {
            let line = match self.peer(to)?.read_wire(WAIT).await {
                Read::Line(l) => l,
                other => {
                    return Err(format!(
                        "{to} stopped with {remaining} mix lines missing: {other:?}"
                    ));
                }
            };
            let parsed = line
                .strip_prefix("MSG ")
                .and_then(|r| r.split_once(" :mix "))
                .map(|(_, t)| t.to_owned());
            match parsed.as_deref().and_then(|t| t.split_once(' ')) {
                Some((s, n)) if next.contains_key(s) => {
                    let want = next[s];
                    let n: usize = n.parse().map_err(|_| format!("bad mix line {line}"))?;
                    if n != want {
                        return Err(format!("{to} got {s}'s line {n}, expected {want}"));
                    }
                    if let Some(v) = next.get_mut(s) {
                        *v += 1;
                    }
                    remaining -= 1;
                }
                _ => set_aside.push(line),
            }
        }
        self.note(to, "<-", "(mix: every sender's lines once, each in order)");
        self.peer(to)?.pending.extend(set_aside);
        Ok(())
    }
}

type Sent = Vec<(String, Result<Peer, String>)>;

/// Writes `line` from every peer at once; gives the peers back.
async fn futures_join(peers: Vec<(String, Peer)>, line: Vec<u8>) -> Sent {
    let mut tasks = Vec::new();
    for (name, mut peer) in peers {
        let line = line.clone();
        tasks.push(tokio::spawn(async move {
            let r = peer.write(&line, false).await;
            (name, r.map(|()| peer).map_err(|e| e.to_string()))
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        match t.await {
            Ok(pair) => out.push(pair),
            Err(e) => out.push(("?".into(), Err(e.to_string()))),
        }
    }
    out
}
