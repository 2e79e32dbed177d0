//! The Tagarela wire format (spec/PROTOCOL.md) for the chat core: client
//! lines into [`Intent`]s, and [`Event`]s and [`Reply`]s into server lines,
//! with the human text that goes with each code. Every line the server
//! sends is made here, through the parser crate's encoders; nothing else
//! writes protocol text. A second wire format (IRC) would be a sibling
//! module. Never touches sockets, queues or the room.

use bytes::Bytes;
use tagarela_parser::limits::{LINE_MAX, NAME_MAX, PROTOCOL_VERSION};
use tagarela_parser::{
    ByeReason, CheckedLine, ClientLine, ContentError, ErrorCode, HandshakeLine, LeaveReason,
    LineError, Name, NameError, RoomName, ServerLine, Text, Token,
};

use crate::chat::intent::Intent;
use crate::chat::reply::Reply;
use crate::event::{Event, EventKind, WireFormat};
use crate::hub::Entered;
use crate::hub::crowd::Notice;

/// Decodes one line's checked content (or its content error) into an
/// intent, reading it as §4.3 says before registration and as §5 after;
/// the room lines of §19.3 only for a client that turned `rooms` on
/// (`rooms`): any other gets the answer a v1 server gives them.
pub fn decode(
    line: Result<CheckedLine<'_>, ContentError>,
    registered: bool,
    rooms: bool,
) -> Intent<'_> {
    let line = match line {
        Ok(line) => line,
        Err(e) => return Intent::Refused(e.into()),
    };
    if !rooms && let Some(answer) = v1_answer(line.as_str(), registered) {
        return Intent::Refused(answer);
    }
    let parsed = if registered {
        ClientLine::parse_checked(line)
    } else {
        match HandshakeLine::parse_checked(line) {
            Ok(HandshakeLine::Empty) => return Intent::Nothing,
            Ok(HandshakeLine::Name(name)) => return Intent::Register(name),
            Ok(HandshakeLine::Password(password)) => return Intent::Password(password),
            Ok(HandshakeLine::Features(words)) => return Intent::Features(words),
            Ok(HandshakeLine::Resume { name, token, after }) => {
                return Intent::Resume { name, token, after };
            }
            Ok(HandshakeLine::Command(cmd)) => Ok(cmd),
            Err(e) => Err(e),
        }
    };
    match parsed {
        Ok(ClientLine::Empty) => Intent::Nothing,
        Ok(ClientLine::Public(text)) => Intent::Public(text),
        Ok(ClientLine::Private { to, text }) => Intent::Private { to, text },
        Ok(ClientLine::Quit(reason)) => Intent::Quit(reason),
        Ok(ClientLine::Who) => Intent::Who,
        Ok(ClientLine::Help) => Intent::Help,
        Ok(ClientLine::Ping(token)) => Intent::Ping(token),
        Ok(ClientLine::Pong(_)) => Intent::Pong,
        Ok(ClientLine::History(query)) => Intent::History(query),
        Ok(line) if !rooms => Intent::Refused(as_in_v1(&line)),
        Ok(ClientLine::Join(rooms)) => Intent::Join {
            rooms,
            keys: Vec::new(),
        },
        Ok(ClientLine::Part { room, text }) => Intent::Part { room, text },
        Ok(ClientLine::RoomMsg { room, text }) => Intent::SayIn { room, text },
        Ok(ClientLine::RoomWho(room)) => Intent::WhoIn(room),
        Ok(ClientLine::Rooms) => Intent::Rooms,
        Ok(ClientLine::Topic { room, text }) => Intent::Topic { room, text },
        Ok(ClientLine::RoomHistory { room, query }) => Intent::HistoryIn { room, query },
        Ok(ClientLine::Kick { room, name, text }) => Intent::Kick { room, name, text },
        Ok(ClientLine::Ban { room, target }) => Intent::Ban {
            room,
            target,
            on: true,
        },
        Ok(ClientLine::Unban { room, target }) => Intent::Ban {
            room,
            target,
            on: false,
        },
        Ok(ClientLine::Op { room, name }) => Intent::Op { room, name },
        Err(LineError::InvalidRoom) if !rooms => Intent::Refused(LineError::BadArgument),
        Err(e) => Intent::Refused(e),
    }
}

