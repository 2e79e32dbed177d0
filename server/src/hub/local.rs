//! The hub of a chat that lives in this one process: a [`Hall`] of rooms
//! behind one lock, numbered here, plus what only a process of its own
//! keeps: the resume tokens of its clients and of those that left (spec
//! §16.6), and the decisions of who may enter which room (§19.5).
//! The lock is held only for map work and queue appends, which never
//! wait, so it is never held across an `.await`. Knows nothing of wire
//! formats.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tagarela_parser::{
    BanTarget, HistoryQuery, LeaveReason, Name, NameKey, RoomKey, RoomName, Text,
};
use tokio::time::Instant;

use crate::event::{Event, EventKind, Seq, wall_clock};
use crate::hub::event_log::LOG_MAX;
use crate::hub::hall::{Greeting, Hall, Listing, Seat};
use crate::hub::monitors::Monitors;
use crate::hub::recent::Recent;
use crate::hub::resume::{RESUME_KEEP, ResumeToken};
use crate::hub::room::{Ban, Room, RoomSettings};
use crate::hub::shape::Shape;
use crate::hub::whowas::Whowas;
use crate::hub::{
    Answer, Claimed, Entrant, Hub, Kept, Leaving, Published, Recipient, Refusal, RegId,
    Registration, RoomMode, RoomRefusal, RoomView, Said, Standing, Unpublished, Welcome, Whois,
};
use crate::ops::metrics::Metrics;
use crate::store::history::Loaded;

/// A departed resumable client: its token, until when it is good, where
/// its holding began, the rooms it was in and those it ran (a resume
/// restores both, §19.4, §19.6).
#[derive(Debug)]
struct Departed {
    token: ResumeToken,
    until: Instant,
    since: Seq,
    rooms: Vec<RoomKey>,
    /// Empty when it left with `/quit`: giving the name up loses the
    /// status (§19.6). Each with the number the room was made at.
    runs: Vec<(RoomKey, Seq)>,
}

/// What a `/resume` gives: the token, the number after which it missed
/// events, and whether the connection speaks rooms.
#[derive(Debug, Clone, Copy)]
struct Asked<'t> {
    token: &'t str,
    after: Seq,
    rooms: bool,
}

/// What a departed holding had, for its resume.
#[derive(Debug, Default)]
struct Held {
    rooms: Vec<RoomKey>,
    runs: Vec<(RoomKey, Seq)>,
}

/// Everything behind the hub's lock.
#[derive(Debug)]
struct Registry {
    /// Who is online and in which rooms, the numbering, the recent
    /// messages and the log.
    hall: Hall,
    /// The token of each registration that asked for one: what takes
    /// its name back after a lost connection (§16.6).
    tokens: HashMap<RegId, ResumeToken>,
    /// Resumable clients that left, by name, until their tokens expire.
    departed: HashMap<NameKey, Departed>,
    /// The last registration id given.
    last_id: RegId,
    /// Who watches which names (IRC's `MONITOR`, §20.6).
    monitors: Monitors,
    /// Who left lately (IRC's `WHOWAS`, §20.6).
    whowas: Whowas,
}

impl Registry {
    /// A new registration id.
    fn next_id(&mut self) -> RegId {
        self.last_id.0 += 1;
        self.last_id
    }

    /// Tells whoever watches `key` that it came online or left.
    fn tell_watchers(&self, key: &NameKey, online: bool) {
        let watchers = self.monitors.watchers(key);
        if watchers.is_empty() {
            return;
        }
        let Some(who) = self.hall.present(key) else {
            return;
        };
        for watcher in watchers {
            watcher.presence(&who, online);
        }
    }
}

/// A chat in this process.
#[derive(Debug)]
pub struct LocalHub {
    registry: Mutex<Registry>,
    /// Counts who is registered.
    metrics: Arc<Metrics>,
    /// The bounds on rooms (§19.5).
    rooms: RoomSettings,
}

impl Default for LocalHub {
    fn default() -> Self {
        LocalHub::new()
    }
}

impl LocalHub {
    /// An empty room.
    pub fn new() -> Self {
        LocalHub::with_metrics(Arc::default())
    }

    /// An empty room that counts into `metrics`.
    pub fn with_metrics(metrics: Arc<Metrics>) -> Self {
        let rooms = RoomSettings::default();
        let hall = Hall::new(&metrics, rooms.default.clone(), None, 0, 0);
        LocalHub::holding(hall, metrics, rooms)
    }

    fn holding(hall: Hall, metrics: Arc<Metrics>, rooms: RoomSettings) -> Self {
        let registry = Registry {
            hall,
            tokens: HashMap::new(),
            departed: HashMap::new(),
            last_id: RegId::default(),
            monitors: Monitors::default(),
            whowas: Whowas::default(),
        };
        LocalHub {
            registry: Mutex::new(registry),
            metrics,
            rooms,
        }
    }

