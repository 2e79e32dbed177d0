//! The server's log of the room's events (the timestamped log the seed
//! programs kept): one line per join, leave, public and private message,
//! written through `tracing` at `info`. It is a sink like the audit log,
//! fed the same entries in the same order by whichever hub numbered the
//! event, so one server and a cluster's node log alike, each event once
//! (a node logs its own clients' events). Private text is written only if
//! the operator opted in. Never decides delivery; never writes anything
//! but log lines.

use crate::event::EventKind;
use crate::ops::log_text::LogText;
use crate::store::{Entry, EventSink, Recording};

/// Logs every event it is given.
#[derive(Debug, Clone, Copy)]
pub struct ServerLog {
    /// The text of private messages is logged too (`--log-private-text`);
    /// otherwise only who whispered to whom, and when.
    private_text: bool,
}

impl ServerLog {
    /// A log that shows private text only if `private_text`.
    pub fn new(private_text: bool) -> ServerLog {
        ServerLog { private_text }
    }

    /// Whether logging events is worth the records: `info` is on for
    /// this module (a filter may name it alone).
    pub fn is_wanted() -> bool {
        tracing::enabled!(target: module_path!(), tracing::Level::INFO)
    }

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
        for entry in &entries {
            self.log(entry);
        }
        Box::pin(std::future::ready(()))
    }
}
