//! One room, as both hubs hold it: who is in it (by key and look-alike
//! skeleton, §3.3), which of them are this process's clients and where
//! their events go, the last number and time given, the recent public
//! messages, the event log of what a resuming client missed, the crowd
//! count (§18) and the counters. [`Room::accept`] takes an event that is
//! already numbered (a local hub numbers it with [`Room::next_seq`], a
//! cluster hub takes Redis's number), stamps it, updates the roster and
//! delivers it to this process's recipients; [`Room::welcome`] assembles
//! what a newcomer or a resuming client is told.
//!
//! Plain data behind its hub's lock: it never waits, never decides who
//! may hold a name (the hub does, or Redis) and knows nothing of wire
//! formats, tokens or Redis.

use std::collections::HashMap;
use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use tagarela_parser::{HistoryQuery, Name, NameKey, Skeleton, Timestamp};

use crate::event::{Event, EventKind, Seq, wall_clock};
use crate::hub::crowd::Crowd;
use crate::hub::event_log::EventLog;
use crate::hub::recent::Recent;
use crate::hub::resume::ResumeToken;
use crate::hub::roster::{Holder, Roster};
use crate::hub::{Clash, Recipient, RegId, Welcome};
use crate::ops::metrics::Metrics;

/// Someone in the room (in a cluster: on any node).
#[derive(Debug)]
pub struct Member {
    /// Display form (NFC).
    pub name: Name<'static>,
    /// Its skeletons, kept so that its leave computes nothing under the
    /// lock.
    shapes: [Skeleton; 2],
    /// Where this holding of the name began (its first join, kept across
    /// resumes): a resuming client is never given events from before it,
    /// and a private message is for this holding only (§16.6, §17.2).
    pub since: Seq,
}

impl Holder for Member {
    fn name(&self) -> &Name<'static> {
        &self.name
    }

    fn shapes(&self) -> &[Skeleton; 2] {
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

/// An event the room took.
#[derive(Debug)]
pub struct Accepted {
    /// The event, numbered and stamped.
    pub event: Arc<Event>,
    /// For a leave: the seat of this process's client that held the name,
    /// if it still had one.
    pub unseated: Option<Seat>,
}

/// The `events` counters by kind, and `deliveries`, looked up once so
/// that counting takes no lock.
#[derive(Debug)]
struct Counters {
    join: Counter,
    leave: Counter,
    public: Counter,
    private: Counter,
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
            deliveries: metrics.deliveries.clone(),
        }
    }
}

/// One room's state (see the module doc).
#[derive(Debug)]
pub struct Room {
    /// Everyone in the room, by identity key and look-alike skeleton.
    members: Roster<Member>,
    /// Those of them who are this process's clients.
    seats: HashMap<NameKey, Seat>,
    /// The last number given.
    last_seq: Seq,
    /// The last time given: later events never get an earlier one, even
    /// if the clock they come with steps back.
    last_at: Option<Timestamp>,
    /// The kept public messages, if the room keeps history (§16).
    recent: Option<Recent>,
    /// How many of them a newcomer is replayed.
    replay: usize,
    /// The latest events of every kind, for what a resuming client
    /// missed (§16.6).
    log: EventLog,
    /// Joins and leaves counted rather than sent, in a crowded room (§18).
    crowd: Crowd,
    /// Counted before anyone can see the event, so that a scrape which
    /// follows it always includes it.
    counters: Counters,
}

impl Room {
    /// An empty room that counts into `metrics`, keeps history in
    /// `recent` (if any) and replays `replay` messages to a newcomer;
    /// joins and leaves go into crowd notices from `crowd_size` members
    /// on (§18; 0: never).
    pub fn new(
        metrics: &Metrics,
        recent: Option<Recent>,
        replay: usize,
        crowd_size: usize,
    ) -> Room {
        Room {
            members: Roster::default(),
            seats: HashMap::new(),
            last_seq: Seq(0),
            last_at: None,
            recent,
            replay,
            log: EventLog::default(),
            crowd: Crowd::new(crowd_size),
            counters: Counters::new(metrics),
        }
    }

    /// Joins and leaves go into crowd notices from `size` members on
    /// (§18; 0: never), from now on.
    pub fn count_crowds_from(&mut self, size: usize) {
        self.crowd = Crowd::new(size);
    }

