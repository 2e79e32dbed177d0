//! Client names (§3): the grammar check, NFC normalisation of what a client
//! typed, and the identity key used for uniqueness and `@name` lookup. Never
//! decides whether a name is taken: that is the server's registry.

use std::borrow::Cow;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;
use unicode_security::{GeneralSecurityProfile, RestrictionLevel, RestrictionLevelDetection};

use crate::error::NameError;
use crate::limits::NAME_MAX;

/// A string that matches the `name` rule (§3.1) as written or in NFC. It
/// is not necessarily in NFC: names parsed from `@recipient` are as the
/// sender typed them. Names that the server registers come from
/// [`Name::normalize`] and are NFC.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Name<'a>(Cow<'a, str>);

/// The identity of a name (§3.3): `NFKC(casefold(NFKC(name)))`. Two names are
/// the same name exactly when their keys are equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NameKey(String);

impl<'a> Name<'a> {
    /// Checks `s` against the name grammar, without normalising it.
    ///
    /// ```abnf
    /// name       = name-first *31name-char
    /// name-first = <Alphabetic or General_Category N> / "_"
    /// name-char  = name-first / <General_Category M> / "-" / "."
    /// ```
    pub fn new(s: impl Into<Cow<'a, str>>) -> Result<Self, NameError> {
        let s = s.into();
        validate(&s)?;
        Ok(Name(s))
    }

    /// A recipient as the sender typed it (§5.2): accepted when it matches
    /// the grammar as typed or in NFC, the form §3.1 measures (a decomposed
    /// name can be longer than its NFC form; a few characters, such as
    /// U+0A5E, grow under NFC). The text is kept as typed; its key is the
    /// same either way (§3.3).
    pub fn recipient(typed: &'a str) -> Result<Self, NameError> {
        match validate(typed) {
            Ok(()) => {}
            Err(_) if !typed.is_ascii() => validate(&typed.nfc().collect::<String>())?,
            Err(e) => return Err(e),
        }
        Ok(Name(Cow::Borrowed(typed)))
    }

    /// What a server does with a name attempt (§4.3): NFC first, then the
    /// grammar. The result is the display form.
    pub fn normalize(attempt: &str) -> Result<Name<'static>, NameError> {
        let nfc: String = attempt.nfc().collect();
        validate(&nfc)?;
        Ok(Name(Cow::Owned(nfc)))
    }

    /// The name as it is written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A borrowed copy, free of allocation (for building lines to send).
    pub fn borrowed(&self) -> Name<'_> {
        Name(Cow::Borrowed(&self.0))
    }

    /// The identity key (§3.3).
    pub fn key(&self) -> NameKey {
        NameKey::of(&self.0)
    }

    /// What the name looks like (§3.3).
    pub fn skeleton(&self) -> Skeleton {
        Skeleton::of(&self.0)
    }

    /// The shapes a name is compared by (§3.3): its skeleton as written and
    /// that of its upper-case form. The skeleton maps `I` to `l`, so `ALICE`
    /// and `alice` have different skeletons (`allce`, `alice`); comparing
    /// both forms catches `ALlCE` (which renders as `ALICE`) against a
    /// lower-case `alice`.
    pub fn skeletons(&self) -> [Skeleton; 2] {
        [Skeleton::of(&self.0), Skeleton::of(&self.0.to_uppercase())]
    }

    /// Detaches from the input buffer.
    pub fn into_owned(self) -> Name<'static> {
        Name(Cow::Owned(self.0.into_owned()))
    }
}

impl std::fmt::Display for Name<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl NameKey {
    /// `NFKC(casefold(NFKC(s)))`, with Unicode default full case folding.
    pub fn of(s: &str) -> NameKey {
        // Fast path for the common all-ASCII name: NFKC is the identity and
        // full case folding is ASCII lower-casing.
        if s.is_ascii() {
            return NameKey(s.to_ascii_lowercase());
        }
        let nfkc: String = s.nfkc().collect();
        let folded = caseless::default_case_fold_str(&nfkc);
        NameKey(folded.nfkc().collect())
    }

