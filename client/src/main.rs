//! The `tagarela` binary: parse flags, connect, pick interactive or
//! scripted mode, and exit with the documented status.

use std::io::IsTerminal;

use clap::Parser;
use tagarela_client::cli::{Cli, exit};
use tagarela_client::net::Connection;
use tagarela_client::{interactive, plain};

fn main() {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tagarela: cannot start: {e}");
            std::process::exit(exit::UNREACHABLE);
        }
    };
    let code = runtime.block_on(async {
        let conn = match Connection::open(&cli.host, cli.port).await {
            Ok(conn) => conn,
            Err(e) => {
                eprintln!("tagarela: cannot connect to {}:{}: {e}", cli.host, cli.port);
                return exit::UNREACHABLE;
            }
        };
        let interactive =
            !cli.plain && std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
        if interactive {
            let options = interactive::Options {
                name: cli.name,
                colour: std::env::var_os("NO_COLOR").is_none(),
                bell: cli.bell,
                timings: cli.liveness_ms,
            };
            match interactive::run(conn, options).await {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("tagarela: {e:#}");
                    exit::DISCONNECTED
                }
            }
        } else {
            plain::run(conn, cli.name, cli.liveness_ms).await
        }
    });
    // Exit without waiting for the stdin reader thread, which may be
    // blocked in read(2).
    std::process::exit(code);
}
