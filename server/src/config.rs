//! Command-line and environment configuration (clap). Parses and validates
//! flags into [`Settings`]; knows nothing of sockets or tasks.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::flow::rate_limit::Rate;
use crate::store::history::{KEEP_MAX, Retention};

/// The Tagarela chat server: spec/PROTOCOL.md v1 over TCP.
///
/// Every flag can also be set by the environment variable shown.
#[derive(Debug, Clone, Parser)]
#[command(name = "tagarela-server", version, about, long_about = None)]
pub struct Config {
    /// Start in the background and return once it listens: logs go to a
    /// file in the state directory; a second run with the same build and
    /// address reuses the running server. Stop it with --stop.
    #[arg(long, conflicts_with = "stop")]
    pub background: bool,

    /// Stop the server that --background started for this --listen and
    /// --port (SIGTERM: everyone gets `BYE shutdown`).
    #[arg(long)]
    pub stop: bool,

    /// Also listen for TLS (spec §15) on --tls-port. Without --tls-cert,
    /// a self-signed certificate is made on first start and kept in the
    /// state directory; its fingerprint is printed for clients to check.
    #[arg(long, env = "TAGARELA_TLS")]
    pub tls: bool,

    /// TLS port (with --tls); 0 picks a free one.
    #[arg(long, env = "TAGARELA_TLS_PORT", default_value_t = 7879)]
    pub tls_port: u16,

    /// Certificate chain (PEM, end-entity first); implies --tls.
    #[arg(long, env = "TAGARELA_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// Private key of --tls-cert (PEM).
    #[arg(long, env = "TAGARELA_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Host names the self-signed certificate is made for (besides
    /// localhost), comma-separated; only used when one is generated.
    #[arg(long, env = "TAGARELA_TLS_NAMES", value_delimiter = ',')]
    pub tls_names: Vec<String>,

    /// No plaintext listener: TLS only (needs --tls or --tls-cert).
    #[arg(long, env = "TAGARELA_NO_PLAINTEXT")]
    pub no_plaintext: bool,

    /// Seconds a TLS client has to complete its handshake.
    #[arg(long, env = "TAGARELA_TLS_HANDSHAKE_TIMEOUT", default_value_t = 10.0, value_parser = seconds)]
    pub tls_handshake_timeout: f64,

    /// A file whose first line is the room's password (spec §4.7); the
    /// environment variable TAGARELA_PASSWORD may hold it instead. Never a
    /// plain flag: other users can read command lines in `ps`.
    #[arg(long, env = "TAGARELA_PASSWORD_FILE")]
    pub password_file: Option<PathBuf>,

    /// A file of server operators, one `name password` a line (spec
    /// §20.6): on the IRC port, `OPER name password` makes a client one
    /// (`KILL`, `WALLOPS`). Keep it readable by the server's user only.
    /// Without it there are no server operators.
    #[arg(long, env = "TAGARELA_OPERATORS_FILE")]
    pub operators_file: Option<PathBuf>,

    /// Accept the password in plain text from other machines too (anyone
    /// on the way can read it); by default only over TLS or loopback.
    #[arg(long, env = "TAGARELA_ALLOW_PLAINTEXT_PASSWORD")]
    pub allow_plaintext_password: bool,

    /// Serve Prometheus metrics (`GET /metrics`) here: a port (on
    /// 127.0.0.1) or HOST:PORT. Off by default.
    #[arg(long, env = "TAGARELA_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,

    /// Address to listen on: an IP address (0.0.0.0, ::) or a host name
    /// such as localhost (the first address it resolves to).
    #[arg(long, env = "TAGARELA_LISTEN", default_value = "127.0.0.1")]
    pub listen: String,

    /// TCP port; 0 picks a free one. The bound address is printed on stdout.
    #[arg(long, env = "TAGARELA_PORT", default_value_t = 7878)]
    pub port: u16,

    /// Also listen for IRC clients (spec §20) on this port (the usual is
    /// 6667); 0 picks a free one. Off by default.
    #[arg(long, env = "TAGARELA_IRC_PORT")]
    pub irc_port: Option<u16>,

    /// Also listen for IRC over TLS on this port (the usual is 6697),
    /// with the same certificate as --tls-port (needs --tls or
    /// --tls-cert). Off by default.
    #[arg(long, env = "TAGARELA_IRC_TLS_PORT")]
    pub irc_tls_port: Option<u16>,

    /// Also serve the web client and its WebSocket (spec §21) on this
    /// port (8080 is usual); 0 picks a free one. Off by default.
    #[arg(long, env = "TAGARELA_WEB_PORT")]
    pub web_port: Option<u16>,

