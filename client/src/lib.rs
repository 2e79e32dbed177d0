//! The Tagarela terminal client as a library (the binary is `main.rs`).
//!
//! - `net`: the connection: decoding server lines, sending lines.
//! - `interactive`: the line-editor UI for people.
//! - `plain`: scripted mode for programs.
//! - `render`: what each server line looks like in either mode.
//! - `sanitize`: neutralising untrusted text for the terminal.
//! - `input`: what a typed line means (`sair`).
//! - `completion`: Tab completion of names and commands.
#![forbid(unsafe_code)]

pub mod cli;
pub mod completion;
pub mod input;
pub mod interactive;
pub mod net;
pub mod plain;
pub mod render;
pub mod sanitize;
