//! The Tagarela chat server (spec/PROTOCOL.md v1) as a library, so tests can
//! run it in-process: [`run`] takes a bound listener and a shutdown future,
//! as tokio's mini-redis does. The binary (`main.rs`) adds flags, logging
//! and signals.
//!
//! - `listener`: accept loop, admission limits, graceful shutdown.
//! - `connection`: one task per client: socket bytes, timers.
//! - `session`: protocol state and what each line does.
//! - `room`: the registry of names and routing to outboxes.
//! - `outbox`: the bounded per-client output queue.
//! - `replies`: every line the server sends is built there.
//! - `audit`: the durable JSON Lines audit log.
#![forbid(unsafe_code)]

pub mod admission;
pub mod audit;
pub mod background;
pub mod bind;
pub mod config;
mod connection;
mod context;
pub mod event;
pub mod hub;
mod intent;
mod listener;
pub mod local_hub;
mod log_text;
pub mod outbox;
mod pressure;
pub mod rate_limit;
mod reply;
mod session;
pub mod sink;
pub mod state_dir;
mod wire;

pub use audit::{AuditLog, AuditWriter};
pub use config::{Config, LogFormat, Settings};
pub use listener::run;
