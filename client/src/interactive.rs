//! Interactive mode for people: the line editor (`editor`) on its own
//! thread, and incoming lines printed through rustyline's external printer
//! so they never garble the line being typed. Asks for a name until the
//! server accepts one, then shows who is online. Watches the server's
//! liveness (`liveness`), says when it stops answering and which sent lines
//! it has not confirmed, and gives up after a bound. Rings the bell as
//! `--bell` says, writing the BEL itself. The last message (why the session
//! ended, what was not confirmed, the unsent draft) is printed by this
//! module itself, since the editor thread is still inside `readline` at
//! that moment; the terminal (modes and bracketed paste) is restored on
//! every way out.

use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::Local;
use nix::sys::termios::{SetArg, Termios, tcgetattr, tcsetattr};
use rustyline::ExternalPrinter;
use tagarela_parser::{ByeReason, ClientLine, ErrorCode, NameKey, ServerLine};
use tokio::time::Instant;

use crate::alert::{Bell, rings};
use crate::cli::exit;
use crate::comeback::Comeback;
use crate::editor::{LineEditor, Shared, Typed};
use crate::input::{QUIT_WAIT, features_line, is_quit, public_text};
use crate::liveness::{Alarm, Liveness, Report, Timings};
use crate::net::{Connection, Incoming};
use crate::reconnect::{GIVE_UP, Reconnect, Retry};
use crate::render::Pretty;
use crate::rooms::{Rooms, Typed as InRoom};
use crate::sanitize::for_terminal;

/// Time given to the editor thread to print what it has queued before the
/// last message is written.
const PRINTER_DRAIN: Duration = Duration::from_millis(50);

/// Turns bracketed paste off (rustyline turns it on while it edits).
const BRACKETED_PASTE_OFF: &str = "\x1b[?2004l";

/// The terminal bell, written by the client itself, never from peer text.
const BEL: &[u8] = b"\x07";

/// What `/help` adds about this client to the server's HELP lines.
pub const LOCAL_HELP: &[&str] = &[
    "This client: /quit, a line that is just `sair`, Ctrl-D, or Ctrl-C on an empty line leave.",
    "Ctrl-C on a line being typed clears it. Tab completes names anywhere in the line, and commands.",
    "A pasted TAB becomes spaces (tab stops every 8); a line with other control characters or over the length limit is kept for editing, not sent.",
    "Rooms: what you type goes to the room in the prompt. /join #room enters one (a new name makes it), /part leaves the one on screen,",
    "/switch [#room | N | + | -], Alt-← and Alt-→ change the room on screen; the prompt counts what is unread elsewhere (N:#room(unread) @mentions).",
];

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

/// Rooms up to this size are asked `/who` on joining, for name
/// completion; a larger one (a crowd, spec §18) is learned from its lines.
const WHO_ON_JOIN_MAX: u32 = 1000;

/// How the session ended: the exit status and the last things to say.
struct End {
    code: i32,
    last: Vec<String>,
}

/// Settings of interactive mode.
#[derive(Debug, Clone)]
pub struct Options {
    /// The name to register with, if given on the command line.
    pub name: Option<String>,
    /// ANSI colours on.
    pub colour: bool,
    /// When to ring the bell.
    pub bell: Bell,
    /// Liveness bounds.
    pub timings: Timings,
    /// Ask the server for rooms (spec §19.1).
    pub rooms: bool,
    /// Rooms to join once the name is accepted.
    pub join: Vec<String>,
}

/// Runs interactive mode to the end; returns the exit status.
pub async fn run(
    conn: Connection,
    options: Options,
    reconnect: Option<Reconnect>,
) -> anyhow::Result<i32> {
    let _terminal = TerminalGuard::save();
    let mut view = Pretty::new(options.colour);
    let shared = Shared::default();
    let mut end = match chat(conn, &options, reconnect, &shared, &mut view).await {
        Ok(end) => end,
        Err(e) => End {
            code: exit::DISCONNECTED,
            last: vec![view.error(&format!("{e:#}"))],
        },
    };
    // A line half typed when the session ended is not lost (it was never
    // sent); clearing it with Ctrl-C is how to throw it away.
    let draft = shared.draft();
    if end.code != exit::LEFT && !draft.trim().is_empty() {
        end.last
            .push(view.notice(&format!("Your unsent draft: {}", for_terminal(&draft))));
    }
    // Let the editor thread print what is queued, then clear the prompt
    // line and say why the session ended.
    tokio::time::sleep(PRINTER_DRAIN).await;
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "\r\x1b[K");
    for line in &end.last {
        let _ = write!(out, "{}\r\n", line.replace('\n', "\r\n"));
    }
    let _ = out.flush();
    Ok(end.code)
}

