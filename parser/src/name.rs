//! Client names (§3): the grammar check, NFC normalisation of what a client
//! typed, and the identity key used for uniqueness and `@name` lookup. Never
//! decides whether a name is taken: that is the server's registry.

use std::borrow::Cow;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

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

fn is_name_first(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn is_name_char(c: char) -> bool {
    is_name_first(c) || c == '-' || c == '.' || is_combining_mark(c)
}

fn validate(s: &str) -> Result<(), NameError> {
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
        // U+0A5E decomposes under NFC: 32 as typed, 33 in NFC. A valid name
        // as typed stays a valid recipient, so every Name round-trips
        // (found by the `structured` fuzz target).
        let grows = format!("\u{A5E}{}", "a".repeat(31));
        assert!(Name::new(grows.as_str()).is_ok());
        assert!(Name::recipient(&grows).is_ok());
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
        // 32 scalar values of 4 octets each: the limit counts characters.
        assert!(Name::new("𝒜".repeat(32)).is_ok());
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
        // No confusable skeletons in v1 (§3.3): Cyrillic а is another name.
        assert_ne!(key("paypal"), key("p\u{0430}ypal"));
    }
}
