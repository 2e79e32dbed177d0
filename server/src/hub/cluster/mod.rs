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

#[cfg(test)]
pub(crate) mod fixtures;
pub mod lifecycle;
pub mod link;
pub mod message;
pub mod queue;
pub mod recorder;

pub use queue::{Command, Verdict};

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tagarela_parser::{HistoryQuery, LeaveReason, Name, NameKey, RoomName};
use tokio::sync::{Notify, mpsc, oneshot};

use lifecycle::Incarnation;
use queue::CommandQueue;

use crate::event::{Event, EventKind, Seq, wall_clock};
use crate::flow::pressure::Pressure;
use crate::hub::cluster::message::{Body, ClusterMessage};
use crate::hub::hall::{Greeting, Hall, Seat};
use crate::hub::recent::Recent;
use crate::hub::resume::ResumeToken;
use crate::hub::{
    Answer, Claimed, Clash, Entrant, Hub, Leaving, Published, Recipient, Refusal, RegId,
    Registration, Said, Unpublished, Welcomer,
};
use crate::ops::metrics::Metrics;
use crate::store::Entry;

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
    node: Option<Incarnation>,
    /// Everyone online anywhere (for refusing a clash without asking
    /// Redis), this node's clients among them, as the channel says.
    hall: Hall,
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
    fn sender(&self, from: &NameKey, id: RegId) -> Result<Incarnation, Unpublished> {
        let node = self.node.clone().ok_or(Unpublished::Unavailable)?;
        self.hall.seat(from, id).ok_or(Unpublished::NotHeld)?;
        Ok(node)
    }
}

