//! Crowds (spec §18): in a room of at least `crowd-size` members, joins
//! and leaves are not sent to everyone one line each. N people joining a
//! room of N would cost N² lines, and a big room that reconnects at once
//! after a restart would bury every reader under them. Instead they are
//! counted here and sent as one `CROWD` notice a second (or just before
//! the next line that must come after them), naming the first few.
//!
//! Part of the hub layer: a hub holds one [`Crowd`] behind its lock and
//! decides, event by event, whether it absorbs a join or a leave. Knows
//! no wire format and never waits.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use tagarela_parser::{Name, RoomName, Timestamp};

use crate::event::{Event, EventKind};
use crate::hub::Recipient;

/// How often a crowd notice is sent, at most, when there is something to
/// say (§18).
pub const INTERVAL: Duration = Duration::from_secs(1);

/// How many joiners, and how many leavers, a notice names at most (§18):
/// twelve names of at most 128 octets keep it within `server-line-max`.
pub const NAMED_MAX: usize = 6;

/// The default `crowd-size` (§18): rooms this large get notices instead
/// of a line per join and leave.
pub const DEFAULT_SIZE: usize = 500;

/// The joins and leaves of a crowded room since its last notice.
#[derive(Debug, Default)]
pub struct Crowd {
    /// From how many members on joins and leaves are counted rather than
    /// sent (0: never; every join and leave is sent, as in v1).
    size: usize,
    /// Joins absorbed since the last notice.
    joined: u32,
    /// Leaves absorbed since the last notice.
    left: u32,
    /// The first joiners of the interval, for the notice to name.
    joiners: Vec<Name<'static>>,
    /// The first leavers of the interval, likewise.
    leavers: Vec<Name<'static>>,
}

impl Crowd {
    /// A room whose joins and leaves are counted from `size` members on
    /// (0: never).
    pub fn new(size: usize) -> Crowd {
        Crowd {
            size,
            ..Crowd::default()
        }
    }

    /// Whether a join or a leave in a room of `online` members (counting
    /// the one who joins or leaves) is counted rather than sent.
    pub fn absorbs(&self, online: usize) -> bool {
        self.size > 0 && online >= self.size
    }

    /// Counts `event`, a join or a leave in a room of `online` members
    /// (counting the one who comes or goes), for the next notice if the
    /// room is crowded; false if it must be delivered on its own.
    pub fn absorb(&mut self, online: usize, event: &Event) -> bool {
        if !self.absorbs(online) {
            return false;
        }
        match &event.kind {
            EventKind::Join { name } => self.joined(name),
            EventKind::Leave { name, .. } => self.left(name),
            EventKind::Public { .. }
            | EventKind::Private { .. }
            | EventKind::Topic { .. }
            | EventKind::TagsOnly { .. } => {
                return false;
            }
        }
        true
    }

    /// Sends each of `recipients` the notice of what was counted, stamped
    /// `at` with `online` members, and starts again; returns how many got
    /// it (none if nothing was counted).
    pub fn send<'r>(
        &mut self,
        room: &RoomName<'static>,
        at: Timestamp,
        online: usize,
        recipients: impl IntoIterator<Item = &'r Arc<dyn Recipient>>,
    ) -> u64 {
        let Some(notice) = self.take(room, at, online) else {
            return 0;
        };
        let mut sent = 0;
        for r in recipients {
            r.crowd(&notice);
            sent += 1;
        }
        sent
    }

    /// `name` joined, and the notice will say so.
    pub fn joined(&mut self, name: &Name<'static>) {
        self.joined = self.joined.saturating_add(1);
        if self.joiners.len() < NAMED_MAX {
            self.joiners.push(name.clone());
        }
    }

    /// `name` left, and the notice will say so.
    pub fn left(&mut self, name: &Name<'static>) {
        self.left = self.left.saturating_add(1);
        if self.leavers.len() < NAMED_MAX {
            self.leavers.push(name.clone());
        }
    }

    /// Whether a notice has anything to say.
    pub fn is_pending(&self) -> bool {
        self.joined > 0 || self.left > 0
    }

    /// The notice of everything counted so far, stamped `at` with `online`
    /// members, and a fresh start; `None` if there is nothing to say.
    pub fn take(
        &mut self,
        room: &RoomName<'static>,
        at: Timestamp,
        online: usize,
    ) -> Option<Arc<Notice>> {
        if !self.is_pending() {
            return None;
        }
        let notice = Notice {
            room: room.clone(),
            at,
            online: u32::try_from(online).unwrap_or(u32::MAX),
            joined: std::mem::take(&mut self.joined),
            left: std::mem::take(&mut self.left),
            joiners: std::mem::take(&mut self.joiners),
            leavers: std::mem::take(&mut self.leavers),
            encoded: OnceLock::new(),
            encoded_in_room: OnceLock::new(),
        };
        Some(Arc::new(notice))
    }

    /// Forgets what was counted (the room was left, §17.4).
    pub fn clear(&mut self) {
        *self = Crowd::new(self.size);
    }
}

