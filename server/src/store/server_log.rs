//! The server's log of the room's events (the timestamped log the seed
//! programs kept): one line per join, leave, public and private message,
//! written through `tracing` at `info`. It is a sink like the audit log,
//! fed the same entries in the same order by whichever hub numbered the
//! event, so one server and a cluster's node log alike, each event once
//! (a node logs its own clients' events). Private text is written only if
//! the operator opted in. The lines are formatted and written by a thread
//! of their own, which connection tasks hand entries to through a bounded
//! channel (waiting when it is full, never dropping), so a busy room's
//! log costs the tasks that deliver its messages one channel send a turn.
//! Never decides delivery; never writes anything but log lines.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::event::EventKind;
use crate::ops::log_text::LogText;
use crate::store::{Entry, EventSink, Recording};

/// Turns' worth of entries waiting for the log thread at most.
const CHANNEL_BOUND: usize = 4096;

/// What the log thread is handed.
#[derive(Debug)]
enum Job {
    /// Log these, in order.
    Log(Vec<Entry>),
    /// Say so once everything handed before is logged.
    Flush(oneshot::Sender<()>),
}

/// Logs every event it is given, on the log thread.
#[derive(Debug, Clone)]
pub struct ServerLog {
    /// To the log thread, which ends once every handle is dropped.
    tx: mpsc::Sender<Job>,
}

/// How one entry becomes a log line.
#[derive(Debug, Clone, Copy)]
struct Lines {
    /// The text of private messages is logged too (`--log-private-text`);
    /// otherwise only who whispered to whom, and when.
    private_text: bool,
}

impl ServerLog {
    /// A log that shows private text only if `private_text`, and its
    /// thread started.
    pub fn start(private_text: bool) -> std::io::Result<ServerLog> {
        let (tx, mut rx) = mpsc::channel(CHANNEL_BOUND);
        let lines = Lines { private_text };
        std::thread::Builder::new()
            .name("server-log".into())
            .spawn(move || {
                while let Some(job) = rx.blocking_recv() {
                    match job {
                        Job::Log(entries) => entries.iter().for_each(|e| lines.log(e)),
                        Job::Flush(done) => {
                            let _ = done.send(());
                        }
                    }
                }
            })?;
        Ok(ServerLog { tx })
    }

    /// Waits (at most `limit`) until everything handed so far is logged:
    /// the last lines of a server that is stopping. False if that took
    /// longer (or the thread is gone).
    pub async fn flush(&self, limit: Duration) -> bool {
        let (done, flushed) = oneshot::channel();
        let waited = tokio::time::timeout(limit, async {
            self.tx.send(Job::Flush(done)).await.is_ok() && flushed.await.is_ok()
        })
        .await;
        waited == Ok(true)
    }

    /// Whether logging events is worth the records: `info` is on for
    /// this module (a filter may name it alone).
    pub fn is_wanted() -> bool {
        tracing::enabled!(target: module_path!(), tracing::Level::INFO)
    }
}

impl Lines {
    /// The log line of one entry.
    fn log(&self, entry: &Entry) {
        let (peer, seq) = (entry.peer, entry.event.seq);
        let room = entry.event.room.as_ref().map_or("", |r| r.as_str());
        match &entry.event.kind {
            EventKind::Join { name } => tracing::info!(name = %name, %peer, %seq, room, "join"),
            EventKind::Leave {
                name,
                reason,
                text: Some(t),
            } => {
                tracing::info!(name = %name, reason = %reason, quit_message = %LogText(t.as_str()), %seq, room, "leave");
            }
            EventKind::Leave { name, reason, .. } => {
                tracing::info!(name = %name, reason = %reason, %seq, room, "leave");
            }
            EventKind::Public { from, text } => {
                tracing::info!(from = %from, %seq, text = %LogText(text.as_str()), room, "public message");
            }
            EventKind::Topic { by, text } => {
                tracing::info!(by = %by, %seq, text = %LogText(text.as_str()), room, "topic");
            }
            EventKind::Private { from, to, text } if self.private_text => {
                tracing::info!(from = %from, to = %to, %seq, text = %LogText(text.as_str()), "private message");
            }
            EventKind::Private { from, to, .. } => {
                tracing::info!(from = %from, to = %to, %seq, "private message");
            }
            // Never handed to the stores (§20.3).
            EventKind::TagsOnly { .. } => {}
        }
    }
}

impl EventSink for ServerLog {
    fn record(&self, entries: Vec<Entry>) -> Recording<'_> {
        Box::pin(async move {
            // The thread is gone only if it panicked; nothing to log then.
            let _ = self.tx.send(Job::Log(entries)).await;
        })
    }
}
