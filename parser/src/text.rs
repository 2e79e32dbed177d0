//! Field values that carry free text or short tokens: [`Text`] (§1.2 `text`)
//! and [`Token`] (§1.2 `token`). Their constructors are the only way in, so a
//! value of these types can never hold a character that would break a line.

use std::borrow::Cow;

use crate::content;
use crate::error::FieldError;
use crate::limits::TOKEN_MAX;

/// Free text: any Unicode without control characters (§1.2 `text`, §2.5).
/// May be empty and may hold spaces; whether blank text is acceptable is the
/// caller's rule (message text must not be blank, §5.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Text<'a>(Cow<'a, str>);

impl<'a> Text<'a> {
    /// `text = *safe-char`
    pub fn new(s: impl Into<Cow<'a, str>>) -> Result<Self, FieldError> {
        let s = s.into();
        if content::has_forbidden(&s) {
            return Err(FieldError::ControlChar);
        }
        Ok(Text(s))
    }

    /// Wraps a string already known to pass [`content::check`].
    pub(crate) fn checked(s: &'a str) -> Self {
        Text(Cow::Borrowed(s))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when the text has no character other than SP (§5.2 `no-text`).
    pub fn is_blank(&self) -> bool {
        self.0.bytes().all(|b| b == b' ')
    }

    /// Detaches from the input buffer.
    pub fn into_owned(self) -> Text<'static> {
        Text(Cow::Owned(self.0.into_owned()))
    }
}

impl std::fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A ping/pong token (§1.2):
///
/// ```abnf
/// token    = 1*32tokchar
/// tokchar  = %x21-39 / %x3B-7E        ; visible ASCII except ":"
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Token<'a>(Cow<'a, str>);

impl<'a> Token<'a> {
    /// Validates `s` against the `token` rule.
    pub fn new(s: impl Into<Cow<'a, str>>) -> Result<Self, FieldError> {
        let s = s.into();
        let ok = !s.is_empty()
            && s.len() <= TOKEN_MAX
            && s.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b':');
        if ok {
            Ok(Token(s))
        } else {
            Err(FieldError::BadToken)
        }
    }

    /// The token.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Detaches from the input buffer.
    pub fn into_owned(self) -> Token<'static> {
        Token(Cow::Owned(self.0.into_owned()))
    }
}

impl std::fmt::Display for Token<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_refuses_controls_and_knows_blank() {
        assert!(Text::new("a\nb").is_err());
        assert!(Text::new("a\u{85}b").is_err());
        assert!(Text::new("   ").unwrap().is_blank());
        assert!(Text::new("").unwrap().is_blank());
        assert!(!Text::new(" x ").unwrap().is_blank());
    }

    #[test]
    fn token_rule() {
        assert!(Token::new("abc-123_!~").is_ok());
        assert!(Token::new("").is_err());
        assert!(Token::new("a:b").is_err());
        assert!(Token::new("a b").is_err());
        assert!(Token::new("é").is_err());
        assert!(Token::new("x".repeat(32)).is_ok());
        assert!(Token::new("x".repeat(33)).is_err());
    }
}
