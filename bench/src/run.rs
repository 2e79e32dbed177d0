//! Steps every scenario shares: connecting many clients (spread over
//! loopback source addresses), the ping barrier that proves setup traffic
//! has drained, sending numbered payloads (as fast as possible or on a
//! schedule), and waiting for deliveries with a stall guard and a hard cap.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context as _;
use anyhow::bail;
use tokio::io::AsyncWriteExt;

use crate::client::Writer;
use tokio::time::Instant;

use crate::client::{self, Client, Counts, Totals};
use crate::marker;

/// Options every scenario has.
#[derive(Debug, Clone, clap::Args)]
pub struct Common {
    /// Server address (loopback only: 127.0.0.0/8 or ::1).
    #[arg(long, default_value = "127.0.0.1:7878")]
    pub addr: SocketAddr,
    /// More servers of the same cluster (spec §17), repeatable: client i
    /// connects to the (i mod K)-th of `--addr` and these, so clients
    /// (and senders) are split evenly between the nodes.
    #[arg(long)]
    pub also_addr: Vec<SocketAddr>,
    /// The first N clients (the senders, in `fanout`) connect to `--addr`
    /// and all the others to the `--also-addr` servers, and latency is
    /// measured at those others only: every delivery measured crossed
    /// from one node to another.
    #[arg(long, requires = "also_addr")]
    pub apart: Option<usize>,
    /// Server PID, to report its RSS and CPU time from /proc.
    #[arg(long)]
    pub pid: Option<u32>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Spread clients over 127.0.0.2 .. 127.0.0.(K+1) (past ~28k clients
    /// one source address runs out of ephemeral ports).
    #[arg(long, default_value_t = 0)]
    pub src_ips: u8,
    /// Name prefix; client i is PREFIX + i.
    #[arg(long, default_value = "b")]
    pub prefix: String,
    /// Give up when no delivery arrives for this many seconds.
    #[arg(long, default_value_t = 5.0)]
    pub stall_secs: f64,
    /// Hard cap on the whole run, in seconds.
    #[arg(long, default_value_t = 300.0)]
    pub max_secs: f64,
    /// Readers find each message's marker without decoding the line
    /// (public messages only): a cheaper instrument, to tell how much of
    /// a figure is the load generator's own parsing on a small machine.
    #[arg(long)]
    pub light_reader: bool,
    /// Connections opened at once during setup.
    #[arg(long, default_value_t = 64)]
    pub connect_batch: usize,
    /// Connect over TLS, trusting only this certificate (PEM; for the
    /// server's self-signed one, `tls-cert.pem` in its state directory).
    /// The name checked is `localhost`.
    #[arg(long)]
    pub tls_cert: Option<std::path::PathBuf>,
    /// Connect to the web door's WebSocket (`ws://ADDR/ws`, spec §21)
    /// rather than the TCP port: ADDR is then the `--web-port`.
    #[arg(long, conflicts_with = "tls_cert")]
    pub websocket: bool,
}

impl Common {
    /// How the clients reach the server: plain TCP, TLS (`--tls-cert`)
    /// or WebSocket (`--websocket`).
    pub fn via(&self) -> anyhow::Result<crate::client::Via> {
        use crate::client::Via;
        if self.websocket {
            return Ok(Via::WebSocket);
        }
        Ok(self.tls()?.map_or(Via::Tcp, Via::Tls))
    }

    /// The TLS connector `--tls-cert` asks for, if any.
    fn tls(&self) -> anyhow::Result<Option<tokio_rustls::TlsConnector>> {
        let Some(path) = &self.tls_cert else {
            return Ok(None);
        };
        use rustls_pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pki_types::CertificateDer::pem_file_iter(path)
            .with_context(|| format!("cannot read {}", path.display()))?
        {
            roots.add(cert.with_context(|| format!("bad certificate in {}", path.display()))?)?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Some(tokio_rustls::TlsConnector::from(Arc::new(config))))
    }

    /// Refuses anything but loopback targets.
    pub fn check(&self) -> anyhow::Result<()> {
        for addr in std::iter::once(&self.addr).chain(&self.also_addr) {
            if !addr.ip().is_loopback() {
                bail!("{addr} is not a loopback address: this tool only loads local servers");
            }
        }
        Ok(())
    }

    /// The server client `i` connects to.
    pub fn target(&self, i: usize) -> SocketAddr {
        match self.apart {
            Some(n) if i < n => self.addr,
            Some(n) => self.also_addr[(i - n) % self.also_addr.len()],
            None => match i % (1 + self.also_addr.len()) {
                0 => self.addr,
                k => self.also_addr[k - 1],
            },
        }
    }

    /// Whether client `i`'s latencies are reported (with `--apart`, only
    /// those of clients on the other nodes).
    pub fn measured(&self, i: usize) -> bool {
        self.apart.is_none_or(|n| i >= n)
    }

