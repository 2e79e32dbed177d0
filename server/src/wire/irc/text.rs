//! Message text between IRC and Tagarela (spec §20.4): IRC's formatting
//! codes are dropped, a CTCP `ACTION` becomes Tagarela's action text
//! (`/me ...`, §5.2) and back, and a Tagarela message longer than one IRC
//! line goes out as several. Pure string work; knows no connection.

use std::borrow::Cow;

use tagarela_parser::Text;

/// The CTCP delimiter.
const CTCP: char = '\u{1}';

/// What an IRC client's message text comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// Text Tagarela can carry (an action as `/me ...`).
    Text(Text<'static>),
    /// Nothing left to send (ERR_NOTEXTTOSEND).
    Empty,
    /// A CTCP request other than `ACTION`: not carried (§20.4).
    Ctcp,
}

/// Reads an IRC message's text: formatting codes (bold, colour, italics,
/// underline, reverse, monospace, reset) are dropped, as is any other
/// control character, and `\x01ACTION text\x01` becomes `/me text`.
pub fn inbound(raw: &str) -> Inbound {
    let (body, action) = match raw.strip_prefix(CTCP) {
        Some(ctcp) => {
            let ctcp = ctcp.strip_suffix(CTCP).unwrap_or(ctcp);
            match ctcp.split_once(' ') {
                Some((verb, rest)) if verb.eq_ignore_ascii_case("ACTION") => (rest, true),
                None if ctcp.eq_ignore_ascii_case("ACTION") => ("", true),
                _ => return Inbound::Ctcp,
            }
        }
        None => (raw, false),
    };
    let plain = strip_formatting(body);
    if plain.trim_matches(' ').is_empty() {
        return Inbound::Empty;
    }
    let text = if action {
        format!("/me {plain}")
    } else {
        plain.into_owned()
    };
    match Text::new(text) {
        Ok(text) => Inbound::Text(text),
        // Unreachable in practice: every control character was dropped.
        Err(_) => Inbound::Empty,
    }
}

