//! The durable audit log: every join, leave and message with its server
//! timestamp, appended as JSON Lines to one file. JSON Lines needs no setup,
//! survives restarts (append mode), and is read by `jq`, log shippers and
//! spreadsheets alike. A dedicated thread owns the file; connection tasks
//! hand it records through a bounded channel and wait if the disk falls
//! behind, so no record is dropped for lack of room. Each record is encoded
//! in full before any of it is written; one the disk refuses (a write
//! error) is logged as an error and lost. Written records are
//! synced within `SYNC_EVERY`. A file that a crash left with a torn last
//! record is repaired before anything is appended (see [`repair_torn_tail`]).
//! Files it creates are owner-only. Never touches sockets.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use serde::Serialize;

use crate::event::EventKind;
use crate::store::{Entry, EventSink, Recording};
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
    /// The event's server-wide sequence number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// The room it happened in (none for a private message, §19).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    #[serde(flatten)]
    pub event: RecordKind,
}

impl Record {
    /// The record of an accepted event; private text only if
    /// `private_text`; `None` for a message of IRC tags only, which is
    /// never recorded (§20.3).
    pub fn of(entry: &Entry, private_text: bool) -> Option<Record> {
        let e = &entry.event;
        let event = match &e.kind {
            EventKind::Join { name } => RecordKind::Join {
                name: name.to_string(),
                peer: entry.peer.to_string(),
            },
            EventKind::Leave { name, reason, text } => RecordKind::Leave {
                name: name.to_string(),
                reason: reason.to_string(),
                text: text.as_ref().map(ToString::to_string),
            },
            EventKind::Public { from, text } => RecordKind::Msg {
                from: from.to_string(),
                text: text.to_string(),
            },
            EventKind::Private { from, to, text } => RecordKind::Priv {
                from: from.to_string(),
                to: to.to_string(),
                text: private_text.then(|| text.to_string()),
            },
            EventKind::Topic { by, text } => RecordKind::Topic {
                by: by.to_string(),
                text: text.to_string(),
            },
            EventKind::TagsOnly { .. } => return None,
        };
        Some(Record {
            ts: e.at.to_string(),
            seq: Some(e.seq.0),
            room: e.room.as_ref().map(ToString::to_string),
            event,
        })
    }
}

/// What happened.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum RecordKind {
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
    Topic {
        by: String,
        text: String,
    },
}

/// Handle used by connection tasks; cheap to clone. `None` inside when
/// auditing is off.
#[derive(Debug, Clone, Default)]
pub struct AuditLog {
    tx: Option<mpsc::Sender<Record>>,
    /// Whether the text of private messages is recorded (the operator's
    /// opt-in, `--log-private-text`); otherwise only who, to whom, when.
    private_text: bool,
    /// Records the writer could not write (for the metrics).
    errors: Counter,
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
        AuditLog {
            tx: None,
            private_text: false,
            errors: Counter::default(),
        }
    }

    /// The same log, recording the text of private messages too.
    pub fn with_private_text(self, private_text: bool) -> Self {
        AuditLog {
            private_text,
            ..self
        }
    }

    /// Opens (creating, owner-only, or appending) `path`, repairs a torn
    /// last record, and starts the writer thread.
    pub fn open(path: &Path) -> std::io::Result<(AuditLog, AuditWriter)> {
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .mode(0o600)
            .open(path)?;
        if let Some(torn) = repair_torn_tail(&mut file, path)? {
            tracing::warn!(
                path = %path.display(),
                octets = torn.octets,
                moved_to = %torn.moved_to.display(),
                "the audit log ended in a torn record (the server stopped mid-write); moved it aside before appending"
            );
        }
        let (tx, rx) = mpsc::channel(CHANNEL_BOUND);
        let errors = Counter::default();
        let counted = errors.clone();
        // The writer's own clock, for the sync deadline.
        let timer = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()?;
        let thread = std::thread::Builder::new()
            .name("audit-log".into())
            .spawn(move || write_loop(file, rx, &timer, &counted))?;
        let log = AuditLog {
            tx: Some(tx),
            private_text: false,
            errors,
        };
        Ok((log, AuditWriter { thread }))
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

    /// The count of records the writer could not write.
    pub fn errors(&self) -> Counter {
        self.errors.clone()
    }

    /// True when records are being kept.
    pub fn is_enabled(&self) -> bool {
        self.tx.is_some()
    }
}

impl EventSink for AuditLog {
    fn record(&self, entries: Vec<Entry>) -> Recording<'_> {
        Box::pin(async move {
            let private_text = self.private_text;
            self.record_all(
                entries
                    .iter()
                    .filter_map(|e| Record::of(e, private_text))
                    .collect(),
            )
            .await;
        })
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

/// A torn last record that [`repair_torn_tail`] set apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// Octets of the fragment.
    pub octets: u64,
    /// Where the fragment was appended (`<path>.torn`, owner-only).
    pub moved_to: PathBuf,
}

