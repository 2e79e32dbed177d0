//! One benchmark client: connects (optionally from a chosen loopback source
//! address), registers a name, and then a reader task decodes every server
//! line with the project's parser and records deliveries of benchmark
//! payloads: count, latency, order, damage.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use tagarela_parser::ServerLine;
use tagarela_reader::{LineReader, Received};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpSocket;
/// The reading half of a benchmark connection, plain or TLS.
pub type Reader = Box<dyn tokio::io::AsyncRead + Send + Unpin>;
/// The writing half of a benchmark connection, plain or TLS.
pub type Writer = Box<dyn tokio::io::AsyncWrite + Send + Unpin>;
use tokio::sync::Notify;

use tagarela_server::ws_connect;

use crate::marker;

/// Counters shared by every reader.
#[derive(Debug)]
pub struct Totals {
    pub epoch: Instant,
    pub delivered: AtomicU64,
    pub garbled: AtomicU64,
    pub out_of_order: AtomicU64,
    pub other_lines: AtomicU64,
    pub disconnects: AtomicU64,
    /// Nanoseconds since `epoch` of the last delivery.
    pub last_delivery_ns: AtomicU64,
    /// Readers that have seen their barrier PONG.
    pub ready: AtomicUsize,
    /// A rooms client's own joins seen (spec §19.3: its own `JOIN` in each
    /// room it enters, the default one included): in a cluster the only
    /// sign that Redis has ordered the join (§19.7).
    pub own_joins: AtomicUsize,
    pub ready_changed: Notify,
}

impl Totals {
    pub fn new() -> Arc<Totals> {
        Arc::new(Totals {
            epoch: Instant::now(),
            delivered: AtomicU64::new(0),
            garbled: AtomicU64::new(0),
            out_of_order: AtomicU64::new(0),
            other_lines: AtomicU64::new(0),
            disconnects: AtomicU64::new(0),
            last_delivery_ns: AtomicU64::new(0),
            ready: AtomicUsize::new(0),
            own_joins: AtomicUsize::new(0),
            ready_changed: Notify::new(),
        })
    }

    /// Nanoseconds since the epoch.
    pub fn now_ns(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// Latencies one reader measured, in microseconds.
pub type Latencies = Arc<Mutex<Histogram<u64>>>;

/// A new latency histogram (1 µs to 1 h, 3 significant digits).
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3)
        .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!()))
}

/// A registered client's write half and its reader's latencies.
pub struct Client {
    /// Taken by a sender task while it sends.
    pub writer: Option<Writer>,
    pub latencies: Latencies,
    /// Ends when the server closes the connection.
    pub reader: tokio::task::JoinHandle<()>,
}

/// Which messages a reader counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counts {
    /// Public `MSG` lines.
    Public,
    /// `PRIV` lines addressed to this client (not the sender's echo).
    PrivateTo,
    /// A rooms client's public messages: `MSG` inside `IN #room SEQ`
    /// (spec §19.3); the client asks for rooms before its name.
    InRooms,
}

/// How a client reaches the server.
#[derive(Clone)]
pub enum Via {
    /// Plain TCP (spec §2).
    Tcp,
    /// TLS (spec §15), trusting what the connector trusts.
    Tls(tokio_rustls::TlsConnector),
    /// The web door's WebSocket (spec §21): one line per text message.
    WebSocket,
}

/// Connects, registers `name`, and starts the reader. `src` binds the
/// socket to a loopback source address first.
pub async fn connect(
    addr: SocketAddr,
    src: Option<IpAddr>,
    name: &str,
    counts: Counts,
    light: bool,
    totals: Arc<Totals>,
    via: &Via,
) -> anyhow::Result<Client> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(ip) = src {
        socket
            .bind(SocketAddr::new(ip, 0))
            .with_context(|| format!("bind {ip}"))?;
    }
    let stream = tokio::time::timeout(Duration::from_secs(10), socket.connect(addr))
        .await
        .context("connect timed out")??;
    stream.set_nodelay(true)?;
    let (reader, mut writer): (Reader, Writer) = match via {
        Via::Tcp => {
            let (r, w) = stream.into_split();
            (Box::new(r), Box::new(w))
        }
        Via::Tls(connector) => {
            let server = rustls_pki_types::ServerName::try_from("localhost")?;
            let tls = connector.connect(server, stream).await?;
            let (r, w) = tokio::io::split(tls);
            (Box::new(r), Box::new(w))
        }
        Via::WebSocket => {
            // No Origin: a program, not a browser's page (§21.1).
            let lines = ws_connect(
                stream,
                &addr.to_string(),
                tagarela_parser::limits::FLOOD_CAP,
            )
            .await
            .context("WebSocket handshake")?;
            let (r, w) = tokio::io::split(lines);
            (Box::new(r), Box::new(w))
        }
    };
    let features = if counts == Counts::InRooms {
        "/features rooms\n"
    } else {
        ""
    };
    writer
        .write_all(format!("{features}{name}\n").as_bytes())
        .await?;
    writer.flush().await?;
    let mut lines = LineReader::server_lines(reader);
    // Read up to WELCOME; anything after it stays in the reader.
    let welcomed = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match lines.next().await? {
                None => bail!("{name}: connection closed during registration"),
                Some(Received::TooLong { .. }) => bail!("{name}: over-long line from the server"),
                Some(Received::Line(line)) => match ServerLine::parse(line) {
                    Ok(ServerLine::Welcome { .. }) => return Ok(()),
                    Ok(ServerLine::Err { .. } | ServerLine::Bye { .. }) => {
                        bail!("{name} refused: {}", String::from_utf8_lossy(line))
                    }
                    _ => {}
                },
            }
        }
    })
    .await
    .context("registration timed out")?;
    welcomed?;
    let latencies: Latencies = Arc::new(Mutex::new(histogram()));
    let me = name.to_owned();
    let light = light && counts != Counts::PrivateTo;
    let reader = tokio::spawn(read_loop(
        lines,
        counts,
        light,
        me,
        totals,
        Arc::clone(&latencies),
    ));
    Ok(Client {
        writer: Some(writer),
        latencies,
        reader,
    })
}

