//! Interactive mode for people: a rustyline editor (history, Tab completion)
//! on its own thread, and incoming lines printed through rustyline's
//! external printer so they never garble the line being typed. Asks for a
//! name until the server accepts one, then shows who is online. Restores
//! the terminal on every way out.

use nix::sys::termios::{SetArg, Termios, tcgetattr, tcsetattr};
use rustyline::history::DefaultHistory;
use rustyline::{Editor, ExternalPrinter};
use tagarela_parser::{ByeReason, ErrorCode, ServerLine};
use tokio::sync::mpsc;

use crate::cli::exit;
use crate::completion::{ChatHelper, Roster};
use crate::input::{is_quit, to_wire};
use crate::net::{Connection, Incoming};
use crate::render::Pretty;

/// The editor's prompt.
const PROMPT: &str = "> ";

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
    }
}

/// Runs interactive mode to the end; returns the exit status.
pub async fn run(mut conn: Connection, name: Option<String>, colour: bool) -> anyhow::Result<i32> {
    let _terminal = TerminalGuard::save();
    let roster = Roster::default();
    let mut editor: Editor<ChatHelper, DefaultHistory> = Editor::new()?;
    editor.set_helper(Some(ChatHelper {
        roster: roster.clone(),
    }));
    let mut printer = editor.create_external_printer()?;
    let (typed_tx, mut typed) = mpsc::channel::<Option<String>>(16);

    let mut view = Pretty::new(colour);
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
                    if let Some(text) = view.render(&line) {
                        show(text);
                    }
                    match &line {
                        ServerLine::Err { code: ErrorCode::NameInvalid | ErrorCode::NameTaken, .. } => {
                            show("Choose another name:".into());
                        }
                        ServerLine::Bye { reason, .. } => {
                            return Ok(if *reason == ByeReason::Quit { exit::LEFT } else { exit::DISCONNECTED });
                        }
                        _ => {}
                    }
                }
                Incoming::Malformed(text) => show(view.error(&format!("malformed line from the server: {text}"))),
                Incoming::Closed(err) => {
                    let why = err.map(|e| format!(" ({e})")).unwrap_or_default();
                    show(view.error(&format!("Connection to the server was lost{why}.")));
                    return Ok(exit::DISCONNECTED);
                }
            },
            line = typed.recv() => match line.flatten() {
                Some(line) => {
                    let wire = to_wire(&line);
                    if conn.send(wire.as_bytes()).await.is_err() {
                        show(view.error("Cannot send: the connection to the server was lost."));
                        return Ok(exit::DISCONNECTED);
                    }
                    if is_quit(wire) {
                        show(view.notice("Leaving..."));
                    }
                }
                None => {
                    let _ = conn.send(b"/quit").await;
                }
            }
        }
    }
}
