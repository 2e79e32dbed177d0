//! Tab completion for the interactive editor: the word under the cursor,
//! anywhere on the line, is completed to a name online (with or without a
//! leading `@`), and a `/` word at the start of the line to a command.
//! Names match ignoring case and diacritics (`fold`); your own name is never
//! offered. Also holds the roster of names the session has seen, which the
//! suggestion after `ERR no-such-user` uses. Never touches the network.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use rustyline::completion::{Completer, Pair};
use rustyline::line_buffer::LineBuffer;
use rustyline::{Changeset, Context};
use tagarela_parser::NameKey;

use crate::fold::{closest, fold};

/// Names remembered at most; a server has far fewer online (its connection
/// limit), so this only bounds a misbehaving one.
const ROSTER_MAX: usize = 100_000;

/// What the roster holds.
#[derive(Debug, Default)]
struct Names {
    /// Display form of each name online, by key (spec §3.3).
    online: BTreeMap<NameKey, String>,
    /// Our own key once registered: never offered or suggested.
    me: Option<NameKey>,
}

/// Names known to be online, shared by the session and the editor thread.
#[derive(Debug, Clone, Default)]
pub struct Roster(Arc<Mutex<Names>>);

impl Roster {
    fn names(&self) -> std::sync::MutexGuard<'_, Names> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds or refreshes a name.
    pub fn add(&self, name: &str) {
        let mut names = self.names();
        if names.online.len() < ROSTER_MAX {
            names.online.insert(NameKey::of(name), name.to_owned());
        }
    }

    /// Removes a name.
    pub fn remove(&self, name: &str) {
        self.names().online.remove(&NameKey::of(name));
    }

    /// Records our own name.
    pub fn set_me(&self, name: &str) {
        self.names().me = Some(NameKey::of(name));
    }

    /// Other people's names whose folding starts with the folding of
    /// `prefix`, in folded order.
    pub fn matching(&self, prefix: &str) -> Vec<String> {
        let want = fold(prefix);
        let names = self.names();
        let mut found: Vec<(String, String)> = names
            .online
            .iter()
            .filter(|(key, _)| names.me.as_ref() != Some(*key))
            .map(|(_, name)| (fold(name), name.clone()))
            .filter(|(folded, _)| folded.starts_with(&want))
            .collect();
        found.sort();
        found.into_iter().map(|(_, name)| name).collect()
    }

    /// The other person's name online closest to `typed`, if one is close.
    pub fn closest(&self, typed: &str) -> Option<String> {
        let names = self.names();
        let others = names
            .online
            .iter()
            .filter(|(key, _)| names.me.as_ref() != Some(*key))
            .map(|(_, name)| name.as_str());
        closest(typed, others).map(str::to_owned)
    }
}

const COMMANDS: &[&str] = &[
    "/ban ", "/help", "/history", "/join ", "/kick ", "/me ", "/msg ", "/op ", "/part", "/ping",
    "/quit", "/rooms", "/say ", "/switch ", "/topic", "/unban ", "/who",
];

/// Where the word around `pos` starts and ends (whitespace separates words).
fn word_at(line: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(line.len());
    let before = line.get(..pos).unwrap_or("");
    let after = line.get(pos..).unwrap_or("");
    let start = before
        .char_indices()
        .rev()
        .find(|(_, c)| c.is_whitespace())
        .map_or(0, |(i, c)| i + c.len_utf8());
    let end = after
        .char_indices()
        .find(|(_, c)| c.is_whitespace())
        .map_or(line.len(), |(i, _)| pos + i);
    (start, end)
}

/// Candidates for the word under the cursor at `pos`: where the word
/// starts, and its replacements.
pub fn complete(roster: &Roster, line: &str, pos: usize) -> (usize, Vec<Pair>) {
    let pos = pos.min(line.len());
    let (start, _) = word_at(line, pos);
    let word = line.get(start..pos).unwrap_or("");
    let pair = |display: String, replacement: String| Pair {
        display,
        replacement,
    };
    if start == 0 && word.starts_with('/') {
        let lower = word.to_ascii_lowercase();
        let cmds = COMMANDS.iter().filter(|c| c.starts_with(&lower));
        return (
            0,
            cmds.map(|c| pair(c.trim_end().to_owned(), (*c).to_owned()))
                .collect(),
        );
    }
    if let Some(prefix) = word.strip_prefix('@') {
        let names = roster.matching(prefix);
        return (
            start,
            names
                .into_iter()
                .map(|n| pair(n.clone(), format!("@{n} ")))
                .collect(),
        );
    }
    let first = line.split_whitespace().next().unwrap_or("");
    let first_word_is_msg = first.eq_ignore_ascii_case("/msg") && start > 0;
    if word.is_empty() && !first_word_is_msg {
        return (pos, Vec::new());
    }
    let names = roster.matching(word);
    (
        start,
        names
            .into_iter()
            .map(|n| pair(n.clone(), format!("{n} ")))
            .collect(),
    )
}

