//! The crowd and the restart storm (spec §18): starts a fresh server,
//! registers N clients that all keep reading, every one of them within a
//! few seconds, and reports whether any was removed, how long the room
//! took to hold them all, how many lines that cost, and the server's peak
//! memory. With `--restart`, it then stops the server (SIGTERM, so every
//! client gets `BYE shutdown`), starts it again on the same port, and the
//! clients come back as the reference client does: after its pauses
//! (tagarela_client::reconnect::Backoff: 1 s, 2 s, 4 s ... ±20%), with
//! `/resume` first and the name when that is refused.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::Serialize;
use tagarela_client::reconnect::{Backoff, ResumeState};
use tagarela_parser::{ByeReason, ErrorCode, ServerLine};
use tagarela_reader::{LineReader, Received};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpSocket;
use tokio::process::{Child, Command};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::process;

/// What the run is asked to do.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Clients to register.
    pub clients: usize,
    /// Seconds over which their first connections are spread.
    pub within: f64,
    /// Then stop and start the server, and let them come back.
    pub restart: bool,
    /// Loopback source addresses to spread clients over (0: the default).
    pub src_ips: u8,
    /// How long each phase may take before the run gives up.
    pub max_secs: f64,
    /// Flags for the server besides the ones this run sets.
    pub server_args: Vec<String>,
}

/// What every client adds to.
#[derive(Debug, Default)]
struct Tally {
    /// Clients registered now.
    in_room: AtomicUsize,
    /// `WELCOME`s received in all.
    welcomes: AtomicUsize,
    /// Connections the server ended other than by `BYE shutdown`: a
    /// removal (`slow`, `timeout`, an end without `BYE`).
    removed: AtomicU64,
    /// Of those, `BYE slow`.
    slow: AtomicU64,
    /// Lines received, all kinds.
    lines: AtomicU64,
    /// `CROWD` notices received.
    notices: AtomicU64,
    /// `JOIN` and `LEAVE` lines received.
    joins_leaves: AtomicU64,
    /// Clients that gave up (the reference client's 5 minutes).
    gave_up: AtomicU64,
    changed: Notify,
}

/// One phase's figures.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Phase {
    /// Every client got into the room within `--max-secs`.
    pub all_in: bool,
    /// Clients in the room at the phase's end.
    pub in_room: usize,
    /// From the phase's start to every client registered (or to the
    /// phase's end, if they never were).
    pub seconds_to_all_in: f64,
    /// From the phase's last first connection to every client registered.
    pub seconds_after_last_connect: f64,
    pub removed: u64,
    pub removed_slow: u64,
    pub lines: u64,
    pub crowd_notices: u64,
    pub join_leave_lines: u64,
    pub server_peak_rss_kib: Option<u64>,
    pub server_rss_kib: Option<u64>,
    pub server_cpu_seconds: Option<f64>,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct CrowdReport {
    pub clients: usize,
    pub within_secs: f64,
    pub server_args: Vec<String>,
    pub crowd: Phase,
    pub restart: Option<Phase>,
}

/// Runs the plan against fresh servers from `server`.
pub async fn run(server: &Path, plan: Plan) -> anyhow::Result<CrowdReport> {
    raise_fd_limit();
    let port = free_port()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let args = server_args(port, &plan);
    let mut child = start(server, &args, addr).await?;
    let tally = Arc::new(Tally::default());
    let epoch = Instant::now();
    let mut tasks = Vec::with_capacity(plan.clients);
    for i in 0..plan.clients {
        let at = epoch + Duration::from_secs_f64(plan.within * i as f64 / plan.clients as f64);
        let src = (plan.src_ips > 0).then(|| {
            std::net::IpAddr::from([127, 0, 0, 2 + (i % usize::from(plan.src_ips)) as u8])
        });
        let tally = Arc::clone(&tally);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            member(addr, src, format!("c{i}"), tally).await;
        }));
    }
    let last_connect = epoch + Duration::from_secs_f64(plan.within);
    let crowd = phase(&tally, &child, plan.clients, epoch, last_connect, &plan, 1).await?;
    eprintln!("crowd: {crowd:?}");
    let restart = if plan.restart && crowd.all_in {
        // SIGTERM: every client is told `BYE shutdown`, as in a restart.
        stop(&mut child).await;
        let before = snapshot(&tally);
        child = start(server, &args, addr).await?;
        let started = Instant::now();
        let mut p = phase(&tally, &child, plan.clients, started, started, &plan, 2).await?;
        p.removed -= before.0;
        p.removed_slow -= before.1;
        p.lines -= before.2;
        p.crowd_notices -= before.3;
        p.join_leave_lines -= before.4;
        eprintln!("restart: {p:?}");
        Some(p)
    } else {
        None
    };
    stop(&mut child).await;
    for t in tasks {
        t.abort();
    }
    Ok(CrowdReport {
        clients: plan.clients,
        within_secs: plan.within,
        server_args: args,
        crowd,
        restart,
    })
}

