//! The hub of a room shared by several server processes (nodes) through
//! Redis (spec §17). Redis decides: every claim, resume, release and
//! message is one call of a function in `cluster.lua`, which checks it,
//! numbers it and publishes it on one channel. Every node, this one
//! included, follows that channel in order and keeps a replica of the
//! room from it: who is online (and on which node), the recent public
//! messages and the event log. Delivery to this node's clients happens
//! only there, so every client everywhere sees one order.
//!
//! This file is the replica and the [`Hub`] face of it; the Redis side
//! (connections, the publisher, the lease) is `link.rs`, and the
//! channel's format `message.rs`. It never talks to Redis itself
//! and never waits: calls queue [`Command`]s and return.

pub mod link;
pub mod message;
pub mod recorder;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tagarela_parser::{HistoryQuery, LeaveReason, Name, NameKey, Text};
use tokio::sync::{Notify, mpsc, oneshot};

use crate::event::{Event, EventKind, Seq, wall_clock};
use crate::flow::pressure::Pressure;
use crate::hub::cluster::message::{Body, ClusterMessage};
use crate::hub::recent::Recent;
use crate::hub::resume::ResumeToken;
use crate::hub::room::{Greeting, Room, Seat};
use crate::hub::{
    Answer, Claimed, Clash, Entrant, Hub, Published, Recipient, Refusal, RegId, Unpublished,
    Welcomer,
};
use crate::ops::metrics::Metrics;
use crate::store::Entry;

/// Messages (public and private) queued for Redis at most; past it a
/// sender is told `ERR unavailable` (§17.4). Claims and releases are not
/// counted: there is at most one of each per connection.
pub const QUEUE_MAX: usize = 4096;

/// Claims and resumes waiting for Redis at most, whatever the connection
/// limit (which sets it below this).
pub const CLAIMS_MAX: usize = 1 << 20;

/// Messages queued for Redis past which senders are held back (§11.1),
/// as by a reader behind: a burst waits rather than being refused.
pub const PRESS_AT: usize = 1024;

/// Messages queued below which the senders go on.
pub const RELEASE_AT: usize = 256;

/// What a node asks of Redis, in the order its clients asked.
#[derive(Debug)]
pub enum Command {
    /// Take a name (`tagarela_claim`).
    Claim {
        node: Arc<str>,
        reg: RegId,
        name: Name<'static>,
        token: String,
    },
    /// Take a name back with a token (`tagarela_resume`).
    Resume {
        node: Arc<str>,
        reg: RegId,
        name: Name<'static>,
        presented: String,
        token: String,
    },
    /// Give a name up (`tagarela_release`).
    Release {
        node: Arc<str>,
        reg: RegId,
        key: NameKey,
        reason: LeaveReason,
        text: Option<Text<'static>>,
    },
    /// A public message (`tagarela_public`).
    Public {
        node: Arc<str>,
        reg: RegId,
        key: NameKey,
        text: Text<'static>,
    },
    /// A private message (`tagarela_private`), for the holding of `to`
    /// that began at `since`.
    Private {
        node: Arc<str>,
        reg: RegId,
        key: NameKey,
        to: Name<'static>,
        since: Seq,
        text: Text<'static>,
    },
}

/// What Redis said to a [`Command`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Done; for a claim or resume, its event is on the channel.
    Done,
    /// The name (or a look-alike) is held by this display name.
    Taken(String),
    /// A look-alike of the name is held by this display name.
    LooksLike(String),
    /// The resume token does not go with the name.
    Token,
    /// The sender holds no such name (any more).
    NotHeld,
    /// The private message's recipient is not online.
    Absent,
    /// This node's lease is gone: it is no longer part of the cluster.
    Fenced,
    /// Redis did not answer, or not as expected: what happened is unknown.
    Failed,
}

/// A name held somewhere in the cluster, as a snapshot gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holding {
    /// The name (display form).
    pub name: Name<'static>,
    /// Where this holding began (a private message is for it only).
    pub since: Seq,
}

/// The room as a node starts following it (`tagarela_enter`).
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The last number given.
    pub seq: Seq,
    /// Who is online, anywhere in the cluster.
    pub names: Vec<Holding>,
    /// The latest kept public messages, newest first.
    pub history: Vec<Arc<Event>>,
}

/// The channel skipped a number: this node missed events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    pub expected: Seq,
    pub got: Seq,
}

