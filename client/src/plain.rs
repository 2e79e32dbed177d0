//! Scripted mode: lines from stdin go to the server as they are (`sair`
//! leaves, spec §5.4); every server line is printed on stdout as one line in
//! its canonical wire form (spec §7), plus `LOST :reason` if the connection
//! ends without `BYE` or the server stops answering the client's probes
//! (`liveness`). With `--name`, no stdin line is read until the name is
//! accepted, and a refused name ends the session (status 4), so a message
//! is never taken for a name. On stdin EOF the client sends `/quit` and
//! waits for the server's `BYE`. No prompts, no colour, and nothing on
//! stdout but server lines and `LOST` (warnings go to stderr): scripts
//! parse it. The client's own probe `PONG`s are not printed. With
//! `--reconnect`, a lost connection prints `LOST` and is reopened: the
//! name is taken back (spec §16.6) and the server's lines (`WELCOME`, the
//! missed `SEQ` lines, `RESUMED`) follow; stdin waits meanwhile. With
//! `--rooms` (or `--join`) the client asks for rooms (spec §19): a room's
//! lines come as `IN #room ...`, and the script addresses a room with
//! `/msg #room text`; `--join` joins rooms once the name is accepted, and
//! a resumed session is a rooms session again.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use tagarela_parser::{ByeReason, ErrorCode, ServerLine};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::time::Instant;

use crate::cli::exit;
use crate::input::{QUIT_WAIT, features_line, to_wire};
use crate::liveness::{Alarm, Liveness, Report, Timings};
use crate::net::{Connection, Incoming};
use crate::reconnect::{Backoff, GIVE_UP, Reconnect, ResumeState, Retry};
use crate::render;
use crate::sanitize::for_terminal;

