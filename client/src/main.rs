//! The `tagarela` binary: parse flags, connect, pick interactive or
//! scripted mode, and exit with the documented status.

use std::io::IsTerminal;

use std::sync::Arc;

use clap::Parser;
use tagarela_client::cli::{Cli, exit};
use tagarela_client::net::Connection;
use tagarela_client::tls::{Known, KnownServers, Policy, Trust, normalise_fingerprint};
use tagarela_client::{interactive, plain, reconnect};

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
        let password = match room_password(&cli) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("tagarela: {e}");
                return exit::USAGE;
            }
        };
        if password.is_some() && !cli.use_tls() && !tagarela_client::cli::is_this_machine(&cli.host) {
            eprintln!(
                "tagarela: not sending the room's password in plain text to {}: use TLS (drop --no-tls)",
                cli.host
            );
            return exit::USAGE;
        }
        let (mut conn, policy) = match connect(&cli).await {
            Ok(connected) => connected,
            Err(code) => return code,
        };
        let interactive =
            !cli.plain && std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
        // Interactive mode reconnects unless told not to; scripted mode
        // only when asked.
        let wanted = if interactive { !cli.no_reconnect } else { cli.reconnect };
        let reconnect = wanted.then(|| reconnector(&cli, policy, password.clone()));
        if let Some(password) = password {
            // Before anything else, as §4.7 asks; never echoed or logged.
            if conn.send(format!("/password {password}").as_bytes()).await.is_err() {
                eprintln!("tagarela: the connection closed before the password could be sent");
                return exit::DISCONNECTED;
            }
        }
        if interactive {
            let options = interactive::Options {
                name: cli.name,
                colour: std::env::var_os("NO_COLOR").is_none(),
                bell: cli.bell,
                timings: cli.liveness_ms,
                rooms: !cli.no_rooms,
                join: cli.join.clone(),
            };
            match interactive::run(conn, options, reconnect).await {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("tagarela: {e:#}");
                    exit::DISCONNECTED
                }
            }
        } else {
            let rooms = plain::Rooms {
                on: cli.rooms || !cli.join.is_empty(),
                join: cli.join.clone(),
            };
            plain::run(conn, cli.name, cli.liveness_ms, reconnect, rooms).await
        }
    });
    // Exit without waiting for the stdin reader thread, which may be
    // blocked in read(2).
    std::process::exit(code);
}

/// Connects as the flags say, over TLS with its trust decisions (asking
/// the person once, on a terminal, for an unknown certificate), or in
/// plain text. Returns the exit status on failure.
async fn connect(cli: &Cli) -> Result<(Connection, Option<Arc<Policy>>), i32> {
    let port = cli.port();
    // The key in known_servers: the host as DNS compares it.
    let host = cli.host.trim_end_matches('.').to_ascii_lowercase();
    let server = format!("{host}:{port}");
    if !cli.use_tls() {
        return match Connection::open(&cli.host, port).await {
            Ok(conn) => Ok((conn, None)),
            Err(e) => {
                eprintln!("tagarela: cannot connect to {server}: {e}");
                Err(exit::UNREACHABLE)
            }
        };
    }
    let expected = match cli.fingerprint.as_deref().map(normalise_fingerprint) {
        Some(None) => {
            eprintln!(
                "tagarela: --fingerprint is not a SHA-256 fingerprint (SHA256: and 32 hex pairs)"
            );
            return Err(exit::USAGE);
        }
        Some(Some(fp)) => Some(fp),
        None => None,
    };
    let known = KnownServers {
        path: cli
            .known_servers
            .clone()
            .unwrap_or_else(default_known_servers),
    };
    let policy = match Policy::new(
        server.clone(),
        expected,
        known.clone(),
        cli.tls_ca.as_deref(),
    ) {
        Ok(p) => Arc::new(p),
        Err(e) => {
            eprintln!("tagarela: {e}");
            return Err(exit::USAGE);
        }
    };
    for _ in 0..2 {
        policy.reset();
        let attempt = Connection::open_with(&cli.host, port, Some(&policy)).await;
        let outcome = policy.outcome();
        match (attempt, outcome) {
            (Ok(conn), trust) => {
                let remember = match trust {
                    Some(Trust::Given(fp)) => Some(Known::Pinned(fp)),
                    Some(Trust::Authority) if known.lookup(&server).is_none() => {
                        Some(Known::Authority)
                    }
                    _ => None,
                };
                if let Some(k) = remember
                    && let Err(e) = known.remember(&server, &k)
                {
                    eprintln!(
                        "tagarela: cannot remember {server} in {}: {e}",
                        known.path.display()
                    );
                }
                return Ok((conn, Some(policy)));
            }
            (Err(_), Some(Trust::Unknown(fp))) => {
                if !ask_to_trust(&server, &fp) {
                    eprintln!(
                        "tagarela: not connecting to {server}: its certificate {fp} is not trusted.\n  Check the fingerprint with the server's operator, then run again (or pass --fingerprint {fp})."
                    );
                    return Err(exit::UNTRUSTED);
                }
                if let Err(e) = known.remember(&server, &Known::Pinned(fp)) {
                    eprintln!(
                        "tagarela: cannot remember {server} in {}: {e}",
                        known.path.display()
                    );
                    return Err(exit::UNTRUSTED);
                }
            }
            (Err(_), Some(Trust::Changed { was, now })) => {
                eprintln!(
                    "tagarela: WARNING: THE CERTIFICATE OF {server} HAS CHANGED.\n  Remembered: {was}\n  Now:        {now}\n  Someone may be intercepting the connection, or the server's certificate was replaced.\n  Not connecting. If the operator confirms the new fingerprint, remove the line for {server} from {}.",
                    known.path.display()
                );
                return Err(exit::UNTRUSTED);
            }
            (Err(_), Some(Trust::Mismatch { given, now })) => {
                eprintln!(
                    "tagarela: not connecting to {server}: its certificate is {now}, not the {given} given with --fingerprint."
                );
                return Err(exit::UNTRUSTED);
            }
            (Err(e), _) => {
                eprintln!("tagarela: cannot connect to {server} over TLS: {e}");
                return Err(exit::UNREACHABLE);
            }
        }
    }
    Err(exit::UNTRUSTED)
}