/// What to say about lines the server has not confirmed, if any.
fn unconfirmed(view: &Pretty, report: &Report, what: &str) -> Option<String> {
    if report.unconfirmed.is_empty() {
        return None;
    }
    let lines: Vec<String> = report
        .unconfirmed
        .iter()
        .map(|l| format!("“{}”", for_terminal(l)))
        .collect();
    let more = match report.more {
        0 => String::new(),
        n => format!(" and {n} earlier"),
    };
    Some(view.notice(&format!("{what}: {}{more}", lines.join(", "))))
}

/// A room name for the terminal (it is the server's text).
fn for_terminal_str(s: &str) -> &str {
    s
}

/// The session: typed lines out, server lines in, until it ends.
async fn chat(
    mut conn: Connection,
    options: &Options,
    mut reconnect: Option<Reconnect>,
    shared: &Shared,
    view: &mut Pretty,
) -> anyhow::Result<End> {
    let roster = shared.roster.clone();
    let mut editor = LineEditor::new(shared.clone(), options.colour)?;
    let mut printer = editor.printer()?;
    view.set_asks_name(options.name.is_none());
    println!("{}", view.notice(&format!("Connected to {}.", conn.peer)));
    let mut typed = editor.spawn()?;

    let mut show = |s: String| {
        let _ = printer.print(s);
    };
    let mut live = Liveness::new(options.timings, Instant::now());
    let mut resume = Comeback::default();
    let mut rooms = Rooms::default();
    // Before the name, so the welcome brings a token (spec §16.6), and
    // rooms where the server has them (§19.1). Neither: exactly v1.
    if let Some(features) = features_line(reconnect.is_some(), options.rooms) {
        conn.send(features.as_bytes()).await?;
        resume.state.asked = true;
    }
    // Joined once, after the first welcome.
    let mut to_join =
        (!options.join.is_empty()).then(|| format!("/join {}", options.join.join(",")));
    if let Some(name) = &options.name {
        conn.send(name.as_bytes()).await?;
        live.expect_answer(Instant::now());
    }
    let lost = |view: &Pretty| End {
        code: exit::DISCONNECTED,
        last: vec![view.error("Cannot send: the connection to the server was lost.")],
    };
    let mut me: Option<NameKey> = None;
    let mut input_open = true;
    let mut leaving = false;
    let quit_timer = tokio::time::sleep(Duration::MAX);
    tokio::pin!(quit_timer);

    loop {
        let gone: End = 'live: loop {
            let probe_at = live.deadline();
            tokio::select! {
                incoming = conn.incoming.recv() => match incoming.unwrap_or(Incoming::Closed(None)) {
                    Incoming::Line(line) => {
                        live.heard(Instant::now());
                        if let ServerLine::Features { words } = &line {
                            let words: Vec<&str> = words.iter().map(|w| w.as_str()).collect();
                            rooms.features(&words);
                        }
                        let step = resume.track(&line, Instant::now());
                        if step.anew && rooms.is_on() {
                            for rejoin in rooms.rejoin() {
                                conn.send(rejoin.as_bytes()).await?;
                            }
                        }
                        for wire in &step.send {
                            conn.send(wire.as_bytes()).await?;
                        }
                        if let Some(note) = step.note {
                            show(view.notice(&note));
                        }
                        if step.swallow {
                            continue;
                        }
                        // With sequence numbers, events come inside `SEQ`; a
                        // room's, inside `IN #room` (§19.3).
                        let event = match &line {
                            ServerLine::In { line, .. } => match line.as_ref() {
                                ServerLine::Seq { event, .. } => event.as_ref(),
                                other => other,
                            },
                            ServerLine::Seq { event, .. } => event.as_ref(),
                            other => other,
                        };
                        match event {
                            ServerLine::Pong { token } => {
                                if let Some(recovered) = live.pong(token.as_ref().map(|t| t.as_str())) {
                                    if recovered {
                                        show(view.notice("The server is answering again; everything you sent has arrived."));
                                    }
                                    continue;
                                }
                            }
                            ServerLine::Ping { token } => conn.send(format!("/pong {token}").as_bytes()).await?,
                            ServerLine::Welcome { name, line_max, online, .. } => {
                                roster.add(name.as_str());
                                roster.set_me(name.as_str());
                                me = Some(name.key());
                                shared.line_max.store(usize::try_from(*line_max).unwrap_or(0), Ordering::Relaxed);
                                shared.registered.store(true, Ordering::Relaxed);
                                // A crowded room's list is learned from its traffic:
                                // every newcomer asking for 19,000 names would cost
                                // the room what crowd notices save (§18).
                                if *online <= WHO_ON_JOIN_MAX {
                                    conn.send(b"/who").await?;
                                }
                                if let Some(join) = to_join.take().filter(|_| rooms.is_on()) {
                                    rooms.typed(&join);
                                    conn.send(join.as_bytes()).await?;
                                }
                            }
                            ServerLine::Who { names } => names.iter().for_each(|n| roster.add(n.as_str())),
                            ServerLine::Join { name, .. } => roster.add(name.as_str()),
                            ServerLine::Leave { name, .. } => roster.remove(name.as_str()),
                            ServerLine::Crowd { joiners, leavers, .. } => {
                                // The order within a notice is unknown: someone
                                // both left and joined is taken to be here.
                                let back = |n: &&tagarela_parser::Name<'_>| joiners.iter().any(|j| j.key() == n.key());
                                leavers.iter().filter(|n| !back(n)).for_each(|n| roster.remove(n.as_str()));
                                joiners.iter().for_each(|n| roster.add(n.as_str()));
                            }
                            ServerLine::Msg { from, .. } | ServerLine::Priv { from, .. } => roster.add(from.as_str()),
                            _ => {}
                        }
                        let text = view.render(&line);
                        if let ServerLine::Bye { reason, .. } = &line {
                            let mut last: Vec<String> = text.into_iter().collect();
                            if *reason != ByeReason::Quit {
                                last.extend(unconfirmed(view, &live.report(Instant::now()), "Not confirmed by the server (may not have arrived)"));
                            }
                            let end = End {
                                code: if *reason == ByeReason::Quit { exit::LEFT } else { exit::DISCONNECTED },
                                last,
                            };
                            // A server shutting down is likely to restart; one
                            // that timed this client out or found it slow (a
                            // laptop that slept) will take it back; one cut off
                            // from its cluster leaves the others to serve it.
                            let again = matches!(reason, ByeReason::Shutdown | ByeReason::Timeout | ByeReason::Slow | ByeReason::Unavailable);
                            if again && !leaving {
                                break 'live end;
                            }
                            return Ok(end);
                        }
                        for text in rooms.incoming(&line, text, me.as_ref()) {
                            show(text);
                        }
                        shared.set_prompt(rooms.screen(), rooms.prompt());
                        if rings(options.bell, event, me.as_ref()) {
                            let mut out = std::io::stdout().lock();
                            let _ = out.write_all(BEL);
                            let _ = out.flush();
                        }
                        match &line {
                            ServerLine::Err { code: ErrorCode::NameInvalid | ErrorCode::NameTaken, .. } => {
                                show(view.name_prompt(true));
                            }
                            ServerLine::Err { code: ErrorCode::NoSuchUser, name: Some(name), .. } => {
                                if let Some(close) = roster.closest(name.as_str()) {
                                    show(view.notice(&format!("Did you mean {}?", view.name(&close))));
                                }
                            }
                            _ => {}
                        }
                    }
                    Incoming::TooLong(octets) => {
                        live.heard(Instant::now());
                        show(view.too_long(octets));
                    }
                    Incoming::Malformed(text) => {
                        live.heard(Instant::now());
                        show(view.error(&format!("malformed line from the server: {}", for_terminal(&text))));
                    }
                    Incoming::Closed(err) => {
                        let why = err.map(|e| format!(" ({})", for_terminal(&e))).unwrap_or_default();
                        let mut last = vec![view.error(&format!("Connection to the server was lost{why}."))];
                        last.extend(unconfirmed(view, &live.report(Instant::now()), "Not confirmed by the server (may not have arrived)"));
                        break 'live End { code: exit::DISCONNECTED, last };
                    }
                },
                () = tokio::time::sleep_until(probe_at) => match live.tick(Instant::now()) {
                    Some(Alarm::Probe(token)) => {
                        let sent = conn.send(format!("/ping {token}").as_bytes()).await;
                        if sent.is_err() {
                            break 'live lost(view);
                        }
                    }
                    Some(Alarm::NotResponding(report)) => {
                        show(view.error(&format!(
                            "the server is not responding (nothing for {:.0} s); still waiting, giving up after {:.0} s without an answer.",
                            report.silent.as_secs_f64(),
                            options.timings.lost_after.as_secs_f64()
                        )));
                        if let Some(note) = unconfirmed(view, &report, "Not confirmed yet") {
                            show(note);
                        }
                    }
                    Some(Alarm::Lost(report)) => {
                        let mut last = vec![view.error(&format!(
                            "The server stopped answering (nothing for {:.0} s); giving up.",
                            report.silent.as_secs_f64()
                        ))];
                        last.extend(unconfirmed(view, &report, "Not confirmed by the server (may not have arrived)"));
                        break 'live End { code: exit::DISCONNECTED, last };
                    }
                    None => {}
                },
                line = typed.recv(), if input_open => match line.unwrap_or(Typed::Leave) {
                    Typed::Switch(target) => {
                        match rooms.switch(&target) {
                            Ok(switched) => {
                                show(view.notice(&switched.note));
                                switched.held.into_iter().for_each(&mut show);
                            }
                            Err(why) => show(view.notice(&why)),
                        }
                        shared.set_prompt(rooms.screen(), rooms.prompt());
                        shared.switched.fetch_add(1, Ordering::Release);
                    }
                    Typed::Lines { lines, echo_erased, prompt } => {
                        // A paste may hold several lines: each goes out as its
                        // own line, and nothing after one that quits.
                        for typed_line in lines {
                            let wire = match rooms.typed(&typed_line) {
                                InRoom::Send(wire) => wire,
                                InRoom::Switch(target) => {
                                    if let Err(why) = rooms.switch(&target) {
                                        show(view.notice(&why));
                                    }
                                    shared.set_prompt(rooms.screen(), rooms.prompt());
                                    continue;
                                }
                            };
                            // Typed while another room was on screen (the
                            // prompt was out of date): never sent elsewhere.
                            if wire != typed_line && prompt != 0 && prompt != rooms.screen() {
                                show(view.error(&format!(
                                    "Not sent: the room on screen is now {}; ↑ brings your line back.",
                                    rooms.current().map_or("another", for_terminal_str)
                                )));
                                continue;
                            }
                            if resume.is_coming_back() && !is_quit(&wire) {
                                // Not registered again yet: kept, in order.
                                if !resume.keep(wire) {
                                    show(view.error("Too many lines are waiting; this one was not kept."));
                                }
                                continue;
                            }
                            if conn.send(wire.as_bytes()).await.is_err() {
                                resume.keep(wire);
                                break 'live lost(view);
                            }
                            live.sent(&wire, Instant::now());
                            if echo_erased
                                && let Some(text) = public_text(&wire) {
                                    show(view.own_message(&text, Local::now()));
                                }
                            if matches!(ClientLine::parse(wire.as_bytes()), Ok(ClientLine::Help)) {
                                for help in LOCAL_HELP {
                                    show(view.notice(help));
                                }
                            }
                            if is_quit(&wire) {
                                leaving = true;
                                show(view.notice("Leaving..."));
                                quit_timer.as_mut().reset(Instant::now() + QUIT_WAIT);
                                break;
                            }
                        }
                    }
                    Typed::Leave => {
                        // Ctrl-D or Ctrl-C on an empty line: the editor is
                        // gone; ask to leave and wait a bounded time for BYE.
                        input_open = false;
                        leaving = true;
                        if conn.send(b"/quit").await.is_err() {
                            return Ok(lost(view));
                        }
                        quit_timer.as_mut().reset(Instant::now() + QUIT_WAIT);
                    }
                },
                () = &mut quit_timer => {
                    return Ok(End {
                        code: exit::DISCONNECTED,
                        last: vec![view.error("The server did not answer /quit; leaving anyway.")],
                    });
                }
            }
        };
        // The connection is gone. Reconnect if the person did not ask to
        // leave and there is a name to take back.
        let (Some(again), false, true) = (reconnect.as_mut(), leaving, resume.state.can_resume())
        else {
            return Ok(gone);
        };
        // What ended the connection (and the lines it may not have
        // delivered) is said now, not thrown away.
        for line in gone.last {
            show(line);
        }
        shared.registered.store(false, Ordering::Relaxed);
        // One outage until the name is back: a server that accepts and
        // then fails does not restart the clock or the pauses.
        let outage = resume.backoff().started();
        show(view.error("Reconnecting (your draft is kept)..."));
        match reconnect_with_backoff(again, &mut typed, &mut resume, &mut rooms, view, &mut show)
            .await
        {
            Ok(fresh) => {
                conn = fresh;
                live = Liveness::new(options.timings, Instant::now());
                let line = resume.reconnected(outage);
                if rooms.is_on() {
                    // A rooms session is resumed as one (§19.4).
                    conn.send(b"/features rooms").await?;
                    resume.state.asked = true;
                }
                conn.send(line.as_bytes()).await?;
                live.expect_answer(Instant::now());
            }
            Err(end) => return Ok(end),
        }
    }
}

