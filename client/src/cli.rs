//! Command-line flags of the `tagarela` client (clap), each also settable
//! from the environment. Only parsing; no behaviour.

use clap::Parser;

use crate::alert::Bell;
use crate::liveness::Timings;

/// Shown after the flags in `--help`: the exit statuses and the keys.
const AFTER_HELP: &str = "\
Leaving: /quit, a line that is just `sair`, Ctrl-D, or Ctrl-C on an empty
line (Ctrl-C on a line being typed clears it). In scripted mode, end of stdin.

Exit status:
  0  you left
  1  the server closed the connection (any BYE but quit), or it was lost or
     stopped answering (probes after 15 s of silence; lost after 60 s more)
  2  usage error
  3  the server could not be reached
  4  scripted mode: the server refused the name (name-taken, name-invalid)";

/// Tagarela chat client. Interactive when stdin and stdout are a terminal;
/// otherwise (or with --plain) it reads lines from stdin and prints one
/// plain line per event on stdout.
#[derive(Debug, Clone, Parser)]
#[command(name = "tagarela", version, about, long_about = None, after_help = AFTER_HELP)]
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

    /// When to ring the terminal bell: `mention` (a message that names you,
    /// or a private message), `private` (private messages only), `all`
    /// (every message from someone else) or `off`.
    #[arg(long, env = "TAGARELA_BELL", value_enum, default_value_t = Bell::Mention)]
    pub bell: Bell,

    /// Liveness bounds in milliseconds, `IDLE,SEND,WARN,LOST` (for tests).
    #[arg(
        long,
        env = "TAGARELA_LIVENESS_MS",
        hide = true,
        default_value = "15000,3000,10000,60000"
    )]
    pub liveness_ms: Timings,
}

/// Exit statuses (documented in the README).
pub mod exit {
    /// You left: `/quit`, `sair`, Ctrl-D, or end of stdin.
    pub const LEFT: i32 = 0;
    /// The server closed the connection (BYE other than quit), it was lost,
    /// or it stopped answering probes.
    pub const DISCONNECTED: i32 = 1;
    /// Usage error (clap's own status).
    pub const USAGE: i32 = 2;
    /// The server could not be reached.
    pub const UNREACHABLE: i32 = 3;
    /// Scripted mode: the server refused the name (`ERR name-taken`,
    /// `ERR name-invalid`); no line of stdin was sent after it.
    pub const NAME_REFUSED: i32 = 4;
}