/// Counters at a point, to subtract.
fn snapshot(t: &Tally) -> (u64, u64, u64, u64, u64) {
    (
        t.removed.load(Ordering::Relaxed),
        t.slow.load(Ordering::Relaxed),
        t.lines.load(Ordering::Relaxed),
        t.notices.load(Ordering::Relaxed),
        t.joins_leaves.load(Ordering::Relaxed),
    )
}

/// Waits until the `round`th welcome of every client, then two seconds
/// more (notices still on their way, removals that follow a backlog).
async fn phase(
    tally: &Tally,
    child: &Child,
    clients: usize,
    start: Instant,
    last_connect: Instant,
    plan: &Plan,
    round: usize,
) -> anyhow::Result<Phase> {
    let pid = child.id();
    let cpu_before = pid.and_then(process::cpu_seconds);
    let deadline = start + Duration::from_secs_f64(plan.max_secs);
    let mut report = Instant::now();
    let (all_in, done) = loop {
        let welcomes = tally.welcomes.load(Ordering::Relaxed);
        if welcomes >= clients * round && tally.in_room.load(Ordering::Relaxed) >= clients {
            break (true, Instant::now());
        }
        if Instant::now() > deadline {
            eprintln!(
                "only {} of {clients} in the room after {}s",
                tally.in_room.load(Ordering::Relaxed),
                plan.max_secs,
            );
            break (false, Instant::now());
        }
        if report.elapsed() >= Duration::from_secs(2) {
            eprintln!(
                "in the room: {}/{clients}, removed {}",
                tally.in_room.load(Ordering::Relaxed),
                tally.removed.load(Ordering::Relaxed)
            );
            report = Instant::now();
        }
        let _ = tokio::time::timeout(Duration::from_millis(100), tally.changed.notified()).await;
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let c = snapshot(tally);
    Ok(Phase {
        all_in,
        in_room: tally.in_room.load(Ordering::Relaxed),
        seconds_to_all_in: (done - start).as_secs_f64(),
        seconds_after_last_connect: done.saturating_duration_since(last_connect).as_secs_f64(),
        removed: c.0,
        removed_slow: c.1,
        lines: c.2,
        crowd_notices: c.3,
        join_leave_lines: c.4,
        server_peak_rss_kib: pid.and_then(peak_rss_kib),
        server_rss_kib: pid.and_then(process::rss_kib),
        server_cpu_seconds: pid
            .and_then(process::cpu_seconds)
            .zip(cpu_before)
            .map(|(a, b)| a - b),
    })
}

/// One member of the crowd, for as long as the run lasts: registers,
/// reads everything, and comes back as the reference client does.
async fn member(addr: SocketAddr, src: Option<std::net::IpAddr>, name: String, tally: Arc<Tally>) {
    let mut resume = ResumeState::default();
    let mut backoff: Option<Backoff> = None;
    loop {
        if let Some(b) = backoff.as_mut() {
            match b.next_pause() {
                Some(pause) => tokio::time::sleep(pause).await,
                None => {
                    tally.gave_up.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        }
        match session(addr, src, &name, &mut resume, &tally).await {
            // Registered, then the server ended it: a new outage.
            Ok(true) => backoff = Some(Backoff::new()),
            // Never registered: the same outage goes on.
            Ok(false) | Err(_) => {
                backoff.get_or_insert_with(Backoff::new);
            }
        }
    }
}

/// One connection; true if it registered.
async fn session(
    addr: SocketAddr,
    src: Option<std::net::IpAddr>,
    name: &str,
    resume: &mut ResumeState,
    tally: &Tally,
) -> anyhow::Result<bool> {
    let socket = TcpSocket::new_v4()?;
    if let Some(ip) = src {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    let stream = tokio::time::timeout(Duration::from_secs(10), socket.connect(addr))
        .await
        .context("connect timed out")??;
    let (reader, mut writer) = stream.into_split();
    let resuming = resume.can_resume();
    let first = if resuming {
        format!("{}\n", resume.resume_line())
    } else {
        resume.asked = true;
        format!("/features resume\n{name}\n")
    };
    writer.write_all(first.as_bytes()).await?;
    let mut lines = LineReader::server_lines(reader);
    let mut registered = false;
    let mut bye = None;
    while let Ok(Some(received)) = lines.next().await {
        let Received::Line(line) = received else {
            continue;
        };
        tally.lines.fetch_add(1, Ordering::Relaxed);
        let Ok(parsed) = ServerLine::parse(line) else {
            continue;
        };
        resume.observe(&parsed);
        match &parsed {
            ServerLine::Welcome { .. } => {
                registered = true;
                tally.in_room.fetch_add(1, Ordering::Relaxed);
                tally.welcomes.fetch_add(1, Ordering::Relaxed);
                tally.changed.notify_waiters();
            }
            ServerLine::Err {
                code: ErrorCode::ResumeRefused,
                ..
            } => {
                resume.token = None;
                writer.write_all(format!("{name}\n").as_bytes()).await?;
            }
            ServerLine::Ping { token } => {
                writer
                    .write_all(format!("/pong {token}\n").as_bytes())
                    .await?;
            }
            ServerLine::Crowd { .. } => {
                tally.notices.fetch_add(1, Ordering::Relaxed);
            }
            ServerLine::Seq { event, .. }
                if matches!(**event, ServerLine::Join { .. } | ServerLine::Leave { .. }) =>
            {
                tally.joins_leaves.fetch_add(1, Ordering::Relaxed);
            }
            ServerLine::Join { .. } | ServerLine::Leave { .. } => {
                tally.joins_leaves.fetch_add(1, Ordering::Relaxed);
            }
            ServerLine::Bye { reason, .. } => bye = Some(*reason),
            _ => {}
        }
    }
    if registered {
        tally.in_room.fetch_sub(1, Ordering::Relaxed);
        if bye != Some(ByeReason::Shutdown) {
            tally.removed.fetch_add(1, Ordering::Relaxed);
            if bye == Some(ByeReason::Slow) {
                tally.slow.fetch_add(1, Ordering::Relaxed);
            }
        }
        tally.changed.notify_waiters();
    }
    Ok(registered)
}

/// The flags of every run: loopback, room for the crowd, nothing on disk.
fn server_args(port: u16, plan: &Plan) -> Vec<String> {
    let room = (plan.clients + 100).to_string();
    let mut args: Vec<String> = [
        "--listen",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--no-audit-log",
        "--no-history",
        "--max-connections",
        &room,
        "--max-per-address",
        &room,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    args.extend(plan.server_args.iter().cloned());
    args
}

/// Starts the server and waits until it accepts connections.
async fn start(server: &Path, args: &[String], addr: SocketAddr) -> anyhow::Result<Child> {
    let child = Command::new(server)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {}", server.display()))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        if Instant::now() > deadline {
            bail!("{} did not listen on {addr} within 10 s", server.display());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(child)
}

/// SIGTERM, then waits for the exit (SIGKILL after 10 s).
async fn stop(child: &mut Child) {
    if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    if tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}

/// A free loopback port.
fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// Peak resident memory (VmHWM) in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Opens as many files as this process may (the server inherits it): a
/// crowd of 19,000 needs that many sockets on each side.
fn raise_fd_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}