    /// The same chat, with joins and leaves counted into crowd notices
    /// from `size` members on (§18; 0: never).
    pub fn crowded_from(self, size: usize) -> Self {
        self.lock().hall.count_crowds_from(size);
        self
    }

    /// The same chat (still empty), with these rooms' bounds and default
    /// room.
    pub fn with_rooms(self, rooms: RoomSettings) -> Self {
        let LocalHub {
            registry, metrics, ..
        } = self;
        let mut registry = registry
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        registry.hall.rename_default(rooms.default.clone());
        LocalHub {
            registry: Mutex::new(registry),
            metrics,
            rooms,
        }
    }

    /// A room that keeps history (spec §16): it starts from what the
    /// store `loaded`, keeps what `recent` allows and replays the latest
    /// `replay` messages to each newcomer.
    pub fn with_history(
        metrics: Arc<Metrics>,
        loaded: Loaded,
        recent: Recent,
        replay: usize,
        rooms: RoomSettings,
    ) -> Self {
        let mut hall = Hall::new(&metrics, rooms.default.clone(), Some(recent), replay, 0);
        hall.load(Seq(loaded.next_seq.saturating_sub(1)), loaded.messages);
        // Each other room kept is there again, empty, with what it said
        // (§19.4); the default room's kept under its name join the rest.
        for (room, messages) in loaded.rooms {
            hall.load_room(room, messages, rooms.max);
        }
        LocalHub::holding(hall, metrics, rooms)
    }

