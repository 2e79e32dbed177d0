//! Turns server lines (spec §7) into what a person or a script sees. Two
//! renderers: [`Pretty`] for people (local time, coloured names, private
//! messages marked, who-lists gathered) and [`plain`] for scripts (the
//! canonical wire line, one per event). All text from others goes through
//! `sanitize` first. Never does I/O.

use chrono::{DateTime, Local};
use tagarela_parser::{LeaveReason, NameKey, ServerLine, Timestamp};

use crate::sanitize::for_terminal;

const RESET: &str = "\x1b[0m";
const DIM: &str = "\x1b[2m";
const BOLD: &str = "\x1b[1m";
const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const MAGENTA: &str = "\x1b[35m";
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
    colour: bool,
    me: Option<String>,
    who: Vec<String>,
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

    fn time(&self, at: Timestamp) -> String {
        let ms = i64::try_from(at.unix_ms()).unwrap_or(i64::MAX);
        let local = DateTime::from_timestamp_millis(ms)
            .map(|t| t.with_timezone(&Local).format("%H:%M:%S").to_string())
            .unwrap_or_else(|| "--:--:--".into());
        self.paint(DIM, &local)
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
            ServerLine::Hello { text, .. } => self.notice(&for_terminal(text.as_str())),
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
                };
                format!(
                    "{} {}",
                    self.time(*at),
                    self.notice(&format!("← {} left ({why})", for_terminal(name.as_str())))
                )
            }
            ServerLine::Msg { at, from, text } => {
                format!(
                    "{} <{}> {}",
                    self.time(*at),
                    self.name(from.as_str()),
                    for_terminal(text.as_str())
                )
            }
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
                format!("{} {tag} {a} → {b}: {body}", self.time(*at))
            }
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
}
