//! Interactive mode for people: a rustyline editor (history, Tab completion)
//! on its own thread, and incoming lines printed through rustyline's
//! external printer so they never garble the line being typed. Asks for a
//! name until the server accepts one, then shows who is online. The last
//! message (why the session ended) is printed by this module itself, since
//! the editor thread is still inside `readline` at that moment; the
//! terminal (modes and bracketed paste) is restored on every way out.

use std::io::Write;
use std::time::Duration;

use nix::sys::termios::{SetArg, Termios, tcgetattr, tcsetattr};
use rustyline::history::DefaultHistory;
use rustyline::{Editor, ExternalPrinter};
use tagarela_parser::{ByeReason, ErrorCode, ServerLine};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::cli::exit;
use crate::completion::{ChatHelper, Roster};
use crate::input::{QUIT_WAIT, is_quit, to_wire};
use crate::net::{Connection, Incoming};
use crate::render::Pretty;
use crate::sanitize::for_terminal;

/// The editor's prompt.
const PROMPT: &str = "> ";

/// Time given to the editor thread to print what it has queued before the
/// last message is written.
const PRINTER_DRAIN: Duration = Duration::from_millis(50);

/// Turns bracketed paste off (rustyline turns it on while it edits).
const BRACKETED_PASTE_OFF: &str = "\x1b[?2004l";

/// Puts the terminal back as it was when dropped.
struct TerminalGuard(Option<Termios>);

impl TerminalGuard {
    fn save() -> Self {
        TerminalGuard(tcgetattr(std::io::stdin()).ok())
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        if let Some(saved) = &self.0 {
            let _ = tcsetattr(std::io::stdin(), SetArg::TCSANOW, saved);
        }
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(BRACKETED_PASTE_OFF.as_bytes());
        let _ = out.flush();
    }
}

/// How the session ended: the exit status and the last thing to say.
struct End {
    code: i32,
    last: String,
}

/// Runs interactive mode to the end; returns the exit status.
pub async fn run(conn: Connection, name: Option<String>, colour: bool) -> anyhow::Result<i32> {
    let _terminal = TerminalGuard::save();
    let mut view = Pretty::new(colour);
    let end = match chat(conn, name, &mut view).await {
        Ok(end) => end,
        Err(e) => End {
            code: exit::DISCONNECTED,
            last: view.error(&format!("{e:#}")),
        },
    };
    // Let the editor thread print what is queued, then clear the prompt
    // line and say why the session ended.
    tokio::time::sleep(PRINTER_DRAIN).await;
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "\r\x1b[K{}\r\n", end.last);
    let _ = out.flush();
    Ok(end.code)
}

/// The session: typed lines out, server lines in, until it ends.
async fn chat(
    mut conn: Connection,
    name: Option<String>,
    view: &mut Pretty,
) -> anyhow::Result<End> {
    let roster = Roster::default();
    let mut editor: Editor<ChatHelper, DefaultHistory> = Editor::new()?;
    editor.set_helper(Some(ChatHelper {
        roster: roster.clone(),
    }));
    let mut printer = editor.create_external_printer()?;
    let (typed_tx, mut typed) = mpsc::channel::<Option<String>>(16);

    println!("{}", view.notice(&format!("Connected to {}.", conn.peer)));
    if name.is_none() {
        println!("Choose a name (letters, digits, _ - .), then press Enter.");
    }
    std::thread::Builder::new()
        .name("line-editor".into())
        .spawn(move || {
            loop {
                match editor.readline(PROMPT) {
                    Ok(line) => {
                        if !line.trim().is_empty() {
                            let _ = editor.add_history_entry(line.as_str());
                        }
                        if typed_tx.blocking_send(Some(line)).is_err() {
                            return;
                        }
                    }
                    // Ctrl-C, Ctrl-D or a terminal error: leave.
                    Err(_) => {
                        let _ = typed_tx.blocking_send(None);
                        return;
                    }
                }
            }
        })?;

    let mut show = |s: String| {
        let _ = printer.print(s);
    };
    if let Some(name) = name {
        conn.send(name.as_bytes()).await?;
    }
    let lost = |view: &Pretty| End {
        code: exit::DISCONNECTED,
        last: view.error("Cannot send: the connection to the server was lost."),
    };
    let mut input_open = true;
    let quit_timer = tokio::time::sleep(Duration::MAX);
    tokio::pin!(quit_timer);

    loop {
        tokio::select! {
            incoming = conn.incoming.recv() => match incoming.unwrap_or(Incoming::Closed(None)) {
                Incoming::Line(line) => {
                    match &line {
                        ServerLine::Ping { token } => conn.send(format!("/pong {token}").as_bytes()).await?,
                        ServerLine::Welcome { name, .. } => {
                            roster.add(name.as_str());
                            conn.send(b"/who").await?;
                        }
                        ServerLine::Who { names } => names.iter().for_each(|n| roster.add(n.as_str())),
                        ServerLine::Join { name, .. } => roster.add(name.as_str()),
                        ServerLine::Leave { name, .. } => roster.remove(name.as_str()),
                        ServerLine::Msg { from, .. } | ServerLine::Priv { from, .. } => roster.add(from.as_str()),
                        _ => {}
                    }
                    let text = view.render(&line);
                    if let ServerLine::Bye { reason, .. } = &line {
                        return Ok(End {
                            code: if *reason == ByeReason::Quit { exit::LEFT } else { exit::DISCONNECTED },
                            last: text.unwrap_or_default(),
                        });
                    }
                    if let Some(text) = text {
                        show(text);
                    }
                    if let ServerLine::Err { code: ErrorCode::NameInvalid | ErrorCode::NameTaken, .. } = &line {
                        show("Choose another name:".into());
                    }
                }
                Incoming::Malformed(text) => {
                    show(view.error(&format!("malformed line from the server: {}", for_terminal(&text))));
                }
                Incoming::Closed(err) => {
                    let why = err.map(|e| format!(" ({})", for_terminal(&e))).unwrap_or_default();
                    return Ok(End {
                        code: exit::DISCONNECTED,
                        last: view.error(&format!("Connection to the server was lost{why}.")),
                    });
                }
            },
            line = typed.recv(), if input_open => match line.flatten() {
                Some(line) => {
                    // A paste may hold several lines: each goes out as its
                    // own line, and nothing after one that quits.
                    for piece in line.split('\n') {
                        let wire = to_wire(piece);
                        if conn.send(wire.as_bytes()).await.is_err() {
                            return Ok(lost(view));
                        }
                        if is_quit(wire) {
                            show(view.notice("Leaving..."));
                            quit_timer.as_mut().reset(Instant::now() + QUIT_WAIT);
                            break;
                        }
                    }
                }
                None => {
                    // Ctrl-D or Ctrl-C: the editor is gone; ask to leave
                    // and wait a bounded time for the server's BYE.
                    input_open = false;
                    if conn.send(b"/quit").await.is_err() {
                        return Ok(lost(view));
                    }
                    quit_timer.as_mut().reset(Instant::now() + QUIT_WAIT);
                }
            },
            () = &mut quit_timer => {
                return Ok(End {
                    code: exit::DISCONNECTED,
                    last: view.error("The server did not answer /quit; leaving anyway."),
                });
            }
        }
    }
}
