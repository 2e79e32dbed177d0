//! What an operator can measure (issue 13): counters and gauges kept with
//! `prometheus-client` (atomics, so the hot paths pay one relaxed add per
//! read, write or event, never per recipient), and the endpoint that
//! serves them in the Prometheus text format on its own address
//! (`--metrics-listen`, off by default). The endpoint answers `GET
//! /metrics` and nothing else; it never touches chat connections.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One label, as `prometheus-client` encodes it.
pub type Label = [(&'static str, &'static str); 1];

/// Two labels: a connection's `transport` and `protocol` (§20).
pub type Labels = [(&'static str, &'static str); 2];

/// Every figure the server keeps.
#[derive(Debug)]
pub struct Metrics {
    /// Everything below, for encoding.
    registry: Registry,
    /// Connections accepted, by transport (`tcp`, `tls`).
    pub connections: Family<Labels, Counter>,
    /// Connections open now, by transport and protocol.
    pub open: Family<Labels, Gauge>,
    /// Clients registered now.
    pub registered: Gauge,
    /// Lines received (complete lines handled).
    pub lines_in: Counter,
    /// Octets received.
    pub bytes_in: Counter,
    /// Octets written to clients.
    pub bytes_out: Counter,
    /// Events accepted, by kind (`public`, `private`, `join`, `leave`).
    pub events: Family<Label, Counter>,
    /// Event copies queued for recipients.
    pub deliveries: Counter,
    /// Times the rate limit held a client's lines back.
    pub rate_limited: Counter,
    /// Connections ended, by reason (`quit`, `lost`, `timeout`, `slow`,
    /// `flood`, `shutdown`, `wrong-protocol`).
    pub removals: Family<Label, Counter>,
    /// TLS handshakes that failed or timed out.
    pub tls_handshake_failures: Counter,
    /// Connections from a listed load balancer closed without a usable
    /// PROXY header.
    pub proxy_header_failures: Counter,
    /// A cluster node's event records not kept because its stores were
    /// too far behind (spec §17.4).
    pub records_lost: Counter,
    /// Records the audit log could not write.
    pub audit_errors: Counter,
    /// 1 while this node is in its cluster (§17), else 0 (also 0 when
    /// there is no cluster).
    pub cluster_up: Gauge,
    /// Times this node entered its cluster (a second entry follows a cut).
    pub cluster_entries: Counter,
    /// Times this node lost its cluster and closed its clients.
    pub cluster_cutoffs: Counter,
    /// Commands sent to Redis (function calls from the publisher).
    pub cluster_calls: Counter,
    /// This node's id and Redis address, as labels of a constant 1.
    pub cluster_info: Family<Vec<(String, String)>, Gauge>,
    /// Resident memory of the process, octets (read at scrape time).
    resident: Gauge,
    /// CPU time of the process, seconds (read at scrape time).
    cpu_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// Open file descriptors (read at scrape time).
    open_fds: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new(Counter::default())
    }
}

impl Metrics {
    /// All figures at zero, registered under the `tagarela_` prefix;
    /// `audit_errors` is the audit log's own counter.
    pub fn new(audit_errors: Counter) -> Metrics {
        let mut registry = Registry::with_prefix("tagarela");
        let connections = Family::<Labels, Counter>::default();
        let open = Family::<Labels, Gauge>::default();
        let registered = Gauge::default();
        let lines_in = Counter::default();
        let bytes_in = Counter::default();
        let bytes_out = Counter::default();
        let events = Family::<Label, Counter>::default();
        let deliveries = Counter::default();
        let rate_limited = Counter::default();
        let removals = Family::<Label, Counter>::default();
        let tls_handshake_failures = Counter::default();
        let proxy_header_failures = Counter::default();
        let records_lost = Counter::default();
        let resident = Gauge::default();
        let cpu_seconds = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        let open_fds = Gauge::default();
        let cluster_up = Gauge::default();
        let cluster_entries = Counter::default();
        let cluster_cutoffs = Counter::default();
        let cluster_calls = Counter::default();
        let cluster_info = Family::<Vec<(String, String)>, Gauge>::default();
        registry.register(
            "cluster_up",
            "1 while this node is in its cluster",
            cluster_up.clone(),
        );
        registry.register(
            "cluster_entries",
            "Times this node entered its cluster",
            cluster_entries.clone(),
        );
        registry.register(
            "cluster_cutoffs",
            "Times this node lost its cluster and closed its clients",
            cluster_cutoffs.clone(),
        );
        registry.register(
            "cluster_calls",
            "Commands sent to Redis",
            cluster_calls.clone(),
        );
        registry.register(
            "cluster_node",
            "This node's id and Redis address (value 1)",
            cluster_info.clone(),
        );
        registry.register(
            "connections",
            "Connections accepted, by transport",
            connections.clone(),
        );
        registry.register(
            "connections_open",
            "Connections open now, by transport and protocol",
            open.clone(),
        );
        registry.register(
            "registered_clients",
            "Clients registered now",
            registered.clone(),
        );
        registry.register("lines_received", "Lines received", lines_in.clone());
        registry.register("received_bytes", "Octets received", bytes_in.clone());
        registry.register("sent_bytes", "Octets sent", bytes_out.clone());
        registry.register("events", "Events accepted, by kind", events.clone());
        registry.register(
            "deliveries",
            "Event copies queued for recipients",
            deliveries.clone(),
        );
        registry.register(
            "rate_limit_holds",
            "Times the rate limit held a client's lines back",
            rate_limited.clone(),
        );
        registry.register("removals", "Connections ended, by reason", removals.clone());
        registry.register(
            "tls_handshake_failures",
            "TLS handshakes that failed or timed out",
            tls_handshake_failures.clone(),
        );
        registry.register(
            "proxy_header_failures",
            "Connections from a listed load balancer closed without a PROXY header",
            proxy_header_failures.clone(),
        );
        registry.register(
            "records_lost",
            "Event records not kept because the stores were too far behind",
            records_lost.clone(),
        );
        registry.register(
            "audit_errors",
            "Audit records that could not be written",
            audit_errors.clone(),
        );
        registry.register(
            "process_resident_memory_bytes",
            "Resident memory of the server process",
            resident.clone(),
        );
        registry.register(
            "process_cpu_seconds",
            "CPU time of the server process (user and system)",
            cpu_seconds.clone(),
        );
        registry.register(
            "process_open_fds",
            "Open file descriptors of the server process",
            open_fds.clone(),
        );
        Metrics {
            registry,
            connections,
            open,
            registered,
            lines_in,
            bytes_in,
            bytes_out,
            events,
            deliveries,
            rate_limited,
            removals,
            tls_handshake_failures,
            proxy_header_failures,
            records_lost,
            audit_errors,
            cluster_up,
            cluster_entries,
            cluster_cutoffs,
            cluster_calls,
            cluster_info,
            resident,
            cpu_seconds,
            open_fds,
        }
    }