    /// Registers `name` (checked free), publishes its join and welcomes
    /// it, under the lock: a backlog for a newcomer, or what it missed
    /// for a client resuming a free name (`resumed`: where its holding
    /// began and the number it gave; it is back in the rooms `held` says,
    /// and runs those it ran).
    #[allow(clippy::too_many_arguments)]
    fn admit(
        &self,
        r: &mut Registry,
        name: &Name<'static>,
        recipient: Arc<dyn Recipient>,
        resumable: bool,
        resumed: Option<Greeting>,
        held: &Held,
        welcome: impl FnOnce(Welcome),
    ) -> Claimed {
        let key = name.key();
        // Whoever held this name before is gone for good: its token no
        // longer takes it back, and nothing of its holding is replayed.
        r.departed.remove(&key);
        // Counted before anyone can see the join, so a scrape that
        // follows it always includes it.
        self.metrics.registered.inc();
        let seq = r.hall.next_seq();
        let since = match resumed {
            Some(Greeting::Resumed { since, .. }) => since,
            _ => seq,
        };
        let join = r.hall.join(seq, wall_clock(), name.clone(), since);
        // A resumed holding is back in the other rooms it was in (that
        // still exist), seen by their members as joins.
        // Within the bound on rooms, and not where the name is banned now.
        let shapes = Shape::of_name(name);
        for room in &held.rooms {
            let in_it = r.hall.is_in(&key, room);
            let banned = r
                .hall
                .room(room)
                .is_some_and(|x| x.refuses(&key, &shapes, None));
            let count = r.hall.member(&key).map_or(0, |m| m.room_count());
            if in_it == Some(false) && !banned && count < self.rooms.per_client {
                let seq = r.hall.next_seq();
                r.hall.enter(seq, wall_clock(), room, &key, name.clone());
            }
        }
        // The rooms it ran that are still those rooms: one forgotten and
        // made again under its name meanwhile is someone else's.
        for (room, born) in &held.runs {
            if r.hall.room(room).is_some_and(|x| x.born() == *born) {
                r.hall.make_operator(&key, room);
            }
        }
        let greeting = resumed.unwrap_or(Greeting::Newcomer { join: join.seq });
        let token = if resumable {
            ResumeToken::generate()
        } else {
            None
        };
        // Under the lock, before the newcomer is seated: its welcome and
        // backlog come before any event it can receive, and every message
        // accepted before this point is in the backlog (guarantee 5).
        welcome(r.hall.welcome(name.clone(), &key, greeting, token, &[]));
        let id = r.next_id();
        if let Some(token) = token {
            r.tokens.insert(id, token);
        }
        r.hall.sit(key.clone(), Seat { recipient, reg: id });
        Claimed {
            registration: Registration { key, id },
            join: Some(join),
            join_recorded: false,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Whether `key`'s holder may speak in `room`: it is in it (or the room
/// is open to the outside) and, if the room is moderated, one of its
/// operators or given a voice.
fn in_room(hall: &Hall, key: &NameKey, room: &RoomKey) -> Result<(), Unpublished> {
    // A room open to the outside (-n) still refuses those it bans (by
    // name: a message carries no address here).
    let welcome_outside = |x: &Room| {
        x.open_to_outside()
            && hall
                .member(key)
                .is_some_and(|m| !x.refuses(key, m.shapes(), None))
    };
    match hall.is_in(key, room) {
        None => return Err(Unpublished::NoSuchRoom),
        Some(false) if hall.room(room).is_some_and(welcome_outside) => {}
        Some(false) => return Err(Unpublished::NotInRoom),
        Some(true) => {}
    }
    // Only then whether it is heard: one refused as an outsider learns
    // nothing of the room's modes.
    let heard = |x: &Room| hall.member_id(key).is_some_and(|id| x.may_speak(id));
    if hall.room(room).is_some_and(|x| !heard(x)) {
        return Err(Unpublished::Moderated);
    }
    Ok(())
}

/// The name `to`'s holder has, if online, as a private message requires.
fn online(hall: &Hall, to: &Name<'_>) -> Result<Name<'static>, Unpublished> {
    Ok(hall
        .member(&to.key())
        .ok_or(Unpublished::NotOnline)?
        .name
        .clone())
}

impl Hub for LocalHub {
    fn claim(&self, entrant: Entrant, resumable: bool) -> Answer {
        let Entrant {
            name,
            recipient,
            welcome,
            lobby,
            ..
        } = entrant;
        Answer::Ready(self.claim_in(&name, recipient, resumable, lobby, welcome))
    }

    fn resume(&self, entrant: Entrant, token: &str, after: Seq) -> Answer {
        let Entrant {
            name,
            recipient,
            welcome,
            rooms,
            ..
        } = entrant;
        let asked = Asked {
            token,
            after,
            rooms,
        };
        Answer::Ready(self.resume_with(&name, &asked, recipient, welcome))
    }

    fn release(&self, holder: &Registration, leaving: Leaving) -> Option<Published> {
        self.leave(holder, leaving).map(Published::Several)
    }

    fn publish(&self, from: &Registration, said: Said<'_>) -> Result<Published, Unpublished> {
        let mut r = self.lock();
        r.hall
            .seat(&from.key, from.id)
            .ok_or(Unpublished::NotHeld)?;
        let sender = r.hall.member(&from.key).ok_or(Unpublished::NotHeld)?;
        let name = sender.name.clone();
        let seq = r.hall.next_seq();
        let event = match said {
            Said::Public(text) => {
                let room = r.hall.default_room().key();
                if r.hall.is_in(&from.key, &room) != Some(true) {
                    return Err(Unpublished::NoRoom);
                }
                in_room(&r.hall, &from.key, &room)?;
                r.hall.say(seq, wall_clock(), &room, name, text)
            }
            Said::InRoom { room, text } => {
                let room = room_key(room);
                in_room(&r.hall, &from.key, &room)?;
                r.hall.say(seq, wall_clock(), &room, name, text)
            }
            Said::Private { to, text } => {
                let to = online(&r.hall, to)?;
                let kind = EventKind::Private {
                    from: name,
                    to,
                    text,
                };
                Some(r.hall.private(seq, wall_clock(), kind))
            }
            Said::TagsIn { room } => {
                let room = room_key(room);
                in_room(&r.hall, &from.key, &room)?;
                r.hall.tags_only(wall_clock(), Some(&room), name, None);
                return Ok(Published::Queued);
            }
            Said::TagsTo { to } => {
                let to = online(&r.hall, to)?;
                r.hall.tags_only(wall_clock(), None, name, Some(to));
                return Ok(Published::Queued);
            }
        };
        event
            .map(Published::Numbered)
            .ok_or(Unpublished::NoSuchRoom)
    }

    fn who(&self) -> Vec<Name<'static>> {
        self.lock().hall.who()
    }

    fn who_in_default(&self) -> Vec<Name<'static>> {
        self.lock().hall.who_in_default()
    }

    fn default_room(&self) -> RoomName<'static> {
        self.lock().hall.default_room().clone()
    }

    fn history(&self, query: &HistoryQuery, default: usize) -> Option<Vec<Arc<Event>>> {
        self.lock().hall.history(query, default)
    }

    fn tick(&self) {
        self.lock().hall.tick(wall_clock());
    }

    fn is_ready(&self) -> bool {
        true
    }

    fn has_rooms(&self) -> bool {
        true
    }

    fn join_room(
        &self,
        holder: &Registration,
        room: &RoomName<'_>,
        from: std::net::IpAddr,
        given_key: Option<&str>,
    ) -> Result<Published, RoomRefusal> {
        let shown = RoomName::normalize(room.as_str()).map_err(|_| RoomRefusal::NoSuchRoom)?;
        let key = shown.key();
        let mut r = self.lock();
        r.hall
            .seat(&holder.key, holder.id)
            .ok_or(RoomRefusal::NotHeld)?;
        let member = r.hall.member(&holder.key).ok_or(RoomRefusal::NotHeld)?;
        let name = member.name.clone();
        let in_rooms = member.room_count();
        if r.hall.is_in(&holder.key, &key) == Some(true) {
            return Ok(Published::Several(Vec::new()));
        }
        if in_rooms >= self.rooms.per_client {
            return Err(RoomRefusal::TooManyRooms);
        }
        let shapes = *member.shapes();
        let joiner = r.hall.member_id(&holder.key);
        // An invitation passes the key, +i, the limit and the bans
        // (§20.6), not the server's bound on members.
        let invited = |x: &Room| joiner.is_some_and(|id| x.is_invited(id));
        match r.hall.room(&key) {
            Some(existing)
                if !invited(existing) && existing.refuses(&holder.key, &shapes, Some(from)) =>
            {
                return Err(RoomRefusal::Banned);
            }
            Some(existing) if !invited(existing) && existing.invite_only() => {
                return Err(RoomRefusal::InviteOnly);
            }
            Some(existing)
                if !invited(existing) && existing.key().is_some_and(|k| Some(k) != given_key) =>
            {
                return Err(RoomRefusal::BadKey);
            }
            Some(existing)
                if (existing.len() >= self.rooms.members_max
                    || (existing.is_full() && !invited(existing)))
                    && key != r.hall.default_room().key() =>
            {
                return Err(RoomRefusal::RoomFull);
            }
            Some(_) => {}
            None => {
                if let Some(like) = r.hall.room_look_alike(&shown) {
                    return Err(RoomRefusal::LooksLike(like.clone()));
                }
                if !r.hall.open(shown, Some(&holder.key), self.rooms.max) {
                    return Err(RoomRefusal::NoMoreRooms);
                }
            }
        }
        if let (Some(id), Some(x)) = (joiner, r.hall.room_mut(&key)) {
            x.uninvite(id);
        }
        let seq = r.hall.next_seq();
        r.hall
            .enter(seq, wall_clock(), &key, &holder.key, name)
            .map(Published::Numbered)
            .ok_or(RoomRefusal::NoSuchRoom)
    }

    fn kick(
        &self,
        holder: &Registration,
        room: &RoomName<'_>,
        name: &Name<'_>,
        text: Option<Text<'static>>,
    ) -> Result<Published, RoomRefusal> {
        let key = room_key(room);
        let mut r = self.lock();
        self.operating(&r.hall, holder, &key)?;
        let target = name.key();
        let Some(shown) = r.hall.member(&target).map(|m| m.name.clone()) else {
            return Err(no_such_member(name));
        };
        if r.hall.is_in(&target, &key) != Some(true) {
            return Err(RoomRefusal::NoSuchMember(shown));
        }
        let seq = r.hall.next_seq();
        let leave = EventKind::Leave {
            name: shown,
            reason: LeaveReason::Kicked,
            text,
        };
        r.hall
            .leave_room(seq, wall_clock(), &key, &target, leave, true)
            .map(Published::Numbered)
            .ok_or_else(|| no_such_member(name))
    }

    fn ban(
        &self,
        holder: &Registration,
        room: &RoomName<'_>,
        target: &BanTarget<'_>,
        on: bool,
    ) -> Result<Option<(RoomName<'static>, Vec<BanTarget<'static>>)>, RoomRefusal> {
        let key = room_key(room);
        let mut r = self.lock();
        self.operating(&r.hall, holder, &key)?;
        let ban = Ban::of(target).ok_or(RoomRefusal::NoSuchRoom)?;
        let x = r.hall.room_mut(&key).ok_or(RoomRefusal::NoSuchRoom)?;
        if on {
            if !x.ban(ban) {
                return Err(RoomRefusal::BanListFull);
            }
        } else {
            x.unban(&ban);
        }
        Ok(Some((x.name().clone(), x.bans())))
    }

    fn op(
        &self,
        holder: &Registration,
        room: &RoomName<'_>,
        name: &Name<'_>,
    ) -> Result<Option<(RoomName<'static>, Vec<Name<'static>>)>, RoomRefusal> {
        let key = room_key(room);
        let mut r = self.lock();
        self.operating(&r.hall, holder, &key)?;
        let target = name.key();
        let Some((shown, id)) = r.hall.member(&target).map(|m| (m.name.clone(), m.id())) else {
            return Err(no_such_member(name));
        };
        if r.hall.is_in(&target, &key) != Some(true) {
            return Err(RoomRefusal::NoSuchMember(shown));
        }
        let x = r.hall.room_mut(&key).ok_or(RoomRefusal::NoSuchRoom)?;
        x.add_operator(id);
        let shown = x.name().clone();
        Ok(Some((shown, r.hall.operators_of(&key))))
    }

    fn part_room(
        &self,
        holder: &Registration,
        room: &RoomName<'_>,
        text: Option<Text<'static>>,
    ) -> Result<Published, RoomRefusal> {
        let key = room_key(room);
        let mut r = self.lock();
        let name = held_name(&r.hall, holder)?;
        match r.hall.is_in(&holder.key, &key) {
            None => return Err(RoomRefusal::NoSuchRoom),
            Some(false) => return Err(RoomRefusal::NotInRoom),
            Some(true) => {}
        }
        let seq = r.hall.next_seq();
        let leave = EventKind::Leave {
            name,
            reason: LeaveReason::Part,
            text,
        };
        r.hall
            .leave_room(seq, wall_clock(), &key, &holder.key, leave, true)
            .map(Published::Numbered)
            .ok_or(RoomRefusal::NotInRoom)
    }

    fn topic(
        &self,
        holder: &Registration,
        room: &RoomName<'_>,
        text: Option<Text<'static>>,
    ) -> Result<Published, RoomRefusal> {
        let key = room_key(room);
        let mut r = self.lock();
        let Some(text) = text else {
            return r.hall.topic_of(&key).map(Published::Numbered);
        };
        let by = held_name(&r.hall, holder)?;
        match r.hall.is_in(&holder.key, &key) {
            None => return Err(RoomRefusal::NoSuchRoom),
            Some(false) => return Err(RoomRefusal::NotInRoom),
            Some(true) => {}
        }
        let open = r.hall.room(&key).is_some_and(Room::topic_open);
        if !open && !r.hall.is_operator(&holder.key, &key) {
            return Err(RoomRefusal::NotOperator);
        }
        let seq = r.hall.next_seq();
        r.hall
            .set_topic(seq, wall_clock(), &key, by, text)
            .map(Published::Numbered)
            .ok_or(RoomRefusal::NoSuchRoom)
    }

    fn who_in(
        &self,
        room: &RoomName<'_>,
    ) -> Result<(RoomName<'static>, Vec<Name<'static>>), RoomRefusal> {
        self.lock()
            .hall
            .who_in_room(&room.key())
            .ok_or(RoomRefusal::NoSuchRoom)
    }

    fn rooms(&self, asker: Option<&NameKey>) -> Vec<Listing> {
        self.lock().hall.listing(asker)
    }

    fn room_view(&self, room: &RoomName<'_>) -> Result<RoomView, RoomRefusal> {
        let key = room.key();
        let r = self.lock();
        let (room, members) = r.hall.present_in(&key).ok_or(RoomRefusal::NoSuchRoom)?;
        let operators = r.hall.operators_of(&key);
        let bans = r.hall.room(&key).map(Room::bans).unwrap_or_default();
        let x = r.hall.room(&key);
        Ok(RoomView {
            room,
            members,
            operators,
            bans,
            limit: x.and_then(Room::limit),
            key: x.and_then(Room::key).map(str::to_owned),
            invite_only: x.is_some_and(Room::invite_only),
            created: x.map(Room::created),
            topic_open: x.is_some_and(Room::topic_open),
            open_to_outside: x.is_some_and(Room::open_to_outside),
            secret: x.is_some_and(Room::secret),
            voiced: r.hall.voiced_in(&key),
            moderated: x.is_some_and(Room::moderated),
        })
    }

    fn set_mode(
        &self,
        holder: &Registration,
        room: &RoomName<'_>,
        mode: &RoomMode,
    ) -> Result<RoomName<'static>, RoomRefusal> {
        let key = room_key(room);
        let mut r = self.lock();
        self.operating(&r.hall, holder, &key)?;
        let unop = match mode {
            RoomMode::Unop(name) | RoomMode::Voice(name, _) => Some(
                r.hall
                    .member_id(&name.key())
                    .ok_or_else(|| no_such_member(name))?,
            ),
            _ => None,
        };
        if let RoomMode::Voice(name, _) = mode
            && r.hall.is_in(&name.key(), &key) != Some(true)
        {
            return Err(no_such_member(name));
        }
        let x = r.hall.room_mut(&key).ok_or(RoomRefusal::NoSuchRoom)?;
        match mode {
            RoomMode::Limit(limit) => x.set_limit(*limit),
            RoomMode::Key(k) => x.set_key(k.as_deref()),
            RoomMode::InviteOnly(on) => x.set_invite_only(*on),
            RoomMode::TopicOpen(on) => x.set_topic_open(*on),
            RoomMode::OpenToOutside(on) => x.set_open_to_outside(*on),
            RoomMode::Secret(on) => x.set_secret(*on),
            RoomMode::Unop(_) => {
                if let Some(id) = unop {
                    x.remove_operator(id);
                }
            }
            RoomMode::Voice(_, on) => {
                if let Some(id) = unop {
                    x.set_voice(id, *on);
                }
            }
            RoomMode::Moderated(on) => x.set_moderated(*on),
        }
        Ok(x.name().clone())
    }