/// A claim or resume sent to Redis, until its event comes back.
struct Waiting {
    /// The client's address, for the records of its events.
    peer: SocketAddr,
    recipient: Arc<dyn Recipient>,
    welcome: Welcomer,
    answer: oneshot::Sender<Result<Claimed, Refusal>>,
    /// For a resume: the number the client gave.
    after: Option<Seq>,
    /// The token the welcome gives.
    token: Option<ResumeToken>,
}

impl std::fmt::Debug for Waiting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waiting")
            .field("after", &self.after)
            .finish()
    }
}

/// The room as this node knows it, behind one lock.
#[derive(Debug)]
struct Replica {
    /// This node's name in the cluster while it follows the channel
    /// (`None`: not in the cluster just now; nothing is served).
    node: Option<Arc<str>>,
    /// Everyone online anywhere (for refusing a clash without asking
    /// Redis), this node's clients among them, as the channel says.
    room: Room,
    /// Claims and resumes in flight, by registration.
    waiting: HashMap<RegId, Waiting>,
    /// The address of each registration of this node, while it holds a
    /// name, for the records of its events (only if any are kept).
    peers: HashMap<RegId, SocketAddr>,
    /// Whether events are recorded (an audit log is kept).
    recording: bool,
}

impl Replica {
    /// This node's name, if registration `id` of it holds `from`.
    fn sender(&self, from: &NameKey, id: RegId) -> Result<Arc<str>, Unpublished> {
        let node = self.node.clone().ok_or(Unpublished::Unavailable)?;
        self.room.seat(from, id).ok_or(Unpublished::NotHeld)?;
        Ok(node)
    }
}

/// A room shared through Redis.
#[derive(Debug)]
pub struct ClusterHub {
    replica: Mutex<Replica>,
    /// To the link's publisher, in order: room for [`QUEUE_MAX`] messages,
    /// `claims_max` claims and resumes, and a release for each of those
    /// and for each name held (one per allowed connection): more than can
    /// be waiting.
    commands: mpsc::Sender<Command>,
    /// Claims and resumes sent and not yet answered by Redis.
    claims: AtomicUsize,
    /// Claims and resumes waiting at most (the connection limit): past it
    /// a name is answered `ERR unavailable`, so clients that send a name
    /// and hang up while Redis is slow cannot crowd out releases.
    claims_max: usize,
    /// A claim or release found `commands` full all the same: this node
    /// must leave the cluster (its names are then released as it enters
    /// again), rather than hold a name it meant to give up.
    overflowed: AtomicBool,
    /// Messages queued and not yet answered by Redis.
    queued: AtomicUsize,
    /// Holds the senders back while Redis is behind (spec §11.1).
    pressure: Arc<Pressure>,
    /// Whether this hub is holding them back now.
    pressing: AtomicBool,
    /// The last registration given on this node.
    last_reg: AtomicU64,
    /// Told when this node must leave the cluster and enter it again.
    cut: Arc<Notify>,
    /// Counts who is registered here, and the node's comings and goings.
    metrics: Arc<Metrics>,
}

impl ClusterHub {
    /// A hub not yet in the cluster, and the receiving end of its
    /// commands (for the link). `recent`: the room keeps history and
    /// replays `replay` messages to a newcomer.
    /// `recording`: [`ClusterHub::apply`] returns entries for this
    /// node's clients' events, for the sinks. `crowd_size`: from how many
    /// members joins and leaves go into crowd notices (§18; 0: never).
    pub fn new(
        metrics: Arc<Metrics>,
        pressure: Arc<Pressure>,
        recent: Option<Recent>,
        replay: usize,
        recording: bool,
        crowd_size: usize,
        max_connections: usize,
    ) -> (Arc<ClusterHub>, mpsc::Receiver<Command>) {
        let claims_max = max_connections.clamp(1, CLAIMS_MAX);
        let room = QUEUE_MAX + 3 * claims_max + 64;
        let (commands, receiver) = mpsc::channel(room);
        let hub = ClusterHub {
            replica: Mutex::new(Replica {
                node: None,
                room: Room::new(&metrics, recent, replay, crowd_size),
                waiting: HashMap::new(),
                peers: HashMap::new(),
                recording,
            }),
            commands,
            claims: AtomicUsize::new(0),
            claims_max,
            overflowed: AtomicBool::new(false),
            queued: AtomicUsize::new(0),
            pressure,
            pressing: AtomicBool::new(false),
            last_reg: AtomicU64::new(0),
            cut: Arc::new(Notify::new()),
            metrics,
        };
        (Arc::new(hub), receiver)
    }

