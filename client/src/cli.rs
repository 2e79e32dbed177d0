//! Command-line flags of the `tagarela` client (clap), each also settable
//! from the environment. Only parsing; no behaviour.

use clap::Parser;

/// Tagarela chat client. Interactive when stdin and stdout are a terminal;
/// otherwise (or with --plain) it reads lines from stdin and prints one
/// plain line per event on stdout.
#[derive(Debug, Clone, Parser)]
#[command(name = "tagarela", version, about, long_about = None)]
pub struct Cli {
    /// Server host name or address.
    #[arg(long, env = "TAGARELA_HOST", default_value = "127.0.0.1")]
    pub host: String,

    /// Server port.
    #[arg(long, env = "TAGARELA_PORT", default_value_t = 7878)]
    pub port: u16,

    /// Your name; asked for (or read as the first stdin line) if not given.
    #[arg(long, env = "TAGARELA_NAME")]
    pub name: Option<String>,

    /// Scripted mode even on a terminal: no prompt, no colour, one line per event.
    #[arg(long, env = "TAGARELA_PLAIN")]
    pub plain: bool,
}

/// Exit statuses (documented in the README).
pub mod exit {
    /// You left: `/quit`, `sair`, Ctrl-D, or end of stdin.
    pub const LEFT: i32 = 0;
    /// The server closed the connection (BYE other than quit) or it was lost.
    pub const DISCONNECTED: i32 = 1;
    /// Usage error (clap's own status).
    pub const USAGE: i32 = 2;
    /// The server could not be reached.
    pub const UNREACHABLE: i32 = 3;
}