/// The commands that exist only with the `rooms` feature (§19.3, §19.6).
const ROOM_COMMANDS: &[&str] = &[
    "join", "part", "rooms", "topic", "kick", "ban", "unban", "op",
];

/// What a v1 server answers `line`, if it is a room line (§19.1), decided
/// by its command word before any argument is read, so that a malformed
/// room line gets the same answer as a well-formed one: the room-only
/// commands are unknown; `/msg #...` names no valid user (or has no
/// text).
fn v1_answer(line: &str, registered: bool) -> Option<LineError> {
    let body = line.strip_prefix('/')?;
    let (word, args) = body.split_once(' ').unwrap_or((body, ""));
    if ROOM_COMMANDS.iter().any(|c| c.eq_ignore_ascii_case(word)) {
        return Some(LineError::UnknownCommand);
    }
    if registered && word.eq_ignore_ascii_case("msg") && args.starts_with('#') {
        let text = args.split_once(' ').map_or("", |(_, t)| t);
        return Some(if text.bytes().all(|b| b == b' ') {
            LineError::NoText
        } else {
            LineError::InvalidRecipient
        });
    }
    None
}

/// What a v1 server answers a room line (§19.1: without the `rooms`
/// feature a client sees exactly v1): `/join`, `/part`, `/rooms` and
/// `/topic` are unknown commands, `/msg #room` names no valid user, and
/// `/who #room` and `/history #room` have arguments v1 does not take.
fn as_in_v1(line: &ClientLine<'_>) -> LineError {
    match line {
        ClientLine::RoomMsg { .. } => LineError::InvalidRecipient,
        ClientLine::RoomWho(_) | ClientLine::RoomHistory { .. } => LineError::BadArgument,
        _ => LineError::UnknownCommand,
    }
}

/// The server line for an event of a room, as a client with the `rooms`
/// feature gets it (`IN #room SEQ n ...`, §19.3); a private message, or
/// an event of no room, as `SEQ` (§16.5).
pub fn encode_event_rooms(event: &Event) -> Option<Bytes> {
    let Some(room) = &event.room else {
        return encode_event_seq(event);
    };
    encode(&ServerLine::In {
        room: room.borrowed(),
        line: Box::new(ServerLine::Seq {
            seq: event.seq.0,
            event: Box::new(room_event_line(event)?),
        }),
    })
}

/// The server line for an event with its sequence number (§16.5).
pub fn encode_event_seq(event: &Event) -> Option<Bytes> {
    encode(&ServerLine::Seq {
        seq: event.seq.0,
        event: Box::new(event_line(event)?),
    })
}

/// The server line for an event (§7).
pub fn encode_event(event: &Event) -> Option<Bytes> {
    encode(&event_line(event)?)
}

/// The `IN #room CROWD` line for a crowd notice (§18, §19.3).
pub fn encode_crowd_in_room(notice: &Notice) -> Option<Bytes> {
    encode(&ServerLine::In {
        room: notice.room.borrowed(),
        line: Box::new(crowd_line(notice)),
    })
}

/// The `CROWD` line for a crowd notice (§18).
pub fn encode_crowd(notice: &Notice) -> Option<Bytes> {
    encode(&crowd_line(notice))
}

fn crowd_line(notice: &Notice) -> ServerLine<'_> {
    ServerLine::Crowd {
        at: notice.at,
        online: notice.online,
        joined: notice.joined,
        left: notice.left,
        joiners: notice.joiners.iter().map(Name::borrowed).collect(),
        leavers: notice.leavers.iter().map(Name::borrowed).collect(),
    }
}

