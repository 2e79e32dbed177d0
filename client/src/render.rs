//! Turns server lines (spec §7) into what a person or a script sees. Two
//! renderers: [`Pretty`] for people (local time, coloured names, private
//! messages marked, mentions of you highlighted, your own public messages
//! shown like everyone else's, a line when the local day changes,
//! who-lists gathered) and [`plain`] for scripts (the canonical wire line,
//! one per event). All text from others goes through `sanitize` first.
//! Never does I/O, and never rings the bell (that is `alert`'s decision).

use chrono::{DateTime, Local, NaiveDate};
use tagarela_parser::{ByeReason, LeaveReason, NameKey, ServerLine, Timestamp};

use crate::alert::mentions;
use crate::sanitize::for_terminal;

const RESET: &str = "\x1b[0m";
const DIM: &str = "\x1b[2m";
const BOLD: &str = "\x1b[1m";
const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const MAGENTA: &str = "\x1b[35m";
const CYAN: &str = "\x1b[36m";
const REVERSE: &str = "\x1b[7m";
/// Name colours: distinct on dark and light backgrounds, none used for status.
const NAME_COLOURS: &[&str] = &[
    "\x1b[36m", "\x1b[33m", "\x1b[34m", "\x1b[92m", "\x1b[96m", "\x1b[93m", "\x1b[94m", "\x1b[95m",
];

/// The line a script sees for a server line: its canonical encoding
/// (spec §7), sanitised when it is going to a terminal.
pub fn plain(line: &ServerLine<'_>, to_terminal: bool) -> String {
    let mut out = Vec::new();
    if line.encode(&mut out).is_err() {
        return format!("{} :<unencodable>", line.keyword());
    }
    out.pop();
    let s = String::from_utf8_lossy(&out).into_owned();
    if to_terminal { for_terminal(&s) } else { s }
}

/// The renderer for people.
#[derive(Debug, Default)]
pub struct Pretty {
    /// ANSI colours on (off with `NO_COLOR`).
    colour: bool,
    /// Our registered name, to mark private messages and find mentions.
    me: Option<String>,
    /// Names of a who-list in progress, shown at `WHOEND`.
    who: Vec<String>,
    /// The local day of the last time stamp shown, to say when it changes.
    day: Option<NaiveDate>,
    /// True when the user is to type a name (no `--name`): `HELLO` then
    /// shows the client's one prompt for it.
    asks_name: bool,
}

impl Pretty {
    /// A renderer; `colour` turns ANSI colours on.
    pub fn new(colour: bool) -> Self {
        Pretty {
            colour,
            ..Pretty::default()
        }
    }

    /// Our registered name, once known.
    pub fn set_me(&mut self, name: &str) {
        self.me = Some(name.to_owned());
    }

    /// Whether the user is to type a name after `HELLO`.
    pub fn set_asks_name(&mut self, asks: bool) {
        self.asks_name = asks;
    }

    /// The prompt for a name (shown once at `HELLO`, and after a refusal).
    pub fn name_prompt(&self, again: bool) -> String {
        let which = if again { "another" } else { "a" };
        self.notice(&format!(
            "Choose {which} name (letters, digits, _ - .), then press Enter."
        ))
    }

    fn paint(&self, style: &str, s: &str) -> String {
        if self.colour {
            format!("{style}{s}{RESET}")
        } else {
            s.to_owned()
        }
    }

    /// A name, sanitised and coloured by its key (spec §3.3), so one person
    /// always has one colour however they are spelled.
    pub fn name(&self, name: &str) -> String {
        let shown = for_terminal(name);
        if !self.colour {
            return shown;
        }
        let key = NameKey::of(name);
        let hash = key
            .as_str()
            .bytes()
            .fold(5381u32, |h, b| h.wrapping_mul(33) ^ u32::from(b));
        let colour = NAME_COLOURS[hash as usize % NAME_COLOURS.len()];
        format!("{BOLD}{colour}{shown}{RESET}")
    }

