//! Room names (§19.2): `#` followed by what would be a valid name (§3.1),
//! normalised, keyed and compared by shape as names are, against other
//! rooms only. A value of [`RoomName`] cannot hold anything else, so a
//! room field in a line can never carry SP, `:` or a control character.
//! Never decides whether a room exists: that is the server's.

use std::borrow::Cow;

use crate::error::NameError;
use crate::name::{Name, NameKey, Skeleton};

/// The mark that starts every room name and no user name (§3.1 names
/// start with a letter, a digit or `_`).
pub const ROOM_MARK: char = '#';

/// A room name as written: `#` and a valid name (§19.2). Not necessarily
/// NFC when parsed from a client's line; the server's are (from
/// [`RoomName::normalize`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RoomName<'a>(Cow<'a, str>);

/// The identity of a room (§19.2): `#` and the key of its name part. Two
/// room names are one room exactly when their keys are equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomKey(String);

impl<'a> RoomName<'a> {
    /// Checks `s` against the room grammar (`"#" name`) without
    /// normalising it.
    pub fn new(s: impl Into<Cow<'a, str>>) -> Result<Self, NameError> {
        let s = s.into();
        let body = s.strip_prefix(ROOM_MARK).ok_or(NameError::BadChar)?;
        Name::new(body)?;
        Ok(RoomName(s))
    }

    /// A room as a client typed it (§19.2): accepted when its name part
    /// is a valid recipient (as typed or in NFC, §5.2), kept as typed.
    pub fn typed(s: &'a str) -> Result<Self, NameError> {
        let body = s.strip_prefix(ROOM_MARK).ok_or(NameError::BadChar)?;
        Name::recipient(body)?;
        Ok(RoomName(Cow::Borrowed(s)))
    }

    /// What a server does with a room a client names: NFC first, then the
    /// grammar. The result is the display form.
    pub fn normalize(attempt: &str) -> Result<RoomName<'static>, NameError> {
        let body = attempt.strip_prefix(ROOM_MARK).ok_or(NameError::BadChar)?;
        let name = Name::normalize(body)?;
        Ok(RoomName(Cow::Owned(format!("{ROOM_MARK}{name}"))))
    }

    /// The room name as written, `#` included.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name part, after `#`.
    fn body(&self) -> &str {
        &self.0[ROOM_MARK.len_utf8()..]
    }

    /// A borrowed copy, free of allocation.
    pub fn borrowed(&self) -> RoomName<'_> {
        RoomName(Cow::Borrowed(&self.0))
    }

    /// The identity key (§19.2).
    pub fn key(&self) -> RoomKey {
        RoomKey(format!("{ROOM_MARK}{}", NameKey::of(self.body()).as_str()))
    }

    /// The shapes a room is compared by (§19.2, as §3.3 compares names).
    pub fn skeletons(&self) -> [Skeleton; 2] {
        let body = self.body();
        [Skeleton::of(body), Skeleton::of(&body.to_uppercase())]
    }

    /// Detaches from the input buffer.
    pub fn into_owned(self) -> RoomName<'static> {
        RoomName(Cow::Owned(self.0.into_owned()))
    }
}

impl std::fmt::Display for RoomName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl RoomKey {
    /// The key as a string (for logs, maps and channel names; never shown).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_room_is_a_mark_and_a_name() {
        assert!(RoomName::new("#general").is_ok());
        assert!(RoomName::new("#Tarefas_2").is_ok());
        assert!(RoomName::new("general").is_err(), "no mark");
        assert!(RoomName::new("#").is_err(), "no name");
        assert!(RoomName::new("##x").is_err(), "a name cannot start with #");
        assert!(RoomName::new("#a b").is_err());
        assert!(RoomName::new("#a:b").is_err());
        assert!(RoomName::new(format!("#{}", "x".repeat(33))).is_err());
    }

    #[test]
    fn keys_fold_case_and_normal_forms_and_keep_the_mark() {
        let a = RoomName::normalize("#Tarefas").unwrap();
        let b = RoomName::normalize("#TAREFAS").unwrap();
        assert_eq!(a.key(), b.key());
        assert_eq!(a.key().as_str(), "#tarefas");
        let nfd = RoomName::normalize("#Ma\u{0303}e").unwrap();
        assert_eq!(nfd.as_str(), "#Mãe");
        assert_ne!(a.key(), Name::new("tarefas").unwrap().key().as_str().into());
    }

    #[test]
    fn look_alikes_share_a_shape() {
        let a = RoomName::new("#homework").unwrap().skeletons();
        let b = RoomName::new("#hornework").unwrap().skeletons();
        assert_eq!(a[0], b[0]);
    }

    impl From<&str> for RoomKey {
        fn from(s: &str) -> RoomKey {
            RoomKey(s.to_owned())
        }
    }
}
