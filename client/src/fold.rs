//! Loose matching of names for people who type them: a folding that
//! ignores case and diacritics (`notebook_mae` finds `Notebook_Mãe`) and an
//! edit distance to suggest the closest name after a typo. Only for
//! completion and suggestions shown to the user: identity is always the
//! spec's name key (§3.3), never this folding.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Names longer than this (in characters) are not compared by edit
/// distance; real names are at most 32 (spec §3.1).
const DISTANCE_MAX_LEN: usize = 64;

/// `s` decomposed (NFD), without combining marks, lower-cased.
pub fn fold(s: &str) -> String {
    s.nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Levenshtein distance between two strings, in characters; `None` when
/// either is implausibly long for a name.
pub fn distance(a: &str, b: &str) -> Option<usize> {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len() > DISTANCE_MAX_LEN || b.len() > DISTANCE_MAX_LEN {
        return None;
    }
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitute.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous.last().copied()
}

/// The candidate closest to `typed` after folding, if it is close enough
/// to be a likely typo: at most one edit per three characters typed
/// (rounded up), or `typed` is a prefix of it. Ties go to the first.
pub fn closest<'a>(typed: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let want = fold(typed);
    let allowed = want.chars().count().div_ceil(3).max(1);
    candidates
        .into_iter()
        .filter_map(|name| {
            let have = fold(name);
            let d = if have.starts_with(&want) {
                0
            } else {
                distance(&want, &have)?
            };
            (d <= allowed).then_some((d, name))
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_ignores_case_and_diacritics() {
        assert_eq!(fold("Notebook_Mãe"), "notebook_mae");
        assert_eq!(fold("Ma\u{303}e"), "mae");
        assert_eq!(fold("JOSÉ"), "jose");
        assert_eq!(fold("Ωμέγα"), "ωμεγα");
        assert_eq!(fold("小明"), "小明");
    }

    #[test]
    fn distance_counts_edits() {
        assert_eq!(distance("kitten", "sitting"), Some(3));
        assert_eq!(distance("", "abc"), Some(3));
        assert_eq!(distance("bob", "bob"), Some(0));
        assert_eq!(distance(&"x".repeat(65), "x"), None);
    }

    #[test]
    fn closest_suggests_likely_typos_only() {
        let online = ["Notebook_Mãe", "bob", "alice"];
        assert_eq!(closest("notebook_mae", online), Some("Notebook_Mãe"));
        assert_eq!(closest("notbook_mae", online), Some("Notebook_Mãe"));
        assert_eq!(closest("alcie", online), Some("alice"));
        assert_eq!(closest("bo", online), Some("bob"));
        assert_eq!(closest("zed", online), None);
        assert_eq!(closest("carol", online), None);
    }
}
