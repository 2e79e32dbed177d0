//! Typed errors of the codec. Every decoding failure of a client line maps to
//! exactly one spec error code (§8) through [`LineError::code`]; nothing here
//! carries human text meant for the wire.

use crate::codes::ErrorCode;

/// Why a line's content is unacceptable before any grammar applies (§2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    /// Not UTF-8.
    #[error("line is not valid UTF-8")]
    InvalidUtf8,
    /// Holds a C0, DEL or C1 control character.
    #[error("line contains a control character")]
    ControlChar,
}

/// Why a client line (§5) or a name line (§4.3) was refused. Maps one-to-one
/// onto an `ERR` code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// Content check failed (§2.5).
    #[error(transparent)]
    Content(#[from] ContentError),
    /// `@` or `/msg` without a recipient.
    #[error("no recipient")]
    NoRecipient,
    /// A message without non-space text.
    #[error("no text")]
    NoText,
    /// The recipient is not a valid name, so no one can have it.
    #[error("recipient is not a valid name")]
    InvalidRecipient,
    /// A `/` line that is not a known command.
    #[error("unknown command")]
    UnknownCommand,
    /// A command's arguments are malformed.
    #[error("bad command argument")]
    BadArgument,
    /// A known command that needs registration, sent before it (§4.3).
    #[error("not registered")]
    NotRegistered,
    /// A room that is not `#` and a valid name (§19.2).
    #[error("not a valid room name")]
    InvalidRoom,
    /// A name attempt that does not match the name grammar (§3.1).
    #[error(transparent)]
    Name(#[from] NameError),
}

impl LineError {
    /// The spec's error code for this failure (§8).
    pub fn code(self) -> ErrorCode {
        match self {
            LineError::Content(ContentError::InvalidUtf8) => ErrorCode::InvalidUtf8,
            LineError::Content(ContentError::ControlChar) => ErrorCode::ControlChar,
            LineError::NoRecipient => ErrorCode::NoRecipient,
            LineError::NoText => ErrorCode::NoText,
            LineError::InvalidRecipient => ErrorCode::NoSuchUser,
            LineError::UnknownCommand => ErrorCode::UnknownCommand,
            LineError::BadArgument => ErrorCode::BadArgument,
            LineError::NotRegistered => ErrorCode::NotRegistered,
            LineError::InvalidRoom => ErrorCode::RoomInvalid,
            LineError::Name(_) => ErrorCode::NameInvalid,
        }
    }
}

/// Why a string is not a valid name (§3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Zero characters.
    #[error("name is empty")]
    Empty,
    /// More than `name-max` scalar values.
    #[error("name is longer than 32 characters")]
    TooLong,
    /// A character the name grammar does not allow, or a bad first character.
    #[error("name contains a character that is not allowed")]
    BadChar,
    /// A character outside the TR39 identifier profile (§3.1): invisible
    /// (Default_Ignorable, such as variation selectors and Hangul fillers),
    /// a compatibility form, or a historic or limited-use script.
    #[error("name contains an invisible or restricted character")]
    Restricted,
    /// More than four combining marks on one character, or the same mark
    /// twice on one character (§3.1).
    #[error("name stacks too many combining marks on one character")]
    StackedMarks,
    /// Letters from scripts that TR39's moderately restrictive level does
    /// not allow together, such as Latin with Cyrillic (§3.1).
    #[error("name mixes scripts")]
    MixedScript,
}

/// Why a field value cannot be built (text, token, timestamp).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// Forbidden character in text (§2.5).
    #[error("text contains a control character")]
    ControlChar,
    /// Not a `token` (§1.2).
    #[error("not a valid token")]
    BadToken,
    /// Not a `timestamp` (§1.3), or out of its range.
    #[error("not a valid timestamp")]
    BadTimestamp,
}

/// Why a server line (§7) could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServerLineError {
    /// Content check failed (§2.5).
    #[error(transparent)]
    Content(#[from] ContentError),
    /// Longer than `server-line-max`.
    #[error("server line longer than 2048 octets")]
    TooLong,
    /// The keyword is not one v1 knows; clients ignore such lines (§7.1).
    #[error("unknown keyword {0:?}")]
    UnknownKeyword(String),
    /// A known keyword whose body does not match its grammar.
    #[error("malformed {0} line")]
    Malformed(&'static str),
}

/// Why an encoder refused to produce a line: the decoder would not accept it,
/// or would read it back as something else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The line would exceed its length limit.
    #[error("encoded line would exceed {0} octets")]
    TooLong(usize),
    /// A message text or quit reason with no non-space character.
    #[error("message text is blank")]
    BlankText,
    /// `SEQ` around a line that is not an event (§16.5).
    #[error("SEQ carries only JOIN, LEAVE, MSG or PRIV")]
    NotAnEvent,
    /// `CROWD` naming more joiners or leavers than it counts (§18).
    #[error("CROWD names more people than it counts")]
    CrowdCount,
    /// `/join` with no room or more than the line may name (§19.3).
    #[error("a join names 1 to 10 rooms")]
    RoomCount,
    /// `IN` around a line that is not a room's (§19.3).
    #[error("IN carries only a room's lines")]
    NotARoomLine,
}
