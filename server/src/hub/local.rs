//! The hub of a room that lives in this one process: a [`Room`] behind
//! one lock, numbered here, plus what only a process of its own keeps:
//! the resume tokens of its clients and of those that left (spec §16.6).
//! The lock is held only for map work and queue appends, which never
//! wait, so it is never held across an `.await`. Knows nothing of wire
//! formats.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tagarela_parser::{HistoryQuery, LeaveReason, Name, NameKey, Text};
use tokio::time::Instant;

use crate::event::{Event, EventKind, Seq, wall_clock};
use crate::hub::event_log::LOG_MAX;
use crate::hub::recent::Recent;
use crate::hub::resume::ResumeToken;
use crate::hub::room::{Greeting, Room, Seat};
use crate::hub::{
    Answer, Claimed, Entrant, Hub, Published, Recipient, Refusal, RegId, Unpublished, Welcome,
};
use crate::ops::metrics::Metrics;
use crate::store::history::Loaded;

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
#[derive(Debug)]
struct Registry {
    /// Who is online, the numbering, the recent messages and the log.
    room: Room,
    /// The token of each registration that asked for one: what takes
    /// its name back after a lost connection (§16.6).
    tokens: HashMap<RegId, ResumeToken>,
    /// Resumable clients that left, by name, until their tokens expire.
    departed: HashMap<NameKey, Departed>,
    /// The last registration id given.
    last_id: RegId,
}

impl Registry {
    /// A new registration id.
    fn next_id(&mut self) -> RegId {
        self.last_id.0 += 1;
        self.last_id
    }
}

