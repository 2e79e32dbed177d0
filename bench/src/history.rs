//! History benchmarks (spec §16): the store's sustained write rate and
//! size on disk (`history-store`, no server: the server's own store code,
//! driven through its sink interface as connection tasks drive it), and
//! how long a joining client waits for its backlog (`replay`, against a
//! running server).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tagarela_parser::{Name, ServerLine, Text};
use tagarela_reader::{LineReader, Received};
use tagarela_server::event::{Event, EventKind, Seq};
use tagarela_server::{Entry, EventSink};
use tagarela_server::{HistoryStore, Retention};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Writes `events` public messages of `size` octets through the history
/// store into a fresh database in `dir`, then reopens it; prints the
/// rates and the size.
pub async fn store(dir: &std::path::Path, events: usize, size: usize) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("bench-{}.sqlite", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let keep_all = Retention {
        messages: usize::MAX,
        age: None,
    };
    let (history, writer, _) = HistoryStore::open(&path, keep_all)?;
    let peer: SocketAddr = "127.0.0.1:1".parse()?;
    let text = Text::new("x".repeat(size)).context("text")?;
    let names: Vec<Name<'static>> = (0..10)
        .map(|i| Name::new(format!("sender{i}")).map(Name::into_owned))
        .collect::<Result<_, _>>()?;
    let now = tagarela_server::event::wall_clock();
    let started = Instant::now();
    let mut seq = 0u64;
    while (seq as usize) < events {
        let batch: Vec<Entry> = (0..1000.min(events - seq as usize))
            .map(|i| {
                seq += 1;
                Entry {
                    event: Arc::new(Event::new(
                        Seq(seq),
                        now,
                        EventKind::Public {
                            from: names[i % names.len()].clone(),
                            text: text.clone(),
                        },
                    )),
                    peer,
                }
            })
            .collect();
        history.record(batch).await;
    }
    drop(history);
    tokio::task::spawn_blocking(move || writer.finish()).await?;
    let write_secs = started.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(&path)?.len();
    // First start with the default retention: prunes to it.
    let started = Instant::now();
    let default_keep = Retention::default();
    let (h, reader, _) = HistoryStore::open(&path, default_keep)?;
    let prune_secs = started.elapsed().as_secs_f64();
    drop(h);
    tokio::task::spawn_blocking(move || reader.finish()).await?;
    // A second start: what a restart costs.
    let started = Instant::now();
    let (h, reader, loaded) = HistoryStore::open(&path, default_keep)?;
    let load_secs = started.elapsed().as_secs_f64();
    drop(h);
    tokio::task::spawn_blocking(move || reader.finish()).await?;
    println!(
        "history store: {events} public messages of {size} octets, one writer thread, WAL, synchronous=FULL"
    );
    println!(
        "  writes/s (sink to synced on disk):  {:.0}",
        events as f64 / write_secs
    );
    println!(
        "  database size:                      {bytes} B ({:.1} MB per million messages)",
        bytes as f64 / events as f64
    );
    println!(
        "  first start at the default retention (deletes {}): {:.1} ms",
        events.saturating_sub(default_keep.messages),
        prune_secs * 1000.0
    );
    println!(
        "  start-up load of the newest {}:   {:.1} ms",
        loaded.messages.len(),
        load_secs * 1000.0
    );
    let _ = std::fs::remove_file(&path);
    Ok(())
}

/// Against a running server started with `--history-replay` at least
/// `count` and the rate limit off: sends `count` messages, then joins
/// `reps` times and times each join from the name line to `HISTEND`.
pub async fn replay(addr: SocketAddr, count: usize, reps: usize) -> anyhow::Result<()> {
    let mut filler = Conn::join(addr, "filler").await?;
    for n in 0..count {
        filler.send(&format!("history line {n}")).await?;
    }
    filler.send("/ping filled").await?;
    filler
        .until(|l| matches!(l, ServerLine::Pong { .. }))
        .await?;
    let mut waits = Vec::with_capacity(reps);
    for rep in 0..reps {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (r, mut w) = stream.into_split();
        let mut lines = LineReader::server_lines(r);
        // The greeting first, so the clock covers only the join.
        next(&mut lines).await?;
        let started = Instant::now();
        w.write_all(format!("late{rep}\n").as_bytes()).await?;
        let mut got = 0usize;
        loop {
            match parse(&mut lines).await? {
                ServerLine::Hist { .. } => got += 1,
                ServerLine::HistEnd { .. } => break,
                ServerLine::Err { .. } | ServerLine::Bye { .. } => bail!("join refused"),
                _ => {}
            }
        }
        waits.push(started.elapsed());
        if got != count {
            bail!("replayed {got} messages, expected {count} (is --history-replay {count} set?)");
        }
        w.write_all(b"/quit\n").await?;
    }
    waits.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "replay of {count} messages to a joining client, {reps} joins: median {:.3} ms, p90 {:.3} ms, max {:.3} ms",
        ms(waits[reps / 2]),
        ms(waits[reps * 9 / 10]),
        ms(waits[reps - 1])
    );
    Ok(())
}

/// A registered connection.
struct Conn {
    lines: LineReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Conn {
    async fn join(addr: SocketAddr, name: &str) -> anyhow::Result<Conn> {
        let (r, w) = TcpStream::connect(addr).await?.into_split();
        let mut conn = Conn {
            lines: LineReader::server_lines(r),
            writer: w,
        };
        conn.send(name).await?;
        conn.until(|l| matches!(l, ServerLine::Welcome { .. }))
            .await?;
        Ok(conn)
    }

    async fn send(&mut self, line: &str) -> anyhow::Result<()> {
        self.writer
            .write_all(format!("{line}\n").as_bytes())
            .await?;
        Ok(())
    }

    async fn until(&mut self, want: impl Fn(&ServerLine<'_>) -> bool) -> anyhow::Result<()> {
        loop {
            let line = parse(&mut self.lines).await?;
            if want(&line) {
                return Ok(());
            }
        }
    }
}

async fn next(lines: &mut LineReader<tokio::net::tcp::OwnedReadHalf>) -> anyhow::Result<Vec<u8>> {
    match tokio::time::timeout(Duration::from_secs(30), lines.next()).await?? {
        Some(Received::Line(line)) => Ok(line.to_vec()),
        Some(Received::TooLong { .. }) => bail!("over-long line"),
        None => bail!("the server closed the connection"),
    }
}

async fn parse(
    lines: &mut LineReader<tokio::net::tcp::OwnedReadHalf>,
) -> anyhow::Result<ServerLine<'static>> {
    let line = next(lines).await?;
    Ok(ServerLine::parse(&line)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .into_owned())
}
