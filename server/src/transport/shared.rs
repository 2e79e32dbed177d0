//! What every connection task shares: the room's hub, the settings and
//! the event sinks. Plain data; no behaviour of its own.

use std::sync::Arc;

use crate::chat::access::Access;
use crate::config::Settings;
use crate::flow::pressure::Pressure;
use crate::hub::Hub;
use crate::ops::metrics::Metrics;
use crate::store::EventSink;

/// Shared by all connection tasks.
#[derive(Debug)]
pub struct Shared {
    /// The room.
    pub hub: Arc<dyn Hub>,
    /// Limits and timers.
    pub settings: Settings,
    /// Where events are recorded, if anywhere (history, audit log, server
    /// log; in a cluster, a node's records go through its recorder).
    pub sink: Option<Arc<dyn EventSink>>,
    /// Whether some reader is behind, so senders must wait (spec §11).
    pub pressure: Arc<Pressure>,
    /// What the operator can measure.
    pub metrics: Arc<Metrics>,
    /// The room's password, if it has one (§4.7).
    pub access: Option<Arc<Access>>,
    /// What this server tells IRC clients about itself (§20.1), if it
    /// has an IRC port.
    pub irc: Option<Arc<crate::wire::irc::IrcIdentity>>,
    /// The page origins the web door lets open its socket, besides its
    /// own address (§21.1).
    pub web_origins: Arc<[String]>,
}