/// A room in this process.
#[derive(Debug)]
pub struct LocalHub {
    registry: Mutex<Registry>,
    /// Counts who is registered.
    metrics: Arc<Metrics>,
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
        LocalHub::holding(Room::new(&metrics, None, 0, 0), metrics)
    }

    fn holding(room: Room, metrics: Arc<Metrics>) -> Self {
        let registry = Registry {
            room,
            tokens: HashMap::new(),
            departed: HashMap::new(),
            last_id: RegId::default(),
        };
        LocalHub {
            registry: Mutex::new(registry),
            metrics,
        }
    }

    /// The same room, with joins and leaves counted into crowd notices
    /// from `size` members on (§18; 0: never).
    pub fn crowded_from(self, size: usize) -> Self {
        self.lock().room.count_crowds_from(size);
        self
    }

    /// A room that keeps history (spec §16): it starts from what the
    /// store `loaded`, keeps what `recent` allows and replays the latest
    /// `replay` messages to each newcomer.
    pub fn with_history(
        metrics: Arc<Metrics>,
        loaded: Loaded,
        recent: Recent,
        replay: usize,
    ) -> Self {
        let mut room = Room::new(&metrics, Some(recent), replay, 0);
        room.load(Seq(loaded.next_seq.saturating_sub(1)), loaded.messages);
        LocalHub::holding(room, metrics)
    }

    /// Registers `name` (checked free), publishes its join and welcomes
    /// it, under the lock: a backlog for a newcomer, or what it missed
    /// for a client resuming a free name (`resumed`: where its holding
    /// began and the number it gave).
    fn admit(
        &self,
        r: &mut Registry,
        name: &Name<'static>,
        recipient: Arc<dyn Recipient>,
        resumable: bool,
        resumed: Option<Greeting>,
        welcome: impl FnOnce(Welcome),
    ) -> Claimed {
        let key = name.key();
        // Whoever held this name before is gone for good: its token no
        // longer takes it back, and nothing of its holding is replayed.
        r.departed.remove(&key);
        // Counted before anyone can see the join, so a scrape that
        // follows it always includes it.
        self.metrics.registered.inc();
        let seq = r.room.next_seq();
        let since = match resumed {
            Some(Greeting::Resumed { since, .. }) => since,
            _ => seq,
        };
        let join = r.room.join(seq, wall_clock(), name.clone(), since);
        let greeting = resumed.unwrap_or(Greeting::Newcomer { join: join.seq });
        let token = if resumable {
            ResumeToken::generate()
        } else {
            None
        };
        // Under the lock, before the newcomer is seated: its welcome and
        // backlog come before any event it can receive, and every message
        // accepted before this point is in the backlog (guarantee 5).
        welcome(r.room.welcome(name.clone(), &key, greeting, token));
        let id = r.next_id();
        if let Some(token) = token {
            r.tokens.insert(id, token);
        }
        r.room.sit(key.clone(), Seat { recipient, reg: id });
        Claimed {
            key,
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
    fn claim(&self, entrant: Entrant, resumable: bool) -> Answer {
        let Entrant {
            name,
            recipient,
            welcome,
            ..
        } = entrant;
        Answer::Ready(self.claim_now(&name, recipient, resumable, welcome))
    }

    fn resume(&self, entrant: Entrant, token: &str, after: Seq) -> Answer {
        let Entrant {
            name,
            recipient,
            welcome,
            ..
        } = entrant;
        Answer::Ready(self.resume_now(&name, token, after, recipient, welcome))
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
        r.room.seat(from, id).ok_or(Unpublished::NotHeld)?;
        let name = r
            .room
            .member(from)
            .ok_or(Unpublished::NotHeld)?
            .name
            .clone();
        let seq = r.room.next_seq();
        let kind = EventKind::Public { from: name, text };
        Ok(Published::Numbered(
            r.room.accept(seq, wall_clock(), kind).event,
        ))
    }

    fn publish_private(
        &self,
        from: &NameKey,
        id: RegId,
        to: &Name<'_>,
        text: Text<'static>,
    ) -> Result<Published, Unpublished> {
        let mut r = self.lock();
        r.room.seat(from, id).ok_or(Unpublished::NotHeld)?;
        let sender = r.room.member(from).ok_or(Unpublished::NotHeld)?;
        let target = r.room.member(&to.key()).ok_or(Unpublished::NotOnline)?;
        let kind = EventKind::Private {
            from: sender.name.clone(),
            to: target.name.clone(),
            text,
        };
        let seq = r.room.next_seq();
        Ok(Published::Numbered(
            r.room.accept(seq, wall_clock(), kind).event,
        ))
    }

    fn who(&self) -> Vec<Name<'static>> {
        self.lock().room.who()
    }

    fn history(&self, query: &HistoryQuery, default: usize) -> Option<Vec<Arc<Event>>> {
        self.lock().room.history(query, default)
    }

    fn tick(&self) {
        self.lock().room.tick(wall_clock());
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
        let mut r = self.lock();
        if let Some(clash) = r.room.clash(&name.key(), &name.skeletons()) {
            return Err(Refusal::Clash(clash));
        }
        Ok(self.admit(&mut r, name, recipient, resumable, None, welcome))
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
        let now = Instant::now();
        let mut r = self.lock();
        if let Some(member) = r.room.member(&key) {
            let (shown, since) = (member.name.clone(), member.since);
            let held_by = r.room.any_seat(&key).map(|s| s.reg);
            let old_token = held_by.and_then(|reg| r.tokens.get(&reg));
            if !old_token.is_some_and(|t| t.matches(token)) {
                return Err(Refusal::Token);
            }
            // Still held (its connection not yet found dead): the name
            // moves to the new connection, and nobody is told (guarantee 6).
            let id = r.next_id();
            let token = ResumeToken::generate();
            if let Some(token) = token {
                r.tokens.insert(id, token);
            }
            if let Some(old) = r.room.sit(key.clone(), Seat { recipient, reg: id }) {
                r.tokens.remove(&old.reg);
                old.recipient.replaced();
            }
            let greeting = Greeting::Resumed { since, after };
            welcome(r.room.welcome(shown.clone(), &key, greeting, token));
            tracing::debug!(name = %shown, "resumed on a new connection");
            return Ok(Claimed {
                key,
                join: None,
                join_recorded: false,
                id,
            });
        }
        let since = match r.departed.get(&key) {
            Some(d) if d.until > now && d.token.matches(token) => d.since,
            _ => return Err(Refusal::Token),
        };
        if let Some(clash) = r.room.clash(&key, &name.skeletons()) {
            return Err(Refusal::Clash(clash));
        }
        let resumed = Some(Greeting::Resumed { since, after });
        Ok(self.admit(&mut r, name, recipient, true, resumed, welcome))
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
        r.room.seat(key, id)?;
        let member = r.room.member(key)?;
        let (name, since) = (member.name.clone(), member.since);
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
                };
                r.departed.insert(key.clone(), departed);
            }
        }
        // Counted before anyone can see the LEAVE, so a scrape that follows
        // it never shows the client still registered.
        self.metrics.registered.dec();
        let seq = r.room.next_seq();
        let leave = EventKind::Leave { name, reason, text };
        Some(r.room.accept(seq, wall_clock(), leave).event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::Clash;
    use crate::hub::event_log::MISSED_BYTES_MAX;

    use crate::hub::seen::Seen;

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
        let b = hub
            .claim_now(&name("bob"), bob.clone(), true, |_| {})
            .unwrap_or_else(|_| unreachable!());
        assert_eq!(b.join.as_ref().map(|j| j.seq), Some(Seq(2)));
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
        hub.claim_now(&name("bob"), bob.clone(), true, |w: Welcome| {
            let online = w.online;
            welcomed = Some(online);
            bob_seen.note(format!("welcome {online}"));
        })
        .unwrap_or_else(|_| unreachable!());
        assert_eq!(welcomed, Some(2));
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
            Some(hub.lock().room.last_seq().0)
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
        let last = hub.lock().room.last_seq();
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
        let retention = crate::store::history::Retention {
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
            let r = hub.lock();
            let recent = r.room.recent().unwrap_or_else(|| unreachable!());
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
