//! What the chat core answers one client (as opposed to events, which
//! the hub delivers to everyone concerned): the core's output to its own
//! client, encoded by that client's wire module. Plain values; no
//! behaviour, no octets.

use std::sync::Arc;

use tagarela_parser::{BanTarget, ByeReason, ErrorCode, Name, NameError, RoomName, Token};

use crate::event::Event;
use crate::hub::hall::Listing;
use crate::hub::{Entered, RoomRefusal};

/// One answer to one client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply<'a> {
    /// The greeting on connect.
    Hello,
    /// The name was accepted; `online` counts the newcomer.
    Welcome {
        name: &'a Name<'static>,
        online: usize,
        /// The number of its own join, for a client with the `seq`
        /// feature (§16.5).
        seq: Option<u64>,
        /// The token that takes the name back, for a client with the
        /// `resume` feature (§16.6).
        resume: Option<&'a str>,
    },
    /// What a resuming client missed, then `RESUMED` (§16.6); `rooms`:
    /// as a client with the `rooms` feature gets events (§19.3).
    Missed {
        events: &'a [Arc<Event>],
        gap: bool,
        rooms: bool,
    },
    /// The features of `/features` turned on (§16.5).
    Features(&'a [&'a str]),
    /// A failed line: the error, and the name it concerns if any.
    Error {
        code: ErrorCode,
        name: Option<&'a Name<'a>>,
    },
    /// A name attempt broke a rule of §3.1; which one.
    NameInvalid(NameError),
    /// A name attempt looks like the name of someone online (§3.3).
    LooksLike(&'a Name<'static>),
    /// Who is online.
    Who(&'a [Name<'static>]),
    /// The help text; `rooms`: with the lines of the room commands.
    Help { rooms: bool },
    /// The answer to a ping.
    Pong(Option<Token<'a>>),
    /// A keepalive probe.
    Ping(Token<'a>),
    /// The last line before closing.
    Bye(ByeReason),
    /// Kept public messages, oldest first, then the end of the run
    /// (spec §16): a newcomer's backlog or a `/history` answer.
    History(&'a [Arc<Event>]),
    /// The client entered a room: its join, topic and backlog (§19.3).
    Entered(&'a Entered),
    /// A room's line failed (§19.5).
    RoomError {
        room: &'a RoomName<'a>,
        code: ErrorCode,
    },
    /// Who is in a room.
    WhoIn {
        room: &'a RoomName<'a>,
        names: &'a [Name<'static>],
    },
    /// The list of rooms.
    Rooms(&'a [Listing]),
    /// A room's topic: the event that set it.
    Topic {
        room: &'a RoomName<'a>,
        set: &'a Event,
    },
    /// Kept public messages of a room, oldest first, then the end of the
    /// run.
    HistoryIn {
        room: &'a RoomName<'a>,
        events: &'a [Arc<Event>],
    },
    /// `name` is invited into `room` (IRC's `RPL_INVITING`, §20.6).
    Invited {
        room: &'a RoomName<'a>,
        name: &'a Name<'a>,
    },
    /// A room's bans (§19.6).
    Bans {
        room: &'a RoomName<'a>,
        targets: &'a [BanTarget<'static>],
    },
    /// A room's operators (§19.6).
    Ops {
        room: &'a RoomName<'a>,
        names: &'a [Name<'static>],
    },
    /// A room's line about a name failed: `IN #room ERR code name`.
    RoomNameError {
        room: &'a RoomName<'a>,
        code: ErrorCode,
        name: &'a Name<'static>,
    },
}

/// How the chat core answers its own client: implemented by the client's
/// outbound queue, which encodes the reply in the client's wire format.
/// Must never wait.
pub trait Replier {
    /// Queues `reply` for the client.
    fn reply(&self, reply: &Reply<'_>);

    /// From now on, events carry their sequence numbers (the `seq`
    /// feature, §16.5).
    fn number_events(&self);

    /// From now on, events of a room come as that room's lines (the
    /// `rooms` feature, §19.3).
    fn use_rooms(&self);
}

/// Tells `to` why its line about `room` failed (§19.5): the session when
/// it knows at once, a cluster's hub when Redis refused it later.
pub fn tell_refusal<R: Replier + ?Sized>(to: &R, room: &RoomName<'_>, refusal: &RoomRefusal) {
    let code = match refusal {
        RoomRefusal::NotHeld => return,
        RoomRefusal::NoSuchRoom => ErrorCode::NoSuchRoom,
        RoomRefusal::NotInRoom => ErrorCode::NotInRoom,
        RoomRefusal::TooManyRooms => ErrorCode::TooManyRooms,
        RoomRefusal::NoMoreRooms => ErrorCode::NoMoreRooms,
        RoomRefusal::RoomFull => ErrorCode::RoomFull,
        RoomRefusal::LooksLike(_) => ErrorCode::RoomLooksLike,
        RoomRefusal::NotOperator => ErrorCode::NotOperator,
        RoomRefusal::NoTopic => ErrorCode::NoTopic,
        RoomRefusal::Banned => ErrorCode::Banned,
        RoomRefusal::BadKey => ErrorCode::BadKey,
        RoomRefusal::InviteOnly => ErrorCode::InviteOnly,
        RoomRefusal::Moderated => ErrorCode::Moderated,
        RoomRefusal::BanListFull => ErrorCode::BanListFull,
        RoomRefusal::NoSuchMember(name) | RoomRefusal::AlreadyInRoom(name) => {
            let code = match refusal {
                RoomRefusal::AlreadyInRoom(_) => ErrorCode::AlreadyInRoom,
                _ => ErrorCode::NoSuchUser,
            };
            if let Ok(shown) = RoomName::normalize(room.as_str()) {
                to.reply(&Reply::RoomNameError {
                    room: &shown,
                    code,
                    name,
                });
            }
            return;
        }
        RoomRefusal::Unsupported => ErrorCode::UnknownCommand,
        RoomRefusal::Unavailable | RoomRefusal::NoRoom => {
            let code = match refusal {
                RoomRefusal::NoRoom => ErrorCode::NoRoom,
                _ => ErrorCode::Unavailable,
            };
            to.reply(&Reply::Error { code, name: None });
            return;
        }
    };
    // The room as the client named it, in NFC (§19.2); for a
    // look-alike, the room it looks like.
    let shown = match refusal {
        RoomRefusal::LooksLike(existing) => Some(existing.clone()),
        _ => RoomName::normalize(room.as_str()).ok(),
    };
    match shown {
        Some(shown) => to.reply(&Reply::RoomError { room: &shown, code }),
        None => to.reply(&Reply::Error {
            code: ErrorCode::RoomInvalid,
            name: None,
        }),
    }
}

/// A client as the chat core sees it: something the room delivers events
/// to and the session replies to, in whatever wire format it speaks (the
/// core never names one).
pub trait Client: crate::hub::Recipient + Replier {}

impl<T: crate::hub::Recipient + Replier> Client for T {}