/// Octets read at a time while looking back for the last LF.
const TAIL_CHUNK: u64 = 4096;

/// Makes `file` end in LF before anything is appended: a crash (even
/// `kill -9`) can leave a record half written, and appending onto it would
/// make that line invalid JSON and lose the next record too. The fragment
/// after the last LF is appended, with an LF, to `<path>.torn` (so nothing
/// is destroyed), synced, and cut from the log.
pub fn repair_torn_tail(file: &mut File, path: &Path) -> std::io::Result<Option<TornTail>> {
    let len = file.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Ok(None);
    }
    let mut last = [0u8; 1];
    file.seek(SeekFrom::Start(len - 1))?;
    file.read_exact(&mut last)?;
    if last[0] == b'\n' {
        return Ok(None);
    }
    // Look back for the last LF, a chunk at a time.
    let mut end = len;
    let keep = loop {
        let start = end.saturating_sub(TAIL_CHUNK);
        let mut chunk = vec![0u8; usize::try_from(end - start).unwrap_or(0)];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut chunk)?;
        if let Some(i) = memchr::memrchr(b'\n', &chunk) {
            break start + i as u64 + 1;
        }
        if start == 0 {
            break 0;
        }
        end = start;
    };
    let mut fragment = Vec::new();
    file.seek(SeekFrom::Start(keep))?;
    file.read_to_end(&mut fragment)?;
    fragment.push(b'\n');
    let mut moved_to = path.as_os_str().to_owned();
    moved_to.push(".torn");
    let moved_to = PathBuf::from(moved_to);
    let mut aside = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&moved_to)?;
    aside.write_all(&fragment)?;
    aside.sync_data()?;
    file.set_len(keep)?;
    file.sync_data()?;
    Ok(Some(TornTail {
        octets: len - keep,
        moved_to,
    }))
}

fn write_loop(file: File, mut rx: mpsc::Receiver<Record>, timer: &Runtime, errors: &Counter) {
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
                        errors.inc();
                        tracing::error!(error = %e, "audit log write failed; record lost");
                    }
                }
                Err(e) => {
                    errors.inc();
                    tracing::error!(error = %e, "audit record not encodable; record lost");
                }
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
            seq: None,
            room: None,
            event: RecordKind::Msg {
                from: "alice".into(),
                text: text.into(),
            },
        }
    }

    fn temp_path(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("tagarela-audit-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("audit.jsonl")
    }

    async fn finish(log: AuditLog, writer: AuditWriter) {
        drop(log);
        tokio::task::spawn_blocking(move || writer.finish())
            .await
            .unwrap();
    }

    /// Issue 11 item 3: a torn last record (as `kill -9` mid-write leaves
    /// it) is set apart before the first new record is appended.
    #[tokio::test]
    async fn a_torn_last_record_is_set_apart_before_appending() {
        let path = temp_path("torn");
        std::fs::write(
            &path,
            "{\"ts\":\"a\",\"event\":\"msg\"}\n{\"ts\":\"x\",\"te",
        )
        .unwrap();
        let (log, writer) = AuditLog::open(&path).unwrap();
        log.record_all(vec![msg("after")]).await;
        finish(log, writer).await;
        let written = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = written
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["text"], "after");
        let torn = std::fs::read_to_string(path.with_extension("jsonl.torn")).unwrap();
        assert_eq!(torn, "{\"ts\":\"x\",\"te\n");
    }

    #[test]
    fn a_file_of_one_torn_record_is_emptied_and_a_whole_one_is_left_alone() {
        let path = temp_path("whole");
        std::fs::write(&path, "no newline at all").unwrap();
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&path)
            .unwrap();
        let torn = repair_torn_tail(&mut file, &path).unwrap().unwrap();
        assert_eq!(torn.octets, 17);
        assert_eq!(std::fs::read(&path).unwrap(), b"");
        std::fs::write(&path, "{}\n").unwrap();
        assert_eq!(repair_torn_tail(&mut file, &path).unwrap(), None);
        // A fragment longer than one look-back chunk.
        let long = format!("{{}}\n{}", "x".repeat(10_000));
        std::fs::write(&path, &long).unwrap();
        let torn = repair_torn_tail(&mut file, &path).unwrap().unwrap();
        assert_eq!(torn.octets, 10_000);
        assert_eq!(std::fs::read(&path).unwrap(), b"{}\n");
    }

    /// Issue 11 item 4: the audit log is created owner-only.
    #[test]
    fn a_new_audit_log_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let path = temp_path("mode");
        let (log, writer) = AuditLog::open(&path).unwrap();
        drop(log);
        writer.finish();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
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
