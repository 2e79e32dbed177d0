//! The hall: everything a hub holds about the server's people and rooms
//! (spec §19), the same in both hubs. Who holds which name (by key and
//! look-alike skeleton, §3.3), which of them are this process's clients
//! and where their events go, the rooms and who is in each, the last
//! number and time given, and the log of what a resuming client missed.
//! Every event passes through here: it is numbered by the caller (a local
//! hub numbers it with [`Hall::next_seq`], a cluster hub takes Redis's
//! number), stamped, kept and delivered to the members of its room (or
//! to the two parties of a private message).
//!
//! Plain data behind its hub's lock: it never waits, never decides who
//! may hold a name or join a room (the hub does, or Redis), and knows
//! nothing of wire formats, tokens or Redis.

use std::collections::HashMap;
use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use tagarela_parser::{HistoryQuery, Name, NameKey, RoomKey, RoomName, Text, Timestamp};

use crate::event::{Event, EventKind, Seq, wall_clock};
use crate::hub::event_log::EventLog;
use crate::hub::monitors::{WatcherId, id_of};
use crate::hub::recent::Recent;
use crate::hub::resume::ResumeToken;
use crate::hub::room::{MemberId, Room};
use crate::hub::roster::{Holder, Roster};
use crate::hub::shape::Shape;
use crate::hub::{Clash, Entered, Recipient, RegId, Welcome};
use crate::hub::{Heard, Present, Profile, ProfileField, Sending};
use crate::ops::metrics::Metrics;

/// The most public messages a room other than the default one keeps in
/// memory (§19.4): a thousand rooms of them stay within a few hundred
/// MiB whatever the history retention says.
pub const ROOM_RECENT_MAX: usize = 1_000;

/// A room's place in the hall (an index into its slab): small, so that a
/// member's list of rooms costs a few octets each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomId(u32);

/// Someone registered (in a cluster: on any node).
#[derive(Debug)]
pub struct Member {
    /// Display form (NFC).
    pub name: Name<'static>,
    /// Its skeletons, kept so that its leave computes nothing under the
    /// lock.
    shapes: [Shape; 2],
    /// Where this holding of the name began (its first join, kept across
    /// resumes): a resuming client is never given events from before it,
    /// and a private message is for this holding only (§16.6, §17.2).
    pub since: Seq,
    /// Its place in the hall, while it holds the name.
    id: MemberId,
    /// The rooms it is in, in the order it entered them (kept exactly as
    /// long as it needs: a client in 10 rooms holds 10 of them).
    rooms: Vec<RoomId>,
}

impl Member {
    /// How many rooms it is in.
    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    /// Its skeletons (§3.3).
    pub fn shapes(&self) -> &[Shape; 2] {
        &self.shapes
    }

    /// Its place in the hall.
    pub fn id(&self) -> MemberId {
        self.id
    }
}

impl Holder for Member {
    fn name(&self) -> &Name<'static> {
        &self.name
    }

    fn shapes(&self) -> &[Shape; 2] {
        &self.shapes
    }
}

/// A member who is a client of this process: where its events go.
#[derive(Debug)]
pub struct Seat {
    /// Its outbound queue.
    pub recipient: Arc<dyn Recipient>,
    /// The registration that holds the name here now (a resume makes a
    /// new one, and the old one's later calls do nothing).
    pub reg: RegId,
}

/// What a client is told on entering: a newcomer's backlog, or what a
/// resuming client missed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Greeting {
    /// A new holding, whose join is `join`: it is replayed the latest
    /// kept public messages.
    Newcomer { join: Seq },
    /// A holding that began at `since`, taken back with the number the
    /// client gave (§16.6).
    Resumed { since: Seq, after: Seq },
}

/// An event the hall took.
#[derive(Debug)]
pub struct Accepted {
    /// The event, numbered and stamped.
    pub event: Arc<Event>,
    /// For a leave: the seat of this process's client that held the name,
    /// if it still had one.
    pub unseated: Option<Seat>,
}

/// One room in the list of rooms (§19.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// Its name.
    pub room: RoomName<'static>,
    /// How many are in it.
    pub members: usize,
    /// Its topic, if one was set.
    pub topic: Option<Text<'static>>,
    /// When the topic was set, if it was.
    pub topic_at: Option<Timestamp>,
}

/// The `events` counters by kind, and `deliveries`, looked up once so
/// that counting takes no lock.
#[derive(Debug)]
struct Counters {
    join: Counter,
    leave: Counter,
    public: Counter,
    private: Counter,
    topic: Counter,
    deliveries: Counter,
}

impl Counters {
    fn new(metrics: &Metrics) -> Counters {
        let kind = |k| metrics.events.get_or_create(&[("kind", k)]).clone();
        Counters {
            join: kind("join"),
            leave: kind("leave"),
            public: kind("public"),
            private: kind("private"),
            topic: kind("topic"),
            deliveries: metrics.deliveries.clone(),
        }
    }
}

/// The hall's state (see the module doc).
#[derive(Debug)]
pub struct Hall {
    /// Everyone registered, by identity key and look-alike skeleton.
    members: Roster<Member>,
    /// Those of them who are this process's clients, by key: which
    /// registration holds each.
    seats: HashMap<NameKey, Seat>,
    /// Where each member's events go, by [`MemberId`] (`None`: not this
    /// process's client, or no member): what every delivery reads. Its
    /// length is the number of ids ever given.
    recipients: Vec<Option<Arc<dyn Recipient>>>,
    /// Member ids free to give again.
    free_members: Vec<MemberId>,
    /// The rooms, by [`RoomId`]. The default room is always here.
    rooms: Vec<Option<Room>>,
    /// Each room's id, by key.
    room_ids: HashMap<RoomKey, RoomId>,
    /// Room ids free to give again.
    free_rooms: Vec<RoomId>,
    /// The default room: where a client without the `rooms` feature
    /// lives, and where every client starts (§19.1).
    default: RoomId,
    /// The last number given.
    last_seq: Seq,
    /// The last number a message of tags only was given (§20.3): its own
    /// count, so that the server's order has no holes for them.
    tags_only_seq: u64,
    /// The last time given: later events never get an earlier one, even
    /// if the clock they come with steps back.
    last_at: Option<Timestamp>,
    /// How many kept messages a newcomer to a room is replayed.
    replay: usize,
    /// From how many members on a room counts crowds (§18; 0: never).
    crowd_size: usize,
    /// The latest events of every kind, for what a resuming client
    /// missed (§16.6).
    log: EventLog,
    /// Counted before anyone can see the event, so that a scrape which
    /// follows it always includes it.
    counters: Counters,
}