    fn lock(&self) -> MutexGuard<'_, Replica> {
        self.replica.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The last number this node applied.
    pub fn last_seq(&self) -> Seq {
        self.lock().room.last_seq()
    }

    /// Fires when this node must leave the cluster and enter it again.
    pub fn cut_signal(&self) -> Arc<Notify> {
        Arc::clone(&self.cut)
    }

    /// This node's name in the cluster, while it is in it.
    pub fn node(&self) -> Option<Arc<str>> {
        self.lock().node.clone()
    }

    /// Starts following the room as `node`, from `snapshot` (every event
    /// numbered after it comes from the channel).
    pub fn enter(&self, node: Arc<str>, snapshot: Snapshot) {
        let mut r = self.lock();
        r.peers.clear();
        // An overflow of an earlier incarnation is not this one's.
        self.overflowed.store(false, Ordering::Release);
        r.room
            .load(snapshot.seq, snapshot.history.into_iter().rev());
        for Holding { name, since } in snapshot.names {
            r.room.add_member(name, since);
        }
        tracing::info!(node = %node, seq = %snapshot.seq, online = r.room.online(), "in the cluster");
        r.node = Some(node);
        self.metrics.cluster_up.set(1);
    }

    /// Leaves the cluster (Redis is unreachable, the channel skipped, or
    /// the lease expired), if this node is in it as `node` (not an
    /// earlier incarnation, whose news is stale): every client of this
    /// node is closed with `BYE unavailable`, and every claim in flight
    /// is answered `ERR unavailable`. The names are released by Redis
    /// when the lease ends (or at once when this node enters again).
    /// Idempotent.
    pub fn cut_off_if(&self, node: &str, why: &str) {
        let mut r = self.lock();
        if r.node.as_deref() != Some(node) {
            return;
        }
        let Some(node) = r.node.take() else {
            return;
        };
        let seats = r.room.unseat_all();
        tracing::warn!(node = %node, why, clients = seats.len(), "lost the cluster; closing this node's clients");
        self.metrics.cluster_up.set(0);
        self.metrics.cluster_cutoffs.inc();
        for seat in seats {
            self.metrics.registered.dec();
            seat.recipient.cut_off();
        }
        // Dropping the answers tells each waiting client `unavailable`.
        r.waiting.clear();
        drop(r);
        self.cut.notify_one();
    }