    fn invite(
        &self,
        holder: &Registration,
        room: &RoomName<'_>,
        name: &Name<'_>,
    ) -> Result<(RoomName<'static>, Name<'static>), RoomRefusal> {
        let key = room_key(room);
        let mut r = self.lock();
        held_name(&r.hall, holder)?;
        let x = r.hall.room(&key).ok_or(RoomRefusal::NoSuchRoom)?;
        if r.hall.is_in(&holder.key, &key) != Some(true) {
            return Err(RoomRefusal::NotInRoom);
        }
        let by_operator = r.hall.is_operator(&holder.key, &key);
        if x.invite_only() && !by_operator {
            return Err(RoomRefusal::NotOperator);
        }
        let invitee = name.key();
        let Some(id) = r.hall.member_id(&invitee) else {
            return Err(no_such_member(name));
        };
        let shown = r
            .hall
            .member(&invitee)
            .map(|m| m.name.clone())
            .ok_or_else(|| no_such_member(name))?;
        if r.hall.is_in(&invitee, &key) == Some(true) {
            return Err(RoomRefusal::AlreadyInRoom(shown));
        }
        let room_shown = x.name().clone();
        // Only an operator's invitation passes what the operators set
        // (key, +i, limit, bans); a member's only tells the one invited.
        if by_operator && let Some(x) = r.hall.room_mut(&key) {
            x.invite(id);
        }
        if let (Some(by), Some(seat)) = (r.hall.present(&holder.key), r.hall.any_seat(&invitee)) {
            seat.recipient.invited(&by, &room_shown);
        }
        Ok((room_shown, shown))
    }

