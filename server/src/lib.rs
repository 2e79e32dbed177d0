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
//! | transport | `connection.rs` (generic over [`Transport`]), `listener.rs`, `bind.rs`, `admission.rs`, `tls.rs`, `tls_stream.rs` | octets, TLS, timers, flow control |
//! | wire | `wire.rs` (Tagarela's format; IRC would be a sibling), `outbox.rs` | lines <-> intents, events and replies -> lines |
//! | chat core | `session.rs`, `intent.rs`, `reply.rs`, `event.rs`, `access.rs` | intents in, replies and events out; sequence numbers; the room's password |
//! | hub | `hub.rs` (the interface), `local_hub.rs` (one process), `cluster.rs` (a replica of a room shared through Redis, spec §17), `recent.rs` (the recent public messages both keep), `event_log.rs` (what a resuming client missed) | who is where; numbering and delivery of events; replay |
//! | cluster link | `cluster_link.rs` (the only code that talks to Redis), `cluster.lua` (the functions Redis runs), `cluster_message.rs` (the channel's format) | leases, the ordered channel, one call per event |
//! | stores | `sink.rs` (the interface), `audit.rs`, `history.rs` (SQLite) | recording events |
//!
//! Besides: `rate_limit.rs` and `pressure.rs` (flow control, spec §11),
//! `metrics.rs` (counters and the `/metrics` endpoint), `config.rs`
//! (flags), `state_dir.rs`, `background.rs`, `log_text.rs`, `testing.rs`
//! (the one way tests start a server).
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
//!       |                                            Recipient::deliver to each member but alice,
//!       |                                            which encodes it once (wire::encode_event,
//!       |                                            cached in the Event) and appends the octets
//!       v
//!       |                                            and keeps it in Recent (history replay)
//!  Entry (event + peer) --> EventSink::record (audit log thread, history writer thread)
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
