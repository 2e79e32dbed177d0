//! `tagarela-bench`: a load generator for Tagarela servers, in the spirit
//! of `redis-benchmark`. It drives a running server over the wire protocol
//! (loopback only), checks every delivery, and reports throughput, latency
//! percentiles, losses and the server's memory and CPU.
#![forbid(unsafe_code)]

mod client;
mod crowd;
mod flow;
mod history;
mod intrinsic;
mod marker;
mod process;
mod report;
mod run;
mod scenarios;

use clap::{Parser, Subcommand};

use run::Common;

/// Load generator for Tagarela servers (loopback only).
#[derive(Debug, Parser)]
#[command(name = "tagarela-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    #[command(flatten)]
    Scenario(Scenario),
    /// Flow control (spec §11): starts fresh servers from `--server` and
    /// measures (a) a flooder with the rate limit off against readers that
    /// pause, (b) the same with it on and a baseline, (c) many senders at
    /// once, (d) a reader that stops reading.
    Flow {
        /// The server binary to start for each run.
        #[arg(long, default_value = "target/release/tagarela-server")]
        server: std::path::PathBuf,
        /// Readers that pause 200 ms every second in (a) and (b).
        #[arg(long, default_value_t = 20)]
        readers: usize,
        /// Seconds of (a) and (b) each.
        #[arg(long, default_value_t = 30.0)]
        seconds: f64,
        /// Senders in (c) (at most 62).
        #[arg(long, default_value_t = 50)]
        senders: usize,
        /// The server predates `--rate-limit` (an older build, for a
        /// before/after comparison): run (a), (c) and (d) without it.
        #[arg(long)]
        legacy: bool,
    },
    /// A crowd (spec §18): starts a fresh server from `--server`, registers
    /// `--clients` clients within `--within` seconds, all reading, and
    /// reports removals, time to all in, lines and peak memory; with
    /// `--restart`, then restarts the server and lets them come back as
    /// the reference client does (a restart storm). Raise `ulimit -n`.
    Crowd {
        /// The server binary to start.
        #[arg(long, default_value = "target/release/tagarela-server")]
        server: std::path::PathBuf,
        #[arg(long, default_value_t = 19_000)]
        clients: usize,
        /// Seconds over which the clients first connect.
        #[arg(long, default_value_t = 10.0)]
        within: f64,
        /// Then restart the server and measure the storm.
        #[arg(long)]
        restart: bool,
        /// Spread clients over 127.0.0.2.. (K addresses).
        #[arg(long, default_value_t = 2)]
        src_ips: u8,
        /// Seconds each phase may take.
        #[arg(long, default_value_t = 120.0)]
        max_secs: f64,
        /// Print one JSON object instead of the table.
        #[arg(long)]
        json: bool,
        /// Further server flags, after `--`.
        #[arg(last = true)]
        server_args: Vec<String>,
    },
    /// No server: the history store's sustained write rate, size on disk
    /// and start-up load (spec §16), through the server's own store code.
    HistoryStore {
        /// Public messages to write.
        #[arg(long, default_value_t = 1_000_000)]
        events: usize,
        /// Octets of text per message.
        #[arg(long, default_value_t = 64)]
        size: usize,
        /// Where to put the database (deleted afterwards).
        #[arg(long, default_value = "target/bench-history")]
        dir: std::path::PathBuf,
    },
    /// How long a joining client waits for its backlog: fills the history
    /// of a running server (start it with `--history-replay COUNT` and
    /// `--rate-limit off`), then times joins from the name to `HISTEND`.
    Replay {
        /// The server's address.
        #[arg(long)]
        addr: std::net::SocketAddr,
        /// Messages in the backlog.
        #[arg(long, default_value_t = 50)]
        count: usize,
        /// Joins to time.
        #[arg(long, default_value_t = 51)]
        reps: usize,
    },
    /// No server: this machine's own latency floor, i.e. how late a thread
    /// that is ready to run gets the CPU (like `redis-cli --intrinsic-latency`).
    IntrinsicLatency {
        /// Seconds for each of the two probes (1 ms timer ticks, then a spin loop).
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Print one JSON object instead of the table.
        #[arg(long)]
        json: bool,
    },
}

/// The scenarios that drive a running server.