/// An event as its v1 line (§7.1), as a client without the `rooms`
/// feature may see it: a `/part` or a `/kick` is a `quit` (v1 knows no
/// other way to leave a room), and a topic is not for it (`None`).
fn event_line(event: &Event) -> Option<ServerLine<'_>> {
    match &event.kind {
        EventKind::Leave {
            name,
            reason: LeaveReason::Part | LeaveReason::Kicked,
            text,
        } => Some(ServerLine::Leave {
            at: event.at,
            name: name.borrowed(),
            reason: LeaveReason::Quit,
            text: text.clone(),
        }),
        EventKind::Topic { .. } => None,
        _ => room_event_line(event),
    }
}

/// An event as its line (§7.1, §19.3); `None` for what no Tagarela
/// client is sent (a message of IRC tags only, §20.3).
fn room_event_line(event: &Event) -> Option<ServerLine<'_>> {
    let at = event.at;
    Some(match &event.kind {
        EventKind::Join { name } => ServerLine::Join {
            at,
            name: name.borrowed(),
        },
        EventKind::Leave { name, reason, text } => ServerLine::Leave {
            at,
            name: name.borrowed(),
            reason: *reason,
            text: text.clone(),
        },
        EventKind::Public { from, text } => ServerLine::Msg {
            at,
            from: from.borrowed(),
            text: text.clone(),
        },
        EventKind::Private { from, to, text } => ServerLine::Priv {
            at,
            from: from.borrowed(),
            to: to.borrowed(),
            text: text.clone(),
        },
        EventKind::Topic { by, text } => ServerLine::Topic {
            at,
            by: by.borrowed(),
            text: text.clone(),
        },
        EventKind::TagsOnly { .. } => return None,
    })
}

/// `line` as one of `room`'s lines (§19.3).
fn in_room<'a>(room: &'a RoomName<'a>, line: ServerLine<'a>) -> ServerLine<'a> {
    ServerLine::In {
        room: room.borrowed(),
        line: Box::new(line),
    }
}

/// What a client is told on entering a room (§19.3): its own join, the
/// topic, then the backlog and `HISTEND` (if the room keeps history).
fn entered(e: &Entered) -> Bytes {
    let mut out = Vec::with_capacity(256);
    if let Some(join) = &e.join
        && let Some(line) = join.encoded(WireFormat::TagarelaRooms, encode_event_rooms)
    {
        out.extend_from_slice(line);
    }
    if let Some(set) = &e.topic
        && let Some(line) = room_event_line(set).and_then(|l| encode(&in_room(&e.room, l)))
    {
        out.extend_from_slice(&line);
    }
    if let Some(backlog) = &e.backlog {
        out.extend_from_slice(&history_in(&e.room, backlog));
    }
    Bytes::from(out)
}

/// `IN #room HIST` for each kept public message, then `IN #room HISTEND
/// n` (§19.4).
fn history_in(room: &RoomName<'_>, events: &[std::sync::Arc<Event>]) -> Bytes {
    let mut out = Vec::with_capacity(128 * events.len() + 32);
    let mut count: u32 = 0;
    for event in events {
        let EventKind::Public { from, text } = &event.kind else {
            continue;
        };
        let hist = ServerLine::Hist {
            seq: event.seq.0,
            at: event.at,
            from: from.borrowed(),
            text: text.clone(),
        };
        if in_room(room, hist).encode(&mut out).is_ok() {
            count = count.saturating_add(1);
        }
    }
    let _ = in_room(room, ServerLine::HistEnd { count }).encode(&mut out);
    Bytes::from(out)
}

/// `IN #room ERR code :text` (§19.5).
fn room_error(room: &RoomName<'_>, code: ErrorCode) -> Option<Bytes> {
    let line = ServerLine::Err {
        code,
        name: None,
        text: text(human_error(code, None)),
    };
    encode(&in_room(room, line))
}

