//! The Tagarela protocol v1 codec: bytes in, typed lines out, and back.
//!
//! Everything here follows `spec/PROTOCOL.md` (cited as §N). This crate does
//! no I/O and knows nothing of sockets, tasks or clocks: the server and the
//! client feed it bytes and route what it returns.
//!
//! - [`LineFramer`] splits a byte stream into lines (§2); [`LineFramer::lines`]
//!   also checks their content, a whole buffer at a time.
//! - [`ClientLine`] and [`HandshakeLine`] decode and encode client lines (§4.3, §5).
//! - [`ServerLine`] decodes and encodes server lines (§7).
//! - [`channel::ChannelMessage`] decodes and encodes a cluster's channel
//!   messages (§17.2).
//! - [`irc::IrcMessage`] decodes and encodes IRC's message grammar, for
//!   an IRC front door (issue 23).
//! - [`websocket::Unframer`] and [`websocket::frame`] read and write the
//!   WebSocket frames that carry lines to web clients (§21.1).
//! - [`Name`], [`Text`], [`Token`] and [`Timestamp`] are validated field values;
//!   an encoder cannot produce a line its decoder would refuse.
#![forbid(unsafe_code)]

pub mod channel;
mod client_line;
mod codes;
pub mod content;
mod error;
mod framer;
mod history;
pub mod irc;
pub mod limits;
mod lines;
mod name;
pub mod notation;
mod room;
mod server_line;
pub mod sniff;
mod text;
mod timestamp;
pub mod websocket;

#[cfg(feature = "arbitrary")]
mod arbitrary_impls;

pub use client_line::{BanTarget, ClientLine, HandshakeLine, JOIN_ROOMS_MAX};
pub use codes::{ByeReason, ErrorCode, LeaveReason};
pub use content::CheckedLine;
pub use error::{ContentError, EncodeError, FieldError, LineError, NameError, ServerLineError};
pub use framer::{Frame, LineFramer};
pub use history::{HistoryQuery, parse_seq};
pub use lines::{Framed, Lines};
pub use name::{MARKS_PER_CHAR_MAX, Name, NameKey, Skeleton};
pub use room::{ROOM_MARK, RoomKey, RoomName};
pub use server_line::{ServerLine, encode_who_list, encode_who_list_in};
pub use text::{Text, Token};
pub use timestamp::{TIMESTAMP_LEN, Timestamp};
