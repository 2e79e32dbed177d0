//! The Tagarela chat server (spec/PROTOCOL.md) as a library, so tests can
//! run it in-process: [`run`] takes a bound listener and a shutdown future,
//! as tokio's mini-redis does. The binary (`main.rs`) adds flags, logging,
//! signals and `--background`.
//!
//! # Layers
//! One folder a layer, each with a `mod.rs` that says what it may import.
//! A layer uses only those below it; what goes back up goes through a
//! port the lower layer defines and the higher one implements:
//! `hub::Recipient` (how a hub reaches a client's queue),
//! `hub::Welcomer` (what a newcomer is told), `chat::reply::Replier`
//! (how the session answers its client) and `flow::pressure` (the
//! signal that holds senders back).
//!
//! | folder | files | deals in |
//! |---|---|---|
//! | `transport/` | `connection.rs` (one task per client, generic over [`Transport`]), `listener.rs` (assembles the server), `bind.rs`, `admission.rs`, `proxy_header.rs` (a balancer's PROXY header), `tls.rs`, `tls_stream.rs`, `web.rs` (the web door: the page, and `/ws`), `ws_handshake.rs` (the WebSocket opening handshake, both sides, and the origin rule), `ws_lines.rs` (a WebSocket as a stream of lines), `rewind.rs`, `shared.rs` (what connection tasks share) | octets, TLS, WebSocket, timers |
//! | `wire/` | `tagarela.rs` (Tagarela's format), `irc/` (IRC's, its sibling: `front.rs` reads, `client.rs` writes), `outbox.rs` (a client's bounded queue of octets) | lines <-> intents, events and replies -> lines |
//! | `chat/` | `session.rs`, `intent.rs`, `reply.rs`, `access.rs` (the room's password) | intents in, replies and hub calls out |
//! | `hub/` | `mod.rs` (the interface and its guarantees), `hall.rs` (everyone registered and the rooms: seats, numbering, stamping, delivery, welcome; both hubs hold one), `room.rs` (one room, §19: its members, kept messages, crowd, topic, operators), `local.rs` (a chat in one process, and who may enter which room), `roster.rs`, `crowd.rs` (§18), `recent.rs` (replay), `event_log.rs` (what a resuming client missed), `resume.rs` (tokens), `monitors.rs` (who watches which names: IRC's MONITOR) | who is where; numbering and delivery of events |
//! | `hub/cluster/` | `mod.rs` (a replica of a room shared through Redis, §17), `link.rs` (the only code that talks to Redis), `cluster.lua` (the functions Redis runs), `message.rs` (the channel's format), `recorder.rs` (a node's records, off the channel loop) | leases, the ordered channel, one call per event |
//! | `store/` | `mod.rs` (the sink interface), `audit.rs`, `history.rs` (SQLite), `server_log.rs` (the log line of every event) | recording events |
//! | `flow/` | `rate_limit.rs`, `pressure.rs` (spec §11) | holding input back |
//! | `ops/` | `metrics.rs` (`/metrics`, `/ready`), `state_dir.rs`, `background.rs`, `log_text.rs` | what the operator sees |
//!
//! Beside them: `event.rs` (the numbered event every layer passes on, at
//! the bottom), `config.rs` (flags and the one table of defaults, read by
//! the transport, above every layer it configures) and `testing.rs` (the
//! one way tests start a server). Only what the binary, the tests and the
//! bench need is public, re-exported below; the layers are private.
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
//!  transport::connection::io_turn                   transport::connection::flush
//!       | rate limit, back-pressure; stack buffer         ^ swaps the queue out
//!       | -> LineFramer::lines (parser)                   |
//!       v CheckedLine                                     |
//!  wire::tagarela::decode --> Intent::Public(text)  wire::outbox::Outbox (bob), (carol)
//!       |                                                 ^ octets appended, never waits
//!       v                                                 |
//!  chat::session::Session::handle                         |
//!       --> Hub::publish(Said::Public) -> hub::local::LocalHub: under one lock, numbers it,
//!       |                              hub::hall::Hall::say: Event { seq, at, room, Public },
//!       |                              hub::room::Room: Recipient::deliver to each member of
//!       |                              the room seated here but alice (a pending crowd notice
//!       |                              first), which encodes it once
//!       |                              (wire::tagarela::encode_event, cached in the Event)
//!       v                              and appends the octets; keeps it in Recent (replay)
//!  store::Entry (event + peer) --> EventSink::record (history writer, audit log, server log)
//! ```
//!
//! # The same message in a cluster (spec §17)
//! ```text
//!  node A: Session::handle --> hub::cluster::ClusterHub::publish(Said::Public):
//!       queues Command::Public (never waits)
//!       hub::cluster::link (publish): one pipeline per batch --> Redis: FCALL tagarela_public
//!                                                          checks the sender holds the name,
//!                                                          INCR seq, XADD history,
//!                                                          PUBLISH on tagarela:events
//!  every node (A included): the link's follow loop <-- the channel, in order
//!       (a forwarder keeps redis-rs's queue empty; 65,536 behind: the node leaves)
//!       ClusterHub::apply: under its lock, checks the number is the next one, then
//!       Hall::accept with Redis's number and clock: Recipient::deliver to this
//!       node's seats in the default room but the sender, exactly as one server does
//!  node A only: the Entry --> hub::cluster::recorder (bounded; holds A's senders back
//!       when behind) --> EventSink::record (audit log, server log)
//! ```
#![forbid(unsafe_code)]

mod chat;
pub mod config;
pub mod event;
mod flow;
mod hub;
mod ops;
mod store;
pub mod testing;
mod transport;
mod wire;

pub use chat::access::Access;
pub use chat::operators::Operators;
pub use config::{Config, LogFormat, Settings};
pub use ops::{background, metrics, state_dir};
pub use store::audit::{AuditLog, AuditWriter};
pub use store::history::{History, HistoryStore, Retention};
pub use store::{Entry, EventSink, Stores};
pub use transport::connection::Transport;
pub use transport::listener::{Listeners, run, serve};
pub use transport::proxy_header::Balancers;
pub use transport::ws_handshake::connect as ws_connect;
pub use transport::ws_lines::WsLines;
pub use transport::{bind, tls};