/// `IN #room WHO ...` lines and `IN #room WHOEND n` (§19.3).
fn who_in(room: &RoomName<'_>, names: &[Name<'static>]) -> Bytes {
    let mut out = Vec::with_capacity(16 * names.len() + 64);
    tagarela_parser::encode_who_list_in(Some(room), names.iter(), &mut out);
    Bytes::from(out)
}

/// `ROOMS #room members [:topic]` for each room, then `ROOMSEND n`.
fn rooms(list: &[crate::hub::hall::Listing]) -> Bytes {
    let mut out = Vec::with_capacity(64 * list.len() + 16);
    let mut count: u32 = 0;
    for room in list {
        let line = ServerLine::Rooms {
            room: room.room.borrowed(),
            members: u32::try_from(room.members).unwrap_or(u32::MAX),
            topic: room.topic.clone(),
        };
        if line.encode(&mut out).is_ok() {
            count = count.saturating_add(1);
        }
    }
    let _ = ServerLine::RoomsEnd { count }.encode(&mut out);
    Bytes::from(out)
}

/// The server line(s) for a reply.
pub fn encode_reply(reply: &Reply<'_>) -> Option<Bytes> {
    match reply {
        Reply::Hello => hello(),
        Reply::Welcome {
            name,
            online,
            seq,
            resume,
        } => welcome(name, *online, *seq, *resume),
        Reply::Missed { events, gap, rooms } => Some(missed(events, *gap, *rooms)),
        Reply::Features(words) => {
            let words = words.iter().filter_map(|w| Token::new(*w).ok()).collect();
            encode(&ServerLine::Features { words })
        }
        Reply::Error { code, name } => error(*code, name.as_deref()),
        Reply::NameInvalid(why) => name_invalid(*why),
        Reply::LooksLike(holder) => name_looks_like(holder),
        Reply::Who(names) => {
            let mut out = Vec::with_capacity(16 * names.len() + 16);
            tagarela_parser::encode_who_list(names.iter(), &mut out);
            Some(Bytes::from(out))
        }
        Reply::Help { rooms } => Some(help(*rooms)),
        Reply::Pong(token) => encode(&ServerLine::Pong {
            token: token.clone(),
        }),
        Reply::Ping(token) => encode(&ServerLine::Ping {
            token: token.clone(),
        }),
        Reply::Bye(reason) => bye(*reason),
        Reply::History(events) => Some(history(events)),
        Reply::Entered(e) => Some(entered(e)),
        Reply::RoomError { room, code } => room_error(room, *code),
        Reply::WhoIn { room, names } => Some(who_in(room, names)),
        Reply::Rooms(list) => Some(rooms(list)),
        Reply::Topic { room, set } => room_event_line(set).and_then(|l| encode(&in_room(room, l))),
        Reply::HistoryIn { room, events } => Some(history_in(room, events)),
        // No Tagarela line asks for it (§20.6).
        Reply::Invited { .. } => None,
        Reply::Bans { room, targets } => encode(&in_room(
            room,
            ServerLine::Bans {
                targets: targets.to_vec(),
            },
        )),
        Reply::Ops { room, names } => encode(&in_room(
            room,
            ServerLine::Ops {
                names: names.iter().map(Name::borrowed).collect(),
            },
        )),
        Reply::RoomNameError { room, code, name } => encode(&in_room(
            room,
            ServerLine::Err {
                code: *code,
                name: Some(name.borrowed()),
                text: text(human_error(*code, Some(name))),
            },
        )),
    }
}

/// The `HIST` line of a public message (§16.1); `None` for other events.
fn encode_hist(event: &Event) -> Option<Bytes> {
    let EventKind::Public { from, text } = &event.kind else {
        return None;
    };
    encode(&ServerLine::Hist {
        seq: event.seq.0,
        at: event.at,
        from: from.borrowed(),
        text: text.clone(),
    })
}