#[derive(Debug, Subcommand)]
enum Scenario {
    /// N clients; S of them each send M public messages of D octets.
    Fanout {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 100)]
        clients: usize,
        #[arg(long, default_value_t = 10)]
        senders: usize,
        #[command(flatten)]
        load: Load,
    },
    /// R rooms of N clients (spec §19); in each, S of its clients send M
    /// public messages to it. Start the server with `--rooms-max` above R.
    Rooms {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 100)]
        rooms: usize,
        /// Clients in each room.
        #[arg(long, default_value_t = 100)]
        per_room: usize,
        /// Senders in each room.
        #[arg(long, default_value_t = 10)]
        senders: usize,
        #[command(flatten)]
        load: Load,
    },
    /// P pairs; in each, one client sends M private messages to the other.
    Private {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 50)]
        pairs: usize,
        #[command(flatten)]
        load: Load,
    },
    /// N registered clients held idle; reports the server's RSS per client.
    Idle {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 10_000)]
        clients: usize,
        /// Seconds to hold them (keep below the server's ping interval).
        #[arg(long, default_value_t = 5.0)]
        hold: f64,
        /// Rooms clients in this many rooms each, the default one counted
        /// (spec §19); 0: plain v1 clients.
        #[arg(long, default_value_t = 0)]
        rooms_each: usize,
        /// The rooms they are spread over (besides the default one).
        #[arg(long, default_value_t = 900)]
        room_count: usize,
    },
    /// Connect, register, /quit, repeated; reports cycles per second.
    Churn {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 5000)]
        cycles: usize,
        /// Cycles run at once.
        #[arg(long, default_value_t = 50)]
        parallel: usize,
    },
}

/// What each sender sends.
#[derive(Debug, clap::Args)]
struct Load {
    /// Messages per sender.
    #[arg(long, default_value_t = 1000)]
    messages: u64,
    /// Message text size in octets.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Messages per second per sender (default: as fast as possible).
    #[arg(long)]
    rate: Option<f64>,
}

impl Scenario {
    fn common(&self) -> &Common {
        match self {
            Scenario::Fanout { common, .. }
            | Scenario::Rooms { common, .. }
            | Scenario::Private { common, .. }
            | Scenario::Idle { common, .. }
            | Scenario::Churn { common, .. } => common,
        }
    }
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Scenario(scenario) => drive(scenario),
        Command::IntrinsicLatency { seconds, json } => intrinsic::run(seconds, json),
        Command::Crowd {
            server,
            clients,
            within,
            restart,
            src_ips,
            max_secs,
            json,
            server_args,
        } => {
            anyhow::ensure!(clients > 0, "--clients must be at least 1");
            let plan = crowd::Plan {
                clients,
                within,
                restart,
                src_ips,
                max_secs,
                server_args,
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let report = runtime.block_on(crowd::run(&server, plan))?;
            runtime.shutdown_background();
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!("{}", serde_json::to_string_pretty(&report)?);
            }
            let phases = std::iter::once(&report.crowd).chain(report.restart.as_ref());
            let whole = phases.clone().all(|p| p.all_in && p.removed == 0);
            std::process::exit(i32::from(!whole || (restart && report.restart.is_none())));
        }
        Command::HistoryStore { events, size, dir } => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(history::store(&dir, events, size)),
        Command::Replay { addr, count, reps } => {
            anyhow::ensure!(addr.ip().is_loopback(), "loopback addresses only");
            anyhow::ensure!(reps > 0, "--reps must be at least 1");
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(history::replay(addr, count, reps))
        }
        Command::Flow {
            server,
            readers,
            seconds,
            senders,
            legacy,
        } => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let result = runtime.block_on(flow::run(
                &server,
                readers,
                seconds,
                senders.min(62),
                legacy,
            ));
            runtime.shutdown_background();
            result
        }
    }
}

/// Runs one scenario against the server, prints its report, and exits 0
/// only if every expected delivery arrived intact.
fn drive(scenario: Scenario) -> anyhow::Result<()> {
    let common = scenario.common().clone();
    common.check()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(async {
        match scenario {
            Scenario::Fanout {
                clients,
                senders,
                load,
                ..
            } => {
                scenarios::fanout(
                    &common,
                    clients,
                    senders,
                    load.messages,
                    load.size,
                    load.rate,
                )
                .await
            }
            Scenario::Private { pairs, load, .. } => {
                scenarios::private(&common, pairs, load.messages, load.size, load.rate).await
            }
            Scenario::Rooms {
                rooms,
                per_room,
                senders,
                load,
                ..
            } => {
                scenarios::rooms(
                    &common,
                    rooms,
                    per_room,
                    senders,
                    load.messages,
                    load.size,
                    load.rate,
                )
                .await
            }
            Scenario::Idle {
                clients,
                hold,
                rooms_each,
                room_count,
                ..
            } => {
                let rooms = (rooms_each > 0).then_some((room_count, rooms_each));
                scenarios::idle(&common, clients, hold, rooms).await
            }
            Scenario::Churn {
                cycles, parallel, ..
            } => scenarios::churn(&common, cycles, parallel).await,
        }
    })?;
    if common.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", report::table(&report));
    }
    // Readers still hold sockets; do not wait for them.
    runtime.shutdown_background();
    std::process::exit(
        if report.outcome == "complete" && report.lost == 0 && report.garbled == 0 {
            0
        } else {
            1
        },
    );
}
