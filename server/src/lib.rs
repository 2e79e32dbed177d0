//! The Tagarela chat server (spec/PROTOCOL.md v1) as a library, so tests can
//! run it in-process: [`run`] takes a bound listener and a shutdown future,
//! as tokio's mini-redis does. The binary (`main.rs`) adds flags, logging,
//! signals and `--background`.
//!
//! # Layers
//! Each layer knows only the one below it:
//!
//! | layer | files | deals in |
//! |---|---|---|
//! | transport | `connection.rs` (generic over [`Transport`]), `listener.rs`, `bind.rs`, `admission.rs`, `proxy_header.rs` (a balancer's PROXY header), `tls.rs`, `tls_stream.rs` | octets, TLS, timers, flow control |
//! | wire | `wire.rs` (Tagarela's format; IRC would be a sibling), `outbox.rs` | lines <-> intents, events and replies -> lines |
//! | chat core | `session.rs`, `intent.rs`, `reply.rs`, `event.rs`, `access.rs` | intents in, replies and events out; sequence numbers; the room's password |
//! | hub | `hub.rs` (the interface), `room.rs` (one room: roster, numbering, stamping, delivery, welcome; both hubs hold one), `local_hub.rs` (one process), `cluster.rs` (a replica of a room shared through Redis, spec §17), `crowd.rs` (a crowded room's joins and leaves summed up, §18), `roster.rs`, `recent.rs` (the recent public messages both keep), `event_log.rs` (what a resuming client missed) | who is where; numbering and delivery of events; replay |
//! | cluster link | `cluster_link.rs` (the only code that talks to Redis), `cluster.lua` (the functions Redis runs), `cluster_message.rs` (the channel's format), `recorder.rs` (a node's records, off the channel loop) | leases, the ordered channel, one call per event |
//! | stores | `sink.rs` (the interface), `audit.rs`, `history.rs` (SQLite), `server_log.rs` (the log line of every event) | recording events |
//!
//! Besides: `rate_limit.rs` and `pressure.rs` (flow control, spec §11),
//! `metrics.rs` (counters, `/metrics` and `/ready`), `config.rs`
//! (flags), `state_dir.rs`, `background.rs`, `log_text.rs`, `testing.rs`
//! (the one way tests start a server).
//!
//! - **Transport.** One task per connection reads into a stack buffer
//!   inside one poll and keeps only a partial line between reads, so an
//!   idle client holds no buffer at all. Its timers (registration,
//!   keepalive, slow grace, pressure window, rate limit) use tokio's
//!   clock and are tested over in-memory pipes with the clock paused.
//! - **Wire.** An event is encoded once per wire format, by the first
//!   recipient that needs it, and the octets are appended to each
//!   recipient's bounded outbox, a byte buffer written out in one write
//!   per socket-full.
//! - **Hub.** Claims and releases names (by key and look-alike
//!   skeleton), gives every event a room-wide sequence number and
//!   timestamp, and delivers it in sequence order. Recipients are named by
//!   name key, which means the same in any process. The lock is held only
//!   for map work and queue appends, never across `.await`.
//! - **Stores.** Every event is handed, with the peer that caused it, to
//!   the configured sinks. The hub keeps the recent public messages in
//!   memory, so a newcomer's replay is taken in the same step as its
//!   registration: no message is both replayed and live, and none falls
//!   between.
//! - **Flow control** (spec §11): a per-client rate limit (GCRA: burst 25,
//!   then 5 lines/s), and sender back-pressure: while some reader's queue
//!   is above the soft bound, registered clients are not read (for at most
//!   the pressure window), so a reader that pauses catches up instead of
//!   being cut; one that has stopped is removed by time (`slow-grace`) or
//!   at the hard bound. Only the room's lines start the holding, never a
//!   client's replies to itself.
//!
//! The binary uses jemalloc, set (in `.cargo/config.toml`) to give freed
//! memory back to the system about a second after a burst.
//!
//! # The path of one public message
//! ```text
//!  alice's socket                                   bob's socket, carol's socket
//!       | octets                                          ^ octets (one write per socket-full)
//!       v                                                 |
//!  connection::io_turn --- rate limit, back-pressure      connection::flush
//!       | stack buffer -> LineFramer::lines (parser)      ^ swaps the queue out
//!       v CheckedLine                                     |
//!  wire::decode --> Intent::Public(text)             Outbox (bob), Outbox (carol)
//!       |                                                 ^ octets appended, never waits
//!       v                                                 |
//!  Session::handle --> Hub::publish_public ------> LocalHub: under one lock,
//!       |                                            Event { seq, at, Public } and
//!       |                                            Recipient::deliver to each member but alice
//!       |                                            (a pending crowd notice first), which
//!       |                                            encodes it once (wire::encode_event,
//!       |                                            cached in the Event) and appends the octets
//!       v                                            and keeps it in Recent (history replay)
//!  Entry (event + peer) --> EventSink::record (history writer thread, audit log thread, server log)
//! ```
//!
//! # The same message in a cluster (spec §17)
//! ```text
//!  node A: Session::handle --> ClusterHub::publish_public: queues Command::Public (never waits)
//!       cluster_link::publish: one pipeline per batch --> Redis: FCALL tagarela_public
//!                                                          checks the sender holds the name,
//!                                                          INCR seq, XADD history,
//!                                                          PUBLISH on tagarela:events
//!  every node (A included): cluster_link's follow loop <-- the channel, in order
//!       (a forwarder keeps redis-rs's queue empty; 65,536 behind: the node leaves)
//!       ClusterHub::apply: under its lock, checks the number is the next one,
//!       Event { seq, at (Redis's clock) } and Recipient::deliver to this node's
//!       clients but the sender, exactly as one server does
//!  node A only: the Entry --> Recorder (bounded; holds A's senders back when behind)
//!       --> EventSink::record (audit log, server log)
//! ```
#![forbid(unsafe_code)]

pub mod access;
pub mod admission;
pub mod audit;
pub mod background;
pub mod bind;
pub mod cluster;
pub mod cluster_link;
pub mod cluster_message;
pub mod config;
mod connection;
mod context;
pub mod crowd;
pub mod event;
pub mod event_log;
pub mod history;
pub mod hub;
mod intent;
mod listener;
pub mod local_hub;
mod log_text;
pub mod metrics;
pub mod outbox;
mod pressure;
pub mod proxy_header;
pub mod rate_limit;
pub mod recent;
mod recorder;
mod reply;
pub mod resume;
pub mod room;
pub mod roster;
#[cfg(test)]
mod seen;
mod server_log;
mod session;
pub mod sink;
pub mod state_dir;
pub mod testing;
pub mod tls;
mod tls_stream;
mod wire;

pub use audit::{AuditLog, AuditWriter};
pub use config::{Config, LogFormat, Settings};
pub use connection::Transport;
pub use listener::{Listeners, run, serve};