impl Hall {
    /// A hall with one empty room, `default`, that counts into `metrics`,
    /// keeps history in `recent` (if any; new rooms keep the same, within
    /// [`ROOM_RECENT_MAX`]) and replays `replay` messages to a newcomer;
    /// joins and leaves go into crowd notices from `crowd_size` members on
    /// (§18; 0: never).
    pub fn new(
        metrics: &Metrics,
        default: RoomName<'static>,
        recent: Option<Recent>,
        replay: usize,
        crowd_size: usize,
    ) -> Hall {
        let key = default.key();
        let room = Room::new(default, recent, crowd_size, true, Seq(0));
        Hall {
            members: Roster::default(),
            seats: HashMap::new(),
            recipients: Vec::new(),
            free_members: Vec::new(),
            rooms: vec![Some(room)],
            room_ids: HashMap::from([(key, RoomId(0))]),
            free_rooms: Vec::new(),
            default: RoomId(0),
            last_seq: Seq(0),
            tags_only_seq: 0,
            last_at: None,
            replay,
            crowd_size,
            log: EventLog::default(),
            counters: Counters::new(metrics),
        }
    }

    /// The room `id`, if it exists.
    fn at(&self, id: RoomId) -> Option<&Room> {
        self.rooms.get(id.0 as usize).and_then(Option::as_ref)
    }

    /// The room `id`, to change, if it exists.
    fn at_mut(&mut self, id: RoomId) -> Option<&mut Room> {
        self.rooms.get_mut(id.0 as usize).and_then(Option::as_mut)
    }

    /// The default room.
    fn lobby(&mut self) -> &mut Room {
        let id = self.default;
        self.at_mut(id)
            .unwrap_or_else(|| unreachable!("the default room is never removed"))
    }

    /// Calls the default room `name` from now on (before anyone is in
    /// it: an operator's choice at start).
    pub fn rename_default(&mut self, name: RoomName<'static>) {
        let id = self.default;
        if let Some(slot) = self.rooms.get_mut(id.0 as usize)
            && let Some(room) = slot.take()
        {
            self.room_ids.retain(|_, v| *v != id);
            self.room_ids.insert(name.key(), id);
            *slot = Some(room.renamed(name));
        }
    }

