//! The durable audit log: every join, leave and message with its server
//! timestamp, appended as JSON Lines to one file. JSON Lines needs no setup,
//! survives restarts (append mode), and is read by `jq`, log shippers and
//! spreadsheets alike. A dedicated thread owns the file; connection tasks
//! hand it records through a bounded channel and wait if the disk falls
//! behind, so no record is dropped for lack of room. Each record is encoded
//! in full before any of it is written; one the disk refuses (a write
//! error) is logged as an error and lost. Written records are
//! synced within `SYNC_EVERY`. Never touches sockets.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::runtime::Runtime;
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
        // The writer's own clock, for the sync deadline.
        let timer = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()?;
        let thread = std::thread::Builder::new()
            .name("audit-log".into())
            .spawn(move || write_loop(file, rx, &timer))?;
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

fn write_loop(file: File, mut rx: mpsc::Receiver<Record>, timer: &Runtime) {
    let mut out = BufWriter::new(file);
    let mut line = Vec::with_capacity(256);
    // When the oldest record not yet synced was written.
    let mut unsynced_since: Option<Instant> = None;
    loop {
        let received = match unsynced_since {
            None => rx.blocking_recv(),
            Some(since) => {
                let due = tokio::time::Instant::from_std(since + SYNC_EVERY);
                // Built inside `block_on`: the timeout needs the timer's context.
                match timer.block_on(async { tokio::time::timeout_at(due, rx.recv()).await }) {
                    Ok(received) => received,
                    Err(_) => {
                        sync(&out);
                        unsynced_since = None;
                        continue;
                    }
                }
            }
        };
        let Some(first) = received else { break };
        let mut next = Some(first);
        // Write everything already waiting, then flush once.
        while let Some(record) = next.take() {
            line.clear();
            match serde_json::to_writer(&mut line, &record) {
                Ok(()) => {
                    line.push(b'\n');
                    if let Err(e) = out.write_all(&line) {
                        tracing::error!(error = %e, "audit log write failed; record lost");
                    }
                }
                Err(e) => tracing::error!(error = %e, "audit record not encodable; record lost"),
            }
            next = rx.try_recv().ok();
        }
        if let Err(e) = out.flush() {
            tracing::error!(error = %e, "audit log flush failed");
        }
        let since = *unsynced_since.get_or_insert_with(Instant::now);
        if since.elapsed() >= SYNC_EVERY {
            sync(&out);
            unsynced_since = None;
        }
    }
    if let Err(e) = out.flush() {
        tracing::error!(error = %e, "audit log flush failed");
    }
    if unsynced_since.is_some() {
        sync(&out);
    }
}

fn sync(out: &BufWriter<File>) {
    if let Err(e) = out.get_ref().sync_data() {
        tracing::error!(error = %e, "audit log sync failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(text: &str) -> Record {
        Record {
            ts: "2026-11-21T12:00:00.000Z".into(),
            event: Event::Msg {
                from: "alice".into(),
                text: text.into(),
            },
        }
    }

    #[tokio::test]
    async fn records_before_and_after_a_sync_deadline_are_all_written() {
        let path =
            std::env::temp_dir().join(format!("tagarela-audit-{}.jsonl", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let (log, writer) = AuditLog::open(&path).unwrap();
        log.record_all(vec![msg("one")]).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Waits on the sync deadline of "one".
        log.record_all(vec![msg("two")]).await;
        tokio::time::sleep(SYNC_EVERY + Duration::from_millis(200)).await;
        // After the deadline passed with nothing new.
        log.record_all(vec![msg("three")]).await;
        drop(log);
        tokio::task::spawn_blocking(move || writer.finish())
            .await
            .unwrap();
        let written = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        let texts: Vec<String> = written
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["text"].to_string())
            .collect();
        assert_eq!(texts, ["\"one\"", "\"two\"", "\"three\""]);
    }
}
