//! One room (spec §19): who is in it and, for this process's clients
//! among them, where their events go; its recent public messages, its
//! crowd count (§18), its topic and its operators. The [`Hall`] holds
//! every room and numbers their events; a room only keeps and delivers.
//!
//! Plain data behind its hub's lock: it never waits, never numbers an
//! event, never decides who may join, and knows nothing of wire formats.
//!
//! [`Hall`]: crate::hub::hall::Hall

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tagarela_parser::{HistoryQuery, NameKey, RoomName, Timestamp};

use crate::event::{Event, Seq};
use crate::hub::Recipient;
use crate::hub::crowd::Crowd;
use crate::hub::recent::Recent;

/// One room's state (see the module doc).
#[derive(Debug)]
pub struct Room {
    /// Its display form: every event of the room carries this one, so
    /// comparing it is comparing rooms.
    name: RoomName<'static>,
    /// Its members by key; for this process's clients, where their events
    /// go (`None` for a member on another node, or one not yet seated).
    members: HashMap<NameKey, Option<Arc<dyn Recipient>>>,
    /// How many members have a recipient here, so that counting the
    /// deliveries of an event takes no pass over the members.
    seated: usize,
    /// Its kept public messages, if the server keeps history (§16).
    recent: Option<Recent>,
    /// Joins and leaves counted rather than sent, once it is crowded (§18).
    crowd: Crowd,
    /// The event that set its topic, if one was set (§19.3).
    topic: Option<Arc<Event>>,
    /// Who may set its topic (§19.6): its creator, while it holds its
    /// name. Empty for a room nobody created (the default room).
    operators: HashSet<NameKey>,
    /// Kept however long it stays empty (the default room).
    lasting: bool,
    /// The number of the event that left it empty, if it is: of the empty
    /// rooms, the one empty the longest is forgotten first (§19.5).
    emptied: Option<Seq>,
}

impl Room {
    /// An empty room called `name` that keeps history in `recent` (if
    /// any) and counts crowds from `crowd_size` members on (§18).
    pub fn new(
        name: RoomName<'static>,
        recent: Option<Recent>,
        crowd_size: usize,
        lasting: bool,
    ) -> Room {
        Room {
            name,
            members: HashMap::new(),
            seated: 0,
            recent,
            crowd: Crowd::new(crowd_size),
            topic: None,
            operators: HashSet::new(),
            lasting,
            emptied: Some(Seq(0)),
        }
    }

    /// The same room (empty, as it is when a server starts) under
    /// another name, its kept messages with it.
    pub fn renamed(self, name: RoomName<'static>) -> Room {
        Room { name, ..self }
    }

