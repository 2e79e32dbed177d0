//! What draws the user's attention: finding mentions of our name in a
//! message (by name key, spec §3.3, on word boundaries) and deciding
//! whether a line rings the terminal bell under the `--bell` setting. Pure
//! functions; the bell itself (one BEL octet) is written by the interactive
//! mode, never taken from peer text.

use std::ops::Range;

use clap::ValueEnum;
use tagarela_parser::{NameKey, ServerLine};
use unicode_normalization::char::is_combining_mark;

/// Longest word (in characters) that is compared with our name: names are
/// at most 32 scalar values (spec §3.1).
const WORD_MAX: usize = 64;

/// When the client rings the terminal bell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Bell {
    /// Never.
    Off,
    /// On a private message to you.
    Private,
    /// On a private message to you or a public message that mentions you.
    #[default]
    Mention,
    /// On every message from someone else.
    All,
}

/// A character that can be part of a name (spec §3.1).
fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || is_combining_mark(c) || matches!(c, '_' | '-' | '.')
}

/// Where `text` mentions the name whose key is `me`: each word (a run of
/// name characters, or the same run without the `.` or `-` that ends a
/// sentence or starts a list) whose key is `me`.
pub fn mentions(text: &str, me: &NameKey) -> Vec<Range<usize>> {
    let mut found = Vec::new();
    let mut start = None;
    let ends = text
        .char_indices()
        .map(|(i, c)| (i, Some(c)))
        .chain(std::iter::once((text.len(), None)));
    for (i, c) in ends {
        match (start, c.is_some_and(is_name_char)) {
            (None, true) => start = Some(i),
            (Some(s), false) => {
                start = None;
                if let Some(range) = mention_in(text, s..i, me) {
                    found.push(range);
                }
            }
            _ => {}
        }
    }
    found
}

/// The part of the word `text[word]` that is the name `me`, if any.
fn mention_in(text: &str, word: Range<usize>, me: &NameKey) -> Option<Range<usize>> {
    let whole = text.get(word.clone())?;
    if whole.chars().count() > WORD_MAX {
        return None;
    }
    if NameKey::of(whole) == *me {
        return Some(word);
    }
    let trimmed = whole.trim_matches(|c| c == '.' || c == '-');
    if trimmed.is_empty() || trimmed.len() == whole.len() {
        return None;
    }
    let offset = whole.find(trimmed)?;
    (NameKey::of(trimmed) == *me).then(|| word.start + offset..word.start + offset + trimmed.len())
}

/// True when `line` rings the bell under `policy`, for a user whose name
/// key is `me` (no bell before registration).
pub fn rings(policy: Bell, line: &ServerLine<'_>, me: Option<&NameKey>) -> bool {
    let Some(me) = me else {
        return false;
    };
    match line {
        ServerLine::Priv { from, .. } if from.key() != *me => {
            matches!(policy, Bell::Private | Bell::Mention | Bell::All)
        }
        ServerLine::Msg { text, .. } => match policy {
            Bell::All => true,
            Bell::Mention => !mentions(text.as_str(), me).is_empty(),
            Bell::Off | Bell::Private => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tagarela_parser::{Name, Text, Timestamp};

    fn spans<'t>(text: &'t str, me: &str) -> Vec<&'t str> {
        let me = NameKey::of(me);
        mentions(text, &me)
            .into_iter()
            .map(|r| &text[r])
            .collect::<Vec<_>>()
    }

    #[test]
    fn mentions_are_found_by_key_on_word_boundaries() {
        assert_eq!(spans("hi alice, lunch?", "alice"), ["alice"]);
        assert_eq!(spans("@ALICE look", "alice"), ["ALICE"]);
        assert_eq!(spans("thanks Alice.", "alice"), ["Alice"]);
        assert_eq!(spans("malice aforethought", "alice"), Vec::<&str>::new());
        assert_eq!(spans("alice_2 is not alice", "alice"), ["alice"]);
        assert_eq!(spans("oi notebook_mãe!", "Notebook_Mãe"), ["notebook_mãe"]);
        assert_eq!(spans("Ｂｏｂ?", "bob"), ["Ｂｏｂ"]);
        // A name that ends in a dot is found whole.
        assert_eq!(spans("ask bob. now", "bob."), ["bob."]);
    }

    fn msg(text: &str) -> ServerLine<'static> {
        ServerLine::Msg {
            at: Timestamp::from_unix_ms(0).unwrap(),
            from: Name::new("bob").unwrap(),
            text: Text::new(text.to_owned()).unwrap(),
        }
    }

    fn private(from: &str, to: &str) -> ServerLine<'static> {
        ServerLine::Priv {
            at: Timestamp::from_unix_ms(0).unwrap(),
            from: Name::new(from.to_owned()).unwrap(),
            to: Name::new(to.to_owned()).unwrap(),
            text: Text::new("psst").unwrap(),
        }
    }

    #[test]
    fn the_bell_follows_the_policy() {
        let me = NameKey::of("alice");
        let me = Some(&me);
        let mention = msg("alice?");
        let other = msg("hello all");
        let got = private("bob", "alice");
        let sent = private("alice", "bob");
        let table = [
            (Bell::Off, [false, false, false, false]),
            (Bell::Private, [false, false, true, false]),
            (Bell::Mention, [true, false, true, false]),
            (Bell::All, [true, true, true, false]),
        ];
        for (policy, want) in table {
            let got = [&mention, &other, &got, &sent].map(|l| rings(policy, l, me));
            assert_eq!(got, want, "{policy:?}");
        }
        assert!(!rings(Bell::All, &mention, None));
    }
}