    /// The key as a string (for logs and debugging; never shown as a name).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a name looks like (§3.3): `casefold(skeleton(name))`, the Unicode
/// TR39 confusable skeleton of the name as written, case-folded (the
/// skeleton maps `I` to `l` and `0` to `O`; folding then makes `ALICE`
/// and `alice` one shape, as their keys are one name). Two names that
/// look alike have equal skeletons; a server refuses a name whose skeleton
/// equals that of a name already online.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Skeleton(String);

impl Skeleton {
    /// The skeleton of `name` as written.
    pub fn of(name: &str) -> Skeleton {
        let skeleton: String = unicode_security::skeleton(name).collect();
        Skeleton(caseless::default_case_fold_str(&skeleton))
    }

    /// The skeleton as a string (for tests and debugging).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_name_first(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn is_name_char(c: char) -> bool {
    is_name_first(c) || c == '-' || c == '.' || is_combining_mark(c)
}

/// Most combining marks one character may carry (§3.1), as TR39 §5.4
/// suggests for nonspacing marks.
pub const MARKS_PER_CHAR_MAX: usize = 4;

/// The name punctuation (§3.1): Common script, never confusable with a
/// letter, and outside TR39's identifier profile only because `-` and `.`
/// are not XID characters.
fn is_name_punctuation(c: char) -> bool {
    matches!(c, '_' | '-' | '.')
}

fn validate(s: &str) -> Result<(), NameError> {
    grammar(s)?;
    if !s.is_ascii() {
        security_profile(s)?;
    }
    Ok(())
}

/// The TR39 protections of §3.1, for a string that passed the grammar:
/// every character other than the name punctuation is `Identifier_Status
/// = Allowed` (which excludes Default_Ignorable characters such as
/// variation selectors, U+034F and the Hangul fillers); at most
/// [`MARKS_PER_CHAR_MAX`] combining marks follow any character in NFD,
/// and none twice; and the scripts are at most "moderately restrictive".
fn security_profile(s: &str) -> Result<(), NameError> {
    if !s
        .chars()
        .all(|c| is_name_punctuation(c) || c.identifier_allowed())
    {
        return Err(NameError::Restricted);
    }
    let mut run: Vec<char> = Vec::new();
    for c in s.nfd() {
        if !is_combining_mark(c) {
            run.clear();
        } else if run.len() == MARKS_PER_CHAR_MAX || run.contains(&c) {
            return Err(NameError::StackedMarks);
        } else {
            run.push(c);
        }
    }
    let letters: String = s.chars().filter(|&c| !is_name_punctuation(c)).collect();
    if letters.as_str().detect_restriction_level() > RestrictionLevel::ModeratelyRestrictive {
        return Err(NameError::MixedScript);
    }
    Ok(())
}

fn grammar(s: &str) -> Result<(), NameError> {
    let mut chars = s.chars();
    let first = chars.next().ok_or(NameError::Empty)?;
    if !is_name_first(first) {
        return Err(NameError::BadChar);
    }
    let mut count = 1;
    for c in chars {
        count += 1;
        if count > NAME_MAX {
            return Err(NameError::TooLong);
        }
        if !is_name_char(c) {
            return Err(NameError::BadChar);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> NameKey {
        NameKey::of(s)
    }

    #[test]
    fn a_recipient_is_measured_after_nfc() {
        // 32 × (a + combining tilde) is 64 scalar values as typed, 32 × ã in
        // NFC: a valid name, with the same key as the composed form.
        let typed = "a\u{303}".repeat(32);
        assert_eq!(Name::new(typed.as_str()), Err(NameError::TooLong));
        let to = Name::recipient(&typed).unwrap();
        assert_eq!(to.as_str(), typed);
        assert_eq!(to.key(), key(&"ã".repeat(32)));
        assert_eq!(
            Name::recipient(&"a\u{303}".repeat(33)),
            Err(NameError::TooLong)
        );
        assert_eq!(Name::recipient("bob smith"), Err(NameError::BadChar));
        // U+0A5E decomposes under NFC: 32 as typed, 33 in NFC. It is
        // outside TR39's identifier profile, so it is a name only in its
        // NFC form (the `structured` fuzz target once found that a valid
        // name as typed must stay a valid recipient: it still does).
        let grows = format!("\u{A5E}{}", "a".repeat(31));
        assert_eq!(Name::new(grows.as_str()), Err(NameError::Restricted));
        assert_eq!(Name::recipient(&grows), Err(NameError::TooLong));
        assert!(Name::recipient("\u{A5E}a").is_ok());
    }

    #[test]
    fn grammar_examples_from_spec() {
        for ok in [
            "Notebook_Mãe",
            "José",
            "Ωμέγα",
            "小明",
            "user_01",
            "_x",
            "a-b.c",
            "9lives",
        ] {
            assert!(Name::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "bob smith",
            "@bob",
            "/bob",
            "-x",
            ".x",
            "a:b",
            "a\u{202e}b",
            "a\u{200d}b",
            "a!",
        ] {
            assert_eq!(Name::new(bad), Err(NameError::BadChar), "{bad}");
        }
        assert_eq!(Name::new(""), Err(NameError::Empty));
        assert!(Name::new("x".repeat(32)).is_ok());
        assert_eq!(Name::new("x".repeat(33)), Err(NameError::TooLong));
        // 32 scalar values of 3 octets each: the limit counts characters.
        assert!(Name::new("一".repeat(32)).is_ok());
        assert_eq!(Name::new("一".repeat(33)), Err(NameError::TooLong));
        // Mathematical letters are compatibility forms: outside TR39's
        // identifier profile.
        assert_eq!(Name::new("𝒜".repeat(32)), Err(NameError::Restricted));
    }

    #[test]
    fn normalize_gives_nfc_display_form() {
        let n = Name::normalize("Ma\u{0303}e").unwrap();
        assert_eq!(n.as_str(), "Mãe");
        // A lone combining mark cannot start a name.
        assert_eq!(Name::normalize("\u{0303}a"), Err(NameError::BadChar));
    }

    #[test]
    fn keys_collide_as_the_spec_says() {
        assert_eq!(key("bob"), key("BOB"));
        assert_eq!(key("Straße"), key("STRASSE"));
        assert_eq!(key("ﬁle"), key("file"));
        assert_eq!(key("Ｂｏｂ"), key("bob"));
        assert_eq!(key("Mãe"), key("Ma\u{0303}e"));
        assert_eq!(key("ΣΑΣ"), key("σας"));
        assert_ne!(key("bob"), key("bób"));
        // Keys do not fold look-alikes; skeletons do (§3.3).
        assert_ne!(key("paypal"), key("p\u{0430}ypal"));
    }

    /// Issue 11 item 1: every invisible-impersonation name that was
    /// accepted while `alice` was online.
    #[test]
    fn invisible_and_stacked_characters_are_refused() {
        let restricted = [
            "alice\u{FE0F}",
            "alice\u{034F}",
            "alice\u{FE00}",
            "alice\u{FE01}",
            "alice\u{FE02}",
            "alice\u{180B}",
            "alice\u{E0100}",
            "alice\u{3164}",
            "\u{3164}",
            "\u{3164}\u{3164}",
            "alice\u{FFA0}",
            "alice\u{115F}",
        ];
        for name in restricted {
            assert_eq!(
                Name::normalize(name),
                Err(NameError::Restricted),
                "{}",
                name.escape_unicode()
            );
        }
        let twenty_marks = format!("alice{}", "\u{301}\u{302}\u{303}\u{304}\u{306}".repeat(4));
        assert_eq!(Name::normalize(&twenty_marks), Err(NameError::StackedMarks));
        assert_eq!(
            Name::normalize("a\u{301}\u{301}"),
            Err(NameError::StackedMarks)
        );
        // Four marks on one character are allowed, five are not.
        assert!(Name::normalize("q\u{301}\u{302}\u{303}\u{304}").is_ok());
        assert_eq!(
            Name::normalize("q\u{301}\u{302}\u{303}\u{304}\u{306}"),
            Err(NameError::StackedMarks)
        );
        // Vietnamese stacks two marks; ordinary writing passes.
        for ok in [
            "Nguyễn",
            "Việt",
            "Notebook_Mãe",
            "Ωμέγα",
            "小明",
            "José",
            "Straße",
        ] {
            assert!(Name::normalize(ok).is_ok(), "{ok}");
        }
    }

    /// §3.1 names the Unicode versions of every table a name goes
    /// through; an upgrade that changes one must change the spec too.
    #[test]
    fn unicode_versions_are_those_the_spec_names() {
        assert_eq!(
            char::UNICODE_VERSION,
            (17, 0, 0),
            "General Category, Alphabetic"
        );
        assert_eq!(
            unicode_normalization::UNICODE_VERSION,
            (18, 0, 0),
            "NFC, NFKC"
        );
        assert_eq!(caseless::UNICODE_VERSION, (16, 0, 0), "case folding");
        assert_eq!(unicode_security::UNICODE_VERSION, (18, 0, 0), "TR39 data");
    }

    #[test]
    fn mixed_scripts_are_refused_at_the_moderately_restrictive_level() {
        // Latin `alice` with one Cyrillic `а`.
        assert_eq!(Name::normalize("\u{0430}lice"), Err(NameError::MixedScript));
        assert_eq!(
            Name::normalize("p\u{0430}ypal"),
            Err(NameError::MixedScript)
        );
        // Latin with Greek is refused too; Latin with Han and Kana, or with
        // one other recommended script such as Arabic, is allowed.
        assert_eq!(
            Name::normalize("alpha\u{03B2}"),
            Err(NameError::MixedScript)
        );
        assert!(Name::normalize("Tanaka田中たなか").is_ok());
        assert!(Name::normalize("ali_علي").is_ok());
        // Whole-script names in any one recommended script are fine.
        assert!(Name::normalize("\u{0430}\u{043B}\u{0438}\u{0441}\u{0430}").is_ok());
        // Digits and name punctuation mix with any script.
        assert!(Name::normalize("Алиса_2.0-x").is_err());
        assert!(Name::normalize("Алиса_2.0").is_ok());
    }

    #[test]
    fn look_alike_names_share_a_skeleton() {
        let sk = Skeleton::of;
        // Case differences are the key's business; the skeleton is folded
        // so that a look-alike in other case is caught too.
        assert_eq!(sk("Alice"), sk("AIice"));
        assert_eq!(sk("alice"), sk("aIice"));
        assert_eq!(sk("alice"), sk("Alice"));
        assert_eq!(sk("l337"), sk("1337"));
        assert_eq!(sk("pace"), sk("\u{440}\u{430}\u{441}\u{435}"));
        // Review finding: the skeleton of an all-caps look-alike differs
        // from the lower-case name's; the upper-case forms meet.
        let shapes = |s: &str| {
            Name::new(s)
                .map(|n| n.skeletons())
                .unwrap_or_else(|_| unreachable!())
        };
        assert_ne!(sk("alice"), sk("ALlCE"));
        let [alice_as_written, alice_upper] = shapes("alice");
        let [allce_as_written, allce_upper] = shapes("ALlCE");
        assert!(
            [&alice_as_written, &alice_upper].contains(&&allce_as_written)
                || [&alice_as_written, &alice_upper].contains(&&allce_upper)
        );
        assert_eq!(sk("bob"), sk("b0b"));
        assert_eq!(sk("paypal"), sk("p\u{0430}ypal"));
        // Whole-script Cyrillic look-alike of a Latin name.
        assert_eq!(sk("\u{0430}\u{0435}"), sk("ae"));
        assert_eq!(sk("rn"), sk("m"));
        assert_ne!(sk("alice"), sk("alicia"));
    }
}
