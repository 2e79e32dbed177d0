//! The Tagarela terminal client as a library (the binary is `main.rs`).
//!
//! - `net`: the connection: decoding server lines, sending lines.
//! - `interactive`: the line-editor UI for people.
//! - `plain`: scripted mode for programs.
//! - `render`: what each server line looks like in either mode.
//! - `sanitize`: neutralising untrusted text for the terminal.
//! - `input`: what a typed line means (`sair`).
//! - `completion`: Tab completion of names and commands.
//! - `editor`: the interactive line editor thread.
//! - `fold`: loose (case- and diacritic-blind) matching of typed names.
//! - `alert`: mentions and the bell.
//! - `rooms`: the rooms one is in, the one on screen, unread counts (spec §19).
//! - `liveness`: noticing a dead or hung server.
//! - `tls`: whom to trust over TLS (authorities, or trust on first use).
#![forbid(unsafe_code)]

pub mod alert;
pub mod cli;
pub mod comeback;
pub mod completion;
pub mod editor;
pub mod fold;
pub mod input;
pub mod interactive;
pub mod liveness;
pub mod net;
pub mod plain;
pub mod reconnect;
pub mod render;
pub mod rooms;
pub mod sanitize;
pub mod tls;