/// `body` without mIRC formatting codes or other control characters.
fn strip_formatting(body: &str) -> Cow<'_, str> {
    if !body.chars().any(char::is_control) {
        return Cow::Borrowed(body);
    }
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            // Colour: up to two digits, then optionally a comma and up to
            // two more.
            '\u{3}' => {
                skip_digits(&mut chars);
                if chars.peek() == Some(&',') {
                    let mut ahead = chars.clone();
                    ahead.next();
                    if ahead.peek().is_some_and(char::is_ascii_digit) {
                        chars.next();
                        skip_digits(&mut chars);
                    }
                }
            }
            // Hex colour: six hex digits, optionally a comma and six more.
            '\u{4}' => {
                for _ in 0..6 {
                    chars.next_if(char::is_ascii_hexdigit);
                }
                if chars.peek() == Some(&',') {
                    chars.next();
                    for _ in 0..6 {
                        chars.next_if(char::is_ascii_hexdigit);
                    }
                }
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn skip_digits(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    for _ in 0..2 {
        if chars.next_if(char::is_ascii_digit).is_none() {
            break;
        }
    }
}

/// A Tagarela message's text as IRC carries it: an action (`/me ...`)
/// as a CTCP `ACTION`.
pub fn outbound(text: &str) -> (&str, bool) {
    match text.strip_prefix("/me ") {
        Some(rest) => (rest, true),
        None => (text, false),
    }
}

/// The most octets of a user name shown (ISUPPORT `USERLEN`).
pub const USER_MAX: usize = 10;

/// The most octets of a real name kept.
pub const REALNAME_MAX: usize = 100;

/// The most octets of an away message kept (ISUPPORT `AWAYLEN`).
pub const AWAY_MAX: usize = 300;

/// `USER`'s user name as shown in a source (`nick!~user@host`): ASCII
/// letters, digits, `-`, `.` and `_` only (anything else could break the
/// source apart), at most [`USER_MAX`]; `u` if nothing is left.
pub fn user_name(raw: &str) -> String {
    let kept: String = raw
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        .take(USER_MAX)
        .collect();
    if kept.is_empty() {
        "u".to_owned()
    } else {
        kept
    }
}

/// A real name or away message as shown to others: formatting and
/// control characters dropped, at most `max` octets (cut on a character
/// boundary).
pub fn shown(raw: &str, max: usize) -> String {
    let mut out = String::new();
    for c in strip_formatting(raw).chars().filter(|c| !c.is_control()) {
        if out.len() + c.len_utf8() > max {
            break;
        }
        out.push(c);
    }
    out
}

/// Whether `name` matches the IRC mask `mask` (`*` any run, `?` any one
/// character; compared as given: callers fold case first).
pub fn glob(mask: &str, name: &str) -> bool {
    let (m, n): (Vec<char>, Vec<char>) = (mask.chars().collect(), name.chars().collect());
    // Iterative matching with one backtrack point: linear in practice,
    // never exponential.
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < n.len() {
        match m.get(i) {
            Some('*') => {
                star = Some((i, j));
                i += 1;
            }
            Some(c) if *c == '?' || *c == n[j] => {
                i += 1;
                j += 1;
            }
            _ => match star {
                Some((si, sj)) => {
                    i = si + 1;
                    j = sj + 1;
                    star = Some((si, sj + 1));
                }
                None => return false,
            },
        }
    }
    m[i..].iter().all(|c| *c == '*')
}

/// Cuts `text` into pieces of at most `max` octets, on character
/// boundaries (and, where one is near, after a space), none empty.
pub fn pieces(text: &str, max: usize) -> Vec<&str> {
    let max = max.max(4);
    let mut out = Vec::new();
    let mut rest = text;
    while rest.len() > max {
        let mut cut = max;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        // Prefer a space in the last quarter of the piece.
        if let Some(space) = rest[..cut].rfind(' ')
            && space > cut - cut / 4
        {
            cut = space + 1;
        }
        out.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    if !rest.is_empty() || out.is_empty() {
        out.push(rest);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Inbound {
        Inbound::Text(Text::new(s.to_owned()).unwrap_or_else(|_| unreachable!()))
    }

    #[test]
    fn user_names_keep_what_a_source_can_carry() {
        assert_eq!(user_name("myusername"), "myusername");
        assert_eq!(user_name("my!user@name:x y"), "myusername");
        assert_eq!(user_name("averyveryverylongname"), "averyveryv");
        assert_eq!(user_name("ção"), "o");
        assert_eq!(user_name("!!!"), "u");
    }

    #[test]
    fn real_names_drop_controls_and_are_bounded() {
        assert_eq!(shown("My \u{2}Real\u{2} Name\u{7}", 100), "My Real Name");
        assert_eq!(shown(&"x".repeat(500), REALNAME_MAX).len(), REALNAME_MAX);
        // Cut on a character boundary: 2 octets each, 3 fit in 7.
        assert_eq!(shown("ççççç", 7), "ççç");
    }

    #[test]
    fn masks_match_as_irc_globs() {
        assert!(glob("coolni*", "coolnick"));
        assert!(glob("*", "anyone"));
        assert!(glob("c?ol*k", "coolnick"));
        assert!(glob("*nick", "coolnick"));
        assert!(glob("a*b*c", "aXbYbZc"));
        assert!(!glob("coolni*", "othernick"));
        assert!(!glob("c?ol", "cool2"));
        assert!(!glob("a*b", "aXc"));
        // A long run of stars against a long name finishes at once.
        assert!(!glob(&"*a".repeat(50), &"a".repeat(49)));
    }

    #[test]
    fn formatting_is_dropped() {
        assert_eq!(
            inbound("\u{2}bold\u{2} and \u{3}4,12red\u{3}"),
            text("bold and red")
        );
        assert_eq!(
            inbound("\u{3}12,x"),
            text(",x"),
            "a comma not followed by a digit stays"
        );
        assert_eq!(inbound("\u{1d}\u{1f}\u{16}\u{f}"), Inbound::Empty);
        assert_eq!(inbound("a\u{4}ff00ffb"), text("ab"));
    }

    #[test]
    fn actions_become_me_and_back() {
        assert_eq!(inbound("\u{1}ACTION waves\u{1}"), text("/me waves"));
        assert_eq!(
            inbound("\u{1}action waves"),
            text("/me waves"),
            "unterminated"
        );
        assert_eq!(inbound("\u{1}ACTION\u{1}"), Inbound::Empty);
        assert_eq!(inbound("\u{1}VERSION\u{1}"), Inbound::Ctcp);
        assert_eq!(outbound("/me waves"), ("waves", true));
        assert_eq!(outbound("/mewaves"), ("/mewaves", false));
    }

    #[test]
    fn pieces_fit_and_keep_every_character() {
        let long = "olá ".repeat(200);
        let cut = pieces(&long, 100);
        assert!(cut.iter().all(|p| p.len() <= 100 && !p.is_empty()));
        assert_eq!(cut.concat(), long);
        assert_eq!(pieces("short", 100), vec!["short"]);
        let wide = "語".repeat(50);
        let cut = pieces(&wide, 10);
        assert!(cut.iter().all(|p| p.len() <= 10));
        assert_eq!(cut.concat(), wide);
    }
}