/// One crowd notice, the same for every member who gets it.
#[derive(Debug)]
pub struct Notice {
    /// The room it is of (§19: rooms clients get it as `IN #room CROWD`).
    pub room: RoomName<'static>,
    /// When it was sent: no earlier than the events it sums up.
    pub at: Timestamp,
    /// Members online when it was sent.
    pub online: u32,
    /// Joins it sums up.
    pub joined: u32,
    /// Leaves it sums up.
    pub left: u32,
    /// Some of those who joined (at most [`NAMED_MAX`]), first first.
    pub joiners: Vec<Name<'static>>,
    /// Some of those who left, likewise.
    pub leavers: Vec<Name<'static>>,
    /// Its encoding, made by the first recipient and shared by the rest.
    encoded: OnceLock<Option<Bytes>>,
    /// Its encoding inside its room (`IN #room CROWD`), likewise.
    encoded_in_room: OnceLock<Option<Bytes>>,
}

impl Notice {
    /// The notice encoded by `encode` the first time a recipient asks, and
    /// cached for every later one.
    pub fn encoded(&self, encode: impl FnOnce(&Notice) -> Option<Bytes>) -> Option<&Bytes> {
        self.encoded.get_or_init(|| encode(self)).as_ref()
    }

    /// The notice as a room's line (`IN #room CROWD`), encoded once.
    pub fn encoded_in_room(&self, encode: impl FnOnce(&Notice) -> Option<Bytes>) -> Option<&Bytes> {
        self.encoded_in_room.get_or_init(|| encode(self)).as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Name<'static> {
        Name::normalize(s).unwrap_or_else(|_| unreachable!())
    }

    fn at() -> Timestamp {
        Timestamp::from_unix_ms(0).unwrap_or(Timestamp::MAX)
    }

    fn room() -> RoomName<'static> {
        RoomName::normalize("#general").unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn counts_everyone_names_the_first_few_and_starts_again() {
        let mut crowd = Crowd::new(3);
        assert!(!crowd.absorbs(2));
        assert!(crowd.absorbs(3));
        assert!(crowd.take(&room(), at(), 3).is_none());
        for i in 0..10 {
            crowd.joined(&name(&format!("j{i}")));
        }
        crowd.left(&name("gone"));
        let notice = crowd
            .take(&room(), at(), 12)
            .unwrap_or_else(|| unreachable!());
        assert_eq!((notice.online, notice.joined, notice.left), (12, 10, 1));
        let joiners: Vec<&str> = notice.joiners.iter().map(|n| n.as_str()).collect();
        assert_eq!(joiners, ["j0", "j1", "j2", "j3", "j4", "j5"]);
        assert_eq!(notice.leavers, [name("gone")]);
        assert!(!crowd.is_pending());
        assert!(crowd.take(&room(), at(), 12).is_none());
    }

    #[test]
    fn size_zero_never_absorbs() {
        assert!(!Crowd::new(0).absorbs(usize::MAX));
    }
}
