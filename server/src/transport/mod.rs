//! The transport: sockets, TLS, a balancer's PROXY header, admission, and
//! one task per connection that moves octets between its socket and its
//! session and runs its timers (spec §2, §10, §11, §15). The listener
//! assembles the server: it builds the hub and the stores and starts the
//! connection tasks.
//!
//! May import every layer below: `wire`, `chat`, `hub`, `store`, `flow`,
//! `ops`. Nothing below imports it; a connection never interprets a
//! line's content (the wire layer does).

pub mod admission;
pub mod bind;
pub mod connection;
pub mod listener;
pub mod proxy_header;
pub mod rewind;
pub mod shared;
pub mod tls;
pub mod tls_stream;
pub mod web;
pub mod ws_handshake;
pub mod ws_lines;
