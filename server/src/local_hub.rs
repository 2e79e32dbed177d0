//! The hub of a room that lives in this one process: a registry of names
//! (by key and by look-alike skeleton, spec §3.3) behind one lock, under
//! which events are numbered and handed to their recipients' queues. The
//! lock is held only for map work and queue appends, which never wait, so
//! it is never held across an `.await`. Knows nothing of wire formats.

use std::collections::HashMap;
use std::time::Duration;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::time::Instant;

use tagarela_parser::{HistoryQuery, LeaveReason, Name, NameKey, Skeleton, Text, Timestamp};

use crate::crowd::Crowd;
use crate::event::{Event, EventKind, Seq, wall_clock};
use crate::event_log::{EventLog, LOG_MAX};
use crate::history::Loaded;
use crate::hub::{
    Answer, Claimed, Clash, Hub, Missed, Published, Recipient, Refusal, RegId, Unpublished,
    Welcome, Welcomer,
};
use crate::metrics::Metrics;
use crate::recent::Recent;
use crate::resume::ResumeToken;
use crate::roster::{Holder, Roster};
use prometheus_client::metrics::counter::Counter;

/// A registered client as the hub keeps it.
#[derive(Debug)]
struct Member {
    /// Display form (NFC).
    name: Name<'static>,
    /// Where its events go.
    recipient: Arc<dyn Recipient>,
    /// Its skeletons, kept so that releasing it computes nothing under
    /// the lock.
    shapes: [Skeleton; 2],
    /// Which registration holds the name now (a resume makes a new one).
    id: RegId,
    /// What takes the name back after a lost connection (§16.6); only for
    /// clients that asked for it.
    token: Option<ResumeToken>,
    /// Where this holding of the name began (its first join, kept across
    /// resumes): a resuming client is never given events from before it,
    /// which may have been another holder's (§16.6).
    since: Seq,
}

/// A departed resumable client: its token, until when it is good, and
/// where its holding began.
#[derive(Debug)]
struct Departed {
    token: ResumeToken,
    until: Instant,
    since: Seq,
}

/// How long a departed client's token still takes its name back (if free).
const RESUME_KEEP: Duration = Duration::from_secs(600);

/// Everything behind the hub's lock.
#[derive(Debug, Default)]
struct Registry {
    /// Who is online, by identity key and look-alike skeleton (§3.3).
    members: Roster<Member>,
    /// The last sequence number given.
    last_seq: u64,
    /// The last timestamp given: later events never get an earlier one,
    /// even if the wall clock steps back.
    last_at: Option<Timestamp>,
    /// The kept public messages, if the room keeps history (spec §16).
    recent: Option<Recent>,
    /// How many of them a newcomer is replayed.
    replay: usize,
    /// The latest events of every kind, for what a resuming client
    /// missed (§16.6).
    log: EventLog,
    /// Resumable clients that left, by name, until their tokens expire.
    departed: HashMap<NameKey, Departed>,
    /// The last registration id given.
    last_id: RegId,
    /// Joins and leaves counted rather than sent, in a crowded room (§18).
    crowd: Crowd,
}

impl Holder for Member {
    fn name(&self) -> &Name<'static> {
        &self.name
    }

    fn shapes(&self) -> &[Skeleton; 2] {
        &self.shapes
    }
}

impl Registry {
    /// The time now, never before the last one given.
    fn stamp(&mut self) -> Timestamp {
        let now = wall_clock();
        let at = match self.last_at {
            Some(last) if last > now => last,
            _ => now,
        };
        self.last_at = Some(at);
        at
    }

    /// Numbers and stamps a new event.
    fn accept(&mut self, kind: EventKind) -> Arc<Event> {
        self.last_seq += 1;
        let at = self.stamp();
        let event = Arc::new(Event::new(Seq(self.last_seq), at, kind));
        self.log.push(Arc::clone(&event));
        event
    }

    /// What the client holding `key` since `since` missed after `after`.
    fn missed(&self, key: &NameKey, since: Seq, after: Seq) -> Missed {
        self.log.missed(key, since, after, Seq(self.last_seq))
    }