/// Tries `again` until it connects, with the outage's pauses, or stops
/// at once if it says never. Lines typed meanwhile are kept; leaving
/// (Ctrl-D, Ctrl-C on an empty line, `/quit`) ends it.
async fn reconnect_with_backoff(
    again: &mut Reconnect,
    typed: &mut tokio::sync::mpsc::Receiver<Typed>,
    resume: &mut Comeback,
    rooms: &mut Rooms,
    view: &Pretty,
    show: &mut impl FnMut(String),
) -> Result<Connection, End> {
    let left = |view: &Pretty| End {
        code: exit::LEFT,
        last: vec![view.notice("You left (the server was unreachable).")],
    };
    loop {
        let Some(pause) = resume.backoff().next_pause() else {
            return Err(End {
                code: exit::DISCONNECTED,
                last: vec![view.error(&format!(
                    "Could not reconnect within {} minutes; giving up.",
                    GIVE_UP.as_secs() / 60
                ))],
            });
        };
        let until = Instant::now() + pause;
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(until) => break,
                line = typed.recv() => match line.unwrap_or(Typed::Leave) {
                    Typed::Switch(_) => {
                        // The editor reads on after its bounded wait.
                        show(view.notice("Not connected: rooms can be switched once the connection is back."));
                    }
                    Typed::Lines { lines, prompt, .. } => {
                        for typed_line in lines {
                            if is_quit(&typed_line) {
                                return Err(left(view));
                            }
                            // Kept as it will be sent: addressed to the
                            // room on screen now (§19.3), never to another.
                            let wire = match rooms.typed(&typed_line) {
                                InRoom::Send(wire) => wire,
                                InRoom::Switch(_) => {
                                    show(view.notice("Not connected: rooms can be switched once the connection is back."));
                                    continue;
                                }
                            };
                            if wire != typed_line && prompt != 0 && prompt != rooms.screen() {
                                show(view.error("Not kept: the room on screen changed; ↑ brings your line back."));
                                continue;
                            }
                            if resume.keep(wire) {
                                show(view.notice("Not connected: this line will be sent once the connection is back."));
                            } else {
                                show(view.error("Not connected, and too many lines are waiting; this one was not kept."));
                            }
                        }
                    }
                    Typed::Leave => return Err(left(view)),
                },
            }
        }
        match again().await {
            Ok(conn) => return Ok(conn),
            Err(Retry::Never(why)) => {
                return Err(End {
                    code: exit::DISCONNECTED,
                    last: vec![view.error(&format!("Not reconnecting: {}.", for_terminal(&why)))],
                });
            }
            Err(Retry::Later(_)) => {}
        }
    }
}
