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
  4  scripted mode: the server refused the name (name-taken, name-invalid)
  5  the server's TLS certificate was not trusted (unknown, or changed)";

/// Tagarela chat client. Interactive when stdin and stdout are a terminal;
/// otherwise (or with --plain) it reads lines from stdin and prints one
/// plain line per event on stdout.
#[derive(Debug, Clone, Parser)]
#[command(name = "tagarela", version, about, long_about = None, after_help = AFTER_HELP)]
pub struct Cli {
    /// Server host name or address.
    #[arg(long, env = "TAGARELA_HOST", default_value = "127.0.0.1")]
    pub host: String,

    /// Server port [default: 7879 over TLS, 7878 in plain text].
    #[arg(long, env = "TAGARELA_PORT")]
    pub port: Option<u16>,

    /// Connect over TLS (the default for any host but this machine's own).
    #[arg(long, env = "TAGARELA_TLS", conflicts_with = "no_tls")]
    pub tls: bool,

    /// Connect in plain text even to another machine (anyone on the way
    /// can read and change what is said).
    #[arg(long, env = "TAGARELA_NO_TLS")]
    pub no_tls: bool,

    /// The server certificate's SHA-256 fingerprint, as its operator gives
    /// it (`SHA256:AB:CD:...`), to trust it on first use without asking.
    #[arg(long, env = "TAGARELA_FINGERPRINT")]
    pub fingerprint: Option<String>,

    /// Trust only this authority's certificates (PEM), instead of the
    /// system's authorities and trust on first use.
    #[arg(long, env = "TAGARELA_TLS_CA")]
    pub tls_ca: Option<std::path::PathBuf>,

    /// A file whose first line is the room's password (sent before your
    /// name); TAGARELA_PASSWORD may hold it instead.
    #[arg(long, env = "TAGARELA_PASSWORD_FILE")]
    pub password_file: Option<std::path::PathBuf>,

    /// Ask for the room's password at start, without echoing it.
    #[arg(long)]
    pub ask_password: bool,

    /// Where trusted servers are remembered [default:
    /// $XDG_STATE_HOME/tagarela/known_servers, else
    /// ~/.local/state/tagarela/known_servers].
    #[arg(long, env = "TAGARELA_KNOWN_SERVERS")]
    pub known_servers: Option<std::path::PathBuf>,

    /// Your name; asked for (or read as the first stdin line) if not given.
    #[arg(long, env = "TAGARELA_NAME")]
    pub name: Option<String>,

    /// Scripted mode even on a terminal: no prompt, no colour, one line per event.
    #[arg(long, env = "TAGARELA_PLAIN")]
    pub plain: bool,
    /// Interactive mode: do not reconnect when the connection is lost
    /// (by default the client reconnects, takes its name back and shows
    /// what was missed, spec §16.6).
    #[arg(long, env = "TAGARELA_NO_RECONNECT", conflicts_with = "reconnect")]
    pub no_reconnect: bool,
    /// Scripted mode: reconnect when the connection is lost (off by
    /// default there, so that a script decides): prints `LOST`, then the
    /// server's lines again once back.
    #[arg(long, env = "TAGARELA_RECONNECT")]
    pub reconnect: bool,

    /// Interactive mode: talk as a client without rooms (spec §19.1): the
    /// server's default room only, as a v1 client does.
    #[arg(long, env = "TAGARELA_NO_ROOMS", conflicts_with_all = ["rooms", "join"])]
    pub no_rooms: bool,
    /// Scripted mode: turn rooms on (spec §19; off by default there, so
    /// that a script sees v1 lines unless it asks): the server's lines of a
    /// room come as `IN #room ...`, and `/msg #room text` addresses one.
    #[arg(long, env = "TAGARELA_ROOMS")]
    pub rooms: bool,
    /// Rooms to join once the name is accepted, comma-separated
    /// (`#homework,#random`); turns rooms on in either mode.
    #[arg(long, env = "TAGARELA_JOIN", value_delimiter = ',', value_parser = room_arg)]
    pub join: Vec<String>,

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

/// A room given with `--join`: `#` and a name (spec §19.2).
fn room_arg(s: &str) -> Result<String, String> {
    tagarela_parser::RoomName::normalize(s)
        .map(|r| r.as_str().to_owned())
        .map_err(|_| format!("{s:?} is not a room name (# and a name, as #homework)"))
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
    /// The server's TLS certificate was not trusted: unknown and not
    /// accepted, different from the one remembered, or not the one given
    /// with `--fingerprint`.
    pub const UNTRUSTED: i32 = 5;
}

impl Cli {
    /// Whether to use TLS: asked for, or the host is not this machine.
    pub fn use_tls(&self) -> bool {
        if self.tls {
            return true;
        }
        if self.no_tls {
            return false;
        }
        !is_this_machine(&self.host)
    }

    /// The port: given, or the default for the transport.
    pub fn port(&self) -> u16 {
        self.port
            .unwrap_or(if self.use_tls() { 7879 } else { 7878 })
    }
}

/// Loopback addresses and `localhost`: plain text is not seen by anyone
/// else there.
pub fn is_this_machine(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
