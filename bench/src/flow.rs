//! `tagarela-bench flow`: the flow-control measurements of spec §11, each
//! against a fresh server that this command starts (loopback only, every
//! run bounded in time):
//! - (a) one flooder at full speed, rate limit off, and readers that pause
//!   200 ms every second, plus a normal sender at 2 lines/s: readers cut,
//!   the flooder's throughput, the normal sender's p99 delivery latency;
//! - (b) the same with the rate limit on, and a baseline with no flooder;
//! - (c) many senders at full speed, everyone reading: cut, lost, reordered;
//! - (d) a reader that stops reading while a flooder runs: how long until
//!   it is removed, and the server's peak RSS.
//!
//! It prints each figure as it goes. Not a test: nothing here asserts.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use tagarela_parser::ServerLine;
use tagarela_reader::{LineReader, Received};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::process::{Child, Command};

use crate::client::histogram;
use crate::marker;
use crate::process;

/// Sender numbers in the payload markers.
const FLOODER: u32 = 0;
const NORMAL: u32 = 1;

/// A server this command started.
struct Server {
    child: Child,
    addr: SocketAddr,
    pid: u32,
}

impl Server {
    async fn start(path: &Path, extra: &[&str]) -> anyhow::Result<Server> {
        let mut child = Command::new(path)
            .args(["--listen", "127.0.0.1", "--port", "0", "--no-audit-log"])
            .args(["--max-per-address", "100000", "--max-connections", "100000"])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", path.display()))?;
        let stdout = child.stdout.take().context("server stdout")?;
        let mut line = String::new();
        tokio::io::BufReader::new(stdout)
            .read_line(&mut line)
            .await?;
        let addr = line
            .trim()
            .rsplit(' ')
            .next()
            .and_then(|a| a.parse().ok())
            .with_context(|| format!("no address in {line:?}"))?;
        let pid = child.id().context("server pid")?;
        Ok(Server { child, addr, pid })
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// What one reader saw.
#[derive(Debug)]
struct Seen {
    /// Lines from each sender (by marker sender number).
    from: [AtomicU64; 64],
    /// Lines out of order for their sender.
    reordered: AtomicU64,
    /// Lines that were not intact payloads.
    garbled: AtomicU64,
    /// The server removed this reader (`BYE slow` or end of stream).
    cut: AtomicBool,
    /// `LEAVE ... slow` lines seen (others removed).
    leaves_slow: AtomicU64,
}

impl Default for Seen {
    fn default() -> Self {
        Seen {
            from: std::array::from_fn(|_| AtomicU64::new(0)),
            reordered: AtomicU64::new(0),
            garbled: AtomicU64::new(0),
            cut: AtomicBool::new(false),
            leaves_slow: AtomicU64::new(0),
        }
    }
}

/// Registers `name`; returns the reader (past WELCOME) and writer.
async fn join(
    addr: SocketAddr,
    name: &str,
) -> anyhow::Result<(LineReader<OwnedReadHalf>, OwnedWriteHalf)> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (r, mut w) = stream.into_split();
    w.write_all(format!("{name}\n").as_bytes()).await?;
    let mut lines = LineReader::server_lines(r);
    loop {
        match lines.next().await? {
            Some(Received::Line(line)) => match ServerLine::parse(line) {
                Ok(ServerLine::Welcome { .. }) => return Ok((lines, w)),
                Ok(ServerLine::Err { .. } | ServerLine::Bye { .. }) => {
                    bail!("{name} refused: {}", String::from_utf8_lossy(line))
                }
                _ => {}
            },
            Some(Received::TooLong { .. }) => {}
            None => bail!("{name}: closed during registration"),
        }
    }
}

/// Reads until the stream ends, pausing `pause` every `every` if given;
/// records per-sender counts and order, and the normal sender's latency.
async fn read(
    mut lines: LineReader<OwnedReadHalf>,
    seen: Arc<Seen>,
    latency: Arc<Mutex<Histogram<u64>>>,
    epoch: Instant,
    pause: Option<(Duration, Duration)>,
) {
    let mut last: [Option<u64>; 64] = [None; 64];
    // Pauses follow the wall clock, whatever arrives: the reader does not
    // read at all from each pause's start to its end.
    let mut next_pause = pause.map(|(every, _)| tokio::time::Instant::now() + every);
    loop {
        let pause_at =
            next_pause.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(86_400));
        let received = tokio::select! {
            received = lines.next() => received,
            () = tokio::time::sleep_until(pause_at) => {
                if let Some((every, length)) = pause {
                    tokio::time::sleep(length).await;
                    next_pause = Some(pause_at + every);
                }
                continue;
            }
        };
        let line = match received {
            Ok(Some(Received::Line(line))) => line,
            Ok(Some(Received::TooLong { .. })) => {
                seen.garbled.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            Ok(None) | Err(_) => {
                seen.cut.store(true, Ordering::Relaxed);
                return;
            }
        };
        let now = epoch.elapsed().as_nanos() as u64;
        match ServerLine::parse(line) {
            Ok(ServerLine::Msg { text, .. }) => match marker::parse(text.as_str()) {
                Some(m) if (m.sender as usize) < 64 => {
                    let i = m.sender as usize;
                    seen.from[i].fetch_add(1, Ordering::Relaxed);
                    if last[i].is_some_and(|s| m.seq != s + 1) {
                        seen.reordered.fetch_add(1, Ordering::Relaxed);
                    }
                    last[i] = Some(m.seq);
                    if m.sender == NORMAL {
                        let _ = latency
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .record((now.saturating_sub(m.t_ns) / 1000).max(1));
                    }
                }
                _ => {
                    seen.garbled.fetch_add(1, Ordering::Relaxed);
                }
            },
            Ok(ServerLine::Leave { reason, .. }) if reason.as_str() == "slow" => {
                seen.leaves_slow.fetch_add(1, Ordering::Relaxed);
            }
            Ok(ServerLine::Bye { .. }) => {
                seen.cut.store(true, Ordering::Relaxed);
                return;
            }
            _ => {}
        }
    }
}

/// Reads everything `lines` receives and keeps no figures (for clients
/// whose input does not matter but must not back up).
fn drain(lines: LineReader<OwnedReadHalf>, epoch: Instant) -> tokio::task::JoinHandle<()> {
    let latency = Arc::new(Mutex::new(histogram()));
    tokio::spawn(read(lines, Arc::new(Seen::default()), latency, epoch, None))
}

/// Writes payloads from `sender` as fast as the server reads them, in
/// batches, until `until`; returns how many were written.
async fn flood(
    mut w: OwnedWriteHalf,
    sender: u32,
    size: usize,
    until: Instant,
    epoch: Instant,
) -> u64 {
    let mut seq = 0u64;
    let mut batch = Vec::with_capacity(64 * 1024);
    while Instant::now() < until {
        batch.clear();
        while batch.len() < 60 * 1024 {
            seq += 1;
            let t = epoch.elapsed().as_nanos() as u64;
            batch.extend_from_slice(marker::payload(sender, seq, t, size).as_bytes());
            batch.push(b'\n');
        }
        let write = tokio::time::timeout_at((until).into(), w.write_all(&batch));
        match write.await {
            Ok(Ok(())) => {}
            // Past the deadline mid-write, or closed: stop.
            _ => break,
        }
    }
    seq
}

/// Sends one payload every `every` from the normal sender until `until`.
async fn steady(mut w: OwnedWriteHalf, every: Duration, until: Instant, epoch: Instant) -> u64 {
    let mut seq = 0;
    let mut tick = tokio::time::interval(every);
    while Instant::now() < until {
        tick.tick().await;
        seq += 1;
        let t = epoch.elapsed().as_nanos() as u64;
        let line = format!("{}\n", marker::payload(NORMAL, seq, t, 100));
        if w.write_all(line.as_bytes()).await.is_err() {
            break;
        }
    }
    seq
}

/// The figures of one run of (a) or (b).
struct PausingRun {
    cut: usize,
    readers: usize,
    flooder_sent: u64,
    flooder_delivered_per_reader: f64,
    seconds: f64,
    normal_p50_ms: f64,
    normal_p99_ms: f64,
    normal_max_ms: f64,
    normal_sent: u64,
    reordered: u64,
    garbled: u64,
}

/// (a), (b) and the baseline: `readers` pausing readers, a flooder (if
/// `flooder`) and a normal sender, for `seconds`.
async fn pausing(
    server: &Path,
    extra: &[&str],
    readers: usize,
    flooder: bool,
    seconds: f64,
) -> anyhow::Result<PausingRun> {
    let srv = Server::start(server, extra).await?;
    let epoch = Instant::now();
    let latency = Arc::new(Mutex::new(histogram()));
    let mut seens = Vec::new();
    let mut tasks = Vec::new();
    for i in 0..readers {
        let (lines, w) = join(srv.addr, &format!("reader{i}")).await?;
        let seen = Arc::new(Seen::default());
        seens.push((Arc::clone(&seen), w));
        tasks.push(tokio::spawn(read(
            lines,
            seen,
            Arc::clone(&latency),
            epoch,
            Some((Duration::from_secs(1), Duration::from_millis(200))),
        )));
    }
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let (nlines, nw) = join(srv.addr, "normal").await?;
    let drain_normal = drain(nlines, epoch);
    // A person: two lines a second, within the default rate limit.
    let normal = tokio::spawn(steady(nw, Duration::from_millis(500), until, epoch));
    let flood_task = if flooder {
        let (flines, fw) = join(srv.addr, "flooder").await?;
        let drain = drain(flines, epoch);
        Some((tokio::spawn(flood(fw, FLOODER, 100, until, epoch)), drain))
    } else {
        None
    };
    let normal_sent = normal.await.unwrap_or(0);
    let flooder_sent = match flood_task {
        Some((f, drain)) => {
            let sent = f.await.unwrap_or(0);
            drain.abort();
            sent
        }
        None => 0,
    };
    // Let what is queued arrive, then count.
    tokio::time::sleep(Duration::from_secs(3)).await;
    drain_normal.abort();
    let cut = seens
        .iter()
        .filter(|(s, _)| s.cut.load(Ordering::Relaxed))
        .count();
    let delivered: u64 = seens
        .iter()
        .map(|(s, _)| s.from[FLOODER as usize].load(Ordering::Relaxed))
        .sum();
    let reordered = seens
        .iter()
        .map(|(s, _)| s.reordered.load(Ordering::Relaxed))
        .sum();
    let garbled = seens
        .iter()
        .map(|(s, _)| s.garbled.load(Ordering::Relaxed))
        .sum();
    for t in tasks {
        t.abort();
    }
    srv.stop().await;
    let h = latency
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let ms = |v: u64| v as f64 / 1000.0;
    Ok(PausingRun {
        cut,
        readers,
        flooder_sent,
        flooder_delivered_per_reader: delivered as f64 / readers.max(1) as f64,
        seconds,
        normal_p50_ms: ms(h.value_at_quantile(0.5)),
        normal_p99_ms: ms(h.value_at_quantile(0.99)),
        normal_max_ms: ms(h.max()),
        normal_sent,
        reordered,
        garbled,
    })
}

fn print_pausing(label: &str, r: &PausingRun) {
    println!(
        "{label}: readers cut {}/{}; flooder wrote {} lines, each reader got {:.0} ({:.0} lines/s); normal sender {} lines, latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; reordered {}, garbled {}",
        r.cut,
        r.readers,
        r.flooder_sent,
        r.flooder_delivered_per_reader,
        r.flooder_delivered_per_reader / r.seconds,
        r.normal_sent,
        r.normal_p50_ms,
        r.normal_p99_ms,
        r.normal_max_ms,
        r.reordered,
        r.garbled,
    );
}

/// (c): `senders` clients each send `messages` lines of `size` octets as
/// fast as they can; all read continuously.
async fn many_senders(
    server: &Path,
    off: &[&str],
    senders: usize,
    messages: u64,
    size: usize,
) -> anyhow::Result<()> {
    let srv = Server::start(server, off).await?;
    let epoch = Instant::now();
    let mut seens = Vec::new();
    let mut writers = Vec::new();
    let mut tasks = Vec::new();
    for i in 0..senders {
        let (lines, w) = join(srv.addr, &format!("s{i}")).await?;
        let seen = Arc::new(Seen::default());
        seens.push(Arc::clone(&seen));
        writers.push(w);
        tasks.push(tokio::spawn(read(
            lines,
            seen,
            Arc::new(Mutex::new(histogram())),
            epoch,
            None,
        )));
    }
    let start = Instant::now();
    let mut sends = Vec::new();
    for (i, mut w) in writers.into_iter().enumerate() {
        sends.push(tokio::spawn(async move {
            let mut block = Vec::new();
            for seq in 1..=messages {
                block.extend_from_slice(marker::payload(2 + i as u32, seq, 0, size).as_bytes());
                block.push(b'\n');
            }
            let _ = w.write_all(&block).await;
            w
        }));
    }
    let mut keep = Vec::new();
    for s in sends {
        if let Ok(w) = s.await {
            keep.push(w);
        }
    }
    let expected = (senders as u64 - 1) * messages;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let done = seens.iter().all(|s| {
            s.cut.load(Ordering::Relaxed)
                || s.from
                    .iter()
                    .map(|c| c.load(Ordering::Relaxed))
                    .sum::<u64>()
                    >= expected
        });
        if done || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = start.elapsed().as_secs_f64();
    let cut = seens
        .iter()
        .filter(|s| s.cut.load(Ordering::Relaxed))
        .count();
    let got: u64 = seens
        .iter()
        .map(|s| {
            s.from
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .sum::<u64>()
        })
        .sum();
    let lost = (expected * senders as u64).saturating_sub(got);
    let reordered: u64 = seens
        .iter()
        .map(|s| s.reordered.load(Ordering::Relaxed))
        .sum();
    println!(
        "(c) {senders} senders x {messages} x {size} B, all reading, rate limit off: cut {cut}/{senders}, delivered {got} of {}, lost {lost}, reordered {reordered}, {took:.2} s ({:.0} deliveries/s)",
        expected * senders as u64,
        got as f64 / took,
    );
    for t in tasks {
        t.abort();
    }
    drop(keep);
    srv.stop().await;
    Ok(())
}

/// (d): a reader stops reading while a flooder runs (rate limit off).
async fn stopped_reader(server: &Path, off: &[&str], seconds: f64) -> anyhow::Result<()> {
    let srv = Server::start(server, off).await?;
    let epoch = Instant::now();
    let (watch_lines, _ww) = join(srv.addr, "watcher").await?;
    let watcher = Arc::new(Seen::default());
    let watch = tokio::spawn(read(
        watch_lines,
        Arc::clone(&watcher),
        Arc::new(Mutex::new(histogram())),
        epoch,
        None,
    ));
    // Registered, then never read again.
    let (stopped_lines, _sw) = join(srv.addr, "stopped").await?;
    let (flines, fw) = join(srv.addr, "flooder").await?;
    let fdrain = drain(flines, epoch);
    let start = Instant::now();
    let until = start + Duration::from_secs_f64(seconds);
    let flood_task = tokio::spawn(flood(fw, FLOODER, 100, until, epoch));
    let mut peak_kib = 0;
    let mut removed_after = None;
    while Instant::now() < until {
        peak_kib = peak_kib.max(process::rss_kib(srv.pid).unwrap_or(0));
        if removed_after.is_none() && watcher.leaves_slow.load(Ordering::Relaxed) > 0 {
            removed_after = Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = flood_task.await;
    match removed_after {
        Some(t) => println!(
            "(d) a reader that stops reading, flooder at full speed: removed as slow after {:.2} s; server peak RSS {:.1} MiB",
            t.as_secs_f64(),
            peak_kib as f64 / 1024.0
        ),
        None => println!(
            "(d) a reader that stops reading: NOT removed within {seconds} s; server peak RSS {:.1} MiB",
            peak_kib as f64 / 1024.0
        ),
    }
    drop(stopped_lines);
    watch.abort();
    fdrain.abort();
    srv.stop().await;
    Ok(())
}

/// Runs every measurement in turn. `legacy`: the server predates
/// `--rate-limit` (and has no limit), so only (a), (c) and (d) run, for a
/// before/after comparison.
pub async fn run(
    server: &Path,
    readers: usize,
    seconds: f64,
    senders: usize,
    legacy: bool,
) -> anyhow::Result<()> {
    println!(
        "flow control, server {} (each run on a fresh server)",
        server.display()
    );
    let off: &[&str] = if legacy {
        &[]
    } else {
        &["--rate-limit", "off"]
    };
    let a = pausing(server, off, readers, true, seconds).await?;
    print_pausing("(a) flooder, rate limit off", &a);
    if legacy {
        many_senders(server, off, senders, 1000, 100).await?;
        return stopped_reader(server, off, 15.0).await;
    }
    let b = pausing(server, &[], readers, true, seconds).await?;
    print_pausing("(b) flooder, rate limit on (defaults)", &b);
    let base = pausing(server, &[], readers, false, seconds).await?;
    print_pausing("(b0) baseline, no flooder", &base);
    println!(
        "(b) normal sender's p99 with the flooder / without: {:.2}x",
        b.normal_p99_ms / base.normal_p99_ms.max(0.001)
    );
    many_senders(server, off, senders, 1000, 100).await?;
    stopped_reader(server, off, 15.0).await
}