    fn closed_to(&self, asker: &NameKey, room: &RoomName<'_>) -> bool {
        let key = room.key();
        let r = self.lock();
        let closed = r
            .hall
            .room(&key)
            .is_some_and(|x| x.secret() || x.key().is_some() || x.invite_only());
        closed && r.hall.is_in(asker, &key) != Some(true)
    }

    fn invitations(&self, holder: &Registration) -> Vec<RoomName<'static>> {
        let r = self.lock();
        r.hall.invitations_of(&holder.key)
    }

    fn monitor(&self, watcher: &Arc<dyn Recipient>, name: &Name<'_>, on: bool) {
        let mut r = self.lock();
        if on {
            r.monitors.watch(watcher, name.key());
        } else {
            r.monitors.unwatch(watcher, &name.key());
        }
    }

    fn whois(&self, name: &Name<'_>) -> Option<Whois> {
        let key = name.key();
        let r = self.lock();
        let present = r.hall.present(&key)?;
        let rooms = r
            .hall
            .rooms_of(&key)
            .iter()
            .filter_map(|k| {
                let x = r.hall.room(k)?;
                let id = r.hall.member_id(&key)?;
                let standing = Standing {
                    operator: x.is_operator(id),
                    voiced: x.is_voiced(id),
                };
                Some((x.name().clone(), standing))
            })
            .collect();
        Some(Whois { present, rooms })
    }

    fn kill(&self, name: &Name<'_>, text: Option<Text<'static>>) -> Option<Published> {
        let key = name.key();
        let (holder, recipient) = {
            let mut r = self.lock();
            let seat = r.hall.any_seat(&key)?;
            let (reg, recipient) = (seat.reg, Arc::clone(&seat.recipient));
            // A killed client cannot take its name back.
            r.tokens.remove(&reg);
            (Registration { key, id: reg }, recipient)
        };
        let leaving = Leaving {
            reason: LeaveReason::Killed,
            text,
        };
        let published = self.release(&holder, leaving);
        recipient.killed();
        published
    }

    fn whowas(&self, name: &Name<'_>, count: usize) -> Vec<crate::hub::Present> {
        self.lock().whowas.of(&name.key(), count, Instant::now())
    }

    fn wallops(&self, from: &Name<'_>, text: &str) {
        let r = self.lock();
        let Some(from) = r.hall.present(&from.key()) else {
            return;
        };
        r.hall
            .each_recipient(|recipient| recipient.wallops(&from, text));
    }

    fn tell_profile(&self, name: &Name<'_>, what: crate::hub::ProfileField) {
        let key = name.key();
        let r = self.lock();
        let Some((present, told)) = r.hall.tell_profile(&key, what) else {
            return;
        };
        // Watchers who share no room with it hear of it too
        // (extended-monitor, §20.3); the holder itself is in `told`.
        for watcher in r.monitors.watchers(&key) {
            if !told.contains(&crate::hub::monitors::id_of(watcher)) {
                watcher.profile_changed(&present, what, crate::hub::Heard::Watching);
            }
        }
    }

    fn tell_mode(&self, change: &crate::hub::ModeChange<'_>) {
        self.lock().hall.tell_mode(change);
    }

    fn history_seq_at(
        &self,
        room: &RoomName<'_>,
        at: tagarela_parser::Timestamp,
        after: bool,
    ) -> Result<Option<u64>, RoomRefusal> {
        self.lock()
            .hall
            .history_seq_at(&room.key(), at, after)
            .ok_or(RoomRefusal::NoSuchRoom)
    }

    fn history_in(
        &self,
        room: &RoomName<'_>,
        query: &HistoryQuery,
        default: usize,
    ) -> Result<(RoomName<'static>, Kept), RoomRefusal> {
        self.lock()
            .hall
            .history_in(&room.key(), query, default)
            .ok_or(RoomRefusal::NoSuchRoom)
    }
}

