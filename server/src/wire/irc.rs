//! IRC as a second wire format (spec §20): an IRC client (irssi, WeeChat,
//! HexChat, a bot) joins the same chat as Tagarela's own clients. Channels
//! are rooms, nicks are names, `PRIVMSG` is a message. The reading side
//! ([`IrcFront`]) turns IRC lines into the chat core's intents and answers
//! IRC's own queries from the hub's views; the writing side
//! ([`IrcClient`]) is the connection's `Recipient` and `Replier`, encoding
//! events and replies as IRC lines. Pure encoding and decoding, like its
//! sibling `tagarela.rs`: no sockets, no timers.

pub mod caps;
pub mod chathistory;
pub mod client;
pub mod encode;
pub mod front;
pub mod help;
pub mod identity;
pub mod label;
pub mod text;
pub mod whox;

pub use client::IrcClient;
pub use front::IrcFront;
pub use identity::IrcIdentity;