fn emit(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Lists unconfirmed lines on stderr.
fn warn_unconfirmed(report: &Report) {
    for line in &report.unconfirmed {
        eprintln!(
            "tagarela: not confirmed by the server: {}",
            for_terminal(line)
        );
    }
    if report.more > 0 {
        eprintln!("tagarela: ... and {} earlier lines", report.more);
    }
}

/// Scripted mode's rooms (spec §19).
#[derive(Debug, Clone, Default)]
pub struct Rooms {
    /// Ask the server for rooms.
    pub on: bool,
    /// Rooms to join once the name is accepted.
    pub join: Vec<String>,
}

/// Runs scripted mode to the end; returns the exit status.
pub async fn run(
    mut conn: Connection,
    name: Option<String>,
    timings: Timings,
    mut reconnect: Option<Reconnect>,
    rooms: Rooms,
) -> i32 {
    let to_terminal = std::io::stdout().is_terminal();
    let mut live = Liveness::new(timings, Instant::now());
    let mut resume = ResumeState::default();
    // A reconnection in progress: the name was sent after a refused token.
    let mut resuming = false;
    // The outage's pauses, kept until the name is back: a server that
    // accepts and then fails does not restart them.
    let mut backoff: Option<Backoff> = None;
    if let Some(features) = features_line(reconnect.is_some(), rooms.on) {
        if conn.send(features.as_bytes()).await.is_err() {
            emit("LOST :cannot send to the server");
            return exit::DISCONNECTED;
        }
        resume.asked = true;
    }
    let mut to_join = (!rooms.join.is_empty()).then(|| format!("/join {}", rooms.join.join(",")));
    // True while the `--name` is in flight: stdin waits, so that a message
    // is never sent as a name attempt.
    let mut awaiting_name = false;
    if let Some(name) = name {
        if conn.send(name.as_bytes()).await.is_err() {
            emit("LOST :cannot send to the server");
            return exit::DISCONNECTED;
        }
        live.expect_answer(Instant::now());
        awaiting_name = true;
    }
    let mut stdin = BufReader::new(tokio::io::stdin());
    let mut stdin_open = true;
    let quit_timer = tokio::time::sleep(Duration::MAX);
    tokio::pin!(quit_timer);
    let mut buf = Vec::new();
    loop {
        let why: String = 'live: loop {
            let probe_at = live.deadline();
            tokio::select! {
                incoming = conn.incoming.recv() => match incoming.unwrap_or(Incoming::Closed(None)) {
                    Incoming::Line(line) => {
                        live.heard(Instant::now());
                        if resume.observe(&line) {
                            // The answer to `/features`: not for the script.
                            continue;
                        }
                        if resuming && matches!(&line, ServerLine::Err { code: ErrorCode::ResumeRefused, .. }) {
                            // The server no longer knows the session: the name again.
                            resuming = false;
                            emit(&render::plain(&line, to_terminal));
                            if let Some(name) = &resume.name
                                && conn.send(name.as_bytes()).await.is_ok() {
                                    awaiting_name = true;
                                }
                            continue;
                        }
                        if let ServerLine::Pong { token } = &line
                            && live.pong(token.as_ref().map(|t| t.as_str())).is_some() {
                                continue;
                            }
                        emit(&render::plain(&line, to_terminal));
                        match line {
                            ServerLine::Ping { token } => {
                                let _ = conn.send(format!("/pong {token}").as_bytes()).await;
                            }
                            ServerLine::Welcome { .. } => {
                                awaiting_name = false;
                                resuming = false;
                                backoff = None;
                                if let Some(join) = to_join.take() {
                                    let _ = conn.send(join.as_bytes()).await;
                                }
                            }
                            // Any error while the name is in flight answers it
                            // (§4.3): name-invalid, name-taken, or a framing or
                            // character error in the name line.
                            ServerLine::Err { code, .. } if awaiting_name => {
                                eprintln!("tagarela: the server refused the name ({code}); nothing else was sent");
                                return exit::NAME_REFUSED;
                            }
                            ServerLine::Bye { reason: ByeReason::Shutdown | ByeReason::Unavailable, .. } if stdin_open => {
                                break 'live "the server shut down".to_owned();
                            }
                            ServerLine::Bye { reason, .. } => {
                                return if reason == ByeReason::Quit { exit::LEFT } else { exit::DISCONNECTED };
                            }
                            _ => {}
                        }
                    }
                    Incoming::TooLong(octets) => {
                        live.heard(Instant::now());
                        eprintln!(
                            "tagarela: the server sent a line longer than the protocol allows ({octets} octets); skipped"
                        );
                    }
                    Incoming::Malformed(text) => {
                        live.heard(Instant::now());
                        eprintln!("tagarela: malformed line from the server: {}", for_terminal(&text));
                    }
                    Incoming::Closed(err) => {
                        warn_unconfirmed(&live.report(Instant::now()));
                        break 'live err.unwrap_or_else(|| "connection closed by the server".into());
                    }
                },
                () = tokio::time::sleep_until(probe_at) => match live.tick(Instant::now()) {
                    Some(Alarm::Probe(token)) => {
                        let sent = conn.send(format!("/ping {token}").as_bytes()).await;
                        if sent.is_err() {
                            break 'live "cannot send to the server".to_owned();
                        }
                    }
                    Some(Alarm::NotResponding(report)) => {
                        eprintln!("tagarela: the server is not responding (nothing for {:.1} s)", report.silent.as_secs_f64());
                    }
                    Some(Alarm::Lost(report)) => {
                        warn_unconfirmed(&report);
                        break 'live format!("no answer from the server for {:.1} s", report.silent.as_secs_f64());
                    }
                    None => {}
                },
                read = stdin.read_until(b'\n', &mut buf), if stdin_open && !awaiting_name => {
                    match read {
                        Ok(0) | Err(_) => {
                            stdin_open = false;
                            let _ = conn.send(b"/quit").await;
                            quit_timer.as_mut().reset(tokio::time::Instant::now() + QUIT_WAIT);
                        }
                        Ok(_) => {
                            let mut line: &[u8] = &buf;
                            line = line.strip_suffix(b"\n").unwrap_or(line);
                            line = line.strip_suffix(b"\r").unwrap_or(line);
                            let wire: &[u8] = match std::str::from_utf8(line) {
                                Ok(text) => to_wire(text).as_bytes(),
                                Err(_) => line,
                            };
                            if conn.send(wire).await.is_err() {
                                break 'live "cannot send to the server".to_owned();
                            }
                            live.sent(&String::from_utf8_lossy(wire), Instant::now());
                            buf.clear();
                        }
                    }
                }
                () = &mut quit_timer => {
                    emit("LOST :no BYE from the server after /quit");
                    return exit::DISCONNECTED;
                }
            }
        };
        emit(&format!("LOST :{why}"));
        let (Some(again), true, true) = (reconnect.as_mut(), stdin_open, resume.can_resume())
        else {
            return exit::DISCONNECTED;
        };
        conn = loop {
            let Some(pause) = backoff.get_or_insert_with(Backoff::new).next_pause() else {
                emit(&format!(
                    "LOST :could not reconnect within {} minutes",
                    GIVE_UP.as_secs() / 60
                ));
                return exit::DISCONNECTED;
            };
            tokio::time::sleep(pause).await;
            match again().await {
                Ok(conn) => break conn,
                Err(Retry::Never(why)) => {
                    emit(&format!("LOST :not reconnecting: {why}"));
                    return exit::DISCONNECTED;
                }
                Err(Retry::Later(_)) => {}
            }
        };
        live = Liveness::new(timings, Instant::now());
        resuming = true;
        if rooms.on {
            // A rooms session is resumed as one (§19.4).
            resume.asked = true;
            if conn.send(b"/features rooms").await.is_err() {
                emit("LOST :cannot send to the server");
                return exit::DISCONNECTED;
            }
        }
        if conn.send(resume.resume_line().as_bytes()).await.is_err() {
            emit("LOST :cannot send to the server");
            return exit::DISCONNECTED;
        }
    }
}