    /// Everything, in the text exposition format (process figures read
    /// now).
    pub fn render(&self) -> String {
        self.read_process();
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    /// Reads the process's own figures from `/proc/self` (Linux; left at
    /// zero elsewhere).
    fn read_process(&self) {
        if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
            let kib = status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<i64>().ok());
            if let Some(kib) = kib {
                self.resident.set(kib * 1024);
            }
        }
        if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
            let fields: Vec<&str> = stat
                .rsplit_once(')')
                .map(|(_, rest)| rest.split_whitespace().collect())
                .unwrap_or_default();
            let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
            if let (Some(user), Some(system)) = (ticks(11), ticks(12)) {
                // USER_HZ is 100 on every mainstream Linux.
                self.cpu_seconds.set((user + system) / 100.0);
            }
        }
        if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
            self.open_fds
                .set(i64::try_from(fds.count()).unwrap_or(i64::MAX));
        }
    }
}

/// How long a scraper has to send its request.
const REQUEST_WAIT: Duration = Duration::from_secs(5);
/// The most of a request that is read.
const REQUEST_MAX: usize = 8192;

/// Scrapes answered at once; more connections are closed unanswered, so
/// the endpoint can never take the file descriptors the chat needs.
const SCRAPES_AT_ONCE: usize = 4;

/// Serves `GET /metrics` on `listener` until the task is dropped. One
/// request per connection (HTTP/1.0 style: the response ends at close).
/// Whether the server can take clients now, for `GET /ready`.
pub type Readiness = Arc<dyn Fn() -> bool + Send + Sync>;

pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>, ready: Readiness) {
    let slots = Arc::new(tokio::sync::Semaphore::new(SCRAPES_AT_ONCE));
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let metrics = Arc::clone(&metrics);
        let ready = Arc::clone(&ready);
        tokio::spawn(async move {
            let _slot = slot;
            if tokio::time::timeout(REQUEST_WAIT, answer(stream, &metrics, &ready))
                .await
                .is_err()
            {
                tracing::debug!(%peer, "metrics request timed out");
            }
        });
    }
}

async fn answer(mut stream: TcpStream, metrics: &Metrics, ready: &Readiness) {
    let mut request = Vec::new();
    let mut chunk = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && !request.windows(2).any(|w| w == b"\n\n")
    {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => request.extend_from_slice(&chunk[..n]),
        }
        if request.len() > REQUEST_MAX {
            break;
        }
    }
    let asks = |path: &[u8]| {
        let rest = request
            .strip_prefix(b"GET ")
            .and_then(|r| r.strip_prefix(path));
        rest.is_some_and(|r| r.starts_with(b" ") || r.starts_with(b"?"))
    };
    let plain = "text/plain; charset=utf-8";
    let (status, kind, body) = if asks(b"/metrics") {
        let kind = "application/openmetrics-text; version=1.0.0; charset=utf-8";
        ("200 OK", kind, metrics.render())
    } else if asks(b"/ready") {
        // For a balancer's health check: 503 while this node is out of
        // its cluster (it answers every client `BYE unavailable`).
        if ready() {
            ("200 OK", plain, "ready\n".to_owned())
        } else {
            let body = "unavailable: not in the cluster\n".to_owned();
            ("503 Service Unavailable", plain, body)
        }
    } else {
        let body = "Only GET /metrics and GET /ready are served here.\n".to_owned();
        ("404 Not Found", plain, body)
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}