    /// Its display form.
    pub fn name(&self) -> &RoomName<'static> {
        &self.name
    }

    /// How many are in it.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether `key` is in it.
    pub fn has(&self, key: &NameKey) -> bool {
        self.members.contains_key(key)
    }

    /// Its members' keys, in no set order.
    pub fn keys(&self) -> impl Iterator<Item = &NameKey> {
        self.members.keys()
    }

    /// Whether it may be forgotten: empty and not lasting; and since when.
    pub fn forgettable_since(&self) -> Option<Seq> {
        self.emptied.filter(|_| !self.lasting)
    }

    /// `key` comes in (not yet seated: see [`Room::seat`]).
    pub fn add(&mut self, key: NameKey) {
        self.emptied = None;
        if let Some(Some(_)) = self.members.insert(key, None) {
            self.seated -= 1;
        }
    }

    /// `key` goes, at the event numbered `seq`; whether it was in.
    pub fn remove(&mut self, key: &NameKey, seq: Seq) -> bool {
        let Some(was) = self.members.remove(key) else {
            return false;
        };
        if was.is_some() {
            self.seated -= 1;
        }
        if self.members.is_empty() {
            self.emptied = Some(seq);
        }
        true
    }

    /// From now on `key`'s events go to `recipient` (nothing if it is
    /// not a member).
    pub fn seat(&mut self, key: &NameKey, recipient: Arc<dyn Recipient>) {
        if let Some(slot) = self.members.get_mut(key) {
            if slot.is_none() {
                self.seated += 1;
            }
            *slot = Some(recipient);
        }
    }

    /// `key`'s events go nowhere in this process any more.
    pub fn unseat(&mut self, key: &NameKey) {
        if let Some(slot) = self.members.get_mut(key)
            && slot.take().is_some()
        {
            self.seated -= 1;
        }
    }

    /// Nobody's events go anywhere in this process any more.
    pub fn unseat_all(&mut self) {
        for slot in self.members.values_mut() {
            *slot = None;
        }
        self.seated = 0;
        self.crowd.clear();
    }

    /// Forgets every member (a replica being loaded anew).
    pub fn clear(&mut self) {
        self.members.clear();
        self.seated = 0;
        self.crowd.clear();
        if let Some(recent) = &mut self.recent {
            recent.clear();
        }
    }

    /// Delivers `event` to every member here but `except`; returns how
    /// many got it.
    pub fn deliver_to_all_but(&self, except: Option<&NameKey>, event: &Event) -> u64 {
        let skip = except
            .and_then(|k| self.members.get(k))
            .is_some_and(Option::is_some);
        for (key, slot) in &self.members {
            if let Some(recipient) = slot
                && Some(key) != except
            {
                recipient.deliver(event);
            }
        }
        (self.seated - usize::from(skip)) as u64
    }

    /// Whether a join or leave in a room of `online` is counted (§18).
    pub fn crowd_absorbs(&self, online: usize) -> bool {
        self.crowd.absorbs(online)
    }

    /// Counts a join or a leave for the next crowd notice, if the room is
    /// crowded (of `online`, counting who comes or goes); false if it
    /// must be delivered.
    pub fn crowd_absorb(&mut self, online: usize, event: &Event) -> bool {
        self.crowd.absorb(online, event)
    }

    /// Whether a crowd notice has anything to say.
    pub fn crowd_pending(&self) -> bool {
        self.crowd.is_pending()
    }

    /// Sends every member here the crowd notice of what was counted, if
    /// anything; returns how many got it.
    pub fn send_crowd_notice(&mut self, at: Timestamp) -> u64 {
        let online = self.members.len();
        let recipients = self.members.values().flatten();
        self.crowd.send(&self.name, at, online, recipients)
    }

    /// Counts crowds from `size` members on, from now on.
    pub fn count_crowds_from(&mut self, size: usize) {
        self.crowd = Crowd::new(size);
    }

    /// Keeps a public message for replay and `/history`.
    pub fn keep(&mut self, event: Arc<Event>, at: Timestamp) {
        if let Some(recent) = &mut self.recent {
            recent.push(event, at);
        }
    }

    /// The latest `n` kept messages, for a newcomer; `None` if the room
    /// keeps none.
    pub fn backlog(&mut self, n: usize, now: Timestamp) -> Option<Vec<Arc<Event>>> {
        let recent = self.recent.as_mut()?;
        // A quiet room's old messages expire here too.
        recent.expire(now);
        Some(recent.latest(n))
    }

    /// What `/history` asks of this room; `None` if it keeps none.
    pub fn history(&mut self, query: &HistoryQuery, default: usize) -> Option<Vec<Arc<Event>>> {
        Some(self.recent.as_mut()?.answer(query, default))
    }

    /// An empty memory of messages like this room's, keeping at most
    /// `messages` (for a new room); `None` if this one keeps none.
    pub fn recent_like(&self, messages: usize) -> Option<Recent> {
        self.recent.as_ref().map(|r| r.like(messages))
    }

    /// The kept messages, for tests to look into.
    #[cfg(test)]
    pub fn recent(&self) -> Option<&Recent> {
        self.recent.as_ref()
    }

    /// The event that set its topic, if any.
    pub fn topic(&self) -> Option<&Arc<Event>> {
        self.topic.as_ref()
    }

    /// `event` set its topic.
    pub fn set_topic(&mut self, event: Arc<Event>) {
        self.topic = Some(event);
    }

    /// Whether `key` is one of its operators.
    pub fn is_operator(&self, key: &NameKey) -> bool {
        self.operators.contains(key)
    }

    /// `key` becomes one of its operators.
    pub fn add_operator(&mut self, key: NameKey) {
        self.operators.insert(key);
    }

    /// `key` is an operator no more (its holding of the name ended).
    pub fn drop_operator(&mut self, key: &NameKey) {
        self.operators.remove(key);
    }
}

/// What the operator decides about rooms (§19.5), one table of defaults.
#[derive(Debug, Clone)]
pub struct RoomSettings {
    /// Where every client starts, and where a client without the `rooms`
    /// feature lives.
    pub default: RoomName<'static>,
    /// The most rooms one client is in at once.
    pub per_client: usize,
    /// The most rooms the server holds (the default one included).
    pub max: usize,
    /// The most members a room has (the default room has no bound but
    /// the connection limit).
    pub members_max: usize,
}

/// The reference default room (§19.1).
pub const DEFAULT_ROOM: &str = "#general";
/// The reference bound on the rooms one client is in (§19.5).
pub const DEFAULT_PER_CLIENT: usize = 20;
/// The reference bound on the rooms of a server (§19.5).
pub const DEFAULT_MAX: usize = 1_000;

impl Default for RoomSettings {
    fn default() -> Self {
        RoomSettings {
            default: RoomName::normalize(DEFAULT_ROOM)
                .unwrap_or_else(|_| unreachable!("the reference default room is a room name")),
            per_client: DEFAULT_PER_CLIENT,
            max: DEFAULT_MAX,
            members_max: usize::MAX,
        }
    }
}
