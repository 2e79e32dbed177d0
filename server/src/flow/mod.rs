//! Flow control (spec §11): the per-client rate limit, and the room-wide
//! signal that holds senders back while some reader (or Redis, or a
//! store) is behind. Small shared state with no I/O, used by every layer
//! that meters or presses.
//!
//! May import: nothing of this crate but `ops`.

pub mod pressure;
pub mod rate_limit;