    /// The default room's name.
    pub fn default_room(&self) -> &RoomName<'static> {
        self.at(self.default)
            .map(Room::name)
            .unwrap_or_else(|| unreachable!("the default room is never removed"))
    }

    /// Joins and leaves go into crowd notices from `size` members on
    /// (§18; 0: never), from now on.
    pub fn count_crowds_from(&mut self, size: usize) {
        self.crowd_size = size;
        for room in self.rooms.iter_mut().flatten() {
            room.count_crowds_from(size);
        }
    }

    /// Starts again from `last` (the last number given) and the default
    /// room's kept public messages `history` (oldest first): nobody is
    /// registered, nothing is logged or counted, and the rooms other than
    /// the default one are gone.
    pub fn load(&mut self, last: Seq, history: impl IntoIterator<Item = Arc<Event>>) {
        self.members.clear();
        self.seats.clear();
        self.recipients.clear();
        self.free_members.clear();
        self.log.clear();
        let default = self.default;
        for (i, slot) in self.rooms.iter_mut().enumerate() {
            if i != default.0 as usize {
                *slot = None;
            }
        }
        self.room_ids.retain(|_, id| *id == default);
        self.free_rooms = (0..self.rooms.len() as u32)
            .map(RoomId)
            .filter(|id| *id != default)
            .collect();
        self.lobby().clear();
        self.last_seq = last;
        self.last_at = None;
        let now = wall_clock();
        for event in history {
            self.last_at = Some(self.last_at.map_or(event.at, |last| last.max(event.at)));
            self.lobby().keep(event, now);
        }
    }

    /// Loads the kept public messages of `room` (oldest first, after
    /// [`Hall::load`]): into the default room if it is the default room's
    /// name, else into that room, opened empty and run by nobody (its
    /// operators were names, which a restart let go, §19.6), within
    /// `max` rooms.
    pub fn load_room(&mut self, room: RoomName<'static>, messages: Vec<Arc<Event>>, max: usize) {
        let now = wall_clock();
        let key = room.key();
        if !self.room_ids.contains_key(&key) && !self.open(room, None, max) {
            return;
        }
        let Some(id) = self.room_ids.get(&key).copied() else {
            return;
        };
        for event in messages {
            self.last_at = Some(self.last_at.map_or(event.at, |last| last.max(event.at)));
            if let Some(r) = self.at_mut(id) {
                r.keep(event, now);
            }
        }
    }

    /// Adds someone registered, in no room yet, when the hall is loaded
    /// from a cluster's snapshot (no event; [`Hall::place`] follows).
    pub fn add_registered(&mut self, name: Name<'static>, since: Seq) {
        self.register(name, since);
    }

    /// Puts the member holding `key` in `room` (no event: a hall being
    /// loaded). Nothing if either is not there, or it is in already.
    pub fn place(&mut self, room: &RoomKey, key: &NameKey) {
        let (Some(id), Some(member)) = (self.room_ids.get(room).copied(), self.members.get(key))
        else {
            return;
        };
        let member_id = member.id;
        if let Some(r) = self.at_mut(id) {
            if r.has(member_id) {
                return;
            }
            r.add(member_id);
        }
        if let Some(m) = self.members.get_mut(key) {
            m.rooms.push(id);
            m.rooms.shrink_to_fit();
        }
    }

    /// Forgets the room `key`, as a cluster's Redis did to make place for
    /// another: never the default one, and only while empty (Redis
    /// forgets only those, so a member's list of rooms never names a
    /// forgotten one).
    pub fn forget(&mut self, key: &RoomKey) {
        let Some(id) = self.room_ids.get(key).copied() else {
            return;
        };
        if id == self.default || self.at(id).is_none_or(|r| r.len() > 0) {
            return;
        }
        if let Some(slot) = self.rooms.get_mut(id.0 as usize) {
            *slot = None;
        }
        self.room_ids.remove(key);
        self.free_rooms.push(id);
    }

    /// Takes number `seq` for an event that changes nothing here (a
    /// cluster's event about someone this replica no longer has): the
    /// next one follows it.
    pub fn pass(&mut self, seq: Seq) {
        self.last_seq = seq;
    }

    /// `name` holds its name from now on (no event; in no room yet).
    fn register(&mut self, name: Name<'static>, since: Seq) -> MemberId {
        let key = name.key();
        let id = match self.free_members.pop() {
            Some(id) => id,
            None => {
                self.recipients.push(None);
                MemberId(u32::try_from(self.recipients.len() - 1).unwrap_or(u32::MAX))
            }
        };
        let shapes = Shape::of_name(&name);
        self.members.insert(
            key,
            Member {
                name,
                shapes,
                since,
                id,
                rooms: Vec::new(),
            },
        );
        id
    }

    /// The last number given.
    pub fn last_seq(&self) -> Seq {
        self.last_seq
    }

    /// The number the next event gets, for a hub that numbers its own.
    pub fn next_seq(&self) -> Seq {
        Seq(self.last_seq.0 + 1)
    }

    /// The last time given.
    pub fn last_at(&self) -> Option<Timestamp> {
        self.last_at
    }

    /// `at`, or the last time given if that is later; given from now on.
    fn stamp(&mut self, at: Timestamp) -> Timestamp {
        let at = match self.last_at {
            Some(last) if last > at => last,
            _ => at,
        };
        self.last_at = Some(at);
        at
    }

    /// How many are registered.
    pub fn online(&self) -> usize {
        self.members.len()
    }

    /// The clash a claim of `key` with these skeletons would make.
    pub fn clash(&self, key: &NameKey, shapes: &[Shape; 2]) -> Option<Clash> {
        self.members.clash(key, shapes)
    }

    /// The member holding `key`.
    pub fn member(&self, key: &NameKey) -> Option<&Member> {
        self.members.get(key)
    }

    /// The place in the hall of the member holding `key`.
    pub fn member_id(&self, key: &NameKey) -> Option<MemberId> {
        self.members.get(key).map(|m| m.id)
    }

    /// The member holding `key` is leaving: its invitations go.
    pub fn drop_invitations(&mut self, key: &NameKey) {
        if let Some(id) = self.member_id(key) {
            for room in self.rooms.iter_mut().flatten() {
                room.uninvite(id);
            }
        }
    }

    /// The rooms the member holding `key` is invited into.
    pub fn invitations_of(&self, key: &NameKey) -> Vec<RoomName<'static>> {
        let Some(id) = self.member_id(key) else {
            return Vec::new();
        };
        self.rooms
            .iter()
            .flatten()
            .filter(|r| r.is_invited(id))
            .map(|r| r.name().clone())
            .collect()
    }

    /// The seat of this process's client holding `key`, if registration
    /// `reg` is the one holding it.
    pub fn seat(&self, key: &NameKey, reg: RegId) -> Option<&Seat> {
        self.seats.get(key).filter(|s| s.reg == reg)
    }

    /// The seat of registration `reg`, if it holds a name here: a pass
    /// over this process's clients, for what is rare (an operator's
    /// answer in a cluster).
    pub fn seat_of(&self, reg: RegId) -> Option<&Seat> {
        self.seats.values().find(|s| s.reg == reg)
    }

    /// Calls `f` with every client of this process.
    pub fn each_recipient(&self, mut f: impl FnMut(&Arc<dyn Recipient>)) {
        for recipient in self.recipients.iter().flatten() {
            f(recipient);
        }
    }

    /// The seat of this process's client holding `key`, whichever
    /// registration it is.
    pub fn any_seat(&self, key: &NameKey) -> Option<&Seat> {
        self.seats.get(key)
    }

    /// Seats this process's client holding `key`; returns the seat it
    /// replaces (a resume on a new connection).
    pub fn sit(&mut self, key: NameKey, seat: Seat) -> Option<Seat> {
        if let Some(member) = self.members.get(&key)
            && let Some(slot) = self.recipients.get_mut(member.id.0 as usize)
        {
            *slot = Some(Arc::clone(&seat.recipient));
        }
        self.seats.insert(key, seat)
    }

    /// Unseats `key` if registration `reg` holds it (it stays a member
    /// until its leave is accepted).
    pub fn unseat(&mut self, key: &NameKey, reg: RegId) -> Option<Seat> {
        if self.seats.get(key)?.reg != reg {
            return None;
        }
        self.unseat_recipient(key);
        self.seats.remove(key)
    }

    /// `key`'s events go nowhere in this process any more.
    fn unseat_recipient(&mut self, key: &NameKey) {
        if let Some(member) = self.members.get(key)
            && let Some(slot) = self.recipients.get_mut(member.id.0 as usize)
        {
            *slot = None;
        }
    }

    /// Unseats everyone: this process no longer serves the hall.
    pub fn unseat_all(&mut self) -> Vec<Seat> {
        for room in self.rooms.iter_mut().flatten() {
            room.forget_crowd();
        }
        for slot in &mut self.recipients {
            *slot = None;
        }
        self.seats.drain().map(|(_, seat)| seat).collect()
    }

    /// `name` registers at `seq` and `at`, its holding having begun at
    /// `since`, and joins the default room: it becomes a member and the
    /// join is announced to the room's clients here (or counted, in a
    /// crowded room). It is not seated: [`Hall::welcome`] and
    /// [`Hall::sit`] follow.
    pub fn join(&mut self, seq: Seq, at: Timestamp, name: Name<'static>, since: Seq) -> Arc<Event> {
        let key = name.key();
        self.register(name.clone(), since);
        let default = self.default;
        self.enter_id(seq, at, default, &key, name, true)
            .unwrap_or_else(|| unreachable!("the default room exists and the member is new"))
    }

    /// `key` (registered, as `name`) enters `room` (which exists) at `seq`
    /// and `at`: the join is announced to the room's other clients here
    /// (or counted, in a crowded room), and its own seat, if it has one,
    /// is told what [`Entered`] says before it can receive any event of
    /// the room. `None` if the room or the member does not exist.
    pub fn enter(
        &mut self,
        seq: Seq,
        at: Timestamp,
        room: &RoomKey,
        key: &NameKey,
        name: Name<'static>,
    ) -> Option<Arc<Event>> {
        let id = *self.room_ids.get(room)?;
        self.enter_id(seq, at, id, key, name, true)
    }

    /// As [`Hall::enter`], for a resumed holding back in a room it was in
    /// (a cluster's, welcomed already with what it missed there): its
    /// own seat is told nothing, as on one server, where it is back in
    /// its rooms before it is seated.
    pub fn enter_back(
        &mut self,
        seq: Seq,
        at: Timestamp,
        room: &RoomKey,
        key: &NameKey,
        name: Name<'static>,
    ) -> Option<Arc<Event>> {
        let id = *self.room_ids.get(room)?;
        self.enter_id(seq, at, id, key, name, false)
    }

    fn enter_id(
        &mut self,
        seq: Seq,
        at: Timestamp,
        room: RoomId,
        key: &NameKey,
        name: Name<'static>,
        greeted: bool,
    ) -> Option<Arc<Event>> {
        let member = self.members.get(key)?.id;
        let at = self.stamp(at);
        let replay = self.replay;
        let event = self.number_in(seq, at, room, Some(member), EventKind::Join { name })?;
        let Hall {
            rooms,
            recipients,
            counters,
            members,
            ..
        } = self;
        let r = rooms.get_mut(room.0 as usize)?.as_mut()?;
        // A notice of earlier comings and goings does not count the
        // newcomer: it precedes its join.
        let online = r.len() + 1;
        if !r.crowd_absorbs(online) {
            counters
                .deliveries
                .inc_by(r.send_crowd_notice(recipients, at));
        }
        let told = !r.crowd_absorb(online, &event);
        if told {
            counters
                .deliveries
                .inc_by(r.deliver(recipients, Some(member), &event));
        }
        // One who joins while away is told away to those who want it
        // (away-notify, §20.3), right after its join (and not when a
        // crowd's count swallowed the join, §18).
        let away = match recipients.get(member.0 as usize) {
            Some(Some(joiner)) if told => joiner.profile().filter(|p| p.away.is_some()),
            _ => None,
        };
        if let Some(profile) = away
            && let Some(m) = members.get(key)
        {
            let present = Present {
                name: m.name.clone(),
                profile: Some(profile),
            };
            for id in r.member_ids() {
                if let Some(Some(other)) = recipients.get(id.0 as usize) {
                    other.profile_changed(&present, ProfileField::Away, Heard::InRoom);
                }
            }
        }
        r.add(member);
        counters.join.inc();
        if let Some(m) = members.get_mut(key) {
            m.rooms.push(room);
            m.rooms.shrink_to_fit();
        }
        if let Some(Some(recipient)) = recipients.get(member.0 as usize) {
            if !greeted {
                // As on one server, where a resumed holding is back in its
                // rooms before it is seated.
                return Some(event);
            }
            let entered = Entered {
                room: r.name().clone(),
                join: Some(Arc::clone(&event)),
                topic: r.topic().cloned(),
                backlog: r.backlog(replay, wall_clock()),
            };
            recipient.entered(&entered);
        }
        Some(event)
    }

    /// `key` leaves `room` at `seq` and `at`, for `reason`: the leave is
    /// announced to the room's clients here (or counted), the leaver's
    /// own seat included if `echo` (a `/part`, §19.3). The member stays
    /// registered. `None` if it was not in the room.
    pub fn leave_room(
        &mut self,
        seq: Seq,
        at: Timestamp,
        room: &RoomKey,
        key: &NameKey,
        kind: EventKind,
        echo: bool,
    ) -> Option<Arc<Event>> {
        let id = *self.room_ids.get(room)?;
        self.leave_id(seq, at, id, key, kind, echo)
    }

    fn leave_id(
        &mut self,
        seq: Seq,
        at: Timestamp,
        room: RoomId,
        key: &NameKey,
        kind: EventKind,
        echo: bool,
    ) -> Option<Arc<Event>> {
        let member = self.members.get(key)?.id;
        if !self.at(room)?.has(member) {
            return None;
        }
        let at = self.stamp(at);
        let event = self.number_in(seq, at, room, Some(member), kind)?;
        let Hall {
            rooms,
            recipients,
            counters,
            members,
            ..
        } = self;
        let r = rooms.get_mut(room.0 as usize)?.as_mut()?;
        // A notice of earlier comings and goings still counts the leaver
        // among those online, as it is until now.
        let online = r.len();
        if !r.crowd_absorbs(online) {
            counters
                .deliveries
                .inc_by(r.send_crowd_notice(recipients, at));
        }
        if echo && let Some(Some(leaver)) = recipients.get(member.0 as usize) {
            leaver.deliver(&event);
            counters.deliveries.inc();
        }
        r.remove(member, seq);
        if !r.crowd_absorb(online, &event) {
            counters
                .deliveries
                .inc_by(r.deliver(recipients, Some(member), &event));
        }
        counters.leave.inc();
        if let Some(m) = members.get_mut(key) {
            m.rooms.retain(|k| *k != room);
            m.rooms.shrink_to_fit();
        }
        Some(event)
    }

    /// `key` holds its name no more (after leaving every room): it loses
    /// its operator status everywhere; returns its member and its seat
    /// here, if it had one.
    pub fn unregister(&mut self, key: &NameKey) -> Option<(Member, Option<Seat>)> {
        self.unseat_recipient(key);
        let member = self.members.remove(key)?;
        let last = self.last_seq;
        // Rooms are few (at most `--rooms-max`), and most have one
        // operator: the id may go to someone else next.
        for r in self.rooms.iter_mut().flatten() {
            r.remove(member.id, last);
            r.drop_operator(member.id);
        }
        self.free_members.push(member.id);
        Some((member, self.seats.remove(key)))
    }

    /// A public message in `room` (which `from` is in) at `seq` and `at`:
    /// delivered to the room's other clients here and kept.
    pub fn say(
        &mut self,
        seq: Seq,
        at: Timestamp,
        room: &RoomKey,
        from: Name<'static>,
        text: Text<'static>,
    ) -> Option<Arc<Event>> {
        let id = *self.room_ids.get(room)?;
        self.say_id(seq, at, id, from, text)
    }

    fn say_id(
        &mut self,
        seq: Seq,
        at: Timestamp,
        room: RoomId,
        from: Name<'static>,
        text: Text<'static>,
    ) -> Option<Arc<Event>> {
        let actor = self.members.get(&from.key()).map(|m| m.id);
        // A client that asked for its own messages back (IRC's
        // echo-message, §20.3) gets them as everyone else does.
        let sender = actor.filter(
            |id| !matches!(self.recipients.get(id.0 as usize), Some(Some(r)) if r.echoes()),
        );
        let at = self.stamp(at);
        let event = self.number_in(seq, at, room, actor, EventKind::Public { from, text })?;
        self.counters.public.inc();
        self.deliver_in(room, at, sender, &event);
        // History keeps the log's lean copy: no encodings, and none of
        // the client's tags, which are relayed and never kept (§20.3).
        let kept = self
            .log
            .newest()
            .cloned()
            .unwrap_or_else(|| Arc::clone(&event));
        self.at_mut(room)?.keep(kept, at);
        Some(event)
    }

    /// `by` sets `room`'s topic at `seq` and `at`: everyone in the room
    /// here is told, the setter included.
    pub fn set_topic(
        &mut self,
        seq: Seq,
        at: Timestamp,
        room: &RoomKey,
        by: Name<'static>,
        text: Text<'static>,
    ) -> Option<Arc<Event>> {
        let id = *self.room_ids.get(room)?;
        let at = self.stamp(at);
        let actor = self.members.get(&by.key()).map(|m| m.id);
        let event = self.number_in(seq, at, id, actor, EventKind::Topic { by, text })?;
        self.counters.topic.inc();
        self.deliver_in(id, at, None, &event);
        self.at_mut(id)?.set_topic(Arc::clone(&event));
        Some(event)
    }

    /// Takes a numbered event of the default room, or a private message,
    /// as a server without rooms has them (a cluster's channel, §17):
    /// stamps it (never before the last time given), logs it, updates the
    /// members and delivers it to this process's recipients. A join here
    /// is a new holding (see [`Hall::join`] for one resumed); a leave is
    /// the name's, from the whole server.
    pub fn accept(&mut self, seq: Seq, at: Timestamp, kind: EventKind) -> Accepted {
        let default = self.default;
        let event = match kind {
            EventKind::Join { name } => self.join(seq, at, name, seq),
            EventKind::Leave { ref name, .. } => {
                let key = name.key();
                let event = match self.leave_id(seq, at, default, &key, kind.clone(), false) {
                    Some(event) => event,
                    None => self.number(seq, at, None, None, kind),
                };
                let unseated = self.unregister(&key).and_then(|(_, seat)| seat);
                return Accepted { event, unseated };
            }
            EventKind::Public { from, text } => {
                match self.say_id(seq, at, default, from.clone(), text.clone()) {
                    Some(event) => event,
                    None => self.number(seq, at, None, None, EventKind::Public { from, text }),
                }
            }
            EventKind::Topic { .. } => self.number(seq, at, None, None, kind),
            EventKind::Private { .. } => self.private(seq, at, kind),
            // A cluster never carries one (IRC is not served there, §20.7).
            EventKind::TagsOnly { .. } => Arc::new(Event::new(seq, at, kind)),
        };
        Accepted {
            event,
            unseated: None,
        }
    }

    /// A private message at `seq` and `at`: delivered to its recipient and
    /// back to its sender, where they are this process's clients.
    pub fn private(&mut self, seq: Seq, at: Timestamp, kind: EventKind) -> Arc<Event> {
        let at = self.stamp(at);
        let actor = match &kind {
            EventKind::Private { from, .. } => self.members.get(&from.key()).map(|m| m.id),
            _ => None,
        };
        let event = self.number(seq, at, None, actor, kind);
        let EventKind::Private { from, to, .. } = &event.kind else {
            return event;
        };
        self.counters.private.inc();
        let (from, to) = (from.key(), to.key());
        let target = self.seats.get(&to);
        let sender = self.seats.get(&from).filter(|_| from != to);
        let copies = target.iter().chain(sender.iter()).count();
        self.counters.deliveries.inc_by(copies as u64);
        for seat in target.into_iter().chain(sender) {
            seat.recipient.deliver(&event);
        }
        event
    }

    /// What `name` (holding `key`) is told on entering, before it can
    /// receive any event: the number in the default room, where it is,
    /// its backlog or what it missed (in its rooms and `back_in`, those a
    /// cluster's resume brings it back into just after), and the token
    /// that takes the name back.
    pub fn welcome(
        &mut self,
        name: Name<'static>,
        key: &NameKey,
        greeting: Greeting,
        token: Option<ResumeToken>,
        back_in: &[RoomName<'static>],
    ) -> Welcome {
        let replay = self.replay;
        let (seq, entered, missed) = match greeting {
            Greeting::Resumed { since, after } => {
                let mut rooms: Vec<RoomName<'static>> = self
                    .members
                    .get(key)
                    .map(|m| {
                        m.rooms
                            .iter()
                            .filter_map(|id| self.at(*id).map(|r| r.name().clone()))
                            .collect()
                    })
                    .unwrap_or_default();
                rooms.extend(back_in.iter().cloned());
                let missed = self.log.missed(key, &rooms, since, after, self.last_seq);
                (missed.after, None, Some(missed))
            }
            Greeting::Newcomer { join }
                if self.is_in(key, &self.default_room().key()) != Some(true) =>
            {
                // A newcomer that starts in no room (§20.2).
                (join, None, None)
            }
            Greeting::Newcomer { join } => {
                let own = self.log.get(join).filter(|e| {
                    matches!(e.kind, EventKind::Join { .. })
                        && e.room.as_ref() == Some(self.default_room())
                });
                let lobby = self.lobby();
                let entered = Entered {
                    room: lobby.name().clone(),
                    join: own,
                    topic: lobby.topic().cloned(),
                    backlog: lobby.backlog(replay, wall_clock()),
                };
                (join, Some(entered), None)
            }
        };
        let online = self.at(self.default).map_or(0, Room::len);
        Welcome {
            name,
            online,
            seq,
            entered,
            missed,
            token,
        }
    }

    /// Sends every room's crowd notice of what was counted (if anything),
    /// stamped `at` (or the last time given, if later).
    pub fn tick(&mut self, at: Timestamp) {
        if !self.rooms.iter().flatten().any(Room::crowd_pending) {
            return;
        }
        let at = self.stamp(at);
        let mut sent = 0;
        let Hall {
            rooms, recipients, ..
        } = self;
        for room in rooms.iter_mut().flatten() {
            sent += room.send_crowd_notice(recipients, at);
        }
        self.counters.deliveries.inc_by(sent);
    }

    /// What the member `id` said of itself, if it is an IRC client of
    /// this process (§20.6).
    fn profile_by_id(&self, id: MemberId) -> Option<Profile> {
        self.recipients.get(id.0 as usize)?.as_ref()?.profile()
    }

    /// How the message the member `id` is sending goes out, if it is a
    /// client of this process (§20.3).
    fn sending_by_id(&self, id: MemberId) -> Sending {
        match self.recipients.get(id.0 as usize) {
            Some(Some(r)) => r.sending(),
            _ => Sending::default(),
        }
    }

    /// The tags an event carries to IRC clients that asked for
    /// `message-tags` (§20.3): `bot` if its actor (of `profile`) is a
    /// bot (§20.6), then the `client` tags it put on what it is sending.
    fn actor_tags(profile: Option<&Profile>, client: Option<Arc<str>>) -> Option<Arc<str>> {
        if !profile.is_some_and(|p| p.bot) {
            return client;
        }
        Some(match client {
            Some(client) => Arc::from(format!("bot;{client}")),
            None => Arc::from("bot"),
        })
    }

    /// Whether the member `id` gets its own messages back (§20.3).
    fn echoes(&self, id: MemberId) -> bool {
        matches!(self.recipients.get(id.0 as usize), Some(Some(r)) if r.echoes())
    }

    /// A message of tags only (IRC's `TAGMSG`, §20.3) from `from` to
    /// `room` (which it is in), or to `to`'s holder: delivered to this
    /// process's clients there (its sender too if it asked for its own
    /// messages back). Numbered apart from the server's order (its
    /// `msgid` is `t` and that number) and never kept. `None` if there is
    /// no such room.
    pub fn tags_only(
        &mut self,
        at: Timestamp,
        room: Option<&RoomKey>,
        from: Name<'static>,
        to: Option<Name<'static>>,
    ) -> Option<Arc<Event>> {
        let actor = self.members.get(&from.key()).map(|m| m.id);
        let at = self.stamp(at);
        self.tags_only_seq += 1;
        let profile = actor.and_then(|id| self.profile_by_id(id));
        let sending = actor.map(|id| self.sending_by_id(id)).unwrap_or_default();
        let tags = Hall::actor_tags(profile.as_ref(), sending.tags);
        let user = profile.map(|p| p.user);
        let echo = actor.filter(|id| self.echoes(*id));
        match room {
            Some(room) => {
                let id = *self.room_ids.get(room)?;
                let name = self.at(id)?.name().clone();
                let kind = EventKind::TagsOnly { from, to: None };
                let event = Arc::new(
                    Event::new_in(Seq(self.tags_only_seq), at, Some(name), kind)
                        .by_user(user)
                        .with_tags(tags),
                );
                let except = if echo.is_some() { None } else { actor };
                self.deliver_in(id, at, except, &event);
                Some(event)
            }
            None => {
                let to_self = to.as_ref().is_some_and(|t| t.key() == from.key());
                let target = to
                    .as_ref()
                    .and_then(|t| self.seats.get(&t.key()))
                    .map(|seat| Arc::clone(&seat.recipient));
                let kind = EventKind::TagsOnly { from, to };
                let event = Arc::new(
                    Event::new(Seq(self.tags_only_seq), at, kind)
                        .by_user(user)
                        .with_tags(tags),
                );
                if let Some(recipient) = target {
                    recipient.deliver(&event);
                }
                if let Some(id) = echo.filter(|_| !to_self)
                    && let Some(Some(me)) = self.recipients.get(id.0 as usize)
                {
                    me.deliver(&event);
                }
                Some(event)
            }
        }
    }

    /// The member holding `key`, as `WHO` and `WHOIS` show it (§20.6).
    pub fn present(&self, key: &NameKey) -> Option<Present> {
        let m = self.members.get(key)?;
        Some(Present {
            name: m.name.clone(),
            profile: self.profile_by_id(m.id),
        })
    }

    /// The room `key`'s own name and who is in it, as `NAMES` and `WHO`
    /// show them (§20.6); `None` if there is no such room.
    pub fn present_in(&self, key: &RoomKey) -> Option<(RoomName<'static>, Vec<Present>)> {
        let r = self.at(*self.room_ids.get(key)?)?;
        let members = self
            .members
            .values()
            .filter(|m| r.has(m.id))
            .map(|m| Present {
                name: m.name.clone(),
                profile: self.profile_by_id(m.id),
            })
            .collect();
        Some((r.name().clone(), members))
    }

    /// A snapshot of who is registered (display forms), in no set order.
    pub fn who(&self) -> Vec<Name<'static>> {
        self.members.values().map(|m| m.name.clone()).collect()
    }

    /// A snapshot of who is in `room`, in no set order; `None` if there
    /// is no such room.
    pub fn who_in(&self, room: &RoomKey) -> Option<Vec<Name<'static>>> {
        let r = self.at(*self.room_ids.get(room)?)?;
        // A pass over everyone: `/who #room` is rare, and no member keeps
        // a second copy of its key for it.
        Some(
            self.members
                .values()
                .filter(|m| r.has(m.id))
                .map(|m| m.name.clone())
                .collect(),
        )
    }

    /// The room `key`'s own name and who is in it (a `/who #room`);
    /// `None` if there is no such room.
    pub fn who_in_room(&self, key: &RoomKey) -> Option<(RoomName<'static>, Vec<Name<'static>>)> {
        let shown = self.room(key)?.name().clone();
        Some((shown, self.who_in(key)?))
    }

    /// The room `key`'s own name and what its history gives `query` (see
    /// [`crate::hub::Hub::history_in`]); `None` if there is no such room.
    pub fn history_in(
        &mut self,
        key: &RoomKey,
        query: &HistoryQuery,
        default: usize,
    ) -> Option<(RoomName<'static>, crate::hub::Kept)> {
        let x = self.room_mut(key)?;
        Some((x.name().clone(), x.history(query, default)))
    }

    /// Where `at` falls among the room `key`'s kept messages (see
    /// [`Room::history_seq_at`]): `None` if there is no such room, `Some`
    /// of `None` if it keeps none.
    pub fn history_seq_at(&self, key: &RoomKey, at: Timestamp, after: bool) -> Option<Option<u64>> {
        Some(self.room(key)?.history_seq_at(at, after))
    }

    /// Tells everyone here who shares a room with `key`'s holder (but
    /// itself), once each, that `what` of its profile changed, as its
    /// profile says (§20.3). Gives the holder as told and the addresses
    /// of the recipients told (the holder's among them), so that its
    /// watchers are not told twice; `None` if nobody holds `key`.
    pub fn tell_profile(
        &self,
        key: &NameKey,
        what: ProfileField,
    ) -> Option<(Present, std::collections::HashSet<WatcherId>)> {
        let m = self.members.get(key)?;
        let present = Present {
            name: m.name.clone(),
            profile: self.profile_by_id(m.id),
        };
        let mut told = std::collections::HashSet::new();
        if let Some(Some(holder)) = self.recipients.get(m.id.0 as usize) {
            told.insert(id_of(holder));
        }
        for room in m.rooms.iter().filter_map(|id| self.at(*id)) {
            for id in room.member_ids() {
                if let Some(Some(recipient)) = self.recipients.get(id.0 as usize)
                    && told.insert(id_of(recipient))
                {
                    recipient.profile_changed(&present, what, Heard::InRoom);
                }
            }
        }
        Some((present, told))
    }

    /// Tells everyone in the change's room here that its modes changed
    /// (§20.6).
    pub fn tell_mode(&self, change: &crate::hub::ModeChange<'_>) {
        if let Some(room) = self.room(&change.room.key()) {
            room.tell_mode(&self.recipients, change);
        }
    }

    /// The event that set the room `key`'s topic.
    pub fn topic_of(&self, key: &RoomKey) -> Result<Arc<Event>, crate::hub::RoomRefusal> {
        let x = self.room(key).ok_or(crate::hub::RoomRefusal::NoSuchRoom)?;
        x.topic().cloned().ok_or(crate::hub::RoomRefusal::NoTopic)
    }

    /// Who is in the default room.
    pub fn who_in_default(&self) -> Vec<Name<'static>> {
        self.who_in(&self.default_room().key()).unwrap_or_default()
    }

    /// The kept public messages of the default room `query` asks for (see
    /// [`crate::hub::Hub::history`]); `None` if it keeps none.
    pub fn history(&mut self, query: &HistoryQuery, default: usize) -> Option<Vec<Arc<Event>>> {
        self.lobby().history(query, default)
    }

    /// The default room's kept messages, for tests to look into.
    #[cfg(test)]
    pub fn default_recent(&self) -> Option<&Recent> {
        self.at(self.default)?.recent()
    }

    /// The room `key`.
    pub fn room(&self, key: &RoomKey) -> Option<&Room> {
        self.at(*self.room_ids.get(key)?)
    }

    /// The room `key`, to change.
    pub fn room_mut(&mut self, key: &RoomKey) -> Option<&mut Room> {
        let id = *self.room_ids.get(key)?;
        self.at_mut(id)
    }

    /// Whether the member holding `member` is in `room`; `None` if there
    /// is no such room (or no such member).
    pub fn is_in(&self, member: &NameKey, room: &RoomKey) -> Option<bool> {
        let id = self.members.get(member)?.id;
        Some(self.room(room)?.has(id))
    }

    /// The rooms the member holding `member` is an operator of: each one's
    /// key and the number it was made at.
    pub fn rooms_run_by(&self, member: &NameKey) -> Vec<(RoomKey, Seq)> {
        let Some(id) = self.members.get(member).map(|m| m.id) else {
            return Vec::new();
        };
        self.rooms
            .iter()
            .flatten()
            .filter(|r| r.is_operator(id))
            .map(|r| (r.name().key(), r.born()))
            .collect()
    }

    /// The member holding `member` is an operator of `room` (if both exist).
    pub fn make_operator(&mut self, member: &NameKey, room: &RoomKey) {
        let Some(id) = self.members.get(member).map(|m| m.id) else {
            return;
        };
        if let Some(r) = self.room_mut(room) {
            r.add_operator(id);
        }
    }

    /// The names of `room`'s operators (who hold their names).
    pub fn operators_of(&self, room: &RoomKey) -> Vec<Name<'static>> {
        self.names_in(room, |r| r.operators().collect())
    }

    /// The names of those with a voice in `room` (IRC's `+v`, §20.6).
    pub fn voiced_in(&self, room: &RoomKey) -> Vec<Name<'static>> {
        self.names_in(room, |r| r.voiced().collect())
    }

    /// The names of the members `which` picks of `room`.
    fn names_in(
        &self,
        room: &RoomKey,
        which: impl Fn(&Room) -> Vec<MemberId>,
    ) -> Vec<Name<'static>> {
        let Some(ids) = self.room(room).map(which) else {
            return Vec::new();
        };
        if ids.is_empty() {
            return Vec::new();
        }
        self.members
            .values()
            .filter(|m| ids.contains(&m.id))
            .map(|m| m.name.clone())
            .collect()
    }

    /// Whether the member holding `member` is an operator of `room`.
    pub fn is_operator(&self, member: &NameKey, room: &RoomKey) -> bool {
        let Some(id) = self.members.get(member).map(|m| m.id) else {
            return false;
        };
        self.room(room).is_some_and(|r| r.is_operator(id))
    }

    /// The keys of the rooms the member holding `member` is in, in the
    /// order it entered them.
    pub fn rooms_of(&self, member: &NameKey) -> Vec<RoomKey> {
        self.members.get(member).map_or_else(Vec::new, |m| {
            m.rooms
                .iter()
                .filter_map(|id| self.at(*id).map(|r| r.name().key()))
                .collect()
        })
    }

    /// An existing room other than `name`'s that looks like it (§19.2).
    pub fn room_look_alike(&self, name: &RoomName<'_>) -> Option<&RoomName<'static>> {
        let key = name.key();
        let shapes = name.skeletons();
        self.rooms
            .iter()
            .flatten()
            .map(Room::name)
            .filter(|other| other.key() != key)
            .find(|other| {
                let theirs = other.skeletons();
                shapes.iter().any(|s| theirs.contains(s))
            })
    }

    /// Opens a new, empty room called `name`, run by `creator`, made at
    /// the next number (its maker's join); forgets the room left empty the
    /// longest first if there are already `max` rooms. False if none could
    /// be forgotten.
    pub fn open(&mut self, name: RoomName<'static>, creator: Option<&NameKey>, max: usize) -> bool {
        if self.room_ids.len() >= max && !self.forget_one() {
            return false;
        }
        let recent = self
            .at(self.default)
            .and_then(|r| r.recent_like(ROOM_RECENT_MAX));
        let born = self.next_seq();
        let mut room = Room::new(name, recent, self.crowd_size, false, born);
        let key = room.name().key();
        let id = match self.free_rooms.pop() {
            Some(id) => id,
            None => {
                self.rooms.push(None);
                RoomId(u32::try_from(self.rooms.len() - 1).unwrap_or(u32::MAX))
            }
        };
        if let Some(member) = creator.and_then(|c| self.members.get(c)) {
            room.add_operator(member.id);
        }
        if let Some(slot) = self.rooms.get_mut(id.0 as usize) {
            *slot = Some(room);
        }
        self.room_ids.insert(key, id);
        true
    }

    /// Forgets the room left empty the longest (never the default one);
    /// false if none is empty.
    fn forget_one(&mut self) -> bool {
        let oldest = self
            .rooms
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                let since = r.as_ref()?.forgettable_since()?;
                Some((since, RoomId(u32::try_from(i).unwrap_or(u32::MAX))))
            })
            .min();
        let Some((_, id)) = oldest else {
            return false;
        };
        let Some(room) = self.rooms.get_mut(id.0 as usize).and_then(Option::take) else {
            return false;
        };
        self.room_ids.remove(&room.name().key());
        self.free_rooms.push(id);
        true
    }

    /// The rooms, by name; `asker` given, without the secret ones it is
    /// not in (§20.6).
    pub fn listing(&self, asker: Option<&NameKey>) -> Vec<Listing> {
        let asker = asker.map(|k| self.member_id(k));
        let mut list: Vec<(RoomKey, Listing)> = self
            .rooms
            .iter()
            .flatten()
            .filter(|r| match asker {
                Some(id) => !r.secret() || id.is_some_and(|id| r.has(id)),
                None => true,
            })
            .map(|r| {
                let topic = r.topic().and_then(|e| match &e.kind {
                    EventKind::Topic { text, .. } => Some(text.clone()),
                    _ => None,
                });
                (
                    r.name().key(),
                    Listing {
                        room: r.name().clone(),
                        members: r.len(),
                        topic,
                        topic_at: r.topic().map(|e| e.at),
                    },
                )
            })
            .collect();
        list.sort_by(|a, b| a.0.cmp(&b.0));
        list.into_iter().map(|(_, l)| l).collect()
    }

    /// The event `kind` of `room`, numbered `seq` and stamped `at`, kept
    /// in the log; `None` if there is no such room.
    fn number_in(
        &mut self,
        seq: Seq,
        at: Timestamp,
        room: RoomId,
        actor: Option<MemberId>,
        kind: EventKind,
    ) -> Option<Arc<Event>> {
        let name = self.at(room)?.name().clone();
        Some(self.number(seq, at, Some(name), actor, kind))
    }

    /// Delivers a room's `event` to its members here but `except`, a
    /// pending crowd notice first (§18: nothing it counts may follow the
    /// lines after it).
    fn deliver_in(&mut self, room: RoomId, at: Timestamp, except: Option<MemberId>, event: &Event) {
        let Hall {
            rooms,
            recipients,
            counters,
            ..
        } = self;
        if let Some(r) = rooms.get_mut(room.0 as usize).and_then(Option::as_mut) {
            let sent = r.send_crowd_notice(recipients, at) + r.deliver(recipients, except, event);
            counters.deliveries.inc_by(sent);
        }
    }

    /// The event, numbered `seq` and stamped `at`, kept in the log.
    /// `actor` (who did it, if a member here) gives its IRC user name.
    fn number(
        &mut self,
        seq: Seq,
        at: Timestamp,
        room: Option<RoomName<'static>>,
        actor: Option<MemberId>,
        kind: EventKind,
    ) -> Arc<Event> {
        self.last_seq = seq;
        let profile = actor.and_then(|id| self.profile_by_id(id));
        let sending = actor.map(|id| self.sending_by_id(id)).unwrap_or_default();
        let tags = Hall::actor_tags(profile.as_ref(), sending.tags);
        let user = profile.map(|p| p.user);
        let notice =
            sending.notice && matches!(kind, EventKind::Public { .. } | EventKind::Private { .. });
        let event = Arc::new(
            Event::new_in(seq, at, room, kind)
                .by_user(user)
                .with_tags(tags)
                .as_notice(notice),
        );
        // The log's own copy, without the encodings the delivery is about
        // to cache in this one: 10,000 events kept for resumes would hold
        // about 150 octets of encodings each (issue 22's memory goal).
        self.log.push(Arc::new(event.lean()));
        event
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::seen::Seen;
    use tagarela_parser::{LeaveReason, Text};

    fn name(s: &str) -> Name<'static> {
        Name::normalize(s).unwrap_or_else(|_| unreachable!())
    }

    fn at(ms: u64) -> Timestamp {
        Timestamp::from_unix_ms(ms).unwrap_or_else(|| unreachable!())
    }

    fn public(from: &str, text: &str) -> EventKind {
        EventKind::Public {
            from: name(from),
            text: Text::new(text.to_owned()).unwrap_or_else(|_| unreachable!()),
        }
    }

    fn general() -> RoomName<'static> {
        RoomName::normalize("#general").unwrap_or_else(|_| unreachable!())
    }

    /// A hall with `ana` (seated, registration 1) and `bia` (a member
    /// elsewhere, as on another node).
    fn room() -> (Hall, Arc<Seen>) {
        let mut room = Hall::new(&Metrics::default(), general(), None, 0, 0);
        let ana = Arc::new(Seen::default());
        room.join(Seq(1), at(1000), name("ana"), Seq(1));
        let seat = Seat {
            recipient: ana.clone(),
            reg: RegId(1),
        };
        assert!(room.sit(name("ana").key(), seat).is_none());
        room.join(Seq(2), at(1000), name("bia"), Seq(2));
        (room, ana)
    }

    /// Times never go back, whatever clock an event comes with; only
    /// seats are delivered to, and never the sender.
    #[test]
    fn events_are_stamped_forward_and_delivered_to_seats_only() {
        let (mut room, ana) = room();
        assert_eq!(ana.taken(), [(2, "join bia".to_owned())]);
        let a = room.accept(Seq(3), at(900), public("bia", "hi"));
        assert_eq!(a.event.at, at(1000), "never before the last time");
        room.accept(Seq(4), at(2000), public("ana", "mine"));
        assert_eq!(ana.taken(), [(3, "bia: hi".to_owned())]);
        assert_eq!((room.last_seq(), room.last_at()), (Seq(4), Some(at(2000))));
        assert_eq!(room.next_seq(), Seq(5));
    }

    /// A leave removes the member and hands back its seat, whichever
    /// registration holds it; `unseat` only removes the registration
    /// named.
    #[test]
    fn a_leave_unseats_and_unseat_checks_the_registration() {
        let (mut room, _ana) = room();
        let ana = name("ana").key();
        assert!(room.unseat(&ana, RegId(9)).is_none());
        assert!(room.seat(&ana, RegId(1)).is_some());
        let leave = EventKind::Leave {
            name: name("ana"),
            reason: LeaveReason::Lost,
            text: None,
        };
        let a = room.accept(Seq(3), at(1000), leave);
        assert_eq!(a.unseated.map(|s| s.reg), Some(RegId(1)));
        assert!(room.member(&ana).is_none());
        assert_eq!(room.who(), [name("bia")]);
    }

    /// A newcomer's welcome names its join; a resuming client's, the
    /// number its missed run starts after, never before its holding.
    #[test]
    fn a_welcome_says_where_the_client_is() {
        let (mut room, _ana) = room();
        room.accept(Seq(3), at(1000), public("bia", "one"));
        let bia = name("bia").key();
        let new = room.welcome(
            name("bia"),
            &bia,
            Greeting::Newcomer { join: Seq(2) },
            None,
            &[],
        );
        assert_eq!(
            (
                new.online,
                new.seq,
                new.entered.map(|e| e.backlog.is_none())
            ),
            (2, Seq(2), Some(true))
        );
        let back = Greeting::Resumed {
            since: Seq(2),
            after: Seq(0),
        };
        let resumed = room.welcome(name("bia"), &bia, back, None, &[]);
        let missed = resumed.missed.unwrap_or_else(|| unreachable!());
        assert_eq!((resumed.seq, missed.events.len()), (Seq(2), 0));
    }

    /// A room's events reach its members only; a part is echoed to the
    /// one who parts; unregistering leaves no trace of the member.
    #[test]
    fn a_rooms_events_reach_its_members_only() {
        let (mut hall, ana) = room();
        let bia_seen = Arc::new(Seen::default());
        let bia = name("bia").key();
        hall.sit(
            bia.clone(),
            Seat {
                recipient: bia_seen.clone(),
                reg: RegId(2),
            },
        );
        ana.taken();
        let homework = RoomName::normalize("#homework").unwrap_or_else(|_| unreachable!());
        let key = homework.key();
        assert!(hall.open(homework, Some(&bia), 10));
        hall.enter(Seq(3), at(1000), &key, &bia, name("bia"));
        assert_eq!(
            bia_seen.taken(),
            [(0, "entered #homework backlog 0".to_owned())]
        );
        hall.say(
            Seq(4),
            at(1000),
            &key,
            name("bia"),
            Text::new("hi").unwrap_or_else(|_| unreachable!()),
        );
        assert!(ana.taken().is_empty(), "ana is not in #homework");
        let part = EventKind::Leave {
            name: name("bia"),
            reason: LeaveReason::Part,
            text: None,
        };
        hall.leave_room(Seq(5), at(1000), &key, &bia, part, true);
        assert_eq!(
            bia_seen.taken(),
            [(5, "#homework leave bia part".to_owned())]
        );
        assert_eq!(hall.who_in(&key), Some(Vec::new()));
        assert_eq!(hall.member(&bia).map(|m| m.rooms.len()), Some(1));
        let (member, seat) = hall.unregister(&bia).unwrap_or_else(|| unreachable!());
        assert_eq!(
            (member.name, seat.map(|s| s.reg)),
            (name("bia"), Some(RegId(2)))
        );
        assert_eq!(hall.who(), [name("ana")]);
    }

    /// Past the bound on rooms, the room left empty the longest is
    /// forgotten to make way; the default room never is.
    #[test]
    fn the_room_empty_longest_makes_way() {
        let (mut hall, _ana) = room();
        let bia = name("bia").key();
        let room = |s: &str| RoomName::normalize(s).unwrap_or_else(|_| unreachable!());
        assert!(hall.open(room("#a"), Some(&bia), 3));
        assert!(hall.open(room("#b"), Some(&bia), 3));
        hall.enter(Seq(3), at(1000), &room("#b").key(), &bia, name("bia"));
        assert!(
            hall.open(room("#c"), Some(&bia), 3),
            "#a was empty: forgotten"
        );
        assert!(hall.room(&room("#a").key()).is_none());
        hall.enter(Seq(4), at(1000), &room("#c").key(), &bia, name("bia"));
        assert!(
            !hall.open(room("#d"), Some(&bia), 3),
            "#b and #c are in use"
        );
        let part = |r: &str| EventKind::Leave {
            name: name(r),
            reason: LeaveReason::Part,
            text: None,
        };
        hall.leave_room(
            Seq(5),
            at(1000),
            &room("#c").key(),
            &bia,
            part("bia"),
            false,
        );
        hall.leave_room(
            Seq(6),
            at(1000),
            &room("#b").key(),
            &bia,
            part("bia"),
            false,
        );
        assert!(hall.open(room("#d"), Some(&bia), 3));
        assert!(
            hall.room(&room("#c").key()).is_none(),
            "#c was left empty first"
        );
        assert!(hall.room(&room("#b").key()).is_some());
    }
}
