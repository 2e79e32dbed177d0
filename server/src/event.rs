//! Events: what happened in the room and reaches people (a join, a leave,
//! a public or a private message), each with its room-wide sequence number
//! and server timestamp, given by the hub when it accepts the event. This
//! is the unit that delivery, the stores, history replay and resumption
//! share. An event knows nothing of wire formats; it only keeps, per
//! format, the octets the first recipient of that format encoded, so an
//! event is encoded at most once per format however many receive it.

use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tagarela_parser::{LeaveReason, Name, RoomName, Text, Timestamp};

/// A room-wide sequence number: strictly increasing in the order the hub
/// accepted events. History replay and resumption name positions in
/// the room by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Seq(pub u64);

/// How far above the highest number it had given a room goes on after a
/// restart, at least (§16.1, §17.3).
pub const RESTART_GAP: u64 = 1 << 20;

impl Seq {
    /// The first number a room may give after a restart, when the highest
    /// it had given is `highest`: above both that plus [`RESTART_GAP`] and
    /// the time in microseconds since 1970, so numbers given but never
    /// kept (the last moments before a crash, a Redis that lost its data)
    /// are never given again unless the room had sustained more than a
    /// million events a second.
    pub fn restart_floor(highest: Seq) -> Seq {
        let now_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        Seq(highest.0.saturating_add(RESTART_GAP).max(now_us))
    }
}

impl std::fmt::Display for Seq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The wall clock now, as a protocol timestamp (§1.3). Timestamps are
/// for people; the order of events is their [`Seq`].
pub fn wall_clock() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    Timestamp::from_unix_ms(ms).unwrap_or(Timestamp::MAX)
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// `name` registered.
    Join { name: Name<'static> },
    /// `name` was removed, and why; `text` is a quit message.
    Leave {
        name: Name<'static>,
        reason: LeaveReason,
        text: Option<Text<'static>>,
    },
    /// A public message.
    Public {
        from: Name<'static>,
        text: Text<'static>,
    },
    /// A private message; its two parties are its only recipients.
    Private {
        from: Name<'static>,
        to: Name<'static>,
        text: Text<'static>,
    },
    /// `by` set the room's topic (§19.3).
    Topic {
        by: Name<'static>,
        text: Text<'static>,
    },
    /// A message of tags only (IRC's `TAGMSG`, §20.3) from `from`, to the
    /// event's room or, privately, to `to`: it reaches only IRC clients
    /// that asked for `message-tags`. Nothing keeps it (history, the
    /// logs, a crowd's counts) and no Tagarela client is sent it.
    TagsOnly {
        from: Name<'static>,
        to: Option<Name<'static>>,
    },
}

/// The wire formats an event can be encoded in: one slot each in
/// [`Event`]'s cache: Tagarela's (spec/PROTOCOL.md) and IRC's (§20).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireFormat {
    /// spec/PROTOCOL.md.
    Tagarela,
    /// spec/PROTOCOL.md, as history (§16: `HIST`): the same event replayed
    /// to every newcomer is encoded once.
    TagarelaHistory,
    /// spec/PROTOCOL.md with sequence numbers (§16.5: `SEQ`), for clients
    /// that asked for them.
    TagarelaSeq,
    /// spec/PROTOCOL.md with rooms (§19: `IN #room SEQ ...`), for clients
    /// that asked for them.
    TagarelaRooms,
    /// IRC (§20.2).
    Irc,
    /// IRC with `@time=` (the `server-time` capability, §20.3).
    IrcTime,
    /// IRC with `@msgid=`, `time=` and the sender's client-only tags (the
    /// `message-tags` capability, §20.3).
    IrcTags,
}

/// An event's encodings: one slot per [`WireFormat`].
#[derive(Debug, Default)]
struct Encodings([OnceLock<Option<Bytes>>; WireFormat::COUNT]);

impl WireFormat {
    /// How many there are (the last is the highest).
    const COUNT: usize = WireFormat::IrcTags as usize + 1;

    /// Its slot in [`Encodings`].
    fn slot(self) -> usize {
        self as usize
    }
}

/// An accepted event.
#[derive(Debug)]
pub struct Event {
    /// Its place in the room's order.
    pub seq: Seq,
    /// When the hub accepted it (UTC, §1.3).
    pub at: Timestamp,
    /// The room it happened in (the display form the server holds, so
    /// comparing it is comparing rooms); `None` for a private message,
    /// and for a public message loaded from the store, which is only
    /// ever replayed inside its room's context.
    pub room: Option<RoomName<'static>>,
    /// What happened.
    pub kind: EventKind,
    /// The user name its actor gave as an IRC client (§20.6), shown in
    /// its IRC source; `None` for a Tagarela client's (shown as `u`).
    pub user: Option<Arc<str>>,
    /// The tags it carries to IRC clients that asked for `message-tags`
    /// (§20.3): `bot` if its actor is a bot, and the client-only tags its
    /// IRC sender put on it (`+key=value;...`, escaped as on the wire);
    /// never stored.
    pub tags: Option<Arc<str>>,
    /// An IRC client sent it as a `NOTICE` (§20.3): IRC clients get it as
    /// one; Tagarela has no such kind, and shows it as any message.
    pub notice: bool,
    /// Its encodings, one slot per [`WireFormat`], each made by the first
    /// recipient that needed it and shared by every other (`None` inside
    /// if it cannot be encoded). Allocated with the first: an event kept
    /// long after its delivery (the resume log, the history) holds only
    /// this pointer.
    encodings: OnceLock<Box<Encodings>>,
}