/// How interactive mode connects again after losing the connection: the
/// same host and port, the same trust (a certificate that is not the one
/// trusted now ends the retries; nobody is asked mid-session), and the
/// room's password first, as on the first connection.
fn reconnector(
    cli: &Cli,
    policy: Option<Arc<Policy>>,
    password: Option<String>,
) -> reconnect::Reconnect {
    let host = cli.host.clone();
    let port = cli.port();
    Box::new(move || {
        let host = host.clone();
        let policy = policy.clone();
        let password = password.clone();
        Box::pin(async move {
            if let Some(policy) = &policy {
                policy.reset();
            }
            let attempt = Connection::open_with(&host, port, policy.as_ref()).await;
            let trust = policy.as_ref().and_then(|p| p.outcome());
            let mut conn = match (attempt, trust) {
                (Ok(conn), _) => conn,
                (
                    Err(_),
                    Some(
                        Trust::Unknown(fp)
                        | Trust::Changed { now: fp, .. }
                        | Trust::Mismatch { now: fp, .. },
                    ),
                ) => {
                    return Err(reconnect::Retry::Never(format!(
                        "the server now presents the certificate {fp}, not the one trusted; not reconnecting"
                    )));
                }
                (Err(e), _) => return Err(reconnect::Retry::Later(e.to_string())),
            };
            if let Some(password) = &password {
                conn.send(format!("/password {password}").as_bytes())
                    .await
                    .map_err(|e| reconnect::Retry::Later(e.to_string()))?;
            }
            Ok(conn)
        })
    })
}

/// Asks the person at the terminal whether to trust `fp` for `server`;
/// false without a terminal.
fn ask_to_trust(server: &str, fp: &str) -> bool {
    use std::io::{BufRead, Write};
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return false;
    }
    let mut err = std::io::stderr();
    let _ = write!(
        err,
        "The server {server} has a certificate that no known authority signed.\nIts fingerprint is\n  {fp}\nCompare it with the one the server's operator gave you.\nTrust it and remember it? [y/N] "
    );
    let _ = err.flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// `$XDG_STATE_HOME/tagarela/known_servers`, else under `~/.local/state`.
fn default_known_servers() -> std::path::PathBuf {
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(std::path::PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".local/state"))
        })
        .unwrap_or_else(|| std::path::PathBuf::from("."));
    state.join("tagarela/known_servers")
}

/// The room's password, if the person gave one: `--password-file`'s first
/// line, `TAGARELA_PASSWORD`, or typed at the prompt of `--ask-password`
/// (not echoed).
fn room_password(cli: &Cli) -> Result<Option<String>, String> {
    if let Some(path) = &cli.password_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read --password-file {}: {e}", path.display()))?;
        return Ok(Some(text.lines().next().unwrap_or("").to_owned()));
    }
    if let Ok(password) = std::env::var("TAGARELA_PASSWORD") {
        return Ok(Some(password));
    }
    if cli.ask_password {
        return ask_password().map(Some);
    }
    Ok(None)
}

/// Reads a line from the terminal with echo off.
fn ask_password() -> Result<String, String> {
    use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
    use std::io::{BufRead, Write};
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err("--ask-password needs a terminal; use --password-file".into());
    }
    let saved = tcgetattr(&stdin).map_err(|e| e.to_string())?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    tcsetattr(&stdin, SetArg::TCSANOW, &quiet).map_err(|e| e.to_string())?;
    eprint!("Room password: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    let _ = tcsetattr(&stdin, SetArg::TCSANOW, &saved);
    eprintln!();
    read.map_err(|e| e.to_string())?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}