async fn read_loop(
    mut lines: LineReader<Reader>,
    counts: Counts,
    light: bool,
    me: String,
    totals: Arc<Totals>,
    latencies: Latencies,
) {
    let mut last_seq: Vec<Option<u64>> = Vec::new();
    loop {
        let line = match lines.next().await {
            Ok(Some(Received::Line(line))) => line,
            Ok(Some(Received::TooLong { .. })) => {
                totals.garbled.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            Ok(None) | Err(_) => {
                totals.disconnects.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        let now = totals.now_ns();
        if light {
            // The marker's place, found without decoding the line.
            match memchr::memmem::find(line, b" :B ") {
                Some(at) => {
                    let text = std::str::from_utf8(&line[at + 2..]).unwrap_or("");
                    count_marker(text, &totals, &latencies, &mut last_seq, now);
                }
                None if line == b"PONG ready" => {
                    totals.ready.fetch_add(1, Ordering::Relaxed);
                    totals.ready_changed.notify_waiters();
                }
                None if is_own_join(line, &me) => {
                    totals.own_joins.fetch_add(1, Ordering::Relaxed);
                    totals.ready_changed.notify_waiters();
                }
                None => {
                    totals.other_lines.fetch_add(1, Ordering::Relaxed);
                }
            }
            continue;
        }
        let text = match (ServerLine::parse(line), counts) {
            (Ok(ServerLine::Msg { text, .. }), Counts::Public) => Some(text),
            (Ok(ServerLine::In { line, .. }), Counts::InRooms) => match *line {
                ServerLine::Seq { event, .. } => match *event {
                    ServerLine::Msg { text, .. } => Some(text),
                    ServerLine::Join { name, .. } if name.as_str() == me => {
                        totals.own_joins.fetch_add(1, Ordering::Relaxed);
                        totals.ready_changed.notify_waiters();
                        None
                    }
                    _ => {
                        totals.other_lines.fetch_add(1, Ordering::Relaxed);
                        None
                    }
                },
                _ => {
                    totals.other_lines.fetch_add(1, Ordering::Relaxed);
                    None
                }
            },
            // Count what reached us, not the server's echo of what we sent.
            (Ok(ServerLine::Priv { text, from, to, .. }), Counts::PrivateTo)
                if to.as_str() == me && from.as_str() != me =>
            {
                Some(text)
            }
            (Ok(ServerLine::Pong { token: Some(t) }), _) if t.as_str() == "ready" => {
                totals.ready.fetch_add(1, Ordering::Relaxed);
                totals.ready_changed.notify_waiters();
                None
            }
            (Ok(_), _) => {
                totals.other_lines.fetch_add(1, Ordering::Relaxed);
                None
            }
            (Err(_), _) => {
                totals.garbled.fetch_add(1, Ordering::Relaxed);
                None
            }
        };
        let Some(text) = text else { continue };
        count_marker(text.as_str(), &totals, &latencies, &mut last_seq, now);
    }
}

/// Whether `line` is this client's own join of a room (`IN #room SEQ n
/// JOIN ts me`), found without decoding it.
fn is_own_join(line: &[u8], me: &str) -> bool {
    line.starts_with(b"IN #")
        && line.ends_with(me.as_bytes())
        && line.len() > me.len()
        && line[line.len() - me.len() - 1] == b' '
        && memchr::memmem::find(line, b" JOIN ").is_some()
}

/// Counts one delivery of the message `text` carries, received at `now`:
/// its order per sender and its latency; garbled if it carries none.
fn count_marker(
    text: &str,
    totals: &Totals,
    latencies: &Latencies,
    last_seq: &mut Vec<Option<u64>>,
    now: u64,
) {
    match marker::parse(text) {
        Some(m) => {
            let i = m.sender as usize;
            if last_seq.len() <= i {
                last_seq.resize(i + 1, None);
            }
            if last_seq[i].is_some_and(|s| m.seq <= s) {
                totals.out_of_order.fetch_add(1, Ordering::Relaxed);
            }
            last_seq[i] = Some(m.seq);
            let _ = latencies
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .record((now.saturating_sub(m.t_ns) / 1000).max(1));
            totals.delivered.fetch_add(1, Ordering::Relaxed);
            totals.last_delivery_ns.fetch_max(now, Ordering::Relaxed);
        }
        None => {
            totals.garbled.fetch_add(1, Ordering::Relaxed);
        }
    }
}