/// A room shared through Redis.
#[derive(Debug)]
pub struct ClusterHub {
    replica: Mutex<Replica>,
    /// What this node's clients ask of Redis, in order, bounded.
    queue: CommandQueue,
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
    /// `default_room`: the room every client is in (§19.7).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        metrics: Arc<Metrics>,
        pressure: Arc<Pressure>,
        recent: Option<Recent>,
        replay: usize,
        recording: bool,
        crowd_size: usize,
        max_connections: usize,
        default_room: RoomName<'static>,
    ) -> (Arc<ClusterHub>, mpsc::Receiver<Command>) {
        let cut = Arc::new(Notify::new());
        let (queue, receiver) = CommandQueue::new(pressure, max_connections, Arc::clone(&cut));
        let hub = ClusterHub {
            replica: Mutex::new(Replica {
                node: None,
                hall: Hall::new(&metrics, default_room, recent, replay, crowd_size),
                waiting: HashMap::new(),
                peers: HashMap::new(),
                recording,
            }),
            queue,
            last_reg: AtomicU64::new(0),
            cut,
            metrics,
        };
        (Arc::new(hub), receiver)
    }

    fn lock(&self) -> MutexGuard<'_, Replica> {
        self.replica.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The last number this node applied.
    pub fn last_seq(&self) -> Seq {
        self.lock().hall.last_seq()
    }

    /// Fires when this node must leave the cluster and enter it again.
    pub fn cut_signal(&self) -> Arc<Notify> {
        Arc::clone(&self.cut)
    }

    /// This node's incarnation in the cluster, while it is in it.
    pub fn incarnation(&self) -> Option<Incarnation> {
        self.lock().node.clone()
    }

    /// Starts following the room as `node`, from `snapshot` (every event
    /// numbered after it comes from the channel).
    pub fn enter(&self, node: Incarnation, snapshot: Snapshot) {
        let mut r = self.lock();
        r.peers.clear();
        // An overflow of an earlier incarnation is not this one's.
        self.queue.clear_overflow();
        r.hall
            .load(snapshot.seq, snapshot.history.into_iter().rev());
        for Holding { name, since } in snapshot.names {
            r.hall.add_member(name, since);
        }
        tracing::info!(node = %node, seq = %snapshot.seq, online = r.hall.online(), "in the cluster");
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
    pub fn cut_off_if(&self, node: &Incarnation, why: &str) {
        let mut r = self.lock();
        if r.node.as_ref() != Some(node) {
            return;
        }
        let Some(node) = r.node.take() else {
            return;
        };
        let seats = r.hall.unseat_all();
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

    /// Whether a release found the queue to Redis full since the last
    /// ask (then this node must leave the cluster).
    pub fn take_overflow(&self) -> bool {
        self.queue.take_overflow()
    }

    /// Queues a message for Redis.
    fn enqueue(&self, command: Command) -> Result<Published, Unpublished> {
        if self.queue.send(command) {
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
        command: impl FnOnce(Incarnation, RegId) -> Command,
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
        if !self.queue.send(command(node, reg)) {
            r.waiting.remove(&reg);
            return Answer::Ready(Err(Refusal::Clash(Clash::Unavailable)));
        }
        Answer::Pending(pending)
    }

    /// What Redis said to `command` (the link calls this, in order).
    pub fn answered(&self, command: &Command, verdict: Verdict) {
        self.queue.answered(command);
        match command {
            Command::Claim { reg, .. } | Command::Resume { reg, .. } => {
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
            Command::Public { .. } => {}
            Command::Private { key, reg, to, .. } => {
                if verdict == Verdict::Absent {
                    let r = self.lock();
                    if let Some(seat) = r.hall.seat(key, *reg) {
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
        let last = r.hall.last_seq();
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
        let ours = node.is(&message.node);
        let (seq, at, reg) = (message.seq, message.at, message.reg);
        let event = match message.body {
            Body::Join { name, since } => {
                let key = name.key();
                let event = r.hall.join(seq, at, name.clone(), since);
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
                if node.is(&old_node)
                    && let Some(old) = r.hall.unseat(&key, old_reg)
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
                // Released by Redis while this node still served it (a
                // lease that ran out): counted out before anyone can see
                // the LEAVE, so a scrape that follows it never shows the
                // client still registered.
                let seated_here = match &kind {
                    EventKind::Leave { name, .. } => r.hall.any_seat(&name.key()).is_some(),
                    _ => false,
                };
                if seated_here {
                    self.metrics.registered.dec();
                }
                let accepted = r.hall.accept(seq, at, kind);
                if let Some(seat) = accepted.unseated {
                    // It holds the name no more.
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
        node: &Incarnation,
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
        (waiting.welcome)(r.hall.welcome(name, &key, greeting, waiting.token));
        let claimed = Claimed {
            registration: Registration {
                key: key.clone(),
                id: reg,
            },
            join,
            join_recorded: r.recording,
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
        r.hall.sit(key, seat);
    }

    /// Releases a name this node holds for nobody.
    fn give_up(&self, node: &Incarnation, reg: RegId, key: NameKey) {
        self.queue.send(Command::Release {
            node: node.clone(),
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
            if let Some(clash) = r.hall.clash(&name.key(), &name.skeletons()) {
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

    fn release(&self, holder: &Registration, leaving: Leaving) -> Option<Published> {
        let mut r = self.lock();
        let node = r.node.clone()?;
        r.hall.unseat(&holder.key, holder.id)?;
        self.metrics.registered.dec();
        self.queue.send(Command::Release {
            node,
            reg: holder.id,
            key: holder.key.clone(),
            reason: leaving.reason,
            text: leaving.text,
        });
        Some(Published::Queued)
    }

    fn publish(&self, from: &Registration, said: Said<'_>) -> Result<Published, Unpublished> {
        let r = self.lock();
        let node = r.sender(&from.key, from.id)?;
        let (reg, key) = (from.id, from.key.clone());
        let command = match said {
            Said::Public(text) => Command::Public {
                node,
                reg,
                key,
                text,
            },
            // A node serves the default room only (§19.7).
            Said::InRoom { .. } => return Err(Unpublished::NoSuchRoom),
            Said::Private { to, text } => {
                let target = r.hall.member(&to.key()).ok_or(Unpublished::NotOnline)?;
                Command::Private {
                    node,
                    reg,
                    key,
                    to: target.name.clone(),
                    since: target.since,
                    text,
                }
            }
        };
        self.enqueue(command)
    }

    fn who(&self) -> Vec<Name<'static>> {
        self.lock().hall.who()
    }

    fn history(&self, query: &HistoryQuery, default: usize) -> Option<Vec<Arc<Event>>> {
        self.lock().hall.history(query, default)
    }

    fn is_ready(&self) -> bool {
        self.lock().node.is_some()
    }

    fn who_in_default(&self) -> Vec<Name<'static>> {
        self.lock().hall.who_in_default()
    }

    fn default_room(&self) -> RoomName<'static> {
        self.lock().hall.default_room().clone()
    }

    fn tick(&self) {
        let mut r = self.lock();
        if r.node.is_some() {
            // The time of the latest event applied: no earlier than those
            // counted, no later than the next (events carry Redis's
            // clock; this node's own must never push theirs forward,
            // §17.2).
            let at = r.hall.last_at().unwrap_or_else(wall_clock);
            r.hall.tick(at);
        }
    }
}

#[cfg(test)]
mod tests;
