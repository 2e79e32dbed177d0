//! Where accepted events are recorded besides being delivered: the audit
//! log today, a history store next. One interface for both, so the chat
//! core hands every event to whatever stores the operator configured
//! without knowing what they are. A sink never decides delivery.

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
