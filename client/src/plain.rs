//! Scripted mode: lines from stdin go to the server as they are (`sair`
//! leaves, spec §5.4); every server line is printed on stdout as one line in
//! its canonical wire form (spec §7), plus `LOST :reason` if the connection
//! ends without `BYE`. On stdin EOF the client sends `/quit` and waits for
//! the server's `BYE`. No prompts, no colour.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use tagarela_parser::{ByeReason, ServerLine};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::cli::exit;
use crate::input::{QUIT_WAIT, to_wire};
use crate::net::{Connection, Incoming};
use crate::render;
use crate::sanitize::for_terminal;

fn emit(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Runs scripted mode to the end; returns the exit status.
pub async fn run(mut conn: Connection, name: Option<String>) -> i32 {
    let to_terminal = std::io::stdout().is_terminal();
    if let Some(name) = name {
        if conn.send(name.as_bytes()).await.is_err() {
            emit("LOST :cannot send to the server");
            return exit::DISCONNECTED;
        }
    }
    let mut stdin = BufReader::new(tokio::io::stdin());
    let mut stdin_open = true;
    let quit_timer = tokio::time::sleep(Duration::MAX);
    tokio::pin!(quit_timer);
    let mut buf = Vec::new();
    loop {
        tokio::select! {
            incoming = conn.incoming.recv() => match incoming.unwrap_or(Incoming::Closed(None)) {
                Incoming::Line(line) => {
                    emit(&render::plain(&line, to_terminal));
                    match line {
                        ServerLine::Ping { token } => {
                            let _ = conn.send(format!("/pong {token}").as_bytes()).await;
                        }
                        ServerLine::Bye { reason, .. } => {
                            return if reason == ByeReason::Quit { exit::LEFT } else { exit::DISCONNECTED };
                        }
                        _ => {}
                    }
                }
                Incoming::Malformed(text) => eprintln!("tagarela: malformed line from the server: {}", for_terminal(&text)),
                Incoming::Closed(err) => {
                    let why = err.unwrap_or_else(|| "connection closed by the server".into());
                    emit(&format!("LOST :{why}"));
                    return exit::DISCONNECTED;
                }
            },
            read = stdin.read_until(b'\n', &mut buf), if stdin_open => {
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
                            emit("LOST :cannot send to the server");
                            return exit::DISCONNECTED;
                        }
                        buf.clear();
                    }
                }
            }
            () = &mut quit_timer => {
                emit("LOST :no BYE from the server after /quit");
                return exit::DISCONNECTED;
            }
        }
    }
}