    /// The clash `name` would make, if any.
    fn clash(&self, key: &NameKey, shapes: &[Skeleton; 2]) -> Option<Clash> {
        self.members.clash(key, shapes)
    }

    /// A new registration id.
    fn next_id(&mut self) -> RegId {
        self.last_id.0 += 1;
        self.last_id
    }

    /// Delivers `event` to every member but `except`, after the crowd
    /// notice of what came before it (§18), if one is due.
    fn deliver_to_all_but(&mut self, except: &NameKey, event: &Event) {
        self.send_crowd_notice();
        for (key, m) in self.members.iter() {
            if key != except {
                m.recipient.deliver(event);
            }
        }
    }

    /// Delivers a join or a leave to every member but its own, or counts
    /// it for the next crowd notice if the room (of `online`, counting
    /// the one who comes or goes) is crowded (§18).
    fn announce(&mut self, online: usize, key: &NameKey, event: &Event) {
        if !self.crowd.absorb(online, event) {
            self.deliver_to_all_but(key, event);
        }
    }

    /// Sends every member the crowd notice of what was counted, if anything.
    fn send_crowd_notice(&mut self) {
        if self.crowd.is_pending() {
            let at = self.stamp();
            let online = self.members.len();
            let members = self.members.values().map(|m| &m.recipient);
            self.crowd.send(at, online, members);
        }
    }
}

/// Indexes into `LocalHub::by_kind`.
const JOIN: usize = 0;
const LEAVE: usize = 1;
const PUBLIC: usize = 2;
const PRIVATE: usize = 3;

