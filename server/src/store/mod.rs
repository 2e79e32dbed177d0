//! Where accepted events are recorded besides being delivered: the audit
//! log, the history database and the server's log. One interface for all, so the chat
//! core hands every event to whatever stores the operator configured
//! without knowing what they are. A sink never decides delivery.

pub mod audit;
pub mod history;
pub mod server_log;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use crate::event::Event;

/// One accepted event, with the client whose action caused it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The event, as delivered.
    pub event: Arc<Event>,
    /// The address of the client that caused it (the joiner, the leaver,
    /// the sender).
    pub peer: SocketAddr,
}

/// A future a sink returns; boxed, since recording is off the hot path of
/// an idle connection and the trait must be usable as `dyn`.
pub type Recording<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// A store of events.
pub trait EventSink: Send + Sync + std::fmt::Debug {
    /// Records `entries`, in order. Waits while the store is behind (its
    /// queue is bounded), so callers slow down rather than lose records.
    fn record(&self, entries: Vec<Entry>) -> Recording<'_>;
}

/// Several sinks as one: each gets every entry, in order.
#[derive(Debug)]
pub struct Fanout(pub Vec<std::sync::Arc<dyn EventSink>>);

impl EventSink for Fanout {
    fn record(&self, entries: Vec<Entry>) -> Recording<'_> {
        Box::pin(async move {
            if let Some((last, rest)) = self.0.split_last() {
                for sink in rest {
                    sink.record(entries.clone()).await;
                }
                last.record(entries).await;
            }
        })
    }
}

/// The stores a server records events in, as it starts.
#[derive(Debug)]
pub struct Stores {
    /// The operator's audit log (possibly disabled).
    pub audit: crate::store::audit::AuditLog,
    /// The room's history (spec §16); `None`: the room keeps none.
    pub history: Option<crate::store::history::History>,
}

impl From<crate::store::audit::AuditLog> for Stores {
    /// Only an audit log; no history.
    fn from(audit: crate::store::audit::AuditLog) -> Stores {
        Stores {
            audit,
            history: None,
        }
    }
}
