//! The line editor of interactive mode: a rustyline editor on its own
//! thread (history, Tab completion of names and commands) that hands each
//! accepted line to the session as wire lines. Before handing a line over
//! it applies the local checks of `input` (a refused line is explained and
//! put back for editing, never sent), replaces the terminal's echo of a
//! public message with nothing (the session shows it like everyone else's),
//! and keeps the draft being typed where the session can read it on the
//! way out. Ctrl-C clears the line being typed, and leaves only on an empty
//! line; Ctrl-D on an empty line leaves. Alt-← and Alt-→ switch rooms,
//! as `/switch` does: the line being typed stays, and the prompt (the room
//! on screen, set by the session) is redrawn. Never touches the network.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::line_buffer::LineBuffer;
use rustyline::validate::Validator;
use rustyline::{
    Changeset, Cmd, ConditionalEventHandler, Context, Editor, Event, EventContext, EventHandler,
    ExternalPrinter, Helper, KeyCode, KeyEvent, Modifiers, RepeatCount,
};
use tokio::sync::mpsc;
use unicode_width::UnicodeWidthChar;

use crate::completion::{NameCompleter, Roster};
use crate::input::{TAB_STOP, prepare, public_text};
use crate::render::Pretty;
use crate::rooms::{Target, switch_target};

/// The editor's prompt before the session sets one.
pub const PROMPT: &str = "> ";

/// How long the editor waits for the session to have handled a switch, at
/// most, before it reads the next line anyway.
const PROMPT_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Typed lines waiting for the session at most.
const TYPED_BOUND: usize = 16;

/// What the user did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Typed {
    /// Lines ready for the wire, in order (a paste may hold several).
    Lines {
        /// The wire lines, each checked by `input::prepare`.
        lines: Vec<String>,
        /// True when the terminal's echo was erased because every line is
        /// a public message: the session shows them as messages.
        echo_erased: bool,
        /// The room on screen when they were typed (how many times it had
        /// changed): a line typed for a room no longer on screen is not
        /// sent to another.
        prompt: u64,
    },
    /// Switch rooms (Alt-arrows, Alt-digits, or `/switch`).
    Switch(Target),
    /// Leave: Ctrl-D or Ctrl-C on an empty line, or the terminal failed.
    Leave,
}

/// State the editor thread shares with the session.
#[derive(Debug, Clone, Default)]
pub struct Shared {
    /// Names online, for completion.
    pub roster: Roster,
    /// The line being typed, as last drawn: kept for the way out.
    pub draft: Arc<Mutex<String>>,
    /// `line-max` from `WELCOME` (spec §4.4); 0 until then, meaning the
    /// protocol constant.
    pub line_max: Arc<AtomicUsize>,
    /// True once the name is accepted: before, a line is a name attempt,
    /// not a message, and its echo stays.
    pub registered: Arc<AtomicBool>,
    /// The prompt (the room on screen, what is unread elsewhere), and how
    /// many times the room on screen has changed: the session sets both,
    /// and the editor reads them at each line.
    pub prompt: Arc<Mutex<(u64, String)>>,
    /// A switch asked for by a key, for the editor thread to hand over.
    switch: Arc<Mutex<Option<Target>>>,
    /// How many switches the session has handled: the editor reads the
    /// next line once its switch is (under the prompt it set).
    pub switched: Arc<AtomicU64>,
}

impl Shared {
    /// The draft being typed, if any.
    pub fn draft(&self) -> String {
        self.draft
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Sets the prompt, and how many times the room on screen changed.
    pub fn set_prompt(&self, screen: u64, text: String) {
        *self.prompt.lock().unwrap_or_else(PoisonError::into_inner) = (screen, text);
    }

    fn prompt(&self) -> (u64, String) {
        let prompt = self.prompt.lock().unwrap_or_else(PoisonError::into_inner);
        let text = if prompt.1.is_empty() {
            PROMPT.to_owned()
        } else {
            prompt.1.clone()
        };
        (prompt.0, text)
    }

    fn set_draft(&self, line: &str) {
        let mut draft = self.draft.lock().unwrap_or_else(PoisonError::into_inner);
        draft.clear();
        draft.push_str(line);
    }

    fn line_max(&self) -> usize {
        match self.line_max.load(Ordering::Relaxed) {
            0 => tagarela_parser::limits::LINE_MAX,
            n => n,
        }
    }
}

/// The rustyline helper: completion, and a hinter that shows nothing but
/// records the draft (rustyline asks it after every edit).
struct ChatHelper {
    /// Completion of names and commands.
    completer: NameCompleter,
    /// Where the draft is recorded.
    shared: Shared,
}

impl Completer for ChatHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        self.completer.complete(line, pos, ctx)
    }

    fn update(&self, line: &mut LineBuffer, start: usize, elected: &str, cl: &mut Changeset) {
        self.completer.update(line, start, elected, cl);
    }
}