    /// Starts again from `last` (the last number given) and the kept
    /// public messages `history` (oldest first): nobody is in the room,
    /// nothing is logged or counted.
    pub fn load(&mut self, last: Seq, history: impl IntoIterator<Item = Arc<Event>>) {
        self.members.clear();
        self.seats.clear();
        self.log.clear();
        self.crowd.clear();
        self.last_seq = last;
        self.last_at = None;
        let now = wall_clock();
        if let Some(recent) = &mut self.recent {
            recent.clear();
        }
        for event in history {
            self.last_at = Some(self.last_at.map_or(event.at, |last| last.max(event.at)));
            if let Some(recent) = &mut self.recent {
                recent.push(event, now);
            }
        }
    }

    /// Adds someone already in the room when it was loaded (no event).
    pub fn add_member(&mut self, name: Name<'static>, since: Seq) {
        let shapes = name.skeletons();
        self.members.insert(
            name.key(),
            Member {
                name,
                shapes,
                since,
            },
        );
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

    /// How many are in the room.
    pub fn online(&self) -> usize {
        self.members.len()
    }

    /// The clash a claim of `key` with these skeletons would make.
    pub fn clash(&self, key: &NameKey, shapes: &[Skeleton; 2]) -> Option<Clash> {
        self.members.clash(key, shapes)
    }

    /// The member holding `key`.
    pub fn member(&self, key: &NameKey) -> Option<&Member> {
        self.members.get(key)
    }

    /// The seat of this process's client holding `key`, if registration
    /// `reg` is the one holding it.
    pub fn seat(&self, key: &NameKey, reg: RegId) -> Option<&Seat> {
        self.seats.get(key).filter(|s| s.reg == reg)
    }

    /// The seat of this process's client holding `key`, whichever
    /// registration it is.
    pub fn any_seat(&self, key: &NameKey) -> Option<&Seat> {
        self.seats.get(key)
    }

    /// Seats this process's client holding `key`; returns the seat it
    /// replaces (a resume on a new connection).
    pub fn sit(&mut self, key: NameKey, seat: Seat) -> Option<Seat> {
        self.seats.insert(key, seat)
    }

    /// Unseats `key` if registration `reg` holds it (it stays a member
    /// until its leave is accepted).
    pub fn unseat(&mut self, key: &NameKey, reg: RegId) -> Option<Seat> {
        if self.seats.get(key)?.reg != reg {
            return None;
        }
        self.seats.remove(key)
    }

    /// Unseats everyone: this process no longer serves the room.
    pub fn unseat_all(&mut self) -> Vec<Seat> {
        self.crowd.clear();
        self.seats.drain().map(|(_, seat)| seat).collect()
    }

    /// `name` joins at `seq` and `at`, its holding having begun at
    /// `since`: it becomes a member and the join is announced to this
    /// process's clients (or counted, in a crowded room). It is not
    /// seated: [`Room::welcome`] and [`Room::sit`] follow.
    pub fn join(&mut self, seq: Seq, at: Timestamp, name: Name<'static>, since: Seq) -> Arc<Event> {
        let at = self.stamp(at);
        let event = self.number(seq, at, EventKind::Join { name: name.clone() });
        // A notice of earlier comings and goings does not count the
        // newcomer: it precedes its join.
        let online = self.members.len() + 1;
        if !self.crowd.absorbs(online) {
            self.send_crowd_notice(at);
        }
        let key = name.key();
        self.add_member(name, since);
        self.counters.join.inc();
        self.announce(online, &key, &event);
        event
    }

    /// Takes a numbered event: stamps it (never before the last time
    /// given), logs it, updates the roster and delivers it to this
    /// process's recipients. A join here is a new holding (see
    /// [`Room::join`] for one resumed).
    pub fn accept(&mut self, seq: Seq, at: Timestamp, kind: EventKind) -> Accepted {
        let at = self.stamp(at);
        let mut unseated = None;
        let event = match kind {
            EventKind::Join { name } => self.join(seq, at, name, seq),
            EventKind::Leave { ref name, .. } => {
                let key = name.key();
                // A notice of earlier comings and goings still counts
                // the leaver among those online, as it is until now.
                let online = self.members.len();
                if !self.crowd.absorbs(online) {
                    self.send_crowd_notice(at);
                }
                self.members.remove(&key);
                unseated = self.seats.remove(&key);
                let event = self.number(seq, at, kind);
                self.counters.leave.inc();
                self.announce(online, &key, &event);
                event
            }
            EventKind::Public { .. } => {
                let event = self.number(seq, at, kind);
                let EventKind::Public { from, .. } = &event.kind else {
                    unreachable!("numbered as given")
                };
                self.counters.public.inc();
                self.send_crowd_notice(at);
                self.deliver_to_all_but(&from.key(), &event);
                if let Some(recent) = &mut self.recent {
                    recent.push(Arc::clone(&event), at);
                }
                event
            }
            EventKind::Private { .. } => {
                let event = self.number(seq, at, kind);
                let EventKind::Private { from, to, .. } = &event.kind else {
                    unreachable!("numbered as given")
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
        };
        Accepted { event, unseated }
    }

    /// What `name` (holding `key`) is told on entering, before it can
    /// receive any event: the number online, where it is, its backlog or
    /// what it missed, and the token that takes the name back.
    pub fn welcome(
        &mut self,
        name: Name<'static>,
        key: &NameKey,
        greeting: Greeting,
        token: Option<ResumeToken>,
    ) -> Welcome {
        let (seq, backlog, missed) = match greeting {
            Greeting::Resumed { since, after } => {
                let missed = self.log.missed(key, since, after, self.last_seq);
                (missed.after, None, Some(missed))
            }
            Greeting::Newcomer { join } => {
                let replay = self.replay;
                let backlog = self.recent.as_mut().map(|recent| {
                    // A quiet room's old messages expire here too.
                    recent.expire(wall_clock());
                    recent.latest(replay)
                });
                (join, backlog, None)
            }
        };
        Welcome {
            name,
            online: self.members.len(),
            seq,
            backlog,
            missed,
            token,
        }
    }

    /// Sends the crowd notice of what was counted (if anything), stamped
    /// `at` (or the last time given, if later).
    pub fn tick(&mut self, at: Timestamp) {
        if self.crowd.is_pending() {
            let at = self.stamp(at);
            self.send_crowd_notice(at);
        }
    }

    /// A snapshot of who is in the room (display forms), in no set order.
    pub fn who(&self) -> Vec<Name<'static>> {
        self.members.values().map(|m| m.name.clone()).collect()
    }

    /// The kept public messages `query` asks for (see
    /// [`crate::hub::Hub::history`]); `None` if the room keeps none.
    pub fn history(&mut self, query: &HistoryQuery, default: usize) -> Option<Vec<Arc<Event>>> {
        Some(self.recent.as_mut()?.answer(query, default))
    }

    /// The kept public messages, for tests to look into.
    #[cfg(test)]
    pub fn recent(&self) -> Option<&Recent> {
        self.recent.as_ref()
    }

    /// The event, numbered `seq` and stamped `at`, kept in the log.
    fn number(&mut self, seq: Seq, at: Timestamp, kind: EventKind) -> Arc<Event> {
        self.last_seq = seq;
        let event = Arc::new(Event::new(seq, at, kind));
        self.log.push(Arc::clone(&event));
        event
    }

    /// Delivers a join or a leave to this process's clients but its own,
    /// or counts it for the next crowd notice if the room (of `online`,
    /// counting the one who comes or goes) is crowded.
    fn announce(&mut self, online: usize, key: &NameKey, event: &Event) {
        if !self.crowd.absorb(online, event) {
            self.deliver_to_all_but(key, event);
        }
    }

    /// Delivers `event` to every seat but `except`'s.
    fn deliver_to_all_but(&self, except: &NameKey, event: &Event) {
        let copies = self.seats.len() - usize::from(self.seats.contains_key(except));
        self.counters.deliveries.inc_by(copies as u64);
        for (key, seat) in &self.seats {
            if key != except {
                seat.recipient.deliver(event);
            }
        }
    }

    /// Sends every seat the crowd notice of what was counted, if anything.
    fn send_crowd_notice(&mut self, at: Timestamp) {
        let online = self.members.len();
        let seats = self.seats.values().map(|s| &s.recipient);
        self.crowd.send(at, online, seats);
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

    /// A room with `ana` (seated, registration 1) and `bia` (a member
    /// elsewhere, as on another node).
    fn room() -> (Room, Arc<Seen>) {
        let mut room = Room::new(&Metrics::default(), None, 0, 0);
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
        let new = room.welcome(name("bia"), &bia, Greeting::Newcomer { join: Seq(2) }, None);
        assert_eq!(
            (new.online, new.seq, new.backlog.is_none()),
            (2, Seq(2), true)
        );
        let back = Greeting::Resumed {
            since: Seq(2),
            after: Seq(0),
        };
        let resumed = room.welcome(name("bia"), &bia, back, None);
        let missed = resumed.missed.unwrap_or_else(|| unreachable!());
        assert_eq!((resumed.seq, missed.events.len()), (Seq(2), 0));
    }
}
