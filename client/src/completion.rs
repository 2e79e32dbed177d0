//! Tab completion for the interactive editor: names after `@` and after
//! `/msg`, commands after `/`. Reads the roster of names the session has
//! seen; never touches the network.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Helper};
use tagarela_parser::NameKey;

/// Names known to be online, by key (spec §3.3).
#[derive(Debug, Clone, Default)]
pub struct Roster(Arc<Mutex<BTreeMap<NameKey, String>>>);

impl Roster {
    /// Adds or refreshes a name.
    pub fn add(&self, name: &str) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(NameKey::of(name), name.to_owned());
    }

    /// Removes a name.
    pub fn remove(&self, name: &str) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&NameKey::of(name));
    }

    /// Names whose key starts with the key of `prefix`.
    pub fn matching(&self, prefix: &str) -> Vec<String> {
        let want = NameKey::of(prefix);
        let names = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        names
            .iter()
            .filter(|(k, _)| k.as_str().starts_with(want.as_str()))
            .map(|(_, n)| n.clone())
            .collect()
    }
}

const COMMANDS: &[&str] = &["/help", "/msg ", "/ping", "/quit", "/say ", "/who"];

/// The rustyline helper: completion only.
#[derive(Debug, Clone)]
pub struct ChatHelper {
    pub roster: Roster,
}

impl Completer for ChatHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        Ok(complete(&self.roster, line, pos))
    }
}

/// Candidates for the word before `pos`: (where it starts, replacements).
pub fn complete(roster: &Roster, line: &str, pos: usize) -> (usize, Vec<Pair>) {
    let before = line.get(..pos).unwrap_or(line);
    let start = before.rfind(' ').map_or(0, |i| i + 1);
    let word = &before[start..];
    let pair = |display: String, replacement: String| Pair {
        display,
        replacement,
    };
    if start == 0 {
        if let Some(prefix) = word.strip_prefix('@') {
            let names = roster.matching(prefix);
            return (
                0,
                names
                    .into_iter()
                    .map(|n| pair(n.clone(), format!("@{n} ")))
                    .collect(),
            );
        }
        if word.starts_with('/') {
            let lower = word.to_ascii_lowercase();
            let cmds = COMMANDS.iter().filter(|c| c.starts_with(&lower));
            return (
                0,
                cmds.map(|c| pair(c.trim_end().to_owned(), (*c).to_owned()))
                    .collect(),
            );
        }
    }
    let words: Vec<&str> = before[..start]
        .split(' ')
        .filter(|w| !w.is_empty())
        .collect();
    if words.len() == 1 && words[0].eq_ignore_ascii_case("/msg") {
        let names = roster.matching(word);
        return (
            start,
            names
                .into_iter()
                .map(|n| pair(n.clone(), format!("{n} ")))
                .collect(),
        );
    }
    (pos, Vec::new())
}

impl Hinter for ChatHelper {
    type Hint = String;
}
impl Highlighter for ChatHelper {}
impl Validator for ChatHelper {}
impl Helper for ChatHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    fn replacements(line: &str) -> Vec<String> {
        let roster = Roster::default();
        for n in ["bob", "Bianca", "alice"] {
            roster.add(n);
        }
        complete(&roster, line, line.len())
            .1
            .into_iter()
            .map(|p| p.replacement)
            .collect()
    }

    #[test]
    fn names_after_at_and_msg() {
        assert_eq!(replacements("@b"), vec!["@Bianca ", "@bob "]);
        assert_eq!(replacements("@BO"), vec!["@bob "]);
        assert_eq!(replacements("/msg al"), vec!["alice "]);
        assert_eq!(replacements("/MSG a"), vec!["alice "]);
        assert!(replacements("hello b").is_empty());
        assert_eq!(replacements("/w"), vec!["/who"]);
    }
}