impl Hinter for ChatHelper {
    type Hint = String;

    fn hint(&self, line: &str, _pos: usize, _ctx: &Context<'_>) -> Option<String> {
        self.shared.set_draft(line);
        None
    }
}
/// A key that switches rooms: it leaves the switch for the editor thread
/// and ends the line being read (which the thread puts back).
struct SwitchKey {
    target: Target,
    shared: Shared,
}

impl ConditionalEventHandler for SwitchKey {
    fn handle(&self, _: &Event, _: RepeatCount, _: bool, _: &EventContext) -> Option<Cmd> {
        *self
            .shared
            .switch
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(self.target.clone());
        Some(Cmd::AcceptLine)
    }
}

impl Highlighter for ChatHelper {}
impl Validator for ChatHelper {}
impl Helper for ChatHelper {}

/// Terminal rows from the start of the prompt to the cursor after
/// rustyline accepted `line` on a terminal `cols` wide (it moves to the end
/// and writes a newline), following rustyline's own layout rules.
pub fn rows_used(prompt: &str, line: &str, cols: usize) -> usize {
    let cols = cols.max(1);
    let (mut row, mut col) = (0usize, 0usize);
    let mut after_joiner = false;
    for c in prompt.chars().chain(line.chars()) {
        if c == '\n' {
            row += 1;
            col = 0;
            continue;
        }
        let width = if c == '\t' {
            TAB_STOP - col % TAB_STOP
        } else if after_joiner {
            0
        } else {
            c.width().unwrap_or(0)
        };
        after_joiner = c == '\u{200D}';
        col += width;
        if col > cols {
            row += 1;
            col = width;
        }
    }
    if col == cols {
        row += 1;
    }
    row + 1
}

/// The editor, ready to run on its own thread.
pub struct LineEditor {
    /// The rustyline editor.
    editor: Editor<ChatHelper, DefaultHistory>,
    /// State shared with the session.
    shared: Shared,
    /// For the local refusal messages.
    view: Pretty,
}

impl LineEditor {
    /// An editor sharing `shared`; `colour` for its own messages.
    pub fn new(shared: Shared, colour: bool) -> rustyline::Result<Self> {
        let mut editor: Editor<ChatHelper, DefaultHistory> = Editor::new()?;
        editor.set_helper(Some(ChatHelper {
            completer: NameCompleter {
                roster: shared.roster.clone(),
            },
            shared: shared.clone(),
        }));
        // Alt with a digit is the line editor's numeric argument (emacs
        // mode), so rooms are switched by arrows, or `/switch N`.
        let keys = [
            (KeyEvent(KeyCode::Right, Modifiers::ALT), Target::Next),
            (KeyEvent(KeyCode::Left, Modifiers::ALT), Target::Previous),
        ];
        for (key, target) in keys {
            let handler = SwitchKey {
                target,
                shared: shared.clone(),
            };
            editor.bind_sequence(key, EventHandler::Conditional(Box::new(handler)));
        }
        Ok(LineEditor {
            editor,
            shared,
            view: Pretty::new(colour),
        })
    }