    /// The local time of a server time stamp, after a "Day changed" line
    /// if its local day is not the last one shown.
    fn time(&mut self, at: Timestamp) -> String {
        let ms = i64::try_from(at.unix_ms()).unwrap_or(i64::MAX);
        match DateTime::from_timestamp_millis(ms) {
            Some(t) => self.local_time(t.with_timezone(&Local)),
            None => self.paint(DIM, "--:--:--"),
        }
    }

    /// `HH:MM:SS` for a local instant, after a "Day changed" line if its
    /// day is not the last one shown (irssi's convention).
    pub fn local_time(&mut self, t: DateTime<Local>) -> String {
        let day = t.date_naive();
        let changed = self.day.is_some_and(|d| d != day);
        self.day = Some(day);
        let time = self.paint(DIM, &t.format("%H:%M:%S").to_string());
        if changed {
            let note = self.notice(&format!("Day changed to {}", day.format("%A %-d %B %Y")));
            format!("{note}\n{time}")
        } else {
            time
        }
    }

    /// One of our own public messages, sent at `now`: shown like everyone
    /// else's (the server does not echo public messages to their sender).
    pub fn own_message(&mut self, text: &str, now: DateTime<Local>) -> String {
        let time = self.local_time(now);
        let me = self.me.clone().unwrap_or_default();
        format!("{time} <{}> {}", self.name(&me), for_terminal(text))
    }

    /// Message text from someone else, sanitised, with mentions of our
    /// name highlighted.
    fn message_text(&self, text: &str) -> String {
        let found = match &self.me {
            Some(me) if self.colour => mentions(text, &NameKey::of(me)),
            _ => Vec::new(),
        };
        let mut out = String::with_capacity(text.len());
        let mut done = 0;
        for range in found {
            out.push_str(&for_terminal(text.get(done..range.start).unwrap_or("")));
            let word = for_terminal(text.get(range.clone()).unwrap_or(""));
            out.push_str(&format!("{BOLD}{REVERSE}{word}{RESET}"));
            done = range.end;
        }
        out.push_str(&for_terminal(text.get(done..).unwrap_or("")));
        out
    }

    /// What to say about a server line that was too long and skipped.
    pub fn too_long(&self, octets: usize) -> String {
        self.error(&format!(
            "the server sent a line longer than the protocol allows ({octets} octets; at most {}); it was skipped",
            tagarela_parser::limits::SERVER_LINE_MAX
        ))
    }

    /// A client-side error or notice, shown like the server's errors.
    pub fn error(&self, text: &str) -> String {
        self.paint(RED, &format!("error: {text}"))
    }

    /// A client-side notice.
    pub fn notice(&self, text: &str) -> String {
        self.paint(DIM, text)
    }