    /// Queues `command`, unless it is a message, a claim or a resume and
    /// its bound is reached.
    fn send(&self, command: Command) -> bool {
        let message = matches!(command, Command::Public { .. } | Command::Private { .. });
        let claim = matches!(command, Command::Claim { .. } | Command::Resume { .. });
        if claim && self.claims.fetch_add(1, Ordering::AcqRel) >= self.claims_max {
            self.claims.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        if message {
            let queued = self.queued.fetch_add(1, Ordering::Relaxed);
            if queued >= QUEUE_MAX {
                self.dequeued();
                return false;
            }
            if queued + 1 >= PRESS_AT && !self.pressing.swap(true, Ordering::AcqRel) {
                self.pressure.press();
            }
        }
        let sent = match self.commands.try_send(command) {
            Ok(()) => true,
            // Only a release can find it full (the room is counted), and
            // a name meant to be given up must not stay held.
            Err(mpsc::error::TrySendError::Full(_)) if !message && !claim => {
                self.overflowed.store(true, Ordering::Release);
                self.cut.notify_one();
                false
            }
            Err(_) => false,
        };
        if message && !sent {
            self.dequeued();
        }
        if claim && !sent {
            self.claims.fetch_sub(1, Ordering::AcqRel);
        }
        sent
    }

    /// Whether a claim or release found the queue to Redis full since the
    /// last ask (then this node must leave the cluster).
    pub fn take_overflow(&self) -> bool {
        self.overflowed.swap(false, Ordering::AcqRel)
    }

    /// A queued message was answered (or never sent).
    fn dequeued(&self) {
        let left = self
            .queued
            .fetch_sub(1, Ordering::Relaxed)
            .saturating_sub(1);
        if left <= RELEASE_AT && self.pressing.swap(false, Ordering::AcqRel) {
            self.pressure.release();
        }
    }

    /// Queues a message for Redis.
    fn queue(&self, command: Command) -> Result<Published, Unpublished> {
        if self.send(command) {
            Ok(Published::Queued)
        } else {
            Err(Unpublished::Unavailable)
        }
    }

    fn next_reg(&self) -> RegId {
        RegId(self.last_reg.fetch_add(1, Ordering::Relaxed) + 1)
    }

    /// Registers a claim or resume and queues it.
    fn ask(
        &self,
        entrant: Entrant,
        after: Option<Seq>,
        token: Option<ResumeToken>,
        command: impl FnOnce(Arc<str>, RegId) -> Command,
    ) -> Answer {
        let mut r = self.lock();
        let Some(node) = r.node.clone() else {
            return Answer::Ready(Err(Refusal::Clash(Clash::Unavailable)));
        };
        let reg = self.next_reg();
        let (answer, pending) = oneshot::channel();
        r.waiting.insert(
            reg,
            Waiting {
                peer: entrant.peer,
                recipient: entrant.recipient,
                welcome: entrant.welcome,
                answer,
                after,
                token,
            },
        );
        if !self.send(command(node, reg)) {
            r.waiting.remove(&reg);
            return Answer::Ready(Err(Refusal::Clash(Clash::Unavailable)));
        }
        Answer::Pending(pending)
    }

    /// What Redis said to `command` (the link calls this, in order).
    pub fn answered(&self, command: &Command, verdict: Verdict) {
        match command {
            Command::Claim { reg, .. } | Command::Resume { reg, .. } => {
                self.claims.fetch_sub(1, Ordering::AcqRel);
                let refusal = match verdict {
                    Verdict::Done => return,
                    Verdict::Taken(holder) => Name::normalize(&holder)
                        .map(|h| Refusal::Clash(Clash::Taken(h)))
                        .unwrap_or(Refusal::Clash(Clash::Unavailable)),
                    Verdict::LooksLike(holder) => Name::normalize(&holder)
                        .map(|h| Refusal::Clash(Clash::LooksLike(h)))
                        .unwrap_or(Refusal::Clash(Clash::Unavailable)),
                    Verdict::Token => Refusal::Token,
                    _ => Refusal::Clash(Clash::Unavailable),
                };
                if let Some(waiting) = self.lock().waiting.remove(reg) {
                    let _ = waiting.answer.send(Err(refusal));
                }
            }
            Command::Public { .. } => self.dequeued(),
            Command::Private { key, reg, to, .. } => {
                self.dequeued();
                if verdict == Verdict::Absent {
                    let r = self.lock();
                    if let Some(seat) = r.room.seat(key, *reg) {
                        seat.recipient.undeliverable(to);
                    }
                }
            }
            Command::Release { .. } => {}
        }
    }

    /// Applies one message from the channel: updates the replica and
    /// delivers the event to this node's clients. A skipped number is a
    /// [`Gap`]: the caller must leave the cluster and enter it again.
    /// Returns the record of the event if this node's client caused it
    /// (and events are recorded), joins included.
    pub fn apply(&self, message: ClusterMessage) -> Result<Option<Entry>, Gap> {
        let mut r = self.lock();
        let Some(node) = r.node.clone() else {
            return Ok(None);
        };
        let moved = matches!(message.body, Body::Moved { .. });
        let last = r.room.last_seq();
        let expected = if moved { last } else { Seq(last.0 + 1) };
        if message.seq < expected {
            // From before the snapshot this node entered with.
            return Ok(None);
        }
        if message.seq != expected {
            return Err(Gap {
                expected,
                got: message.seq,
            });
        }
        let ours = *message.node == *node;
        let (seq, at, reg) = (message.seq, message.at, message.reg);
        let event = match message.body {
            Body::Join { name, since } => {
                let key = name.key();
                let event = r.room.join(seq, at, name.clone(), since);
                if ours {
                    let greeting = Greeting::Newcomer { join: event.seq };
                    let join = Some(Arc::clone(&event));
                    self.admit(&mut r, &node, reg, key, name, greeting, since, join);
                }
                event
            }
            Body::Moved {
                name,
                since,
                old_node,
                old_reg,
            } => {
                let key = name.key();
                if *old_node == *node
                    && let Some(old) = r.room.unseat(&key, old_reg)
                {
                    self.metrics.registered.dec();
                    r.peers.remove(&old_reg);
                    old.recipient.replaced();
                }
                if ours {
                    let greeting = Greeting::Newcomer { join: since };
                    self.admit(&mut r, &node, reg, key, name, greeting, since, None);
                }
                return Ok(None);
            }
            Body::Event(kind) => {
                let accepted = r.room.accept(seq, at, kind);
                if let Some(seat) = accepted.unseated {
                    // Released by Redis while this node still served it
                    // (a lease that ran out): it holds the name no more.
                    self.metrics.registered.dec();
                    seat.recipient.cut_off();
                }
                accepted.event
            }
        };
        if !ours {
            return Ok(None);
        }
        // Recorded here, in the channel's order, joins included. A leave
        // ends the registration: its address goes.
        let peer = match event.kind {
            EventKind::Leave { .. } => r.peers.remove(&reg),
            _ => r.peers.get(&reg).copied(),
        };
        Ok(peer.map(|peer| Entry { event, peer }))
    }

    /// This node's claim or resume `reg` took effect (its join, or its
    /// move, was just applied): the client is welcomed and answered, under
    /// the lock, so what it is sent comes before any later event. A name
    /// nobody here waits for any more is given up at once.
    #[allow(clippy::too_many_arguments)]
    fn admit(
        &self,
        r: &mut Replica,
        node: &Arc<str>,
        reg: RegId,
        key: NameKey,
        name: Name<'static>,
        greeting: Greeting,
        since: Seq,
        join: Option<Arc<Event>>,
    ) {
        let Some(waiting) = r.waiting.remove(&reg) else {
            self.give_up(node, reg, key);
            return;
        };
        let greeting = match waiting.after {
            Some(after) => Greeting::Resumed { since, after },
            None => greeting,
        };
        (waiting.welcome)(r.room.welcome(name, &key, greeting, waiting.token));
        let claimed = Claimed {
            key: key.clone(),
            join,
            join_recorded: r.recording,
            id: reg,
        };
        if waiting.answer.send(Ok(claimed)).is_err() {
            // The connection closed while it waited.
            self.give_up(node, reg, key);
            return;
        }
        self.metrics.registered.inc();
        if r.recording {
            r.peers.insert(reg, waiting.peer);
        }
        let seat = Seat {
            recipient: waiting.recipient,
            reg,
        };
        r.room.sit(key, seat);
    }

    /// Releases a name this node holds for nobody.
    fn give_up(&self, node: &Arc<str>, reg: RegId, key: NameKey) {
        self.send(Command::Release {
            node: Arc::clone(node),
            reg,
            key,
            reason: LeaveReason::Lost,
            text: None,
        });
    }
}

/// The hex SHA-256 of a resume token: Redis keeps only this.
pub fn token_digest(token: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

impl Hub for ClusterHub {
    fn claim(&self, entrant: Entrant, resumable: bool) -> Answer {
        {
            // Refused here when the replica already shows the clash: Redis
            // decides the rest.
            let r = self.lock();
            if r.node.is_none() {
                return Answer::Ready(Err(Refusal::Clash(Clash::Unavailable)));
            }
            let name = &entrant.name;
            if let Some(clash) = r.room.clash(&name.key(), &name.skeletons()) {
                return Answer::Ready(Err(Refusal::Clash(clash)));
            }
        }
        let token = resumable.then(ResumeToken::generate).flatten();
        let digest = token.map(|t| token_digest(&t.hex())).unwrap_or_default();
        let name = entrant.name.clone();
        self.ask(entrant, None, token, move |node, reg| Command::Claim {
            node,
            reg,
            name,
            token: digest,
        })
    }

    fn resume(&self, entrant: Entrant, token: &str, after: Seq) -> Answer {
        let new = ResumeToken::generate();
        let digest = new.map(|t| token_digest(&t.hex())).unwrap_or_default();
        let presented = token_digest(token);
        let name = entrant.name.clone();
        self.ask(entrant, Some(after), new, move |node, reg| {
            Command::Resume {
                node,
                reg,
                name,
                presented,
                token: digest,
            }
        })
    }

    fn release(
        &self,
        key: &NameKey,
        id: RegId,
        reason: LeaveReason,
        text: Option<Text<'static>>,
    ) -> Option<Published> {
        let mut r = self.lock();
        let node = r.node.clone()?;
        r.room.unseat(key, id)?;
        self.metrics.registered.dec();
        self.send(Command::Release {
            node,
            reg: id,
            key: key.clone(),
            reason,
            text,
        });
        Some(Published::Queued)
    }

    fn publish_public(
        &self,
        from: &NameKey,
        id: RegId,
        text: Text<'static>,
    ) -> Result<Published, Unpublished> {
        let r = self.lock();
        let node = r.sender(from, id)?;
        self.queue(Command::Public {
            node,
            reg: id,
            key: from.clone(),
            text,
        })
    }

    fn publish_private(
        &self,
        from: &NameKey,
        id: RegId,
        to: &Name<'_>,
        text: Text<'static>,
    ) -> Result<Published, Unpublished> {
        let r = self.lock();
        let node = r.sender(from, id)?;
        let Some(target) = r.room.member(&to.key()) else {
            return Err(Unpublished::NotOnline);
        };
        self.queue(Command::Private {
            node,
            reg: id,
            key: from.clone(),
            to: target.name.clone(),
            since: target.since,
            text,
        })
    }

    fn who(&self) -> Vec<Name<'static>> {
        self.lock().room.who()
    }

    fn history(&self, query: &HistoryQuery, default: usize) -> Option<Vec<Arc<Event>>> {
        self.lock().room.history(query, default)
    }

    fn is_ready(&self) -> bool {
        self.lock().node.is_some()
    }

    fn tick(&self) {
        let mut r = self.lock();
        if r.node.is_some() {
            // The time of the latest event applied: no earlier than those
            // counted, no later than the next (events carry Redis's
            // clock; this node's own must never push theirs forward,
            // §17.2).
            let at = r.room.last_at().unwrap_or_else(wall_clock);
            r.room.tick(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::hub::Welcome;
    use crate::hub::seen::Seen;
    use tagarela_parser::Timestamp;

    fn name(s: &str) -> Name<'static> {
        Name::normalize(s).unwrap_or_else(|_| unreachable!())
    }

    fn peer() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 1))
    }

