//! The chat core: one client's session (spec §4–§8, §16.6), from intents
//! in to replies and hub calls out. Knows the hub's interface and the
//! stores' entries; never a socket, a wire format or a clock of its own.
//!
//! May import: `hub` (the interface), `store` (entries), `event`, `ops`.
//! Never: `transport`, `wire`. What it hands back up (replies, events to
//! deliver) goes through the ports it defines, [`reply::Client`] and
//! [`reply::Replier`], which the wire layer implements.

pub mod access;
pub mod intent;
pub mod operators;
pub mod reply;
pub mod session;
