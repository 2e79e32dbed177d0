//! What a client asks of the chat, whatever wire format it spoke: the
//! chat core's input. A wire module decodes lines into intents; the core
//! never sees the octets. Plain values; no behaviour.

use tagarela_parser::{BanTarget, HistoryQuery, LineError, Name, RoomName, Text, Token};

/// One thing a client asked for, decoded from one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent<'a> {
    /// Nothing (an empty line), but the client is alive.
    Nothing,
    /// Take this name (before registration; NFC display form).
    Register(Name<'static>),
    /// The room's password (before registration, §4.7).
    Password(Text<'a>),
    /// Turn on these v1.1 features (before registration, §16.5).
    Features(Vec<Token<'a>>),
    /// Take this name back with its token, and what was missed after
    /// `after` (before registration, §16.6).
    Resume {
        name: Name<'static>,
        token: Token<'a>,
        after: u64,
    },
    /// Say `text` to everyone else.
    Public(Text<'a>),
    /// Say `text` to `to` only (as typed; matched by key).
    Private { to: Name<'a>, text: Text<'a> },
    /// Leave, with an optional message.
    Quit(Option<Text<'a>>),
    /// Who is online?
    Who,
    /// How does this work?
    Help,
    /// Are you there? (answered in order with every other reply).
    Ping(Option<Token<'a>>),
    /// I am here (an answer to the server's probe).
    Pong,
    /// What was said before (spec §16.3)?
    History(HistoryQuery),
    /// Join these rooms (§19.3), each with the key at its place in
    /// `keys`, if any (IRC's `JOIN #a,#b k1,k2`, §20.6).
    Join {
        rooms: Vec<RoomName<'a>>,
        keys: Vec<String>,
    },
    /// Leave this room, saying `text`.
    Part {
        room: RoomName<'a>,
        text: Option<Text<'a>>,
    },
    /// Say `text` to everyone else in `room`.
    SayIn { room: RoomName<'a>, text: Text<'a> },
    /// Who is in `room`?
    WhoIn(RoomName<'a>),
    /// Which rooms are there?
    Rooms,
    /// What is `room`'s topic (no text), or make it `text`.
    Topic {
        room: RoomName<'a>,
        text: Option<Text<'a>>,
    },
    /// What was said before in `room`?
    HistoryIn {
        room: RoomName<'a>,
        query: HistoryQuery,
    },
    /// Remove `name` from `room` (its operators, §19.6).
    Kick {
        room: RoomName<'a>,
        name: Name<'a>,
        text: Option<Text<'a>>,
    },
    /// Remove `name` from the server (a server operator's `KILL`, which
    /// the wire layer allowed, §20.6).
    Kill {
        name: Name<'a>,
        text: Option<Text<'a>>,
    },
    /// Refuse (or, `on` false, no longer refuse) `target` the room.
    Ban {
        room: RoomName<'a>,
        target: BanTarget<'a>,
        on: bool,
    },
    /// Make `name` an operator of `room`.
    Op { room: RoomName<'a>, name: Name<'a> },
    /// Change one of `room`'s modes (IRC's `MODE`, §20.6; no Tagarela
    /// line makes it yet).
    Mode {
        room: RoomName<'a>,
        mode: crate::hub::RoomMode,
    },
    /// Invite `name` into `room` (IRC's `INVITE`, §20.6).
    Invite { room: RoomName<'a>, name: Name<'a> },
    /// Send the tags of the message being sent, alone, to everyone else
    /// in `room` (IRC's `TAGMSG`, §20.3; no Tagarela line makes it).
    TagsIn { room: RoomName<'a> },
    /// Send them, alone, to `to` only.
    TagsTo { to: Name<'a> },
    /// The line was refused; answer with this error.
    Refused(LineError),
    /// The line was longer than the wire allows and was discarded whole.
    TooLong,
}
