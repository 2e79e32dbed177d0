//! Events as IRC lines (spec §20.2): who did what, with the source
//! `name!~u@tagarela` every IRC client expects, `@time=` for clients that
//! asked for `server-time`, and a Tagarela message longer than one IRC
//! line split into as many as it takes. The same for every recipient, so
//! each event is encoded once per format ([`crate::event::Event`] keeps
//! it). Never touches a queue.

use bytes::Bytes;
use tagarela_parser::{LeaveReason, Name, Timestamp};

use crate::event::{Event, EventKind};
use crate::hub::crowd::Notice;
use crate::wire::irc::text;

/// The host every user's source carries: addresses are never shown
/// (spec §20.2).
pub const HOST: &str = "tagarela";

/// The user name shown for a Tagarela client, which gives none (§20.6).
pub const DEFAULT_USER: &str = "u";

/// The most octets of a line without its tags, CR LF included (RFC 1459).
const LINE: usize = 512;

/// `~user`: the user part of a source, `~` saying that no ident server
/// vouched for it.
pub fn user_part(user: Option<&str>) -> String {
    format!("~{}", user.unwrap_or(DEFAULT_USER))
}

/// `name!~user@tagarela`.
pub fn source(name: &str, user: Option<&str>) -> String {
    format!("{name}!~{}@{HOST}", user.unwrap_or(DEFAULT_USER))
}

/// What tags go before an event's lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stamp {
    /// None.
    Bare,
    /// `@time=` (`server-time`).
    Time,
    /// `@msgid=...;time=...` and the sender's client-only tags
    /// (`message-tags`).
    Tags,
}

/// An event's tags, as they go before each of its lines.
#[derive(Debug, Clone, Copy)]
struct Tagging<'e> {
    /// When.
    at: Timestamp,
    /// `time` (`server-time`, `message-tags`).
    time: bool,
    /// `msgid` and client tags too (`message-tags`).
    full: Option<(&'e Event, Option<&'e str>)>,
    /// The batch it is part of (`batch`).
    batch: Option<&'e str>,
}

impl<'e> Tagging<'e> {
    /// The tags `stamp` asks for on `event`'s lines; `None` if none.
    fn of(event: &'e Event, stamp: Stamp, batch: Option<&'e str>) -> Option<Tagging<'e>> {
        let (time, full) = match stamp {
            Stamp::Bare => (false, None),
            Stamp::Time => (true, None),
            Stamp::Tags => (true, Some((event, event.tags.as_deref()))),
        };
        (time || batch.is_some()).then_some(Tagging {
            at: event.at,
            time,
            full,
            batch,
        })
    }
}

/// The `msgid` of `event`: its number, or for a message of tags only
/// (numbered apart, §20.3) `t` and its number.
pub fn msgid(event: &Event) -> String {
    match event.kind {
        EventKind::TagsOnly { .. } => format!("t{}", event.seq),
        _ => event.seq.to_string(),
    }
}

/// Appends the tags of `tagging` and a space: `batch`, `msgid`, `time`,
/// then the client's.
fn tags(out: &mut Vec<u8>, tagging: Tagging<'_>) {
    let mut first = true;
    let mut next = |out: &mut Vec<u8>, tag: &[u8]| {
        out.push(if first { b'@' } else { b';' });
        first = false;
        out.extend_from_slice(tag);
    };
    if let Some(batch) = tagging.batch {
        next(out, b"batch=");
        out.extend_from_slice(batch.as_bytes());
    }
    if let Some((event, _)) = tagging.full {
        next(out, b"msgid=");
        out.extend_from_slice(msgid(event).as_bytes());
    }
    if tagging.time {
        next(out, b"time=");
        tagging.at.write(out);
    }
    if let Some((_, Some(client))) = tagging.full {
        next(out, client.as_bytes());
    }
    if !first {
        out.push(b' ');
    }
}