/// What choosing `elected` for the word starting at `start` replaces: the
/// whole word under the cursor (not only the part before it), and the text
/// to put there, without doubling a following space.
pub fn replacement<'e>(
    line: &str,
    pos: usize,
    start: usize,
    elected: &'e str,
) -> (std::ops::Range<usize>, &'e str) {
    let pos = pos.min(line.len());
    let (_, end) = word_at(line, pos);
    let end = end.max(pos);
    let followed_by_space = line.get(end..).is_some_and(|rest| rest.starts_with(' '));
    let text = if followed_by_space {
        elected.trim_end_matches(' ')
    } else {
        elected
    };
    (start.min(end)..end, text)
}

/// The completer the editor uses.
#[derive(Debug, Clone)]
pub struct NameCompleter {
    /// The names to offer.
    pub roster: Roster,
}

impl Completer for NameCompleter {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        Ok(complete(&self.roster, line, pos))
    }

    fn update(&self, line: &mut LineBuffer, start: usize, elected: &str, cl: &mut Changeset) {
        let (range, text) = replacement(line.as_str(), line.pos(), start, elected);
        line.replace(range, text, cl);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roster() -> Roster {
        let roster = Roster::default();
        for n in ["bob", "Bianca", "alice", "Notebook_Mãe"] {
            roster.add(n);
        }
        roster.set_me("alice");
        roster
    }

    fn replacements_at(line: &str, pos: usize) -> Vec<String> {
        complete(&roster(), line, pos)
            .1
            .into_iter()
            .map(|p| p.replacement)
            .collect()
    }

    fn replacements(line: &str) -> Vec<String> {
        replacements_at(line, line.len())
    }

    #[test]
    fn names_after_at_and_msg() {
        assert_eq!(replacements("@b"), vec!["@Bianca ", "@bob "]);
        assert_eq!(replacements("@BO"), vec!["@bob "]);
        assert_eq!(replacements("/msg b"), vec!["Bianca ", "bob "]);
        assert_eq!(replacements("/MSG bo"), vec!["bob "]);
        assert_eq!(replacements("/w"), vec!["/who"]);
    }

    #[test]
    fn the_word_under_the_cursor_is_completed_anywhere() {
        assert_eq!(replacements("hi @No"), vec!["@Notebook_Mãe "]);
        assert_eq!(replacements("hi No"), vec!["Notebook_Mãe "]);
        assert_eq!(replacements("hello b"), vec!["Bianca ", "bob "]);
        // Cursor in the middle of a word: the word's start is what counts.
        assert_eq!(replacements_at("hi @Noxx there", 6), vec!["@Notebook_Mãe "]);
        assert_eq!(complete(&roster(), "hi @No", 6).0, 3);
        // Nothing to complete after a space, except /msg's recipient.
        assert!(replacements("hello ").is_empty());
        assert_eq!(replacements("/msg ").len(), 3);
    }

    #[test]
    fn matching_ignores_case_and_diacritics() {
        assert_eq!(replacements("@notebook_mae"), vec!["@Notebook_Mãe "]);
        assert_eq!(replacements("NOTEBOOK_MA"), vec!["Notebook_Mãe "]);
    }

    #[test]
    fn your_own_name_is_never_offered() {
        assert!(replacements("@al").is_empty());
        assert!(replacements("al").is_empty());
        assert_eq!(roster().closest("alice"), None);
    }

    #[test]
    fn the_closest_name_is_suggested() {
        assert_eq!(
            roster().closest("notebook_mae").as_deref(),
            Some("Notebook_Mãe")
        );
        assert_eq!(roster().closest("bobb").as_deref(), Some("bob"));
        assert_eq!(roster().closest("zzz"), None);
    }

    #[test]
    fn choosing_replaces_the_whole_word() {
        let line = "hi @Noxx there";
        let (range, text) = replacement(line, 6, 3, "@Notebook_Mãe ");
        assert_eq!((range, text), (3..8, "@Notebook_Mãe"));
        assert_eq!(
            replacement("hi @No", 6, 3, "@Notebook_Mãe "),
            (3..6, "@Notebook_Mãe ")
        );
    }
}
