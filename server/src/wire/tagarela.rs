//! The Tagarela wire format (spec/PROTOCOL.md) for the chat core: client
//! lines into [`Intent`]s, and [`Event`]s and [`Reply`]s into server lines,
//! with the human text that goes with each code. Every line the server
//! sends is made here, through the parser crate's encoders; nothing else
//! writes protocol text. A second wire format (IRC) would be a sibling
//! module. Never touches sockets, queues or the room.

use bytes::Bytes;
use tagarela_parser::limits::{LINE_MAX, NAME_MAX, PROTOCOL_VERSION};
use tagarela_parser::{
    ByeReason, CheckedLine, ClientLine, ContentError, ErrorCode, HandshakeLine, Name, NameError,
    ServerLine, Text, Token,
};

use crate::chat::intent::Intent;
use crate::chat::reply::Reply;
use crate::event::{Event, EventKind, WireFormat};
use crate::hub::crowd::Notice;

/// Decodes one line's checked content (or its content error) into an
/// intent, reading it as §4.3 says before registration and as §5 after.
pub fn decode(line: Result<CheckedLine<'_>, ContentError>, registered: bool) -> Intent<'_> {
    let line = match line {
        Ok(line) => line,
        Err(e) => return Intent::Refused(e.into()),
    };
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
        Err(e) => Intent::Refused(e),
    }
}

/// The server line for an event with its sequence number (§16.5).
pub fn encode_event_seq(event: &Event) -> Option<Bytes> {
    encode(&ServerLine::Seq {
        seq: event.seq.0,
        event: Box::new(event_line(event)),
    })
}

/// The server line for an event (§7).
pub fn encode_event(event: &Event) -> Option<Bytes> {
    encode(&event_line(event))
}

/// The `CROWD` line for a crowd notice (§18).
pub fn encode_crowd(notice: &Notice) -> Option<Bytes> {
    encode(&ServerLine::Crowd {
        at: notice.at,
        online: notice.online,
        joined: notice.joined,
        left: notice.left,
        joiners: notice.joiners.iter().map(Name::borrowed).collect(),
        leavers: notice.leavers.iter().map(Name::borrowed).collect(),
    })
}

/// An event as its v1 line (§7.1).
fn event_line(event: &Event) -> ServerLine<'_> {
    let at = event.at;
    match &event.kind {
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
    }
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
        Reply::Missed { events, gap } => Some(missed(events, *gap)),
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
        Reply::Help => Some(help()),
        Reply::Pong(token) => encode(&ServerLine::Pong {
            token: token.clone(),
        }),
        Reply::Ping(token) => encode(&ServerLine::Ping {
            token: token.clone(),
        }),
        Reply::Bye(reason) => bye(*reason),
        Reply::History(events) => Some(history(events)),
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
fn missed(events: &[std::sync::Arc<Event>], gap: bool) -> Bytes {
    let mut out = Vec::with_capacity(96 * events.len() + 16);
    let mut count: u32 = 0;
    for event in events {
        if let Some(line) = event.encoded(WireFormat::TagarelaSeq, encode_event_seq) {
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
    let human = match code {
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
    };
    encode(&ServerLine::Err {
        code,
        name: name.cloned(),
        text: text(human),
    })
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
        ByeReason::WrongProtocol => {
            "This is a Tagarela chat server (plain text lines, see spec/PROTOCOL.md); it does not speak HTTP or TLS."
        }
    };
    encode(&ServerLine::Bye {
        reason,
        text: text(human.into()),
    })
}

/// The `HELP` lines (§5.3), as one buffer.
fn help() -> Bytes {
    const LINES: &[&str] = &[
        "text              send text to everyone",
        "@name text        send text to name only",
        "/msg name text    the same as @name text",
        "/say text         send text that starts with / or @ to everyone",
        "/who              list who is online",
        "/ping [token]     the server answers PONG [token]",
        "/password text    the room's password, before your name (if it has one)",
        "/quit [reason]    leave (also /sair, /exit, /close)",
        "/help             this help",
    ];
    let mut out = Vec::new();
    for line in LINES {
        let help = ServerLine::Help {
            text: text((*line).to_owned()),
        };
        if help.encode(&mut out).is_err() {
            tracing::error!("help text does not encode");
        }
    }
    Bytes::from(out)
}
