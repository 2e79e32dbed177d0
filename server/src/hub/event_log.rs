//! The latest events of every kind, in memory only, from which a resuming
//! client is given what it missed (spec §16.6). Shared by both hubs; knows
//! nothing of names being held, of Redis or of wire formats.

use std::collections::VecDeque;
use std::sync::Arc;

use tagarela_parser::{LeaveReason, NameKey, RoomName};

use crate::event::{Event, EventKind, Seq};
use crate::hub::Missed;

/// Events kept (all kinds; memory only).
pub const LOG_MAX: usize = 10_000;

/// Octets of missed events sent at most on a resume: well under the
/// outbox's soft bound, so a resume never makes a client slow (§11).
pub const MISSED_BYTES_MAX: usize = 192 * 1024;

/// The latest [`LOG_MAX`] events, oldest first, in sequence order.
#[derive(Debug, Default)]
pub struct EventLog {
    /// Oldest first; at most [`LOG_MAX`].
    events: VecDeque<Arc<Event>>,
}

impl EventLog {
    /// Keeps `event` (numbered above every event kept), dropping the
    /// oldest past the bound.
    pub fn push(&mut self, event: Arc<Event>) {
        if self.events.len() >= LOG_MAX {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }

    /// The event kept last.
    pub fn newest(&self) -> Option<&Arc<Event>> {
        self.events.back()
    }

    /// Forgets everything (the numbering it followed is gone).
    pub fn clear(&mut self) {
        self.events.clear();
    }

    /// The event numbered `seq`, if it is still kept.
    pub fn get(&self, seq: Seq) -> Option<Arc<Event>> {
        let i = self.events.binary_search_by_key(&seq, |e| e.seq).ok()?;
        self.events.get(i).cloned()
    }

    /// What the client holding `key` since `since`, in `rooms`, would
    /// have received after `after`, when the last number given is `last`:
    /// the events of those rooms but its own, and its private messages;
    /// never anything
    /// before its holding began, and at most [`MISSED_BYTES_MAX`] (the
    /// newest; older ones make a gap). A number above `last` is taken as
    /// `last`: no client can have seen more (§16.6).
    pub fn missed(
        &self,
        key: &NameKey,
        rooms: &[RoomName<'static>],
        since: Seq,
        after: Seq,
        last: Seq,
    ) -> Missed {
        let after = after.min(last).max(since);
        let start = self.events.partition_point(|e| e.seq <= after);
        let mut gap = match self.events.front() {
            Some(first) => first.seq.0 > after.0.saturating_add(1),
            None => after < last,
        };
        let mut events = Vec::new();
        let mut bytes = 0usize;
        for e in self.events.range(start..).rev() {
            let for_it = match &e.kind {
                EventKind::Private { from, to, .. } => from.key() == *key || to.key() == *key,
                // Its own removal from a room it is no longer in is how
                // it learns it was removed (§19.6).
                EventKind::Leave {
                    name,
                    reason: LeaveReason::Kicked,
                    ..
                } if name.key() == *key => true,
                _ => e.room.as_ref().is_some_and(|r| rooms.contains(r)) && e.actor().key() != *key,
            };
            if !for_it {
                continue;
            }
            bytes += e.approx_len();
            if bytes > MISSED_BYTES_MAX {
                gap = true;
                break;
            }
            events.push(Arc::clone(e));
        }
        events.reverse();
        Missed { events, gap, after }
    }
}
