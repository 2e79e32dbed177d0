//! The durable audit log: every join, leave and message with its server
//! timestamp, appended as JSON Lines to one file. JSON Lines needs no setup,
//! survives restarts (append mode), and is read by `jq`, log shippers and
//! spreadsheets alike. A dedicated thread owns the file; connection tasks
//! hand it records through a bounded channel and wait if the disk falls
//! behind, so no record is ever dropped. Never touches sockets.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::mpsc;

/// Records waiting for the writer thread at most.
const CHANNEL_BOUND: usize = 8192;
/// How often written records are forced to stable storage.
const SYNC_EVERY: Duration = Duration::from_secs(1);

/// One audited event.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    /// Server timestamp, as on the wire (§1.3).
    pub ts: String,
    #[serde(flatten)]
    pub event: Event,
}

/// What happened.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum Event {
    Join {
        name: String,
        peer: String,
    },
    Leave {
        name: String,
        reason: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        text: Option<String>,
    },
    Msg {
        from: String,
        text: String,
    },
    Priv {
        from: String,
        to: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        text: Option<String>,
    },
}

/// Handle used by connection tasks; cheap to clone. `None` inside when
/// auditing is off.
#[derive(Debug, Clone, Default)]
pub struct AuditLog {
    tx: Option<mpsc::Sender<Record>>,
}

/// Owns the writer thread; dropping every [`AuditLog`] and then calling
/// [`AuditWriter::finish`] flushes and syncs the file.
#[derive(Debug)]
pub struct AuditWriter {
    thread: JoinHandle<()>,
}

impl AuditLog {
    /// Auditing off.
    pub fn disabled() -> Self {
        AuditLog { tx: None }
    }

    /// Opens (creating or appending) `path` and starts the writer thread.
    pub fn open(path: &Path) -> std::io::Result<(AuditLog, AuditWriter)> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let (tx, rx) = mpsc::channel(CHANNEL_BOUND);
        let thread = std::thread::Builder::new()
            .name("audit-log".into())
            .spawn(move || write_loop(file, rx))?;
        Ok((AuditLog { tx: Some(tx) }, AuditWriter { thread }))
    }

    /// Appends records in order, waiting while the writer is behind.
    pub async fn record_all(&self, records: Vec<Record>) {
        let Some(tx) = &self.tx else { return };
        for record in records {
            if tx.send(record).await.is_err() {
                tracing::error!("audit log writer has stopped; record lost");
            }
        }
    }

    /// True when records are being kept.
    pub fn is_enabled(&self) -> bool {
        self.tx.is_some()
    }
}

impl AuditWriter {
    /// Waits for the writer to drain, flush and sync. Call after every
    /// [`AuditLog`] clone is dropped.
    pub fn finish(self) {
        if self.thread.join().is_err() {
            tracing::error!("audit log writer panicked");
        }
    }
}

fn write_loop(file: File, mut rx: mpsc::Receiver<Record>) {
    let mut out = BufWriter::new(file);
    let mut last_sync = Instant::now();
    let mut dirty = false;
    while let Some(first) = rx.blocking_recv() {
        let mut next = Some(first);
        // Write everything already waiting, then flush once.
        while let Some(record) = next.take() {
            if let Err(e) = serde_json::to_writer(&mut out, &record)
                .map_err(std::io::Error::from)
                .and_then(|()| out.write_all(b"\n"))
            {
                tracing::error!(error = %e, "audit log write failed");
            }
            next = rx.try_recv().ok();
        }
        if let Err(e) = out.flush() {
            tracing::error!(error = %e, "audit log flush failed");
        }
        dirty = true;
        if last_sync.elapsed() >= SYNC_EVERY {
            sync(&out);
            last_sync = Instant::now();
            dirty = false;
        }
    }
    if let Err(e) = out.flush() {
        tracing::error!(error = %e, "audit log flush failed");
    }
    if dirty {
        sync(&out);
    }
}

fn sync(out: &BufWriter<File>) {
    if let Err(e) = out.get_ref().sync_data() {
        tracing::error!(error = %e, "audit log sync failed");
    }
}