/// Appends one line: the tags (if any), `head`, `tail` as the last
/// parameter (always with `:`), CR LF.
fn line(out: &mut Vec<u8>, tagging: Option<Tagging<'_>>, head: &str, tail: Option<&str>) {
    if let Some(tagging) = tagging {
        tags(out, tagging);
    }
    out.extend_from_slice(head.as_bytes());
    if let Some(tail) = tail {
        out.extend_from_slice(b" :");
        out.extend_from_slice(tail.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends a message as `PRIVMSG` (or `NOTICE`) lines from `from` to
/// `target`: an action as CTCP `ACTION`, and a text too long for one
/// line in several, cut on character boundaries.
fn message(
    out: &mut Vec<u8>,
    time: Option<Tagging<'_>>,
    from: &str,
    user: Option<&str>,
    verb: &str,
    target: &str,
    text: &str,
) {
    let head = format!(":{} {verb} {target}", source(from, user));
    let (body, action) = text::outbound(text);
    // head + " :" + body (+ the two CTCP delimiters and "ACTION ") + CR LF.
    let room = LINE.saturating_sub(head.len() + 2 + 2 + if action { 9 } else { 0 });
    for (i, piece) in text::pieces(body, room).into_iter().enumerate() {
        // A msgid names one line (IRCv3): the first piece carries it and
        // the client's tags, the rest only the time.
        let time = if i == 0 {
            time
        } else {
            time.map(|t| Tagging { full: None, ..t })
        };
        if action {
            line(out, time, &head, Some(&format!("\u{1}ACTION {piece}\u{1}")));
        } else {
            line(out, time, &head, Some(piece));
        }
    }
}

/// The event as IRC lines (`server` names this server, the source of a
/// kick), with the tags `stamp` says; `None` for what IRC has no line for
/// (a stored message with no room, never delivered live; a message of
/// tags only without `message-tags`).
pub fn event(event: &Event, stamp: Stamp, server: &str) -> Option<Bytes> {
    let at = Tagging::of(event, stamp, None);
    let mut out = Vec::with_capacity(96);
    let room = event.room.as_ref().map(|r| r.as_str());
    let user = event.user.as_deref();
    let src = |name: &Name<'_>| source(name.as_str(), user);
    let verb = if event.notice { "NOTICE" } else { "PRIVMSG" };
    match (&event.kind, room) {
        (EventKind::Join { name }, Some(room)) => {
            line(&mut out, at, &format!(":{} JOIN {room}", src(name)), None);
        }
        (EventKind::Leave { name, reason, text }, Some(room)) => {
            let text = text.as_ref().map(|t| t.as_str());
            match reason {
                LeaveReason::Part => {
                    let head = format!(":{} PART {room}", src(name));
                    line(&mut out, at, &head, text);
                }
                LeaveReason::Kicked => {
                    let head = format!(":{server} KICK {room} {}", name.as_str());
                    line(&mut out, at, &head, Some(text.unwrap_or(name.as_str())));
                }
                other => {
                    let why = quit_text(*other, text);
                    line(&mut out, at, &format!(":{} QUIT", src(name)), Some(&why));
                }
            }
        }
        (EventKind::Leave { name, reason, text }, None) => {
            let why = quit_text(*reason, text.as_ref().map(|t| t.as_str()));
            line(&mut out, at, &format!(":{} QUIT", src(name)), Some(&why));
        }
        (EventKind::Public { from, text }, Some(room)) => {
            message(&mut out, at, from.as_str(), user, verb, room, text.as_str());
        }
        (EventKind::Private { from, to, text }, _) => {
            message(
                &mut out,
                at,
                from.as_str(),
                user,
                verb,
                to.as_str(),
                text.as_str(),
            );
        }
        (EventKind::Topic { by, text }, Some(room)) => {
            let head = format!(":{} TOPIC {room}", src(by));
            line(&mut out, at, &head, Some(text.as_str()));
        }
        (EventKind::TagsOnly { from, to }, room) => {
            let target = to.as_ref().map(|t| t.as_str()).or(room)?;
            if stamp != Stamp::Tags {
                return None;
            }
            line(
                &mut out,
                at,
                &format!(":{} TAGMSG {target}", src(from)),
                None,
            );
        }
        (EventKind::Join { .. } | EventKind::Public { .. } | EventKind::Topic { .. }, None) => {
            return None;
        }
    }
    Some(Bytes::from(out))
}

/// Appends a kept public message of `room` as `CHATHISTORY` replays it
/// (§20.3), with the tags `stamp` asks for and in `batch` if given; a
/// stored message has no room of its own. Nothing for other events
/// (history keeps public messages only).
pub fn replayed(out: &mut Vec<u8>, event: &Event, room: &str, stamp: Stamp, batch: Option<&str>) {
    if let EventKind::Public { from, text } = &event.kind {
        let verb = if event.notice { "NOTICE" } else { "PRIVMSG" };
        let tagging = Tagging::of(event, stamp, batch);
        let user = event.user.as_deref();
        message(out, tagging, from.as_str(), user, verb, room, text.as_str());
    }
}

/// A `QUIT`'s text for a leave `reason` (and the client's own words).
fn quit_text(reason: LeaveReason, text: Option<&str>) -> String {
    match (reason, text) {
        (LeaveReason::Quit, Some(text)) => format!("Quit: {text}"),
        (LeaveReason::Quit, None) => "Quit".to_owned(),
        (LeaveReason::Lost, _) => "Connection lost".to_owned(),
        (LeaveReason::Timeout, _) => "Ping timeout".to_owned(),
        (LeaveReason::Slow, _) => "Too slow a reader".to_owned(),
        (LeaveReason::Flood, _) => "Excess flood".to_owned(),
        (LeaveReason::Killed, Some(text)) => format!("Killed ({text})"),
        (LeaveReason::Killed, None) => "Killed".to_owned(),
        (LeaveReason::Part | LeaveReason::Kicked, _) => "Left".to_owned(),
    }
}

/// A crowd notice (§18) as a `NOTICE` to its channel from the server.
pub fn crowd(notice: &Notice, time: bool, server: &str) -> Bytes {
    let mut said = Vec::new();
    if notice.joined > 0 {
        said.push(format!("{} joined", notice.joined));
    }
    if notice.left > 0 {
        said.push(format!("{} left", notice.left));
    }
    let text = format!(
        "{} ({} here now)",
        if said.is_empty() {
            "nobody came or went".to_owned()
        } else {
            said.join(", ")
        },
        notice.online
    );
    let mut out = Vec::new();
    let head = format!(":{server} NOTICE {}", notice.room.as_str());
    let tagging = time.then_some(Tagging {
        at: notice.at,
        time: true,
        full: None,
        batch: None,
    });
    line(&mut out, tagging, &head, Some(&text));
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Seq;
    use tagarela_parser::{Name, RoomName, Text};

    fn at() -> Timestamp {
        Timestamp::from_unix_ms(1_700_000_000_123).unwrap_or(Timestamp::MAX)
    }

    fn name(s: &str) -> Name<'static> {
        Name::new(s.to_owned()).unwrap_or_else(|_| unreachable!())
    }

    fn room() -> Option<RoomName<'static>> {
        RoomName::new("#geral".to_owned()).ok()
    }

    fn text(s: &str) -> Text<'static> {
        Text::new(s.to_owned()).unwrap_or_else(|_| unreachable!())
    }

    fn lines(event: &Event, time: bool) -> String {
        let stamp = if time { Stamp::Time } else { Stamp::Bare };
        tagged(event, stamp)
    }

    fn tagged(event: &Event, stamp: Stamp) -> String {
        let bytes = super::event(event, stamp, "irc.test").unwrap_or_default();
        String::from_utf8(bytes.to_vec()).unwrap_or_default()
    }

    #[test]
    fn message_tags_carry_msgid_time_and_the_senders_client_tags() {
        let said = EventKind::Public {
            from: name("ana"),
            text: text("oi"),
        };
        let said = Event::new_in(Seq(42), at(), room(), said)
            .with_tags(Some(std::sync::Arc::from("+draft/react=\\o/")));
        assert_eq!(
            tagged(&said, Stamp::Tags),
            "@msgid=42;time=2023-11-14T22:13:20.123Z;+draft/react=\\o/ :ana!~u@tagarela PRIVMSG #geral :oi\r\n"
        );
        // Client tags only for those who asked for message-tags.
        assert_eq!(
            lines(&said, false),
            ":ana!~u@tagarela PRIVMSG #geral :oi\r\n"
        );
        let typing = EventKind::TagsOnly {
            from: name("ana"),
            to: None,
        };
        let typing = Event::new_in(Seq(7), at(), room(), typing)
            .with_tags(Some(std::sync::Arc::from("+typing=active")));
        assert_eq!(
            tagged(&typing, Stamp::Tags),
            "@msgid=t7;time=2023-11-14T22:13:20.123Z;+typing=active :ana!~u@tagarela TAGMSG #geral\r\n"
        );
        assert_eq!(tagged(&typing, Stamp::Time), "");
    }

    #[test]
    fn events_read_as_irc() {
        let join = Event::new_in(Seq(1), at(), room(), EventKind::Join { name: name("ana") });
        assert_eq!(lines(&join, false), ":ana!~u@tagarela JOIN #geral\r\n");
        assert_eq!(
            lines(&join, true),
            "@time=2023-11-14T22:13:20.123Z :ana!~u@tagarela JOIN #geral\r\n"
        );
        let kick = EventKind::Leave {
            name: name("bia"),
            reason: LeaveReason::Kicked,
            text: None,
        };
        let kick = Event::new_in(Seq(2), at(), room(), kick);
        assert_eq!(lines(&kick, false), ":irc.test KICK #geral bia :bia\r\n");
        let quit = EventKind::Leave {
            name: name("bia"),
            reason: LeaveReason::Quit,
            text: Some(text("bye")),
        };
        let quit = Event::new_in(Seq(3), at(), room(), quit);
        assert_eq!(lines(&quit, false), ":bia!~u@tagarela QUIT :Quit: bye\r\n");
        let me = EventKind::Public {
            from: name("ana"),
            text: text("/me waves"),
        };
        let me = Event::new_in(Seq(4), at(), room(), me);
        assert_eq!(
            lines(&me, false),
            ":ana!~u@tagarela PRIVMSG #geral :\u{1}ACTION waves\u{1}\r\n"
        );
    }

    #[test]
    fn a_long_message_is_split_into_lines_that_fit() {
        let long = "palavra ".repeat(120);
        let said = EventKind::Public {
            from: name("ana"),
            text: text(long.trim_end()),
        };
        let said = Event::new_in(Seq(5), at(), room(), said);
        let all = lines(&said, true);
        let mut joined = String::new();
        for l in all.split_terminator("\r\n") {
            let (_, untagged) = l.split_once(' ').unwrap_or_default();
            assert!(untagged.len() + 2 <= LINE, "{} octets", untagged.len() + 2);
            let (_, said) = untagged.split_once(" :").unwrap_or_default();
            joined.push_str(said);
        }
        assert_eq!(joined, long.trim_end());
        // One msgid, on the first line only (IRCv3: a msgid names a line).
        let tagged_lines = tagged(&said, Stamp::Tags);
        let lines: Vec<&str> = tagged_lines.split_terminator("\r\n").collect();
        assert!(
            lines.len() > 1 && lines[0].starts_with("@msgid=5;"),
            "{lines:?}"
        );
        assert!(
            lines[1..].iter().all(|l| l.starts_with("@time=")),
            "{lines:?}"
        );
    }
}
