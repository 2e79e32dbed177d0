//! Building the server's lines (spec §7): the human text that goes with each
//! code, the current timestamp, and encoding through the parser crate into
//! shareable `Bytes`. Every line the server sends is made here; nothing else
//! writes protocol text by hand.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tagarela_parser::limits::{LINE_MAX, NAME_MAX, PROTOCOL_VERSION};
use tagarela_parser::{ByeReason, ErrorCode, Name, NameError, ServerLine, Text, Timestamp};

/// The current time as a protocol timestamp (§1.3).
pub fn now() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    Timestamp::from_unix_ms(ms).unwrap_or(Timestamp::MAX)
}

/// Encodes a line the server built from validated values. The only refusals
/// possible are blank message text and over-length, which callers rule out
/// (§5.2 checks; client lines are at most 1024 octets, so MSG/PRIV fit in
/// 2048); if one slips through, an `ERR` is never worth a panic, so the
/// line is logged and dropped.
pub fn encode(line: &ServerLine<'_>) -> Option<Bytes> {
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
pub fn hello() -> Option<Bytes> {
    encode(&ServerLine::Hello {
        version: PROTOCOL_VERSION,
        text: text("Tagarela chat. Type your name.".into()),
    })
}

/// `WELCOME name online=N line-max=1024 name-max=32 :...` (§4.4).
pub fn welcome(name: &Name<'_>, online: usize) -> Option<Bytes> {
    let online = u32::try_from(online).unwrap_or(u32::MAX);
    encode(&ServerLine::Welcome {
        name: name.clone(),
        online,
        line_max: LINE_MAX as u32,
        name_max: NAME_MAX as u32,
        text: text(format!(
            "Welcome to Tagarela, {name}! {online} online. Type to talk to everyone, @name text to whisper, /help for commands."
        )),
    })
}

/// `ERR code [name] :human text` (§8).
pub fn error(code: ErrorCode, name: Option<&Name<'_>>) -> Option<Bytes> {
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
    };
    encode(&ServerLine::Err {
        code,
        name: name.cloned(),
        text: text(human),
    })
}

/// `ERR name-invalid :why` (§3.1), saying which rule the attempt broke.
pub fn name_invalid(why: NameError) -> Option<Bytes> {
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
pub fn name_looks_like(holder: &Name<'_>) -> Option<Bytes> {
    encode(&ServerLine::Err {
        code: ErrorCode::NameTaken,
        name: Some(holder.clone()),
        text: text(format!(
            "That name looks like {holder}, who is online. Try another."
        )),
    })
}

/// `BYE reason :human text` (§9.2).
pub fn bye(reason: ByeReason) -> Option<Bytes> {
    let human = match reason {
        ByeReason::Quit => "Goodbye.",
        ByeReason::Timeout => "Timed out: nothing received in time.",
        ByeReason::Slow => "Disconnected: you stopped reading and your messages piled up.",
        ByeReason::Flood => "Disconnected: a line far longer than the limit, with no end.",
        ByeReason::Shutdown => "The server is shutting down.",
        ByeReason::ServerFull => "The server is full. Try again later.",
        ByeReason::AddressLimit => "Too many connections from your address.",
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
pub fn help() -> Bytes {
    const LINES: &[&str] = &[
        "text              send text to everyone",
        "@name text        send text to name only",
        "/msg name text    the same as @name text",
        "/say text         send text that starts with / or @ to everyone",
        "/who              list who is online",
        "/ping [token]     the server answers PONG [token]",
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