    fn message(text: &str) -> ClusterMessage {
        ClusterMessage::parse(text.replace('|', "\n").as_bytes()).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A hub in the cluster as node `n1` at number 10, and its commands.
    fn entered() -> (Arc<ClusterHub>, mpsc::Receiver<Command>) {
        entered_crowded_from(0)
    }

    /// The same, counting joins and leaves from `crowd_size` members (§18).
    fn entered_crowded_from(crowd_size: usize) -> (Arc<ClusterHub>, mpsc::Receiver<Command>) {
        let (hub, commands) = ClusterHub::new(
            Arc::default(),
            Arc::new(Pressure::new()),
            None,
            0,
            false,
            crowd_size,
            100,
        );
        let snapshot = Snapshot {
            seq: Seq(10),
            names: vec![Holding {
                name: name("zoe"),
                since: Seq(3),
            }],
            history: Vec::new(),
        };
        hub.enter("n1".into(), snapshot);
        (hub, commands)
    }

    /// A crowd notice is stamped with the latest event's time (Redis's
    /// clock), never this node's: a node whose clock runs ahead must not
    /// push the times of the events it shows next into its future.
    #[test]
    fn a_crowd_notice_takes_its_time_from_the_events_not_the_node() {
        let (hub, mut commands) = entered_crowded_from(2);
        let (ana, _) = joined(&hub, &mut commands, "ana", 11);
        hub.tick();
        assert_eq!(said(&ana), ["crowd 2 +1 -0 +ana"]);
        let at = |ms| Timestamp::from_unix_ms(ms);
        assert_eq!(
            ana.crowd_times(),
            [at(1000)].into_iter().flatten().collect::<Vec<_>>()
        );
        assert_eq!(
            hub.lock().room.last_at(),
            at(1000),
            "the join's time, not now"
        );
        hub.apply(message("P|12|1500|n2|1|zoe|hi"))
            .unwrap_or_else(|g| panic!("{g:?}"));
        assert_eq!(hub.lock().room.last_at(), at(1500));
    }

    /// Issue 20, finding 3: the queue to Redis is bounded. Claims have a
    /// bound of their own (the connection limit): past it a name is
    /// answered `unavailable` and the node stays; only a release that
    /// finds the queue full makes the node leave the cluster, rather than
    /// wait or keep a name it meant to give up.
    #[test]
    fn the_queue_of_commands_is_bounded_and_only_a_lost_release_makes_the_node_leave() {
        let (hub, _commands) = ClusterHub::new(
            Arc::default(),
            Arc::new(Pressure::new()),
            None,
            0,
            false,
            0,
            1,
        );
        hub.enter("n1".into(), Snapshot::default());
        let ask = |who: &str| {
            hub.claim(
                Entrant {
                    name: name(who),
                    peer: peer(),
                    recipient: Arc::new(Seen::default()),
                    welcome: Box::new(|_| {}),
                },
                false,
            )
        };
        assert!(matches!(ask("ana"), Answer::Pending(_)));
        assert!(matches!(
            ask("bia"),
            Answer::Ready(Err(Refusal::Clash(Clash::Unavailable)))
        ));
        assert!(
            !hub.take_overflow(),
            "a refused claim is no reason to leave"
        );
        let release = |i: usize| Command::Release {
            node: "n1".into(),
            reg: RegId(i as u64),
            key: name(&format!("r{i}")).key(),
            reason: LeaveReason::Lost,
            text: None,
        };
        let room = QUEUE_MAX + 3 + 64 - 1;
        for i in 0..room {
            assert!(hub.send(release(i)), "room for {i}");
        }
        assert!(!hub.take_overflow());
        assert!(!hub.send(release(room)));
        assert!(hub.take_overflow(), "the follow loop is told to leave");
    }

    /// Claims `who` on `hub`; returns the registration and the answer.
    fn claim(
        hub: &ClusterHub,
        commands: &mut mpsc::Receiver<Command>,
        who: &str,
        seen: Arc<Seen>,
    ) -> (RegId, oneshot::Receiver<Result<Claimed, Refusal>>) {
        let welcomed = Arc::clone(&seen);
        let answer = hub.claim(
            Entrant {
                name: name(who),
                peer: peer(),
                recipient: seen,
                welcome: Box::new(move |w: Welcome| {
                    welcomed.note(format!("welcome {} {}", w.name, w.online))
                }),
            },
            false,
        );
        let Answer::Pending(pending) = answer else {
            panic!("a cluster answers later: {answer:?}");
        };
        match commands.try_recv() {
            Ok(Command::Claim { reg, .. }) => (reg, pending),
            other => panic!("{other:?}"),
        }
    }

    /// Claims `who` and applies its join (number `seq`); returns what it
    /// sees from then on and its registration.
    fn joined(
        hub: &ClusterHub,
        commands: &mut mpsc::Receiver<Command>,
        who: &str,
        seq: u64,
    ) -> (Arc<Seen>, RegId) {
        let seen = Arc::new(Seen::default());
        let (reg, _answer) = claim(hub, commands, who, Arc::clone(&seen));
        hub.apply(message(&format!("J|{seq}|1000|n1|{reg}|{who}|{seq}")))
            .unwrap_or_else(|g| panic!("{g:?}"));
        seen.taken();
        (seen, reg)
    }

    fn said(seen: &Seen) -> Vec<String> {
        seen.taken()
            .into_iter()
            .map(|(seq, what)| match seq {
                0 => what,
                n => format!("{n} {what}"),
            })
            .collect()
    }

    #[test]
    fn a_claim_is_answered_when_its_join_comes_back_and_others_see_it() {
        let (hub, mut commands) = entered();
        let ana = Arc::new(Seen::default());
        let (reg, mut answer) = claim(&hub, &mut commands, "ana", Arc::clone(&ana));
        assert!(answer.try_recv().is_err(), "nothing before the join");
        hub.apply(message(&format!("J|11|1000|n1|{reg}|ana|11")))
            .unwrap_or_else(|g| panic!("{g:?}"));
        let claimed = answer.try_recv().unwrap_or_else(|e| panic!("{e}"));
        let claimed = claimed.unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(claimed.id, reg);
        assert_eq!(said(&ana), vec!["welcome ana 2"]);
        joined(&hub, &mut commands, "bia", 12);
        hub.apply(message("P|13|1000|n2|1|zoe|hi"))
            .unwrap_or_else(|g| panic!("{g:?}"));
        assert_eq!(said(&ana), vec!["12 join bia", "13 zoe: hi"]);
        let mut who: Vec<String> = hub.who().iter().map(|n| n.to_string()).collect();
        who.sort();
        assert_eq!(who, vec!["ana", "bia", "zoe"]);
    }

    #[test]
    fn a_skipped_number_is_a_gap_and_older_ones_are_ignored() {
        let (hub, _commands) = entered();
        assert!(hub.apply(message("P|9|1000|n2|1|zoe|old")).is_ok());
        assert_eq!(
            hub.apply(message("P|12|1000|n2|1|zoe|skipped")).err(),
            Some(Gap {
                expected: Seq(11),
                got: Seq(12)
            })
        );
    }

    #[test]
    fn a_refused_claim_is_answered_with_its_clash() {
        let (hub, mut commands) = entered();
        let (reg, mut answer) = claim(&hub, &mut commands, "ana", Arc::default());
        let command = Command::Claim {
            node: "n1".into(),
            reg,
            name: name("ana"),
            token: String::new(),
        };
        hub.answered(&command, Verdict::Taken("ANA".into()));
        assert_eq!(
            answer.try_recv().ok().and_then(Result::err),
            Some(Refusal::Clash(Clash::Taken(name("ANA"))))
        );
        // The replica already shows zoe: refused without asking Redis.
        let answer = hub.claim(
            Entrant {
                name: name("Zoe"),
                peer: peer(),
                recipient: Arc::new(Seen::default()),
                welcome: Box::new(|_| {}),
            },
            false,
        );
        assert!(matches!(
            answer,
            Answer::Ready(Err(Refusal::Clash(Clash::Taken(_))))
        ));
    }

    #[test]
    fn a_join_nobody_here_waits_for_is_given_up() {
        let (hub, mut commands) = entered();
        let (reg, answer) = claim(&hub, &mut commands, "ana", Arc::default());
        drop(answer);
        hub.apply(message(&format!("J|11|1000|n1|{reg}|ana|11")))
            .unwrap_or_else(|g| panic!("{g:?}"));
        assert!(matches!(
            commands.try_recv(),
            Ok(Command::Release { reg: r, reason: LeaveReason::Lost, .. }) if r == reg
        ));
    }

    #[test]
    fn a_name_moved_away_replaces_the_old_connection() {
        let (hub, mut commands) = entered();
        let (ana, reg) = joined(&hub, &mut commands, "ana", 11);
        hub.apply(message(&format!("M|11|0|n2|7|ana|11|n1|{reg}")))
            .unwrap_or_else(|g| panic!("{g:?}"));
        assert_eq!(said(&ana), vec!["replaced"]);
        // Its later lines and release are nobody's.
        assert_eq!(
            hub.publish_public(
                &name("ana").key(),
                reg,
                Text::new("x".to_owned()).unwrap_or_else(|_| unreachable!())
            )
            .err(),
            Some(Unpublished::NotHeld)
        );
        assert!(
            hub.release(&name("ana").key(), reg, LeaveReason::Lost, None)
                .is_none()
        );
    }

    #[test]
    fn losing_the_cluster_closes_every_client_and_answers_every_claim() {
        let (hub, mut commands) = entered();
        let (ana, _) = joined(&hub, &mut commands, "ana", 11);
        let (_, mut waiting) = claim(&hub, &mut commands, "bia", Arc::default());
        hub.cut_off_if("n1", "test");
        assert_eq!(said(&ana), vec!["cut off"]);
        assert!(matches!(
            waiting.try_recv(),
            Err(oneshot::error::TryRecvError::Closed)
        ));
        let answer = hub.claim(
            Entrant {
                name: name("cai"),
                peer: peer(),
                recipient: Arc::new(Seen::default()),
                welcome: Box::new(|_| {}),
            },
            false,
        );
        assert!(matches!(
            answer,
            Answer::Ready(Err(Refusal::Clash(Clash::Unavailable)))
        ));
        assert!(hub.node().is_none());
    }

    #[test]
    fn a_name_reaped_while_served_here_is_cut_off() {
        let (hub, mut commands) = entered();
        let (ana, reg) = joined(&hub, &mut commands, "ana", 11);
        hub.apply(message(&format!("L|12|1000|n1|{reg}|ana|lost|")))
            .unwrap_or_else(|g| panic!("{g:?}"));
        assert_eq!(said(&ana), vec!["cut off"]);
    }
}