/// Each missed event as its `SEQ` line, then `RESUMED n [gap]` (§16.6).
fn missed(events: &[std::sync::Arc<Event>], gap: bool, rooms: bool) -> Bytes {
    let mut out = Vec::with_capacity(96 * events.len() + 16);
    let mut count: u32 = 0;
    for event in events {
        let line = if rooms {
            event.encoded(WireFormat::TagarelaRooms, encode_event_rooms)
        } else {
            event.encoded(WireFormat::TagarelaSeq, encode_event_seq)
        };
        if let Some(line) = line {
            out.extend_from_slice(line);
            count = count.saturating_add(1);
        }
    }
    let _ = ServerLine::Resumed { count, gap }.encode(&mut out);
    Bytes::from(out)
}

/// `HIST` for each kept public message, then `HISTEND n` (§16.1).
fn history(events: &[std::sync::Arc<Event>]) -> Bytes {
    let mut out = Vec::with_capacity(96 * events.len() + 16);
    let mut count: u32 = 0;
    for event in events {
        if let Some(line) = event.encoded(WireFormat::TagarelaHistory, encode_hist) {
            out.extend_from_slice(line);
            count = count.saturating_add(1);
        }
    }
    let _ = ServerLine::HistEnd { count }.encode(&mut out);
    Bytes::from(out)
}

/// Encodes a line the server built from validated values. The only refusals
/// possible are blank message text and over-length, which callers rule out
/// (§5.2 checks; client lines are at most 1024 octets, so MSG/PRIV fit in
/// 2048); if one slips through, an `ERR` is never worth a panic, so the
/// line is logged and dropped.
fn encode(line: &ServerLine<'_>) -> Option<Bytes> {
    let mut out = Vec::with_capacity(64);
    match line.encode(&mut out) {
        Ok(()) => Some(Bytes::from(out)),
        Err(e) => {
            tracing::error!(keyword = line.keyword(), error = %e, "server built an unencodable line");
            None
        }
    }
}

fn text(s: String) -> Text<'static> {
    // Human texts are built from names and fixed words: no control characters.
    Text::new(s).unwrap_or_else(|_| Text::new("").unwrap_or_else(|_| unreachable!()))
}

/// `HELLO 1 :...` (§4.2).
fn hello() -> Option<Bytes> {
    encode(&ServerLine::Hello {
        version: PROTOCOL_VERSION,
        text: text("Tagarela chat. Type your name.".into()),
    })
}

/// `WELCOME name online=N line-max=1024 name-max=32 :...` (§4.4).
fn welcome(
    name: &Name<'_>,
    online: usize,
    seq: Option<u64>,
    resume: Option<&str>,
) -> Option<Bytes> {
    let online = u32::try_from(online).unwrap_or(u32::MAX);
    encode(&ServerLine::Welcome {
        name: name.clone(),
        online,
        line_max: LINE_MAX as u32,
        name_max: NAME_MAX as u32,
        seq,
        resume: resume.and_then(|t| Token::new(t).ok()),
        text: text(format!(
            "Welcome to Tagarela, {name}! {online} online. Type to talk to everyone, @name text to whisper, /help for commands."
        )),
    })
}

/// `ERR code [name] :human text` (§8).
fn error(code: ErrorCode, name: Option<&Name<'_>>) -> Option<Bytes> {
    encode(&ServerLine::Err {
        code,
        name: name.cloned(),
        text: text(human_error(code, name)),
    })
}