    /// Also serve the web client over HTTPS on this port (8443 is
    /// usual), with the same certificate as --tls-port (needs --tls or
    /// --tls-cert). Off by default.
    #[arg(long, env = "TAGARELA_WEB_TLS_PORT")]
    pub web_tls_port: Option<u16>,

    /// A page origin allowed to open the web door's socket besides this
    /// server's own address (`https://chat.example.org`; repeatable).
    /// Without one, only a page loaded by IP address or as localhost
    /// may (spec §21.1: a DNS name could be rebound to this server).
    #[arg(
        long = "web-origin",
        env = "TAGARELA_WEB_ORIGIN",
        value_delimiter = ','
    )]
    pub web_origins: Vec<String>,

    /// The server's name on IRC: the source of its numerics (§20.1).
    #[arg(long, env = "TAGARELA_IRC_NAME", default_value = "tagarela")]
    pub irc_name: String,

    /// Length of the queue of connections the kernel completes before the
    /// server accepts them (listen backlog; the kernel caps it at
    /// net.core.somaxconn). Too short a queue makes a crowd of clients
    /// arriving at once wait a second per overflow.
    #[arg(long, env = "TAGARELA_BACKLOG", default_value_t = 4096)]
    pub backlog: u32,

    /// Threads that serve connections (the runtime's workers); 0: one per
    /// CPU core (or tokio's TOKIO_WORKER_THREADS, which a number here
    /// overrides). Fewer than the cores leaves the rest to other programs
    /// on the machine, such as a load generator or a database.
    #[arg(long, env = "TAGARELA_THREADS", default_value_t = 0)]
    pub threads: usize,

    /// Most connections at once; more get `BYE server-full` (spec §11).
    #[arg(long, env = "TAGARELA_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,

    /// Most connections from one IP address; more get `BYE address-limit`.
    #[arg(long, env = "TAGARELA_MAX_PER_ADDRESS", default_value_t = 1_000)]
    pub max_per_address: usize,

    /// Seconds a new connection has to register a name (spec §4.5).
    #[arg(long, env = "TAGARELA_REGISTRATION_TIMEOUT", default_value_t = 30.0, value_parser = seconds)]
    pub registration_timeout: f64,

    /// Seconds of client silence before the server sends PING (spec §10).
    #[arg(long, env = "TAGARELA_PING_INTERVAL", default_value_t = 60.0, value_parser = seconds)]
    pub ping_interval: f64,

    /// Seconds after PING without any line before `BYE timeout` (spec §10).
    #[arg(long, env = "TAGARELA_PING_TIMEOUT", default_value_t = 30.0, value_parser = seconds)]
    pub ping_timeout: f64,

    /// Hard bound: octets of output queued for one client before it is
    /// removed as `slow` at once (spec §11).
    #[arg(long, env = "TAGARELA_OUTBOX_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub outbox_bytes: usize,

    /// Soft bound: a client whose queue stays above this many octets for
    /// `--slow-grace` seconds is removed as `slow` (spec §11).
    #[arg(long, env = "TAGARELA_OUTBOX_SOFT_BYTES", default_value_t = 256 * 1024)]
    pub outbox_soft_bytes: usize,

    /// Seconds a client may stay above the soft bound (spec §11).
    #[arg(long, env = "TAGARELA_SLOW_GRACE", default_value_t = 10.0, value_parser = seconds)]
    pub slow_grace: f64,

    /// Seconds a client above the soft bound holds the senders back before
    /// only the bounds apply to it (spec §11).
    #[arg(long, env = "TAGARELA_PRESSURE_WINDOW", default_value_t = 2.0, value_parser = seconds)]
    pub pressure_window: f64,

    /// Lines per second one client may send once its burst is spent
    /// (spec §11); excess lines wait, unread. `off` for no limit.
    #[arg(long, env = "TAGARELA_RATE_LIMIT", default_value = "5", value_parser = lines_per_second)]
    pub rate_limit: LinesPerSecond,

    /// Lines one client may send back to back after a quiet spell.
    #[arg(long, env = "TAGARELA_RATE_BURST", default_value_t = 25, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_burst: u32,

    /// Append-only audit log (JSON Lines) of joins, leaves and messages,
    /// created owner-only. Default: audit.jsonl in the state directory
    /// ($XDG_STATE_HOME/tagarela or ~/.local/state/tagarela).
    #[arg(long, env = "TAGARELA_AUDIT_LOG", conflicts_with = "no_audit_log")]
    pub audit_log: Option<PathBuf>,

    /// Do not write an audit log at all.
    #[arg(long, env = "TAGARELA_NO_AUDIT_LOG")]
    pub no_audit_log: bool,
    /// The history database (SQLite, created owner-only): public messages
    /// are kept here across restarts and replayed to newcomers (spec §16).
    /// Default: history.sqlite in the state directory.
    #[arg(long, env = "TAGARELA_HISTORY", conflicts_with_all = ["no_history", "redis"])]
    pub history: Option<PathBuf>,
    /// Keep no history: no replay on joining, `/history` answers nothing.
    #[arg(long, env = "TAGARELA_NO_HISTORY")]
    pub no_history: bool,
    /// How much history to keep: a number of messages (1 to 1000000; 10000
    /// if only an age is given), an age (30d, 12h, 90m, 45s), or both
    /// separated by a comma; the newest are kept.
    #[arg(long, env = "TAGARELA_HISTORY_KEEP", default_value = "10000,30d", value_parser = retention)]
    pub history_keep: Retention,
    /// From how many members on a room's joins and leaves are summed up
    /// in one CROWD notice a second instead of a line each to everyone
    /// (spec §18); 0 sends every join and leave, however large the room.
    #[arg(long, env = "TAGARELA_CROWD_SIZE", default_value_t = crate::hub::crowd::DEFAULT_SIZE)]
    pub crowd_size: usize,

    /// The room every client starts in, and where a client that does not
    /// speak rooms lives (spec §19.1): `#` and a name.
    #[arg(long, env = "TAGARELA_DEFAULT_ROOM", default_value = crate::hub::room::DEFAULT_ROOM, value_parser = room_name)]
    pub default_room: tagarela_parser::RoomName<'static>,

    /// The most rooms one client is in at once (spec §19.5).
    #[arg(long, env = "TAGARELA_ROOMS_PER_CLIENT", default_value_t = crate::hub::room::DEFAULT_PER_CLIENT as u16, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub rooms_per_client: u16,

    /// The most rooms the server holds, the default one included (spec
    /// §19.5); past it, the room left empty the longest is forgotten to
    /// make way for a new one.
    #[arg(long, env = "TAGARELA_ROOMS_MAX", default_value_t = crate::hub::room::DEFAULT_MAX as u32, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub rooms_max: u32,

    /// The most members a room other than the default one has (spec
    /// §19.5); 0: no bound but the connection limit.
    #[arg(long, env = "TAGARELA_ROOM_MEMBERS_MAX", default_value_t = 0)]
    pub room_members_max: usize,

    /// Kept messages replayed to each newcomer (0 for none).
    #[arg(long, env = "TAGARELA_HISTORY_REPLAY", default_value_t = 50, value_parser = clap::value_parser!(u16).range(0..=1000))]
    pub history_replay: u16,

    /// Load balancers (addresses or networks, comma-separated: 10.0.0.2,
    /// 10.1.0.0/24) whose connections begin with a PROXY protocol header
    /// (v1 or v2, as HAProxy's `send-proxy` and nginx's `proxy_protocol
    /// on` send) naming the client: its address then counts for the
    /// per-address limit, the password throttle and the plain-text
    /// password check, and in the logs. A listed balancer's connection
    /// without a header is closed; nobody else's is ever read for one.
    #[arg(long, env = "TAGARELA_PROXY_PROTOCOL_FROM", value_delimiter = ',', value_parser = crate::transport::proxy_header::Balancers::parse_entry)]
    pub proxy_protocol_from: Vec<ipnet::IpNet>,

    /// Join the cluster whose state is in this Redis (spec §17):
    /// `redis://HOST:PORT/DB`. Every server given the same Redis database
    /// is one room. The history is then kept in Redis (--history is not
    /// used; --history-keep and --no-history still are).
    #[arg(long, env = "TAGARELA_REDIS", value_name = "URL")]
    pub redis: Option<String>,
    /// This server's name in its cluster, for logs and metrics (default: a
    /// random one).
    #[arg(long, env = "TAGARELA_NODE_ID", requires = "redis", value_parser = node_id)]
    pub node_id: Option<String>,

    /// Write the text of private messages to the audit log and the logs.
    /// Off by default: only who whispered to whom, and when, is recorded.
    #[arg(long, env = "TAGARELA_LOG_PRIVATE_TEXT")]
    pub log_private_text: bool,

    /// Log format on stderr; levels come from RUST_LOG (default: info).
    #[arg(long, env = "TAGARELA_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Seconds allowed at shutdown to deliver `BYE shutdown` to every client.
    #[arg(long, env = "TAGARELA_SHUTDOWN_GRACE", default_value_t = 3.0, value_parser = seconds)]
    pub shutdown_grace: f64,
}