    /// A printer for lines that arrive while the user types.
    pub fn printer(&mut self) -> rustyline::Result<impl ExternalPrinter + Send + 'static> {
        self.editor.create_external_printer()
    }

    /// Starts the editor thread; typed lines come out of the receiver.
    pub fn spawn(self) -> std::io::Result<mpsc::Receiver<Typed>> {
        let (tx, rx) = mpsc::channel(TYPED_BOUND);
        std::thread::Builder::new()
            .name("line-editor".into())
            .spawn(move || self.run(&tx))?;
        Ok(rx)
    }

    fn run(mut self, tx: &mpsc::Sender<Typed>) {
        let mut kept = String::new();
        loop {
            let (generation, prompt) = self.shared.prompt();
            let read = self.editor.readline_with_initial(&prompt, (&kept, ""));
            kept.clear();
            let switch = self
                .shared
                .switch
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(target) = switch {
                // A switch key: the line being typed stays as it was.
                kept = read.unwrap_or_default();
                let handled = self.shared.switched.load(Ordering::Acquire);
                if tx.blocking_send(Typed::Switch(target)).is_err() {
                    return;
                }
                self.await_switch(handled);
                continue;
            }
            let line = match read {
                Ok(line) => line,
                // Ctrl-C on a line being typed clears it (rustyline has
                // dropped it; the draft recorded by the hinter says there
                // was one).
                Err(ReadlineError::Interrupted) if !self.shared.draft().is_empty() => {
                    self.shared.set_draft("");
                    continue;
                }
                // Ctrl-D, Ctrl-C on an empty line, or a terminal error.
                Err(_) => {
                    let _ = tx.blocking_send(Typed::Leave);
                    return;
                }
            };
            self.shared.set_draft("");
            if !line.trim().is_empty() {
                let _ = self.editor.add_history_entry(line.as_str());
            }
            if let Some(target) = switch_target(&line) {
                let handled = self.shared.switched.load(Ordering::Acquire);
                if tx.blocking_send(Typed::Switch(target)).is_err() {
                    return;
                }
                self.await_switch(handled);
                continue;
            }
            let line_max = self.shared.line_max();
            let prepared: Result<Vec<String>, _> = line
                .split('\n')
                .map(|piece| prepare(piece, line_max))
                .collect();
            let lines = match prepared {
                Ok(lines) => lines,
                Err(why) => {
                    // Raw mode is off between two readline calls.
                    println!(
                        "{}",
                        self.view
                            .error(&format!("not sent: {why}. The line is back for editing."))
                    );
                    kept = line;
                    continue;
                }
            };
            let registered = self.shared.registered.load(Ordering::Relaxed);
            let echo_erased = registered && lines.iter().all(|l| public_text(l).is_some());
            if echo_erased {
                self.erase_echo(&prompt, &line);
            }
            let typed = Typed::Lines {
                lines,
                echo_erased,
                prompt: generation,
            };
            if tx.blocking_send(typed).is_err() {
                return;
            }
        }
    }

    /// Waits (a bounded time) for the session to have handled more
    /// switches than `handled`, so that the next line is read under the
    /// prompt it set.
    fn await_switch(&self, handled: u64) {
        let until = std::time::Instant::now() + PROMPT_WAIT;
        while self.shared.switched.load(Ordering::Acquire) == handled
            && std::time::Instant::now() < until
        {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// Erases what the terminal shows of the accepted `line` (prompt
    /// included).
    fn erase_echo(&mut self, prompt: &str, line: &str) {
        use std::io::Write;
        let Some((cols, _)) = self.editor.dimensions() else {
            return;
        };
        let rows = rows_used(prompt, line, usize::from(cols));
        let mut out = std::io::stdout().lock();
        // Up that many rows to column 1, then clear to the end of screen.
        let _ = write!(out, "\x1b[{rows}F\x1b[J");
        let _ = out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_follow_rustyline_layout() {
        assert_eq!(rows_used("> ", "hi", 80), 1);
        assert_eq!(rows_used("> ", &"x".repeat(77), 80), 1);
        // Exactly full: rustyline puts the cursor on the next row.
        assert_eq!(rows_used("> ", &"x".repeat(78), 80), 2);
        assert_eq!(rows_used("> ", &"x".repeat(100), 80), 2);
        assert_eq!(rows_used("> ", "one\ntwo", 80), 2);
        // Wide characters take two columns and do not split.
        assert_eq!(rows_used("> ", &"小".repeat(39), 80), 2);
        assert_eq!(rows_used("> ", &"小".repeat(38), 80), 1);
        // A ZWJ sequence is one glyph.
        assert_eq!(rows_used("", "👨\u{200D}👩\u{200D}👧", 4), 1);
    }
}
