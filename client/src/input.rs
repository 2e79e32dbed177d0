//! What a typed or piped line means to the client before it goes on the
//! wire. The wire protocol is designed to be typed (spec §5), so a line is
//! sent as it is, with one local alias (a line that is just `sair` leaves,
//! as it did in the seed programs, spec §5.4) and, for typed lines, two
//! local checks: a pasted TAB is expanded to spaces, and a line the server
//! would refuse whole (another control character, more than `line-max`
//! octets) is refused here, so the person can fix it. Pure functions; never
//! sends, prints or drops anything itself.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use tagarela_parser::ClientLine;
use tagarela_parser::content::is_forbidden_char;

/// How long the client waits for `BYE` after asking to quit.
pub const QUIT_WAIT: Duration = Duration::from_secs(5);

/// Tab stops for expanding a pasted TAB: every 8 characters, as terminals
/// set them, counted from the start of the line.
pub const TAB_STOP: usize = 8;

/// The line to send for what the user typed.
pub fn to_wire(typed: &str) -> &str {
    if typed.trim().eq_ignore_ascii_case("sair") {
        "/quit"
    } else {
        typed
    }
}

/// The `/features` line sent before the name (spec §16.5): `resume` to
/// take the name back after a lost connection (§16.6), `rooms` for rooms
/// (§19.1); `None` for neither, so the client is exactly a v1 one.
pub fn features_line(resume: bool, rooms: bool) -> Option<&'static str> {
    match (resume, rooms) {
        (true, true) => Some("/features resume rooms"),
        (false, true) => Some("/features rooms"),
        (true, false) => Some("/features resume"),
        (false, false) => None,
    }
}

/// True when sending `wire` asks the server to end the session.
pub fn is_quit(wire: &str) -> bool {
    matches!(ClientLine::parse(wire.as_bytes()), Ok(ClientLine::Quit(_)))
}

/// The text of `wire` if it is a public message (plain or `/say`).
pub fn public_text(wire: &str) -> Option<String> {
    match ClientLine::parse(wire.as_bytes()) {
        Ok(ClientLine::Public(text)) => Some(text.as_str().to_owned()),
        _ => None,
    }
}

/// Why a typed line is not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A control character other than TAB (spec §2.5): the server would
    /// answer `ERR control-char`.
    Control(char),
    /// Longer than `line-max` (spec §2.4): the server would answer
    /// `ERR line-too-long`.
    TooLong { octets: usize, max: usize },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Control(c) => write!(
                f,
                "the line holds a control character (U+{:04X}), which the server refuses",
                u32::from(*c)
            ),
            Refusal::TooLong { octets, max } => write!(
                f,
                "the line is {octets} octets long; the server takes at most {max}"
            ),
        }
    }
}

/// `line` with each TAB replaced by spaces up to the next multiple of
/// [`TAB_STOP`] characters.
pub fn expand_tabs(line: &str) -> Cow<'_, str> {
    if !line.contains('\t') {
        return Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len() + TAB_STOP);
    let mut column = 0;
    for c in line.chars() {
        if c == '\t' {
            let spaces = TAB_STOP - column % TAB_STOP;
            out.extend(std::iter::repeat_n(' ', spaces));
            column += spaces;
        } else {
            out.push(c);
            column += 1;
        }
    }
    Cow::Owned(out)
}

/// The wire line for one typed line (no LF in it), or why it is not sent.
pub fn prepare(typed: &str, line_max: usize) -> Result<String, Refusal> {
    let typed = typed.strip_suffix('\r').unwrap_or(typed);
    let expanded = expand_tabs(typed);
    if let Some(c) = expanded.chars().find(|c| is_forbidden_char(*c)) {
        return Err(Refusal::Control(c));
    }
    let wire = to_wire(&expanded);
    if wire.len() > line_max {
        return Err(Refusal::TooLong {
            octets: wire.len(),
            max: line_max,
        });
    }
    Ok(wire.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sair_and_quit_aliases_leave() {
        assert_eq!(to_wire("sair"), "/quit");
        assert_eq!(to_wire("  SAIR "), "/quit");
        assert_eq!(to_wire("sair daqui"), "sair daqui");
        for q in ["/quit", "/QUIT bye", "/sair", "/exit", "/close"] {
            assert!(is_quit(to_wire(q)), "{q}");
        }
        assert!(!is_quit("quit"));
        assert!(!is_quit("/say /quit"));
    }

    #[test]
    fn pasted_tabs_become_spaces_to_the_next_stop() {
        assert_eq!(prepare("a\tb", 1024).unwrap(), "a       b");
        assert_eq!(prepare("\tx", 1024).unwrap(), "        x");
        assert_eq!(prepare("12345678\ty", 1024).unwrap(), "12345678        y");
        assert_eq!(prepare("ção\t!", 1024).unwrap(), "ção     !");
    }

    #[test]
    fn other_controls_are_refused_locally() {
        assert_eq!(prepare("a\u{7}b", 1024), Err(Refusal::Control('\u{7}')));
        assert_eq!(
            prepare("a\u{1b}[31m", 1024),
            Err(Refusal::Control('\u{1b}'))
        );
        assert_eq!(prepare("a\u{85}", 1024), Err(Refusal::Control('\u{85}')));
        // The CR of a pasted CR LF is part of the terminator.
        assert_eq!(prepare("hi\r", 1024).unwrap(), "hi");
    }

    #[test]
    fn over_long_lines_are_refused_locally() {
        let line = "é".repeat(751);
        assert_eq!(
            prepare(&line, 1024),
            Err(Refusal::TooLong {
                octets: 1502,
                max: 1024
            })
        );
        assert!(prepare(&"x".repeat(1024), 1024).is_ok());
        // Tabs count once expanded.
        assert!(prepare(&format!("{}\ty", "x".repeat(1017)), 1024).is_err());
    }

    #[test]
    fn public_lines_are_recognised() {
        assert_eq!(public_text("hi there").as_deref(), Some("hi there"));
        assert_eq!(public_text("/say /x").as_deref(), Some("/x"));
        assert_eq!(public_text("@bob hi"), None);
        assert_eq!(public_text("/who"), None);
        assert_eq!(public_text("   "), None);
    }
}