/// A room in this process.
#[derive(Debug)]
pub struct LocalHub {
    registry: Mutex<Registry>,
    /// Counts events, deliveries and who is registered.
    metrics: Arc<Metrics>,
    /// The `events` counters by kind (join, leave, public, private),
    /// looked up once so that counting takes no lock.
    by_kind: [Counter; 4],
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
        let kind = |k| metrics.events.get_or_create(&[("kind", k)]).clone();
        let by_kind = [kind("join"), kind("leave"), kind("public"), kind("private")];
        LocalHub {
            registry: Mutex::default(),
            metrics,
            by_kind,
        }
    }

    /// The same room, with joins and leaves counted into crowd notices
    /// from `size` members on (§18; 0: never).
    pub fn crowded_from(self, size: usize) -> Self {
        self.lock().crowd = Crowd::new(size);
        self
    }

    /// A room that keeps history (spec §16): it starts from what the
    /// store `loaded`, keeps what `recent` allows and replays the latest
    /// `replay` messages to each newcomer.
    pub fn with_history(
        metrics: Arc<Metrics>,
        loaded: Loaded,
        mut recent: Recent,
        replay: usize,
    ) -> Self {
        let hub = LocalHub::with_metrics(metrics);
        {
            let mut r = hub.lock();
            r.last_seq = loaded.next_seq.saturating_sub(1);
            let now = wall_clock();
            for event in loaded.messages {
                r.last_at = Some(event.at.max(r.last_at.unwrap_or(event.at)));
                recent.push(event, now);
            }
            r.recent = Some(recent);
            r.replay = replay;
        }
        hub
    }

    /// Counts an accepted event of kind `kind` (an index into `by_kind`)
    /// and its `copies`.
    fn count(&self, kind: usize, copies: usize) {
        self.by_kind[kind].inc();
        self.metrics.deliveries.inc_by(copies as u64);
    }

    /// Registers `name` (checked free), publishes its join and welcomes
    /// it, under the lock: a backlog for a newcomer, or what it missed
    /// after `resumed_after` for a client resuming a free name.
    /// `resumed` is where the resuming client's holding began and the
    /// number it gave.
    #[allow(clippy::too_many_arguments)]
    fn admit(
        &self,
        r: &mut Registry,
        name: &Name<'static>,
        key: NameKey,
        shapes: [Skeleton; 2],
        recipient: Arc<dyn Recipient>,
        resumable: bool,
        resumed: Option<(Seq, Seq)>,
        welcome: impl FnOnce(Welcome),
    ) -> Claimed {
        // Whoever held this name before is gone for good: its token no
        // longer takes it back, and nothing of its holding is replayed.
        r.departed.remove(&key);
        let join = r.accept(EventKind::Join { name: name.clone() });
        // Counted before anyone can see the event, so a scrape that
        // follows it always includes it.
        let online = r.members.len() + 1;
        let copies = if r.crowd.absorbs(online) {
            0
        } else {
            r.members.len()
        };
        self.count(JOIN, copies);
        self.metrics.registered.inc();
        r.announce(online, &key, &join);
        // Under the lock, before the newcomer is a member: its welcome and
        // backlog come before any event it can receive, and every message
        // accepted before this point is in the backlog (guarantee 5).
        let since = resumed.map_or(join.seq, |(since, _)| since);
        let (backlog, missed) = match resumed {
            Some((since, after)) => (None, Some(r.missed(&key, since, after))),
            None => {
                let replay = r.replay;
                let backlog = r.recent.as_mut().map(|recent| {
                    // A quiet room's old messages expire here too.
                    recent.expire(wall_clock());
                    recent.latest(replay)
                });
                (backlog, None)
            }
        };
        let token = if resumable {
            ResumeToken::generate()
        } else {
            None
        };
        welcome(Welcome {
            name: name.clone(),
            online: r.members.len() + 1,
            seq: missed.as_ref().map_or(join.seq, |m| m.after),
            backlog,
            missed,
            token,
        });
        let id = r.next_id();
        r.members.insert(
            key.clone(),
            Member {
                name: name.clone(),
                recipient,
                shapes,
                id,
                token,
                since,
            },
        );
        Claimed {
            key,
            online: r.members.len(),
            join: Some(join),
            join_recorded: false,
            id,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Hub for LocalHub {
    fn claim(
        &self,
        name: &Name<'static>,
        _peer: std::net::SocketAddr,
        recipient: Arc<dyn Recipient>,
        resumable: bool,
        welcome: Welcomer,
    ) -> Answer {
        Answer::Ready(self.claim_now(name, recipient, resumable, welcome))
    }

    fn resume(
        &self,
        name: &Name<'static>,
        token: &str,
        after: Seq,
        _peer: std::net::SocketAddr,
        recipient: Arc<dyn Recipient>,
        welcome: Welcomer,
    ) -> Answer {
        Answer::Ready(self.resume_now(name, token, after, recipient, welcome))
    }

    fn release(
        &self,
        key: &NameKey,
        id: RegId,
        reason: LeaveReason,
        text: Option<Text<'static>>,
    ) -> Option<Published> {
        self.leave(key, id, reason, text).map(Published::Numbered)
    }

    fn publish_public(
        &self,
        from: &NameKey,
        id: RegId,
        text: Text<'static>,
    ) -> Result<Published, Unpublished> {
        let mut r = self.lock();
        let name = r
            .members
            .get(from)
            .filter(|m| m.id == id)
            .ok_or(Unpublished::NotHeld)?
            .name
            .clone();
        let event = r.accept(EventKind::Public { from: name, text });
        self.count(PUBLIC, r.members.len() - 1);
        r.deliver_to_all_but(from, &event);
        let at = event.at;
        if let Some(recent) = &mut r.recent {
            recent.push(Arc::clone(&event), at);
        }
        Ok(Published::Numbered(event))
    }

    fn publish_private(
        &self,
        from: &NameKey,
        id: RegId,
        to: &Name<'_>,
        text: Text<'static>,
    ) -> Result<Published, Unpublished> {
        let mut r = self.lock();
        let to_key = to.key();
        let Some(sender) = r.members.get(from).filter(|m| m.id == id) else {
            return Err(Unpublished::NotHeld);
        };
        let Some(target) = r.members.get(&to_key) else {
            return Err(Unpublished::NotOnline);
        };
        let kind = EventKind::Private {
            from: sender.name.clone(),
            to: target.name.clone(),
            text,
        };
        let (sender, target) = (Arc::clone(&sender.recipient), Arc::clone(&target.recipient));
        let event = r.accept(kind);
        let to_self = to_key == *from;
        self.count(PRIVATE, if to_self { 1 } else { 2 });
        target.deliver(&event);
        if !to_self {
            sender.deliver(&event);
        }
        drop(r);
        Ok(Published::Numbered(event))
    }

    fn who(&self) -> Vec<Name<'static>> {
        self.lock()
            .members
            .values()
            .map(|m| m.name.clone())
            .collect()
    }

    fn history(&self, query: &HistoryQuery, default: usize) -> Option<Vec<Arc<Event>>> {
        let mut r = self.lock();
        Some(r.recent.as_mut()?.answer(query, default))
    }

    fn tick(&self) {
        self.lock().send_crowd_notice();
    }

    fn is_ready(&self) -> bool {
        true
    }
}

impl LocalHub {
    /// [`Hub::claim`], decided now (as a local hub always does).
    pub fn claim_now(
        &self,
        name: &Name<'static>,
        recipient: Arc<dyn Recipient>,
        resumable: bool,
        welcome: impl FnOnce(Welcome),
    ) -> Result<Claimed, Refusal> {
        let key = name.key();
        let shapes = name.skeletons();
        let mut r = self.lock();
        if let Some(clash) = r.clash(&key, &shapes) {
            return Err(Refusal::Clash(clash));
        }
        let resumed = None;
        Ok(self.admit(
            &mut r, name, key, shapes, recipient, resumable, resumed, welcome,
        ))
    }

    /// [`Hub::resume`] (§16.6), decided now.
    pub fn resume_now(
        &self,
        name: &Name<'static>,
        token: &str,
        after: Seq,
        recipient: Arc<dyn Recipient>,
        welcome: impl FnOnce(Welcome),
    ) -> Result<Claimed, Refusal> {
        let key = name.key();
        let shapes = name.skeletons();
        let now = Instant::now();
        let mut r = self.lock();
        let id = r.next_id();
        if let Some(member) = r.members.get_mut(&key) {
            if !member.token.is_some_and(|t| t.matches(token)) {
                return Err(Refusal::Token);
            }
            // Still held (its connection not yet found dead): the name
            // moves to the new connection, and nobody is told (guarantee 6).
            let old = std::mem::replace(&mut member.recipient, recipient);
            member.id = id;
            let token = ResumeToken::generate();
            member.token = token;
            let shown = member.name.clone();
            let since = member.since;
            old.replaced();
            let missed = r.missed(&key, since, after);
            let online = r.members.len();
            welcome(Welcome {
                name: shown.clone(),
                online,
                seq: missed.after,
                backlog: None,
                missed: Some(missed),
                token,
            });
            tracing::debug!(name = %shown, "resumed on a new connection");
            return Ok(Claimed {
                key,
                online,
                join: None,
                join_recorded: false,
                id,
            });
        }
        let since = match r.departed.get(&key) {
            Some(d) if d.until > now && d.token.matches(token) => d.since,
            _ => return Err(Refusal::Token),
        };
        if let Some(clash) = r.clash(&key, &shapes) {
            return Err(Refusal::Clash(clash));
        }
        let resumed = Some((since, after));
        Ok(self.admit(&mut r, name, key, shapes, recipient, true, resumed, welcome))
    }

    /// Releases `key` if registration `id` holds it (see [`Hub::release`]).
    fn leave(
        &self,
        key: &NameKey,
        id: RegId,
        reason: LeaveReason,
        text: Option<Text<'static>>,
    ) -> Option<Arc<Event>> {
        let mut r = self.lock();
        if r.members.get(key).is_none_or(|m| m.id != id) {
            return None;
        }
        // A notice of earlier comings and goings counts the leaver among
        // those online, as it is until its own leave.
        let online = r.members.len();
        if !r.crowd.absorbs(online) {
            r.send_crowd_notice();
        }
        let member = r.members.remove(key)?;
        if let Some(token) = member.token {
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
                    since: member.since,
                };
                r.departed.insert(key.clone(), departed);
            }
        }
        // Counted before anyone can see the LEAVE, so a scrape that follows
        // it never shows the client still registered.
        self.metrics.registered.dec();
        let leave = r.accept(EventKind::Leave {
            name: member.name,
            reason,
            text,
        });
        let copies = if r.crowd.absorbs(online) {
            0
        } else {
            r.members.len()
        };
        self.count(LEAVE, copies);
        r.announce(online, key, &leave);
        Some(leave)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event_log::MISSED_BYTES_MAX;

    use crate::seen::Seen;

    fn name(s: &str) -> Name<'static> {
        Name::normalize(s).unwrap_or_else(|_| unreachable!())
    }

    fn text(s: &str) -> Text<'static> {
        Text::new(s.to_owned()).unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn events_are_numbered_and_delivered_in_order_with_the_join_first() {
        let hub = LocalHub::new();
        let alice = Arc::new(Seen::default());
        let bob = Arc::new(Seen::default());
        let a = hub
            .claim_now(&name("alice"), alice.clone(), true, |_| {})
            .unwrap_or_else(|_| unreachable!());
        assert_eq!(a.online, 1);
        let b = hub
            .claim_now(&name("bob"), bob.clone(), true, |_| {})
            .unwrap_or_else(|_| unreachable!());
        assert_eq!(
            (b.online, b.join.as_ref().map(|j| j.seq)),
            (2, Some(Seq(2)))
        );
        assert!(hub.publish_public(&b.key, b.id, text("hi")).is_ok());
        hub.publish_private(&a.key, a.id, &name("BOB"), text("psst"))
            .unwrap_or_else(|_| unreachable!());
        hub.release(&b.key, b.id, LeaveReason::Quit, None);
        assert_eq!(
            alice.taken(),
            [
                (2, "join bob".to_owned()),
                (3, "bob: hi".to_owned()),
                (4, "alice->bob: psst".to_owned()),
                (5, "leave bob quit".to_owned()),
            ]
        );
        assert_eq!(bob.taken(), [(4, "alice->bob: psst".to_owned())]);
        assert!(hub.release(&b.key, b.id, LeaveReason::Quit, None).is_none());
    }

    /// The welcome is queued under the hub's lock before the newcomer is a
    /// member, so no event can reach it first (review finding: it used to
    /// be queued after `claim` returned, when another sender's message
    /// could already have arrived).
    #[test]
    fn the_welcome_is_queued_before_the_newcomer_can_receive_anything() {
        let hub = LocalHub::new();
        let alice = Arc::new(Seen::default());
        let a = hub
            .claim_now(&name("alice"), alice.clone(), true, |_| {})
            .unwrap_or_else(|_| unreachable!());
        let bob = Arc::new(Seen::default());
        let mut welcomed = None;
        let bob_seen = Arc::clone(&bob);
        let b = hub
            .claim_now(&name("bob"), bob.clone(), true, |w: Welcome| {
                let online = w.online;
                welcomed = Some(online);
                bob_seen.note(format!("welcome {online}"));
            })
            .unwrap_or_else(|_| unreachable!());
        assert_eq!((welcomed, b.online), (Some(2), 2));
        assert!(hub.publish_public(&a.key, a.id, text("hi")).is_ok());
        assert_eq!(
            bob.taken(),
            [(0, "welcome 2".to_owned()), (3, "alice: hi".to_owned())]
        );
    }

    /// A resume asking for more than the log holds gets what is there and
    /// is told of the gap; a wrong token changes nothing.
    #[test]
    fn a_resume_older_than_the_log_says_so() {
        let hub = LocalHub::new();
        let mut token = None;
        let ana = Arc::new(Seen::default());
        hub.claim_now(&name("ana"), ana.clone(), true, |w: Welcome| {
            token = w.token
        })
        .unwrap_or_else(|_| unreachable!());
        let token = token.unwrap_or_else(|| unreachable!()).hex();
        let bia = hub
            .claim_now(&name("bia"), Arc::new(Seen::default()), true, |_| {})
            .unwrap_or_else(|_| unreachable!());
        for n in 0..LOG_MAX + 10 {
            assert!(
                hub.publish_public(&bia.key, bia.id, text(&format!("m{n}")))
                    .is_ok()
            );
        }
        let wrong = hub.resume_now(&name("ana"), "0", Seq(1), Arc::new(Seen::default()), |_| {});
        assert_eq!(wrong.err(), Some(Refusal::Token));
        let mut missed = None;
        let again = Arc::new(Seen::default());
        let resumed = hub
            .resume_now(&name("ana"), &token, Seq(1), again, |w: Welcome| {
                missed = w.missed;
            })
            .unwrap_or_else(|_| unreachable!());
        assert!(resumed.join.is_none(), "still held: no join");
        let missed = missed.unwrap_or_else(|| unreachable!());
        assert!(missed.gap);
        // Bounded in octets, keeping the newest.
        let bytes: usize = missed.events.iter().map(|e| e.approx_len()).sum();
        assert!(bytes <= MISSED_BYTES_MAX && bytes > MISSED_BYTES_MAX - 200);
        assert_eq!(
            missed.events.last().map(|e| e.seq.0),
            Some(hub.lock().last_seq)
        );
        // Review finding: the replaced registration could still speak.
        let a_key = resumed.key.clone();
        assert!(hub.publish_public(&a_key, RegId(1), text("ghost")).is_err());
        assert!(
            hub.publish_private(&a_key, RegId(1), &name("bia"), text("ghost"))
                .is_err()
        );
        assert!(hub.publish_public(&a_key, resumed.id, text("me")).is_ok());
        // The first registration's release is no longer the name's.
        assert!(
            hub.release(&resumed.key, RegId(1), LeaveReason::Lost, None)
                .is_none()
        );
        assert!(
            hub.release(&resumed.key, resumed.id, LeaveReason::Lost, None)
                .is_some()
        );
    }

    /// A number above every number given is taken as the last one: the
    /// client is told where it really is, not its own number back (it
    /// would then wait above reality and skip what comes next, §16.6).
    #[test]
    fn a_resume_from_beyond_the_last_number_starts_at_the_last_number() {
        let hub = LocalHub::new();
        let mut token = None;
        let a = hub
            .claim_now(
                &name("ana"),
                Arc::new(Seen::default()),
                true,
                |w: Welcome| token = w.token,
            )
            .unwrap_or_else(|_| unreachable!());
        let token = token.unwrap_or_else(|| unreachable!()).hex();
        let mut seen = None;
        hub.resume_now(
            &name("ana"),
            &token,
            Seq(u64::MAX),
            Arc::new(Seen::default()),
            |w: Welcome| seen = Some((w.seq, w.missed.map(|m| (m.events.len(), m.gap)))),
        )
        .unwrap_or_else(|_| unreachable!());
        let last = Seq(hub.lock().last_seq);
        assert_eq!(seen, Some((last, Some((0, false)))));
        let _ = a;
    }

    /// Review finding: a later holder of a name must never get an
    /// earlier holder's private messages by resuming with an old number.
    #[test]
    fn a_resume_never_reaches_back_before_its_own_holding() {
        let hub = LocalHub::new();
        let carol = hub
            .claim_now(&name("ana"), Arc::new(Seen::default()), true, |_| {})
            .unwrap_or_else(|_| unreachable!());
        let bob = hub
            .claim_now(&name("bob"), Arc::new(Seen::default()), true, |_| {})
            .unwrap_or_else(|_| unreachable!());
        hub.publish_private(&bob.key, bob.id, &name("ana"), text("for carol"))
            .unwrap_or_else(|_| unreachable!());
        hub.release(&carol.key, carol.id, LeaveReason::Quit, None);
        let mut token = None;
        let mallory = hub
            .claim_now(
                &name("ana"),
                Arc::new(Seen::default()),
                true,
                |w: Welcome| {
                    token = w.token;
                },
            )
            .unwrap_or_else(|_| unreachable!());
        let token = token.unwrap_or_else(|| unreachable!()).hex();
        assert!(
            hub.publish_public(&bob.key, bob.id, text("hello mallory"))
                .is_ok()
        );
        hub.release(&mallory.key, mallory.id, LeaveReason::Lost, None);
        let mut missed = None;
        hub.resume_now(
            &name("ana"),
            &token,
            Seq(0),
            Arc::new(Seen::default()),
            |w: Welcome| {
                missed = w.missed;
            },
        )
        .unwrap_or_else(|_| unreachable!());
        let texts: Vec<String> = missed
            .unwrap_or_else(|| unreachable!())
            .events
            .iter()
            .map(|e| match &e.kind {
                EventKind::Public { text, .. } | EventKind::Private { text, .. } => {
                    text.to_string()
                }
                _ => String::new(),
            })
            .filter(|t| !t.is_empty())
            .collect();
        assert_eq!(texts, ["hello mallory"]);
    }

    /// Guarantee 5: while others talk, a newcomer's backlog and what it
    /// then receives live hold every message exactly once, in order.
    #[test]
    fn a_backlog_and_live_delivery_neither_overlap_nor_leave_a_gap() {
        let retention = crate::history::Retention {
            messages: 100_000,
            age: None,
        };
        let loaded = Loaded {
            next_seq: 1,
            messages: Vec::new(),
        };
        let hub = Arc::new(LocalHub::with_history(
            Arc::default(),
            loaded,
            Recent::new(retention),
            usize::MAX,
        ));
        let talkers: Vec<_> = (0..2)
            .map(|i| {
                let hub = Arc::clone(&hub);
                std::thread::spawn(move || {
                    let me = hub
                        .claim_now(
                            &name(&format!("t{i}")),
                            Arc::new(Seen::default()),
                            true,
                            |_| {},
                        )
                        .unwrap_or_else(|_| unreachable!());
                    for n in 0..2000 {
                        assert!(
                            hub.publish_public(&me.key, me.id, text(&format!("{i}-{n}")))
                                .is_ok()
                        );
                    }
                })
            })
            .collect();
        let newcomer = Arc::new(Seen::default());
        let mut backlog = Vec::new();
        // Joins while the talkers are (very likely) mid-way.
        std::thread::yield_now();
        hub.claim_now(&name("late"), newcomer.clone(), true, |w: Welcome| {
            backlog = w.backlog.unwrap_or_default();
        })
        .unwrap_or_else(|_| unreachable!());
        for t in talkers {
            t.join().unwrap_or_else(|_| unreachable!());
        }
        let mut seen: Vec<u64> = backlog.iter().map(|e| e.seq.0).collect();
        seen.extend(
            newcomer
                .taken()
                .into_iter()
                .filter(|(_, line)| !line.starts_with("join "))
                .map(|(seq, _)| seq),
        );
        let expected: Vec<u64> = {
            let mut r = hub.lock();
            let recent = r.recent.as_mut().unwrap_or_else(|| unreachable!());
            recent.latest(usize::MAX).iter().map(|e| e.seq.0).collect()
        };
        assert_eq!(expected.len(), 4000);
        assert_eq!(
            seen, expected,
            "backlog then live: every message once, in order"
        );
        let page = hub
            .history(&HistoryQuery::Latest { count: None }, usize::MAX)
            .unwrap_or_default();
        assert_eq!(page.len(), tagarela_parser::limits::HISTORY_PAGE_MAX);
    }

    /// Spec §18: from crowd-size on, joins and leaves are counted into
    /// one notice, sent at the tick or just before the next public
    /// message, whichever comes first; below it they are lines again.
    #[test]
    fn a_crowded_room_sums_up_joins_and_leaves() {
        let hub = LocalHub::new().crowded_from(2);
        let ana = Arc::new(Seen::default());
        let a = hub
            .claim_now(&name("ana"), ana.clone(), false, |_| {})
            .unwrap_or_else(|_| unreachable!());
        let bia = Arc::new(Seen::default());
        let b = hub
            .claim_now(&name("bia"), bia.clone(), false, |_| {})
            .unwrap_or_else(|_| unreachable!());
        let c = hub
            .claim_now(&name("caio"), Arc::new(Seen::default()), false, |_| {})
            .unwrap_or_else(|_| unreachable!());
        assert_eq!(ana.taken(), [], "counted, not sent");
        hub.tick();
        assert_eq!(ana.taken(), [(0, "crowd 3 +2 -0 +bia +caio".to_owned())]);
        assert_eq!(bia.taken(), [(0, "crowd 3 +2 -0 +bia +caio".to_owned())]);
        hub.tick();
        assert_eq!(ana.taken(), [], "nothing new: no notice");
        hub.release(&c.key, c.id, LeaveReason::Quit, None);
        assert!(hub.publish_public(&b.key, b.id, text("hi")).is_ok());
        assert_eq!(
            ana.taken(),
            [
                (0, "crowd 2 +0 -1 -caio".to_owned()),
                (5, "bia: hi".to_owned())
            ],
            "the notice comes before the next message"
        );
        hub.release(&b.key, b.id, LeaveReason::Lost, None);
        hub.tick();
        assert_eq!(ana.taken(), [(0, "crowd 1 +0 -1 -bia".to_owned())]);
        let d = hub
            .claim_now(&name("dan"), Arc::new(Seen::default()), false, |_| {})
            .unwrap_or_else(|_| unreachable!());
        hub.release(&d.key, d.id, LeaveReason::Quit, None);
        assert_eq!(ana.taken(), [], "two members: still a crowd");
        hub.tick();
        assert_eq!(ana.taken(), [(0, "crowd 1 +1 -1 +dan -dan".to_owned())]);
        assert_eq!(hub.who(), [name("ana")]);
        let _ = a;
    }

    /// Review finding: a notice sent just before a leave that is not
    /// counted (the room fell below crowd-size) still counts the leaver
    /// among those online, as it was until its leave.
    #[test]
    fn the_notice_before_a_leave_counts_the_leaver_online() {
        let hub = LocalHub::new().crowded_from(3);
        let ana = Arc::new(Seen::default());
        hub.claim_now(&name("ana"), ana.clone(), false, |_| {})
            .unwrap_or_else(|_| unreachable!());
        let b = hub
            .claim_now(&name("bia"), Arc::new(Seen::default()), false, |_| {})
            .unwrap_or_else(|_| unreachable!());
        let c = hub
            .claim_now(&name("caio"), Arc::new(Seen::default()), false, |_| {})
            .unwrap_or_else(|_| unreachable!());
        hub.release(&c.key, c.id, LeaveReason::Quit, None);
        ana.taken();
        hub.release(&b.key, b.id, LeaveReason::Quit, None);
        assert_eq!(
            ana.taken(),
            [
                (0, "crowd 2 +1 -1 +caio -caio".to_owned()),
                (5, "leave bia quit".to_owned())
            ]
        );
    }

    #[test]
    fn keys_and_look_alikes_are_refused_until_released() {
        let hub = LocalHub::new();
        let alice = hub
            .claim_now(&name("alice"), Arc::new(Seen::default()), true, |_| {})
            .unwrap_or_else(|_| unreachable!());
        assert_eq!(
            hub.claim_now(&name("ALICE"), Arc::new(Seen::default()), true, |_| {})
                .err(),
            Some(Refusal::Clash(Clash::Taken(name("alice"))))
        );
        assert_eq!(
            hub.claim_now(&name("aIice"), Arc::new(Seen::default()), true, |_| {})
                .err(),
            Some(Refusal::Clash(Clash::LooksLike(name("alice"))))
        );
        hub.release(&alice.key, alice.id, LeaveReason::Lost, None);
        assert!(
            hub.claim_now(&name("aIice"), Arc::new(Seen::default()), true, |_| {})
                .is_ok()
        );
    }

    #[test]
    fn a_private_message_to_oneself_arrives_once_and_to_no_one_online_fails() {
        let hub = LocalHub::new();
        let alice = Arc::new(Seen::default());
        let a = hub
            .claim_now(&name("alice"), alice.clone(), true, |_| {})
            .unwrap_or_else(|_| unreachable!());
        hub.publish_private(&a.key, a.id, &name("alice"), text("note"))
            .unwrap_or_else(|_| unreachable!());
        assert_eq!(alice.taken().len(), 1);
        assert_eq!(
            hub.publish_private(&a.key, a.id, &name("zed"), text("x"))
                .err(),
            Some(Unpublished::NotOnline)
        );
    }
}
