//! Resume tokens (spec §16.6): the secret a client gets in `WELCOME` that
//! lets it take its name back on a new connection, and nobody else. 128
//! random bits from the operating system, shown as 32 hex digits,
//! compared in constant time. Plain values: no I/O, no clock.

use ring::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq;

/// How long a departed client's token still takes its name back, if the
/// name is free (§16.6), in both hubs (the cluster's functions are given
/// it as they are loaded).
pub const RESUME_KEEP: std::time::Duration = std::time::Duration::from_secs(600);

/// One token.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ResumeToken([u8; 16]);

impl std::fmt::Debug for ResumeToken {
    /// Never the secret itself, in logs or panics.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResumeToken(..)")
    }
}

impl ResumeToken {
    /// A fresh token; `None` only if the system has no randomness to give.
    pub fn generate() -> Option<ResumeToken> {
        let mut bytes = [0u8; 16];
        SystemRandom::new().fill(&mut bytes).ok()?;
        Some(ResumeToken(bytes))
    }

    /// As sent in `WELCOME resume=`.
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Whether `presented` (as the client sent it) is this token, in time
    /// that does not depend on where they differ.
    pub fn matches(&self, presented: &str) -> bool {
        let wanted = self.hex();
        presented.len() == wanted.len() && bool::from(wanted.as_bytes().ct_eq(presented.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_matches_only_itself_and_is_never_printed() {
        let a = ResumeToken::generate().unwrap_or_else(|| unreachable!());
        let b = ResumeToken::generate().unwrap_or_else(|| unreachable!());
        assert_ne!(a, b);
        assert_eq!(a.hex().len(), 32);
        assert!(a.matches(&a.hex()));
        assert!(!a.matches(&b.hex()));
        assert!(!a.matches(&a.hex()[..31]));
        assert!(!a.matches(&a.hex().to_uppercase()) || a.hex() == a.hex().to_uppercase());
        assert!(!format!("{a:?}").contains(&a.hex()));
    }
}
