//! The hub of a room that lives in this one process: a [`Room`] behind
//! one lock, numbered here, plus what only a process of its own keeps:
//! the resume tokens of its clients and of those that left (spec §16.6).
//! The lock is held only for map work and queue appends, which never
//! wait, so it is never held across an `.await`. Knows nothing of wire
//! formats.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tagarela_parser::{HistoryQuery, Name, NameKey};
use tokio::time::Instant;

use crate::event::{Event, EventKind, Seq, wall_clock};
use crate::hub::event_log::LOG_MAX;
use crate::hub::recent::Recent;
use crate::hub::resume::{RESUME_KEEP, ResumeToken};
use crate::hub::room::{Greeting, Room, Seat};
use crate::hub::{
    Answer, Claimed, Entrant, Hub, Leaving, Published, Recipient, Refusal, RegId, Registration,
    Said, Unpublished, Welcome,
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
            registration: Registration { key, id },
            join: Some(join),
            join_recorded: false,
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

    fn release(&self, holder: &Registration, leaving: Leaving) -> Option<Published> {
        self.leave(holder, leaving).map(Published::Numbered)
    }

    fn publish(&self, from: &Registration, said: Said<'_>) -> Result<Published, Unpublished> {
        let mut r = self.lock();
        r.room
            .seat(&from.key, from.id)
            .ok_or(Unpublished::NotHeld)?;
        let sender = r.room.member(&from.key).ok_or(Unpublished::NotHeld)?;
        let kind = match said {
            Said::Public(text) => EventKind::Public {
                from: sender.name.clone(),
                text,
            },
            Said::Private { to, text } => EventKind::Private {
                from: sender.name.clone(),
                to: r
                    .room
                    .member(&to.key())
                    .ok_or(Unpublished::NotOnline)?
                    .name
                    .clone(),
                text,
            },
        };
        let seq = r.room.next_seq();
        let accepted = r.room.accept(seq, wall_clock(), kind);
        Ok(Published::Numbered(accepted.event))
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
                registration: Registration { key, id },
                join: None,
                join_recorded: false,
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
    fn leave(&self, holder: &Registration, leaving: Leaving) -> Option<Arc<Event>> {
        let Registration { key, id } = holder;
        let (key, id) = (key, *id);
        let Leaving { reason, text } = leaving;
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
mod tests;