impl LocalHub {
    /// Whether `holder` may act as an operator of `room` (§19.6): it holds
    /// its name, the room exists, and it is one of its operators.
    fn operating(
        &self,
        hall: &Hall,
        holder: &Registration,
        room: &RoomKey,
    ) -> Result<(), RoomRefusal> {
        held_name(hall, holder)?;
        hall.room(room).ok_or(RoomRefusal::NoSuchRoom)?;
        if hall.is_operator(&holder.key, room) {
            Ok(())
        } else {
            Err(RoomRefusal::NotOperator)
        }
    }
}

/// `name` is not in the room (shown in NFC, as server lines carry names).
fn no_such_member(name: &Name<'_>) -> RoomRefusal {
    match Name::normalize(name.as_str()) {
        Ok(shown) => RoomRefusal::NoSuchMember(shown),
        Err(_) => RoomRefusal::NoSuchRoom,
    }
}

/// The name `holder` holds, if it still holds it here.
fn held_name(hall: &Hall, holder: &Registration) -> Result<Name<'static>, RoomRefusal> {
    hall.seat(&holder.key, holder.id)
        .ok_or(RoomRefusal::NotHeld)?;
    Ok(hall
        .member(&holder.key)
        .ok_or(RoomRefusal::NotHeld)?
        .name
        .clone())
}

