//! The result of a run: one serialisable record, printed as a human table
//! or as JSON (`--json`). Formatting only.

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latency percentiles in microseconds.
#[derive(Debug, Default, Clone, Serialize)]
pub struct LatencyUs {
    pub p50: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub mean: f64,
    pub samples: u64,
}

impl LatencyUs {
    pub fn of(h: &Histogram<u64>) -> LatencyUs {
        LatencyUs {
            p50: h.value_at_quantile(0.50),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            mean: h.mean(),
            samples: h.len(),
        }
    }
}

/// Everything a run measured. Fields that do not apply are `None`.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Report {
    pub scenario: String,
    pub outcome: String,
    pub clients: usize,
    pub senders: usize,
    pub messages_per_sender: u64,
    pub size: usize,
    pub rate_per_sender: Option<f64>,
    pub expected: u64,
    pub delivered: u64,
    pub lost: u64,
    pub garbled: u64,
    pub out_of_order: u64,
    pub disconnects: u64,
    pub seconds: f64,
    pub deliveries_per_sec: Option<f64>,
    pub latency_us: Option<LatencyUs>,
    pub cycles_per_sec: Option<f64>,
    pub server_rss_before_kib: Option<u64>,
    pub server_rss_after_kib: Option<u64>,
    pub server_rss_per_client_bytes: Option<f64>,
    pub server_cpu_seconds: Option<f64>,
}

/// The human table.
pub fn table(r: &Report) -> String {
    let mut rows: Vec<(&str, String)> = vec![
        ("scenario", r.scenario.clone()),
        ("outcome", r.outcome.clone()),
        ("clients", r.clients.to_string()),
    ];
    if r.senders > 0 {
        rows.push((
            "senders x messages",
            format!("{} x {} of {} B", r.senders, r.messages_per_sender, r.size),
        ));
    }
    if let Some(rate) = r.rate_per_sender {
        rows.push(("rate per sender", format!("{rate} msg/s")));
    }
    if r.expected > 0 {
        rows.push((
            "delivered / expected",
            format!("{} / {}", r.delivered, r.expected),
        ));
        rows.push((
            "lost, garbled, out of order",
            format!("{}, {}, {}", r.lost, r.garbled, r.out_of_order),
        ));
    }
    rows.push(("disconnects", r.disconnects.to_string()));
    rows.push(("seconds", format!("{:.3}", r.seconds)));
    if let Some(d) = r.deliveries_per_sec {
        rows.push(("deliveries/s", format!("{d:.0}")));
    }
    if let Some(c) = r.cycles_per_sec {
        rows.push(("connect-register-quit cycles/s", format!("{c:.0}")));
    }
    if let Some(l) = &r.latency_us {
        rows.push((
            "latency p50 / p99 / p99.9 / max",
            format!("{} / {} / {} / {} us", l.p50, l.p99, l.p999, l.max),
        ));
    }
    if let (Some(b), Some(a)) = (r.server_rss_before_kib, r.server_rss_after_kib) {
        rows.push(("server RSS before / after", format!("{b} / {a} KiB")));
    }
    if let Some(p) = r.server_rss_per_client_bytes {
        rows.push(("server RSS per client", format!("{p:.0} B")));
    }
    if let Some(c) = r.server_cpu_seconds {
        rows.push(("server CPU", format!("{c:.2} s")));
    }
    aligned(&rows)
}

/// Rows of `label  value`, the values lined up in one column.
pub fn aligned(rows: &[(&str, String)]) -> String {
    let w = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    rows.iter()
        .map(|(k, v)| format!("{k:<w$}  {v}\n"))
        .collect()
}
