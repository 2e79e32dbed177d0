//! The closed vocabularies of the protocol: error codes (§8), leave reasons
//! (§9.1) and bye reasons (§9.2). Each is a stable wire word; this file only
//! maps words to variants and back, and must never carry human text.

macro_rules! wire_words {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $word:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every variant, in spec order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The word sent on the wire.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word,)+
                }
            }

            /// The variant for a wire word (exact, case-sensitive match).
            pub fn from_word(word: &str) -> Option<Self> {
                match word {
                    $($word => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_words! {
    /// An `ERR` code (§8): stable, machine-readable, one per kind of failure.
    ErrorCode {
        /// The name attempt does not match the name grammar (§3.1).
        NameInvalid = "name-invalid",
        /// The name's key is already registered (§3.3).
        NameTaken = "name-taken",
        /// A command that needs registration was sent before it (§4.3).
        NotRegistered = "not-registered",
        /// `@` or `/msg` with an empty recipient (§5.2).
        NoRecipient = "no-recipient",
        /// A message with no non-space text (§5.2).
        NoText = "no-text",
        /// The private recipient is not online (§5.2).
        NoSuchUser = "no-such-user",
        /// Line content longer than `line-max` (§2.4).
        LineTooLong = "line-too-long",
        /// Line content is not UTF-8 (§2.5).
        InvalidUtf8 = "invalid-utf8",
        /// Line content has a forbidden character (§2.5).
        ControlChar = "control-char",
        /// A `/` line that is not a known command (§5.3).
        UnknownCommand = "unknown-command",
        /// A command's arguments are malformed (§5.3).
        BadArgument = "bad-argument",
        /// The room has a password and it was not given first (§4.7).
        PasswordRequired = "password-required",
        /// The password given is not the room's (§4.7).
        PasswordWrong = "password-wrong",
        /// A password over plain text from another machine (§4.7).
        TlsRequired = "tls-required",
        /// `/resume` with a name and token that do not go together (or
        /// expired): register by name instead (§16.6).
        ResumeRefused = "resume-refused",
        /// The server cannot reach the rest of its cluster just now
        /// (§17.4): nothing was done; try again, or reconnect.
        Unavailable = "unavailable",
        /// A room that is not `#` and a valid name (§19.2).
        RoomInvalid = "room-invalid",
        /// The room named does not exist (§19.5).
        NoSuchRoom = "no-such-room",
        /// The client is not in the room named (§19.3).
        NotInRoom = "not-in-room",
        /// A plain line from a rooms client in no default room (§19.3).
        NoRoom = "no-room",
        /// The client is in as many rooms as a client may be (§19.5).
        TooManyRooms = "too-many-rooms",
        /// The server holds as many rooms as it may (§19.5).
        NoMoreRooms = "no-more-rooms",
        /// The room has as many members as a room may (§19.5).
        RoomFull = "room-full",
        /// A new room's name looks like an existing room's (§19.2).
        RoomLooksLike = "room-looks-like",
        /// Only the room's operators may do that (§19.6).
        NotOperator = "not-operator",
        /// The room has no topic (§19.3).
        NoTopic = "no-topic",
        /// The room's operators banned this name or address (§19.6).
        Banned = "banned",
        /// The room has as many bans as a room may (§19.6).
        BanListFull = "ban-list-full",
        /// The room has a key and it was not given, or not rightly (IRC's
        /// `+k`, §20.6).
        BadKey = "bad-key",
        /// The room lets in only those invited (IRC's `+i`, §20.6).
        InviteOnly = "invite-only",
        /// The room is moderated: only its operators and those they gave
        /// a voice may speak in it (IRC's `+m` and `+v`, §20.6).
        Moderated = "moderated",
        /// The one invited is in the room already (§20.6).
        AlreadyInRoom = "already-in-room",
    }
}

wire_words! {
    /// Why a registered client left, as told to the others in `LEAVE` (§9.1).
    LeaveReason {
        /// The client sent `/quit`.
        Quit = "quit",
        /// The connection closed or failed without `/quit`.
        Lost = "lost",
        /// No line within the keepalive timeout.
        Timeout = "timeout",
        /// The client stopped reading; its outbound queue passed the bound.
        Slow = "slow",
        /// An unterminated line passed `flood-cap`.
        Flood = "flood",
        /// The client left the room with `/part` (§19.3); only in rooms
        /// lines, never to a client without the `rooms` feature.
        Part = "part",
        /// An operator removed the client from the room (§19.6), which it
        /// may join again unless banned; only in rooms lines.
        Kicked = "kicked",
        /// A server operator removed the client from the server (§20.6);
        /// the text names the operator and says why.
        Killed = "killed",
    }
}

wire_words! {
    /// Why the server is closing a connection, in its last line `BYE` (§9.2).
    ByeReason {
        /// The client sent `/quit`.
        Quit = "quit",
        /// Registration or keepalive timeout.
        Timeout = "timeout",
        /// The outbound queue bound was passed.
        Slow = "slow",
        /// An unterminated line passed `flood-cap`.
        Flood = "flood",
        /// The server is stopping.
        Shutdown = "shutdown",
        /// The global connection limit is reached.
        ServerFull = "server-full",
        /// The per-address connection limit is reached.
        AddressLimit = "address-limit",
        /// The peer speaks another protocol: TLS or HTTP (§4.6).
        WrongProtocol = "wrong-protocol",
        /// Too many wrong passwords from this address (§4.7).
        Throttled = "throttled",
        /// The same client resumed its name on another connection (§16.6).
        Replaced = "replaced",
        /// The server lost contact with the rest of its cluster (§17.4):
        /// reconnecting reaches a server that has it.
        Unavailable = "unavailable",
        /// A server operator removed the client (§20.6); the others were
        /// told `LEAVE ... killed` by the hub.
        Killed = "killed",
    }
}

impl ByeReason {
    /// The `LEAVE` reason the others are told when a registered client is
    /// closed for this reason, if any (§9.2).
    pub fn leave_reason(self) -> Option<LeaveReason> {
        match self {
            ByeReason::Quit => Some(LeaveReason::Quit),
            ByeReason::Timeout => Some(LeaveReason::Timeout),
            ByeReason::Slow => Some(LeaveReason::Slow),
            ByeReason::Flood => Some(LeaveReason::Flood),
            ByeReason::Shutdown
            | ByeReason::ServerFull
            | ByeReason::AddressLimit
            | ByeReason::WrongProtocol
            | ByeReason::Throttled
            | ByeReason::Replaced
            | ByeReason::Unavailable
            | ByeReason::Killed => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_and_are_distinct() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_word(code.as_str()), Some(*code));
        }
        for r in LeaveReason::ALL {
            assert_eq!(LeaveReason::from_word(r.as_str()), Some(*r));
        }
        for r in ByeReason::ALL {
            assert_eq!(ByeReason::from_word(r.as_str()), Some(*r));
        }
        let mut words: Vec<_> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        words.sort_unstable();
        words.dedup();
        assert_eq!(words.len(), ErrorCode::ALL.len());
        assert_eq!(ErrorCode::from_word("NO-TEXT"), None);
    }
}