/// The human text that goes with an error code (§8).
fn human_error(code: ErrorCode, name: Option<&Name<'_>>) -> String {
    match code {
        ErrorCode::NameInvalid => {
            "Names are 1-32 letters, digits, _ - or . (not first), with no spaces. Try another."
                .to_owned()
        }
        ErrorCode::NameTaken => match name {
            Some(n) => format!("The name {n} is taken. Try another."),
            None => "That name is taken. Try another.".to_owned(),
        },
        ErrorCode::NotRegistered => "Choose a name first: type it and press Enter.".to_owned(),
        ErrorCode::NoRecipient => "Whom to? Write @name text.".to_owned(),
        ErrorCode::NoText => "There is no text to send.".to_owned(),
        ErrorCode::NoSuchUser => match name {
            Some(n) => format!("No one called {n} is online."),
            None => "No one by that name can be online.".to_owned(),
        },
        ErrorCode::LineTooLong => format!("Line longer than {LINE_MAX} bytes; it was not sent."),
        ErrorCode::InvalidUtf8 => "Line is not UTF-8 text; it was not sent.".to_owned(),
        ErrorCode::ControlChar => "Line has control characters; it was not sent.".to_owned(),
        ErrorCode::UnknownCommand => {
            "Unknown command. /help lists them; /say sends text that starts with /.".to_owned()
        }
        ErrorCode::BadArgument => {
            "Wrong arguments for that command. /help shows the forms.".to_owned()
        }
        ErrorCode::PasswordRequired => {
            "This room has a password: send /password and it before your name.".to_owned()
        }
        ErrorCode::PasswordWrong => "That is not the room's password.".to_owned(),
        ErrorCode::ResumeRefused => {
            "That name cannot be resumed with that token (or it expired); choose your name again."
                .to_owned()
        }
        ErrorCode::Unavailable => {
            "This server cannot reach the rest of the chat just now; nothing was sent. Try again."
                .to_owned()
        }
        ErrorCode::TlsRequired => {
            "A password is accepted only over TLS from another machine; connect over TLS."
                .to_owned()
        }
        ErrorCode::RoomInvalid => {
            "Rooms are # followed by 1-32 letters, digits, _ - or . (not first).".to_owned()
        }
        ErrorCode::NoSuchRoom => "There is no such room. /rooms lists them.".to_owned(),
        ErrorCode::NotInRoom => "You are not in that room; /join it first.".to_owned(),
        ErrorCode::NoRoom => {
            "You are in no room that takes plain lines; /join one, or write /msg #room text."
                .to_owned()
        }
        ErrorCode::TooManyRooms => {
            "You are in as many rooms as one may be; /part one first.".to_owned()
        }
        ErrorCode::NoMoreRooms => {
            "The server holds as many rooms as it may; join an existing one.".to_owned()
        }
        ErrorCode::RoomFull => "That room is full. Try again later.".to_owned(),
        ErrorCode::RoomLooksLike => match name {
            Some(n) => format!("That room looks like {n}, which exists. Join it, or pick another."),
            None => "That room looks like one that exists. Join it, or pick another.".to_owned(),
        },
        ErrorCode::NotOperator => "Only the room's operators may do that.".to_owned(),
        ErrorCode::NoTopic => "That room has no topic.".to_owned(),
        ErrorCode::Banned => "You are banned from that room.".to_owned(),
        ErrorCode::BanListFull => "That room has as many bans as a room may.".to_owned(),
        ErrorCode::BadKey => "That room has a key: an IRC client joins it with the key, or someone in it invites you.".to_owned(),
        ErrorCode::InviteOnly => "That room lets in only those invited.".to_owned(),
        ErrorCode::Moderated => "That room is moderated: only its operators and those they gave a voice may speak in it.".to_owned(),
        ErrorCode::AlreadyInRoom => "They are in that room already.".to_owned(),
    }
}