    /// What to show for a server line; `None` for lines shown later (a
    /// who-list in progress) or not at all (keepalive).
    pub fn render(&mut self, line: &ServerLine<'_>) -> Option<String> {
        Some(match line {
            // The server's greeting asks for a name in words meant for
            // `nc` users; the client shows its own single prompt instead.
            ServerLine::Hello { .. } if self.asks_name => self.name_prompt(false),
            ServerLine::Hello { .. } => return None,
            ServerLine::Welcome { name, online, .. } => {
                self.set_me(name.as_str());
                let who = if *online == 1 {
                    "you are the first one here".to_owned()
                } else {
                    format!("{online} online")
                };
                self.paint(GREEN, &format!(
                    "Welcome, {}! {who}. Type to talk to everyone, @name text to whisper, /help for more.",
                    for_terminal(name.as_str())
                ))
            }
            ServerLine::Join { at, name } => {
                format!(
                    "{} {}",
                    self.time(*at),
                    self.notice(&format!("→ {} joined", for_terminal(name.as_str())))
                )
            }
            ServerLine::Leave {
                at,
                name,
                reason,
                text,
            } => {
                let why = match reason {
                    LeaveReason::Quit => match text {
                        Some(t) if !t.is_blank() => format!("quit: {}", for_terminal(t.as_str())),
                        _ => "quit".to_owned(),
                    },
                    LeaveReason::Lost => "connection lost".to_owned(),
                    LeaveReason::Timeout => "timed out".to_owned(),
                    LeaveReason::Slow => "removed: not reading".to_owned(),
                    LeaveReason::Flood => "removed: flooding".to_owned(),
                    LeaveReason::Kicked => match text {
                        Some(t) if !t.is_blank() => {
                            format!("removed by an operator: {}", for_terminal(t.as_str()))
                        }
                        _ => "removed by an operator".to_owned(),
                    },
                    LeaveReason::Killed => match text {
                        Some(t) if !t.is_blank() => {
                            format!("removed from the server: {}", for_terminal(t.as_str()))
                        }
                        _ => "removed from the server".to_owned(),
                    },
                    LeaveReason::Part => match text {
                        Some(t) if !t.is_blank() => format!("parted: {}", for_terminal(t.as_str())),
                        _ => "parted".to_owned(),
                    },
                };
                format!(
                    "{} {}",
                    self.time(*at),
                    self.notice(&format!("← {} left ({why})", for_terminal(name.as_str())))
                )
            }
            // An action (`/me waves`, spec §5.3) reads as one: `* ana waves`.
            ServerLine::Msg { at, from, text } => match text.as_str().strip_prefix("/me ") {
                Some(action) => format!(
                    "{} * {} {}",
                    self.time(*at),
                    self.name(from.as_str()),
                    self.message_text(action)
                ),
                None => format!(
                    "{} <{}> {}",
                    self.time(*at),
                    self.name(from.as_str()),
                    self.message_text(text.as_str())
                ),
            },
            ServerLine::Priv { at, from, to, text } => {
                let mine = |n: &str| {
                    self.me
                        .as_deref()
                        .is_some_and(|me| NameKey::of(me) == NameKey::of(n))
                };
                let tag = self.paint(MAGENTA, "[private]");
                let (a, b) = match (mine(from.as_str()), mine(to.as_str())) {
                    (true, true) => ("you".to_owned(), "you".to_owned()),
                    (true, false) => ("you".to_owned(), self.name(to.as_str())),
                    _ => (self.name(from.as_str()), "you".to_owned()),
                };
                let body = self.paint(MAGENTA, &for_terminal(text.as_str()));
                let time = self.time(*at);
                format!("{time} {tag} {a} → {b}: {body}")
            }
            // History (spec §16): dimmed and marked, so it is never taken
            // for what is being said now.
            ServerLine::Hist { at, from, text, .. } => {
                let body = format!(
                    "<{}> {}",
                    for_terminal(from.as_str()),
                    for_terminal(text.as_str())
                );
                format!("{} {}", self.time(*at), self.notice(&format!("┆ {body}")))
            }
            // The number is for resuming (§16.5); the event shows as itself.
            ServerLine::Seq { event, .. } => return self.render(event),
            ServerLine::Features { .. } => return None,
            // A crowded room's joins and leaves, summed up (§18).
            ServerLine::Crowd {
                at,
                online,
                joined,
                left,
                joiners,
                leavers,
            } => {
                let mut parts = Vec::new();
                if *joined > 0 {
                    parts.push(format!("→ {} joined", people(*joined, joiners)));
                }
                if *left > 0 {
                    parts.push(format!("← {} left", people(*left, leavers)));
                }
                let body = format!("{} ({} online)", parts.join("; "), thousands(*online));
                format!("{} {}", self.time(*at), self.notice(&body))
            }
            ServerLine::Resumed { count, gap } => self.notice(&format!(
                "— reconnected; {count} message{} you missed {} above{} —",
                if *count == 1 { "" } else { "s" },
                if *count == 1 { "is" } else { "are" },
                if *gap {
                    " (some older ones are gone)"
                } else {
                    ""
                }
            )),
            ServerLine::HistEnd { count: 0 } => return None,
            ServerLine::HistEnd { count } => self.notice(&format!(
                "— {count} earlier message{} above; what follows is live —",
                if *count == 1 { "" } else { "s" }
            )),
            ServerLine::Who { names } => {
                self.who.extend(names.iter().map(|n| n.as_str().to_owned()));
                return None;
            }
            ServerLine::WhoEnd { count } => {
                let mut names = std::mem::take(&mut self.who);
                names.sort_by_key(|n| NameKey::of(n));
                let list: Vec<String> = names.iter().map(|n| self.name(n)).collect();
                format!("Online ({count}): {}", list.join(", "))
            }
            ServerLine::Pong { token } => self.notice(&format!(
                "pong{}",
                token.as_ref().map(|t| format!(" {t}")).unwrap_or_default()
            )),
            ServerLine::Ping { .. } => return None,
            ServerLine::Help { text } => for_terminal(text.as_str()),
            ServerLine::Err { code, text, .. } => {
                self.error(&format!("{} ({code})", for_terminal(text.as_str())))
            }
            // The server says `BYE quit` only to a client that sent /quit.
            ServerLine::Bye {
                reason: ByeReason::Quit,
                ..
            } => self.notice("You left the chat."),
            // A room's line (§19): shown with the room in front.
            ServerLine::In { room, line } => {
                let shown = self.render(line)?;
                format!("{} {shown}", self.paint(CYAN, &for_terminal(room.as_str())))
            }
            ServerLine::Topic { at, by, text } => format!(
                "{} {}",
                self.time(*at),
                self.notice(&format!(
                    "topic by {}: {}",
                    for_terminal(by.as_str()),
                    for_terminal(text.as_str())
                ))
            ),
            ServerLine::Rooms {
                room,
                members,
                topic,
            } => format!(
                "  {} ({}){}",
                for_terminal(room.as_str()),
                thousands(*members),
                topic
                    .as_ref()
                    .map(|t| format!(": {}", for_terminal(t.as_str())))
                    .unwrap_or_default()
            ),
            ServerLine::Bans { targets } if targets.is_empty() => self.notice("nobody is banned"),
            ServerLine::Bans { targets } => {
                let list: Vec<String> = targets
                    .iter()
                    .map(|t| for_terminal(&t.to_string()))
                    .collect();
                self.notice(&format!("banned: {}", list.join(", ")))
            }
            ServerLine::Ops { names } => {
                let list: Vec<String> = names.iter().map(|n| self.name(n.as_str())).collect();
                self.notice(&format!("operators: {}", list.join(", ")))
            }
            ServerLine::RoomsEnd { count } => self.notice(&format!(
                "— {count} room{} —",
                if *count == 1 { "" } else { "s" }
            )),
            ServerLine::Bye { text, .. } => self.paint(
                RED,
                &format!(
                    "Server closed the connection: {}",
                    for_terminal(text.as_str())
                ),
            ),
        })
    }
}