/// The key of a room as a client typed it (NFC first, as §19.2 says;
/// the key is the same either way).
fn room_key(room: &RoomName<'_>) -> RoomKey {
    room.key()
}

impl LocalHub {
    /// [`Hub::claim`], decided now (as a local hub always does).
    #[cfg(test)]
    pub fn claim_now(
        &self,
        name: &Name<'static>,
        recipient: Arc<dyn Recipient>,
        resumable: bool,
        welcome: impl FnOnce(Welcome),
    ) -> Result<Claimed, Refusal> {
        self.claim_in(name, recipient, resumable, true, welcome)
    }

    /// As [`LocalHub::claim_now`], into the default room or (`lobby`
    /// false, an IRC client, §20.2) into no room.
    fn claim_in(
        &self,
        name: &Name<'static>,
        recipient: Arc<dyn Recipient>,
        resumable: bool,
        lobby: bool,
        welcome: impl FnOnce(Welcome),
    ) -> Result<Claimed, Refusal> {
        let mut r = self.lock();
        if let Some(clash) = r.hall.clash(&name.key(), &Shape::of_name(name)) {
            return Err(Refusal::Clash(clash));
        }
        let claimed = if lobby {
            let held = Held::default();
            self.admit(&mut r, name, recipient, resumable, None, &held, welcome)
        } else {
            self.admit_roomless(&mut r, name, recipient, welcome)
        };
        r.tell_watchers(&name.key(), true);
        Ok(claimed)
    }

    /// Seats a newcomer that starts in no room: nothing is published,
    /// so nobody is told (§20.2); its welcome comes first all the same.
    fn admit_roomless(
        &self,
        r: &mut Registry,
        name: &Name<'static>,
        recipient: Arc<dyn Recipient>,
        welcome: impl FnOnce(Welcome),
    ) -> Claimed {
        let key = name.key();
        r.departed.remove(&key);
        self.metrics.registered.inc();
        let since = r.hall.last_seq();
        r.hall.add_registered(name.clone(), since);
        welcome(r.hall.welcome(
            name.clone(),
            &key,
            Greeting::Newcomer { join: since },
            None,
            &[],
        ));
        let id = r.next_id();
        r.hall.sit(key.clone(), Seat { recipient, reg: id });
        Claimed {
            registration: Registration { key, id },
            join: None,
            join_recorded: false,
        }
    }

    #[cfg(test)]
    /// [`Hub::resume`] (§16.6), decided now.
    pub fn resume_now(
        &self,
        name: &Name<'static>,
        token: &str,
        after: Seq,
        recipient: Arc<dyn Recipient>,
        welcome: impl FnOnce(Welcome),
    ) -> Result<Claimed, Refusal> {
        let asked = Asked {
            token,
            after,
            rooms: false,
        };
        self.resume_with(name, &asked, recipient, welcome)
    }