/// `ERR name-invalid :why` (§3.1), saying which rule the attempt broke.
fn name_invalid(why: NameError) -> Option<Bytes> {
    let human = match why {
        NameError::Restricted => {
            "Names cannot hold invisible characters, compatibility forms (such as full-width letters) or letters of historic scripts. Try another."
        }
        NameError::StackedMarks => {
            "Too many accents on one letter (at most four, none twice). Try another."
        }
        NameError::MixedScript => {
            "Names cannot mix alphabets that look alike (such as Latin with Cyrillic or Greek). Try another."
        }
        NameError::Empty | NameError::TooLong | NameError::BadChar => {
            "Names are 1-32 letters, digits, _ - or . (not first), with no spaces. Try another."
        }
    };
    encode(&ServerLine::Err {
        code: ErrorCode::NameInvalid,
        name: None,
        text: text(human.to_owned()),
    })
}

/// `ERR name-taken holder :...` for a name that looks like `holder`, who is
/// online (§3.3).
fn name_looks_like(holder: &Name<'_>) -> Option<Bytes> {
    encode(&ServerLine::Err {
        code: ErrorCode::NameTaken,
        name: Some(holder.clone()),
        text: text(format!(
            "That name looks like {holder}, who is online. Try another."
        )),
    })
}

/// `BYE reason :human text` (§9.2).
fn bye(reason: ByeReason) -> Option<Bytes> {
    let human = match reason {
        ByeReason::Quit => "Goodbye.",
        ByeReason::Timeout => "Timed out: nothing received in time.",
        ByeReason::Slow => "Disconnected: you stopped reading and your messages piled up.",
        ByeReason::Flood => "Disconnected: a line far longer than the limit, with no end.",
        ByeReason::Shutdown => "The server is shutting down.",
        ByeReason::ServerFull => "The server is full. Try again later.",
        ByeReason::AddressLimit => "Too many connections from your address.",
        ByeReason::Throttled => {
            "Too many wrong passwords from your address; try again in a minute."
        }
        ByeReason::Unavailable => {
            "This server lost contact with the rest of the chat; reconnect to reach one that has it."
        }
        ByeReason::Replaced => {
            "Your name was taken back on another connection (yours, with its token)."
        }
        ByeReason::Killed => "A server operator removed you from the server.",
        ByeReason::WrongProtocol => {
            "This is a Tagarela chat server (plain text lines, see spec/PROTOCOL.md); it does not speak HTTP or TLS."
        }
    };
    encode(&ServerLine::Bye {
        reason,
        text: text(human.into()),
    })
}

/// The `HELP` lines (§5.3), as one buffer; `rooms`: with the room
/// commands (§19.3).
fn help(rooms: bool) -> Bytes {
    const LINES: &[&str] = &[
        "text              send text to everyone",
        "@name text        send text to name only",
        "/msg name text    the same as @name text",
        "/say text         send text that starts with / or @ to everyone",
        "/me text          an action: everyone sees * yourname text",
        "/who              list who is online",
        "/ping [token]     the server answers PONG [token]",
        "/password text    the room's password, before your name (if it has one)",
        "/quit [reason]    leave (also /sair, /exit, /close)",
        "/help             this help",
    ];
    const ROOMS: &[&str] = &[
        "/join #room[,#room...]  enter rooms (a new name makes a new room)",
        "/part #room [text]      leave a room",
        "/msg #room text         send text to everyone in a room",
        "/who #room              list who is in a room",
        "/rooms                  list the rooms",
        "/topic #room [text]     show a room's topic, or set it (its operators)",
        "/history #room [...]    what was said in a room (as /history)",
        "/kick #room name [text] remove someone from a room (its operators)",
        "/ban #room name|address refuse a name or an address (or a network, a.b.c.d/n) the room",
        "/unban #room target     take a ban back",
        "/op #room name          make someone in the room an operator too",
    ];
    let mut out = Vec::new();
    let extra = if rooms { ROOMS } else { &[] };
    for line in LINES.iter().chain(extra) {
        let help = ServerLine::Help {
            text: text((*line).to_owned()),
        };
        if help.encode(&mut out).is_err() {
            tracing::error!("help text does not encode");
        }
    }
    Bytes::from(out)
}