/// Two events are equal when they are the same happening: number, time
/// and content (the encoding cache is not compared).
impl PartialEq for Event {
    fn eq(&self, other: &Event) -> bool {
        self.seq == other.seq
            && self.at == other.at
            && self.room == other.room
            && self.kind == other.kind
    }
}

impl Eq for Event {}

impl Event {
    /// An event the hub accepted as number `seq` at `at`.
    pub fn new(seq: Seq, at: Timestamp, kind: EventKind) -> Event {
        Event::new_in(seq, at, None, kind)
    }

    /// An event the hub accepted as number `seq` at `at`, in `room`.
    pub fn new_in(
        seq: Seq,
        at: Timestamp,
        room: Option<RoomName<'static>>,
        kind: EventKind,
    ) -> Event {
        Event {
            seq,
            at,
            room,
            kind,
            user: None,
            tags: None,
            notice: false,
            encodings: OnceLock::new(),
        }
    }

    /// The same event with no encoding cached and no tags: what a log that keeps
    /// events long after their delivery holds (the encodings made for
    /// that delivery go with it, and the rare later use encodes again).
    pub fn lean(&self) -> Event {
        // Tags are relayed, never kept (§20.3): not even for a resume.
        Event::new_in(self.seq, self.at, self.room.clone(), self.kind.clone())
            .by_user(self.user.clone())
            .as_notice(self.notice)
    }

    /// The same event, sent as a `NOTICE` if `notice` (§20.3).
    pub fn as_notice(mut self, notice: bool) -> Event {
        self.notice = notice;
        self
    }

    /// The same event, carrying its sender's client-only `tags` (§20.3).
    pub fn with_tags(mut self, tags: Option<Arc<str>>) -> Event {
        self.tags = tags;
        self
    }

    /// The same event, its actor having given `user` (§20.6).
    pub fn by_user(mut self, user: Option<Arc<str>>) -> Event {
        self.user = user;
        self
    }

    /// The event in `format`, encoded by `encode` the first time any
    /// recipient asks and cached for every later one.
    pub fn encoded(
        &self,
        format: WireFormat,
        encode: impl FnOnce(&Event) -> Option<Bytes>,
    ) -> Option<&Bytes> {
        self.encodings.get_or_init(Box::default).0[format.slot()]
            .get_or_init(|| encode(self))
            .as_ref()
    }

    /// About how many octets the event takes on the wire, without encoding
    /// it (for bounding a run of events).
    pub fn approx_len(&self) -> usize {
        let (a, b, text) = match &self.kind {
            EventKind::Join { name } => (name.as_str().len(), 0, 0),
            EventKind::Leave { name, text, .. } => (
                name.as_str().len(),
                0,
                text.as_ref().map_or(0, |t| t.as_str().len()),
            ),
            EventKind::Public { from, text } => (from.as_str().len(), 0, text.as_str().len()),
            EventKind::Private { from, to, text } => {
                (from.as_str().len(), to.as_str().len(), text.as_str().len())
            }
            EventKind::Topic { by, text } => (by.as_str().len(), 0, text.as_str().len()),
            EventKind::TagsOnly { from, to } => (
                from.as_str().len(),
                to.as_ref().map_or(0, |t| t.as_str().len()),
                self.tags.as_ref().map_or(0, |t| t.len()),
            ),
        };
        let room = self.room.as_ref().map_or(0, |r| r.as_str().len() + 4);
        64 + a + b + text + room
    }

    /// True for a private message (its text is kept out of records unless
    /// the operator opted in).
    pub fn is_private(&self) -> bool {
        matches!(self.kind, EventKind::Private { .. })
    }

    /// The name whose doing this event is.
    pub fn actor(&self) -> &Name<'static> {
        match &self.kind {
            EventKind::Join { name } | EventKind::Leave { name, .. } => name,
            EventKind::Public { from, .. }
            | EventKind::Private { from, .. }
            | EventKind::TagsOnly { from, .. } => from,
            EventKind::Topic { by, .. } => by,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn an_event_is_encoded_once_per_format() {
        let name = Name::new("bob").unwrap_or_else(|_| unreachable!());
        let at = Timestamp::from_unix_ms(0).unwrap_or_else(|| unreachable!());
        let event = Event::new(Seq(1), at, EventKind::Join { name });
        let calls = AtomicUsize::new(0);
        for _ in 0..100 {
            let bytes = event.encoded(WireFormat::Tagarela, |_| {
                calls.fetch_add(1, Ordering::Relaxed);
                Some(Bytes::from_static(b"JOIN\n"))
            });
            assert_eq!(bytes.map(|b| &b[..]), Some(&b"JOIN\n"[..]));
        }
        assert_eq!(calls.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn an_event_holds_no_room_for_encodings_until_one_is_made() {
        // The resume log keeps 10,000 events, lean; seven empty slots in
        // each were 280 octets.
        assert!(
            std::mem::size_of::<Event>() <= 200,
            "{}",
            std::mem::size_of::<Event>()
        );
        let name = Name::new("bob").unwrap_or_else(|_| unreachable!());
        let at = Timestamp::from_unix_ms(0).unwrap_or_else(|| unreachable!());
        let event = Event::new(Seq(1), at, EventKind::Join { name });
        assert!(event.encodings.get().is_none());
        event.encoded(WireFormat::IrcTags, |_| {
            Some(Bytes::from_static(b"JOIN\r\n"))
        });
        assert!(event.lean().encodings.get().is_none());
        assert!(event.encoded(WireFormat::Irc, |_| None).is_none());
        assert!(event.encoded(WireFormat::IrcTags, |_| None).is_some());
    }
}