    /// [`Hub::resume`], decided now, for a connection that turned rooms
    /// on or not (`asked.rooms`): a holding in rooms other than the
    /// default one is not resumed by one that did not (§19.1: it would
    /// get their lines as v1 lines), and is refused as a wrong token is.
    fn resume_with(
        &self,
        name: &Name<'static>,
        asked: &Asked<'_>,
        recipient: Arc<dyn Recipient>,
        welcome: impl FnOnce(Welcome),
    ) -> Result<Claimed, Refusal> {
        let Asked {
            token,
            after,
            rooms: speaks_rooms,
        } = *asked;
        let key = name.key();
        let only_default = |rooms: &[RoomKey], hall: &Hall| {
            rooms.len() == 1 && rooms[0] == hall.default_room().key()
        };
        let now = Instant::now();
        let mut r = self.lock();
        if let Some(member) = r.hall.member(&key) {
            let (shown, since) = (member.name.clone(), member.since);
            let held_by = r.hall.any_seat(&key).map(|s| s.reg);
            let old_token = held_by.and_then(|reg| r.tokens.get(&reg));
            if !old_token.is_some_and(|t| t.matches(token)) {
                return Err(Refusal::Token);
            }
            if !speaks_rooms && !only_default(&r.hall.rooms_of(&key), &r.hall) {
                return Err(Refusal::Token);
            }
            // Still held (its connection not yet found dead): the name
            // moves to the new connection, and nobody is told (guarantee 6).
            let id = r.next_id();
            let token = ResumeToken::generate();
            if let Some(token) = token {
                r.tokens.insert(id, token);
            }
            let greeting = Greeting::Resumed { since, after };
            // Welcomed before it is seated: what it missed comes before
            // any event it can receive.
            welcome(r.hall.welcome(shown.clone(), &key, greeting, token, &[]));
            if let Some(old) = r.hall.sit(key.clone(), Seat { recipient, reg: id }) {
                r.tokens.remove(&old.reg);
                old.recipient.replaced();
            }
            tracing::debug!(name = %shown, "resumed on a new connection");
            return Ok(Claimed {
                registration: Registration { key, id },
                join: None,
                join_recorded: false,
            });
        }
        let (since, held) = match r.departed.get(&key) {
            Some(d) if d.until > now && d.token.matches(token) => {
                let held = Held {
                    rooms: d.rooms.clone(),
                    runs: d.runs.clone(),
                };
                (d.since, held)
            }
            _ => return Err(Refusal::Token),
        };
        if !speaks_rooms && !only_default(&held.rooms, &r.hall) {
            return Err(Refusal::Token);
        }
        if let Some(clash) = r.hall.clash(&key, &Shape::of_name(name)) {
            return Err(Refusal::Clash(clash));
        }
        let resumed = Some(Greeting::Resumed { since, after });
        Ok(self.admit(&mut r, name, recipient, true, resumed, &held, welcome))
    }

    /// Releases `key` if registration `id` holds it (see [`Hub::release`]):
    /// it leaves every room it is in, one event each, then its name.
    /// Returns those events (none if it was in no room).
    fn leave(&self, holder: &Registration, leaving: Leaving) -> Option<Vec<Arc<Event>>> {
        let Registration { key, id } = holder;
        let (key, id) = (key, *id);
        let Leaving { reason, text } = leaving;
        let mut r = self.lock();
        let leaver = Arc::clone(&r.hall.seat(key, id)?.recipient);
        let member = r.hall.member(key)?;
        let (name, since) = (member.name.clone(), member.since);
        if let Some(gone) = r.hall.present(key) {
            r.whowas.record(gone, Instant::now());
        }
        // Its place in the hall goes to someone else: so must not its
        // invitations.
        r.hall.drop_invitations(key);
        // Its watchers are told while it is still a member; what it
        // watched is forgotten.
        r.tell_watchers(key, false);
        r.monitors.forget(&leaver);
        // The default room last, as a cluster's Redis orders them (§19.3).
        let mut rooms = r.hall.rooms_of(key);
        let default = r.hall.default_room().key();
        if let Some(i) = rooms.iter().position(|k| *k == default) {
            let lobby = rooms.remove(i);
            rooms.push(lobby);
        }
        // Giving the name up loses what it ran (§19.6); a lost connection
        // keeps it for its resume.
        let runs = match reason {
            LeaveReason::Quit => Vec::new(),
            _ => r.hall.rooms_run_by(key),
        };
        if let Some(token) = r.tokens.remove(&id) {
            let now = Instant::now();
            if r.departed.len() >= LOG_MAX {
                r.departed.retain(|_, d| d.until > now);
            }
            // Full of live tokens: this one is not kept (the client can
            // still register by name).
            if r.departed.len() < LOG_MAX {
                let departed = Departed {
                    token,
                    until: now + RESUME_KEEP,
                    since,
                    rooms: rooms.clone(),
                    runs,
                };
                r.departed.insert(key.clone(), departed);
            }
        }
        // Counted before anyone can see the LEAVE, so a scrape that follows
        // it never shows the client still registered.
        self.metrics.registered.dec();
        let mut leaves = Vec::with_capacity(rooms.len());
        for room in &rooms {
            let seq = r.hall.next_seq();
            let leave = EventKind::Leave {
                name: name.clone(),
                reason,
                text: text.clone(),
            };
            leaves.extend(
                r.hall
                    .leave_room(seq, wall_clock(), room, key, leave, false),
            );
        }
        r.hall.unregister(key);
        Some(leaves)
    }
}

#[cfg(test)]
mod tests;