    /// The source address for client `i`, if spreading is on.
    pub fn source(&self, i: usize) -> Option<IpAddr> {
        (self.src_ips > 0).then(|| {
            IpAddr::V4(Ipv4Addr::new(
                127,
                0,
                0,
                2 + (i % usize::from(self.src_ips)) as u8,
            ))
        })
    }
}

/// Connects and registers `n` clients, `batch` at a time.
pub async fn connect_all(
    common: &Common,
    n: usize,
    counts: Counts,
    totals: &Arc<Totals>,
) -> anyhow::Result<Vec<Client>> {
    let mut clients = Vec::with_capacity(n);
    let via = common.via()?;
    let started = std::time::Instant::now();
    let mut last_report = started;
    while clients.len() < n {
        let first = clients.len();
        let last = (first + common.connect_batch.max(1)).min(n);
        let batch: Vec<_> = (first..last)
            .map(|i| {
                let name = format!("{}{i}", common.prefix);
                let totals = Arc::clone(totals);
                let (addr, src, via) = (common.target(i), common.source(i), via.clone());
                let light = common.light_reader;
                tokio::spawn(async move {
                    client::connect(addr, src, &name, counts, light, totals, &via).await
                })
            })
            .collect();
        for task in batch {
            clients.push(task.await??);
        }
        if last_report.elapsed() >= Duration::from_secs(1) {
            eprintln!("connected {}/{n}", clients.len());
            last_report = std::time::Instant::now();
        }
    }
    Ok(clients)
}

/// Each client sends what `setup` gives it, if anything (its joins, say).
pub async fn setup(
    clients: &mut [Client],
    setup: impl Fn(usize) -> Option<String>,
) -> anyhow::Result<()> {
    for (i, c) in clients.iter_mut().enumerate() {
        if let (Some(w), Some(lines)) = (c.writer.as_mut(), setup(i)) {
            w.write_all(lines.as_bytes()).await?;
            w.flush().await?;
        }
    }
    Ok(())
}

/// Returns once the clients' readers have seen `want` of their own joins
/// (see [`Totals::own_joins`]).
pub async fn await_own_joins(totals: &Totals, want: usize, max: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + max;
    while totals.own_joins.load(Ordering::Relaxed) < want {
        let waiting = totals.ready_changed.notified();
        if totals.own_joins.load(Ordering::Relaxed) >= want {
            break;
        }
        if tokio::time::timeout_at(deadline, waiting).await.is_err() {
            bail!("the joins were not all seen within {max:?}");
        }
    }
    Ok(())
}

/// Every client pings; returns once every reader has seen its PONG, so all
/// setup traffic (JOIN lines) sent before has been read.
pub async fn barrier(clients: &mut [Client], totals: &Totals, max: Duration) -> anyhow::Result<()> {
    let start = totals.ready.load(Ordering::Relaxed);
    for c in clients.iter_mut() {
        if let Some(w) = c.writer.as_mut() {
            w.write_all(b"/ping ready\n").await?;
            w.flush().await?;
        }
    }
    let deadline = Instant::now() + max;
    while totals.ready.load(Ordering::Relaxed) < start + clients.len() {
        let waiting = totals.ready_changed.notified();
        if tokio::time::timeout_at(deadline, waiting).await.is_err() {
            bail!("setup did not settle within {max:?}");
        }
    }
    Ok(())
}

/// Sends `count` payloads from sender `id`, each prefixed by `prefix` (e.g.
/// "@bob " for private messages). With a rate, message k is due at
/// `start + phase + k / rate` and carries its due time, so a stalled sender
/// shows up as latency; without, lines go out in batches as fast as the
/// socket takes them.
pub async fn send(
    writer: &mut Writer,
    id: u32,
    count: u64,
    size: usize,
    prefix: &str,
    rate: Option<(f64, Duration)>,
    totals: &Totals,
) -> anyhow::Result<()> {
    const BATCH: u64 = 32;
    let start = Instant::now();
    let mut seq = 0;
    let mut out = String::new();
    while seq < count {
        out.clear();
        match rate {
            Some((per_sec, phase)) => {
                let due = start + phase + Duration::from_secs_f64(seq as f64 / per_sec);
                tokio::time::sleep_until(due).await;
                let due_ns = u64::try_from((due.into_std() - totals.epoch).as_nanos()).unwrap_or(0);
                out.push_str(prefix);
                out.push_str(&marker::payload(id, seq, due_ns, size));
                out.push('\n');
                seq += 1;
            }
            None => {
                let t = totals.now_ns();
                for _ in 0..BATCH.min(count - seq) {
                    out.push_str(prefix);
                    out.push_str(&marker::payload(id, seq, t, size));
                    out.push('\n');
                    seq += 1;
                }
            }
        }
        writer.write_all(out.as_bytes()).await?;
        // TLS holds what it encrypted until flushed.
        writer.flush().await?;
    }
    Ok(())
}

/// Waits until `expected` deliveries, a stall, or the cap; says which.
pub async fn wait_for(
    totals: &Totals,
    expected: u64,
    common: &Common,
    started: Instant,
) -> &'static str {
    let mut last = totals.delivered.load(Ordering::Relaxed);
    let mut last_change = Instant::now();
    let mut last_report = Instant::now();
    loop {
        let now_count = totals.delivered.load(Ordering::Relaxed);
        if now_count >= expected {
            return "complete";
        }
        if now_count != last {
            last = now_count;
            last_change = Instant::now();
        }
        if last_change.elapsed().as_secs_f64() > common.stall_secs {
            return "stalled";
        }
        if started.elapsed().as_secs_f64() > common.max_secs {
            return "timeout";
        }
        if last_report.elapsed() >= Duration::from_secs(1) {
            eprintln!("delivered {now_count}/{expected}");
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
