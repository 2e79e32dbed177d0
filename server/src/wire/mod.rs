//! Wire formats: lines to intents, and events and replies to lines, each
//! format in its own file (Tagarela's own, spec/PROTOCOL.md; IRC's, §20),
//! and the bounded outbox every format writes into. Pure encoding and
//! queueing: no sockets, no timers.
//!
//! May import: `chat` (intents and replies), `hub` (the events and crowd
//! notices it encodes, and the [`crate::hub::Recipient`] port it
//! implements), `event`, `flow`. Never: `transport`.

pub mod irc;
pub mod outbox;
pub mod tagarela;