fn node_id(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "{s:?}: a node id is 1 to 64 letters, digits, '-' or '_'"
        ))
    }
}

/// A rate in lines per second, or no limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LinesPerSecond {
    /// No limit.
    Off,
    /// At most this many, on average.
    Rate(f64),
}

fn lines_per_second(s: &str) -> Result<LinesPerSecond, String> {
    if s.eq_ignore_ascii_case("off") {
        return Ok(LinesPerSecond::Off);
    }
    match s.parse::<f64>() {
        Ok(v) if (0.001..=1_000_000.0).contains(&v) => Ok(LinesPerSecond::Rate(v)),
        _ => Err(format!(
            "{s:?} is not a number of lines per second from 0.001 to 1000000, or `off`"
        )),
    }
}

fn retention(s: &str) -> Result<Retention, String> {
    let mut messages = None;
    let mut age = None;
    for part in s.split(',') {
        let part = part.trim();
        let unit = part.chars().last().unwrap_or(' ');
        let scale = match unit {
            'd' => Some(86_400),
            'h' => Some(3_600),
            'm' => Some(60),
            's' => Some(1),
            _ => None,
        };
        match scale {
            Some(scale) if age.is_none() => {
                let n: u64 = part[..part.len() - 1]
                    .parse()
                    .map_err(|_| format!("{part:?} is not an age such as 30d, 12h, 90m or 45s"))?;
                age = Some(Duration::from_secs(n.saturating_mul(scale)));
            }
            None if messages.is_none() => {
                let n = part.parse::<usize>().map_err(|_| {
                    format!("{part:?} is not a number of messages or an age such as 30d")
                })?;
                if !(1..=KEEP_MAX).contains(&n) {
                    return Err(format!(
                        "keep from 1 to {KEEP_MAX} messages (they are held in memory too); --no-history keeps none"
                    ));
                }
                messages = Some(n);
            }
            _ => return Err(format!("{s:?}: give at most one count and one age")),
        }
    }
    Ok(Retention {
        // An age alone still has a count: what is kept is held in memory.
        messages: messages.unwrap_or(Retention::default().messages),
        age,
    })
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

fn seconds(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if v.is_finite() && v > 0.0 && v < 1e9 {
        Ok(v)
    } else {
        Err(format!("{s} must be a positive number of seconds"))
    }
}

/// What the running server needs, with units applied.
#[derive(Debug, Clone)]
pub struct Settings {
    pub max_connections: usize,
    pub max_per_address: usize,
    pub registration_timeout: Duration,
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    pub outbox_bytes: usize,
    pub outbox_soft_bytes: usize,
    pub slow_grace: Duration,
    /// How long a client above the soft bound holds the senders back.
    pub pressure_window: Duration,
    /// The per-client line rate limit; `None`: off.
    pub rate_limit: Option<Rate>,
    /// Private message text goes to logs and the audit log (opt-in).
    pub log_private_text: bool,
    pub shutdown_grace: Duration,
    /// How long a TLS client has to finish its handshake.
    pub tls_handshake_timeout: Duration,
    /// The room's password, if it has one (§4.7).
    pub access: Option<std::sync::Arc<crate::chat::access::Access>>,
    /// The server's operators, if any (§20.6).
    pub operators: Option<std::sync::Arc<crate::chat::operators::Operators>>,
    /// What history is kept, when the room keeps any (§16).
    pub history_retention: Retention,
    /// Kept messages replayed to a newcomer (§16.2).
    pub history_replay: usize,
    /// The cluster this server is a node of (§17), if any.
    pub cluster: Option<crate::hub::cluster::link::ClusterConfig>,
    /// From how many members joins and leaves go into crowd notices
    /// (§18); 0: never.
    pub crowd_size: usize,
    /// The default room and the bounds on rooms (§19).
    pub rooms: crate::hub::room::RoomSettings,
    /// The load balancers whose connections begin with a PROXY header
    /// naming the client (none: no connection is read for one).
    pub balancers: crate::transport::proxy_header::Balancers,
    /// The server's name to IRC clients (§20.1).
    pub irc_name: String,
    /// Page origins the web door lets open its socket (§21.1).
    pub web_origins: Vec<String>,
}

impl Default for Settings {
    /// The spec's defaults (§11).
    fn default() -> Self {
        Settings {
            max_connections: 10_000,
            max_per_address: 1_000,
            registration_timeout: Duration::from_secs(30),
            ping_interval: Duration::from_secs(60),
            ping_timeout: Duration::from_secs(30),
            outbox_bytes: 4 * 1024 * 1024,
            outbox_soft_bytes: 256 * 1024,
            slow_grace: Duration::from_secs(10),
            pressure_window: Duration::from_secs(2),
            rate_limit: Rate::new(5.0, 25),
            log_private_text: false,
            shutdown_grace: Duration::from_secs(3),
            tls_handshake_timeout: Duration::from_secs(10),
            access: None,
            operators: None,
            history_retention: Retention::default(),
            history_replay: 50,
            cluster: None,
            crowd_size: crate::hub::crowd::DEFAULT_SIZE,
            rooms: crate::hub::room::RoomSettings::default(),
            balancers: crate::transport::proxy_header::Balancers::default(),
            irc_name: "tagarela".to_owned(),
            web_origins: Vec::new(),
        }
    }
}

impl Config {
    /// Whether a TLS listener is wanted.
    pub fn tls_enabled(&self) -> bool {
        self.tls || self.tls_cert.is_some()
    }

    /// The runtime settings these flags describe.
    pub fn settings(&self) -> Settings {
        Settings {
            max_connections: self.max_connections,
            max_per_address: self.max_per_address,
            registration_timeout: Duration::from_secs_f64(self.registration_timeout),
            ping_interval: Duration::from_secs_f64(self.ping_interval),
            ping_timeout: Duration::from_secs_f64(self.ping_timeout),
            outbox_bytes: self
                .outbox_bytes
                .max(tagarela_parser::limits::SERVER_LINE_MAX + 1),
            outbox_soft_bytes: self.outbox_soft_bytes,
            slow_grace: Duration::from_secs_f64(self.slow_grace),
            pressure_window: Duration::from_secs_f64(self.pressure_window),
            rate_limit: match self.rate_limit {
                LinesPerSecond::Off => None,
                LinesPerSecond::Rate(r) => Rate::new(r, self.rate_burst),
            },
            log_private_text: self.log_private_text,
            shutdown_grace: Duration::from_secs_f64(self.shutdown_grace),
            tls_handshake_timeout: Duration::from_secs_f64(self.tls_handshake_timeout),
            access: None,
            operators: None,
            history_retention: self.history_keep,
            history_replay: usize::from(self.history_replay),
            cluster: self
                .redis
                .as_ref()
                .map(|url| crate::hub::cluster::link::ClusterConfig {
                    url: url.clone(),
                    node_id: self.node_id.clone().unwrap_or_else(random_node_id),
                    keep: if self.no_history {
                        0
                    } else {
                        self.history_keep.messages
                    },
                }),
            crowd_size: self.crowd_size,
            rooms: crate::hub::room::RoomSettings {
                default: self.default_room.clone(),
                per_client: usize::from(self.rooms_per_client),
                max: usize::try_from(self.rooms_max).unwrap_or(usize::MAX),
                members_max: match self.room_members_max {
                    0 => usize::MAX,
                    n => n,
                },
            },
            balancers: crate::transport::proxy_header::Balancers::new(
                self.proxy_protocol_from.clone(),
            ),
            irc_name: self.irc_name.clone(),
            web_origins: self.web_origins.clone(),
        }
    }
}

/// A room name given on the command line (§19.2).
fn room_name(s: &str) -> Result<tagarela_parser::RoomName<'static>, String> {
    tagarela_parser::RoomName::normalize(s)
        .map_err(|e| format!("{s:?} is not a room name (# and a name): {e}"))
}

/// A node id nobody else is likely to have.
fn random_node_id() -> String {
    let token = crate::hub::resume::ResumeToken::generate().map(|t| t.hex());
    format!("node-{}", token.as_deref().map_or("0", |t| &t[..8]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_keep_takes_a_count_an_age_or_both() {
        let days = |d: u64| Some(Duration::from_secs(d * 86_400));
        let keep = |s| retention(s).map(|r| (r.messages, r.age));
        assert_eq!(keep("10000,30d"), Ok((10_000, days(30))));
        assert_eq!(keep("7d"), Ok((10_000, days(7))));
        assert_eq!(keep("500"), Ok((500, None)));
        assert_eq!(keep("90m, 20"), Ok((20, Some(Duration::from_secs(5400)))));
        for bad in ["", "x", "1,2", "3d,4h", "-1", "d", "10w", "0", "1000001"] {
            assert!(retention(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_defaults_are_the_spec_s() {
        let config = Config::parse_from(["tagarela-server"]);
        let settings = config.settings();
        assert_eq!(settings.history_retention, Retention::default());
        assert_eq!(settings.history_replay, Settings::default().history_replay);
    }
}