/// `count` people of whom `names` are the first: "ana", "ana and bob",
/// "ana, bob and 1,898 more", "1,900 people".
fn people(count: u32, names: &[tagarela_parser::Name<'_>]) -> String {
    let shown: Vec<String> = names.iter().map(|n| for_terminal(n.as_str())).collect();
    let more = (count as usize).saturating_sub(shown.len());
    match (shown.as_slice(), more) {
        ([], _) => format!(
            "{} {}",
            thousands(count),
            if count == 1 { "person" } else { "people" }
        ),
        ([one], 0) => one.clone(),
        ([first @ .., last], 0) => format!("{} and {last}", first.join(", ")),
        (all, more) => format!("{} and {} more", all.join(", "), thousands(more as u32)),
    }
}

/// `n` with thousands separated: 19,000.
fn thousands(n: u32) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tagarela_parser::{Name, Text};

    fn at() -> Timestamp {
        Timestamp::from_unix_ms(1_795_262_400_000).unwrap()
    }

    #[test]
    fn hostile_text_never_reaches_the_terminal_raw() {
        let mut r = Pretty::new(true);
        let text = Text::new("hi \u{202e}gnp.exe").unwrap();
        let line = ServerLine::Msg {
            at: at(),
            from: Name::new("bob").unwrap(),
            text,
        };
        let shown = r.render(&line).unwrap();
        assert!(!shown.contains('\u{202e}'));
        assert!(shown.contains("<U+202E>"));
    }

    #[test]
    fn an_action_reads_as_one() {
        let mut r = Pretty::new(false);
        let line = ServerLine::Msg {
            at: at(),
            from: Name::new("bob").unwrap(),
            text: Text::new("/me waves").unwrap(),
        };
        let shown = r.render(&line).unwrap();
        assert!(shown.ends_with(" * bob waves"), "{shown}");
    }

    #[test]
    fn private_messages_are_marked_both_ways() {
        let mut r = Pretty::new(false);
        r.set_me("alice");
        let text = Text::new("psst").unwrap();
        let got = ServerLine::Priv {
            at: at(),
            from: Name::new("bob").unwrap(),
            to: Name::new("Alice").unwrap(),
            text: text.clone(),
        };
        let sent = ServerLine::Priv {
            at: at(),
            from: Name::new("alice").unwrap(),
            to: Name::new("bob").unwrap(),
            text,
        };
        assert!(
            r.render(&got)
                .unwrap()
                .ends_with("[private] bob → you: psst")
        );
        assert!(
            r.render(&sent)
                .unwrap()
                .ends_with("[private] you → bob: psst")
        );
        let public = ServerLine::Msg {
            at: at(),
            from: Name::new("bob").unwrap(),
            text: Text::new("hi").unwrap(),
        };
        assert!(!r.render(&public).unwrap().contains("[private]"));
    }

    #[test]
    fn a_crowd_notice_counts_and_names_the_first_few() {
        let mut r = Pretty::new(false);
        let names = |ns: &[&'static str]| ns.iter().map(|n| Name::new(*n).unwrap()).collect();
        let crowd = |joined, left, joiners, leavers| ServerLine::Crowd {
            at: at(),
            online: 19_000,
            joined,
            left,
            joiners,
            leavers,
        };
        let busy = r
            .render(&crowd(1_900, 1, names(&["ana", "bob"]), names(&["zed"])))
            .unwrap();
        assert!(
            busy.ends_with("→ ana, bob and 1,898 more joined; ← zed left (19,000 online)"),
            "{busy}"
        );
        let two = r
            .render(&crowd(2, 0, names(&["ana", "bob"]), Vec::new()))
            .unwrap();
        assert!(
            two.ends_with("→ ana and bob joined (19,000 online)"),
            "{two}"
        );
        let anonymous = r.render(&crowd(0, 40, Vec::new(), Vec::new())).unwrap();
        assert!(
            anonymous.ends_with("← 40 people left (19,000 online)"),
            "{anonymous}"
        );
    }

    #[test]
    fn history_is_set_apart_from_live_lines() {
        let mut r = Pretty::new(false);
        let hist = ServerLine::Hist {
            seq: 7,
            at: at(),
            from: Name::new("bob").unwrap(),
            text: Text::new("earlier").unwrap(),
        };
        let live = ServerLine::Msg {
            at: at(),
            from: Name::new("bob").unwrap(),
            text: Text::new("earlier").unwrap(),
        };
        let old = r.render(&hist).unwrap();
        let now = r.render(&live).unwrap();
        assert!(old.contains("┆ <bob> earlier"), "{old}");
        assert_ne!(old, now);
        assert_eq!(r.render(&ServerLine::HistEnd { count: 0 }), None);
        assert_eq!(
            r.render(&ServerLine::HistEnd { count: 2 }).unwrap(),
            "— 2 earlier messages above; what follows is live —"
        );
    }

    #[test]
    fn who_lists_are_gathered_until_whoend() {
        let mut r = Pretty::new(false);
        assert_eq!(
            r.render(&ServerLine::Who {
                names: vec![Name::new("zed").unwrap(), Name::new("Ana").unwrap()]
            }),
            None
        );
        assert_eq!(
            r.render(&ServerLine::WhoEnd { count: 2 }).unwrap(),
            "Online (2): Ana, zed"
        );
    }

    #[test]
    fn same_person_same_colour_whatever_the_case() {
        let r = Pretty::new(true);
        assert_eq!(
            r.name("Bob").replace("Bob", "x"),
            r.name("BOB").replace("BOB", "x")
        );
    }

    #[test]
    fn plain_is_the_wire_line() {
        let line = ServerLine::Msg {
            at: at(),
            from: Name::new("bob").unwrap(),
            text: Text::new("a\u{202e}b").unwrap(),
        };
        assert_eq!(
            plain(&line, false),
            "MSG 2026-11-21T12:00:00.000Z bob :a\u{202e}b"
        );
        assert_eq!(
            plain(&line, true),
            "MSG 2026-11-21T12:00:00.000Z bob :a<U+202E>b"
        );
    }

    #[test]
    fn leaving_by_our_own_quit_says_so() {
        let mut r = Pretty::new(false);
        let bye = |reason| ServerLine::Bye {
            reason,
            text: Text::new("Goodbye.").unwrap(),
        };
        assert_eq!(
            r.render(&bye(ByeReason::Quit)).unwrap(),
            "You left the chat."
        );
        assert!(
            r.render(&bye(ByeReason::Shutdown))
                .unwrap()
                .starts_with("Server closed the connection")
        );
    }

    #[test]
    fn own_messages_show_time_and_name() {
        let mut r = Pretty::new(false);
        r.set_me("alice");
        let now = Local::now();
        let shown = r.own_message("great, lunch?", now);
        assert_eq!(
            shown,
            format!("{} <alice> great, lunch?", now.format("%H:%M:%S"))
        );
    }

    #[test]
    fn a_change_of_local_day_is_shown() {
        let mut r = Pretty::new(false);
        let msg = |ms: u64| ServerLine::Msg {
            at: Timestamp::from_unix_ms(ms).unwrap(),
            from: Name::new("bob").unwrap(),
            text: Text::new("hi").unwrap(),
        };
        let day = 86_400_000;
        let first = r.render(&msg(1_795_262_400_000)).unwrap();
        assert!(!first.contains("Day changed"), "{first}");
        let same = r.render(&msg(1_795_262_400_000 + 1000)).unwrap();
        assert!(!same.contains("Day changed"), "{same}");
        let next = r.render(&msg(1_795_262_400_000 + day)).unwrap();
        let date = DateTime::from_timestamp_millis(1_795_262_400_000 + 86_400_000)
            .unwrap()
            .with_timezone(&Local)
            .format("%A %-d %B %Y")
            .to_string();
        assert!(
            next.starts_with(&format!("Day changed to {date}\n")),
            "{next}"
        );
        // Our own messages count too.
        let own = r.own_message("x", Local::now());
        assert!(own.starts_with("Day changed to "), "{own}");
    }

    #[test]
    fn mentions_of_me_are_highlighted() {
        let mut r = Pretty::new(true);
        r.set_me("alice");
        let line = ServerLine::Msg {
            at: at(),
            from: Name::new("bob").unwrap(),
            text: Text::new("hi Alice, lunch?").unwrap(),
        };
        let shown = r.render(&line).unwrap();
        assert!(
            shown.ends_with(&format!("hi {BOLD}{REVERSE}Alice{RESET}, lunch?")),
            "{shown:?}"
        );
    }

    #[test]
    fn one_prompt_for_a_name() {
        let hello = ServerLine::Hello {
            version: 1,
            text: Text::new("Tagarela chat. Type your name.").unwrap(),
        };
        let mut r = Pretty::new(false);
        r.set_asks_name(true);
        assert_eq!(
            r.render(&hello).unwrap(),
            "Choose a name (letters, digits, _ - .), then press Enter."
        );
        r.set_asks_name(false);
        assert_eq!(r.render(&hello), None);
    }

    #[test]
    fn an_over_long_server_line_is_reported_with_its_length() {
        let r = Pretty::new(false);
        assert!(
            r.too_long(100_000)
                .contains("a line longer than the protocol allows (100000 octets")
        );
    }
}
