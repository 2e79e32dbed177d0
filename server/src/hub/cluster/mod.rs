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

pub use queue::{Command, RoomLine, RoomSender, Verdict};

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tagarela_parser::{BanTarget, HistoryQuery, LeaveReason, Name, NameKey, RoomName, Text};
use tokio::sync::{Notify, mpsc, oneshot};

use lifecycle::Incarnation;
use queue::CommandQueue;

use crate::event::{Event, EventKind, Seq, wall_clock};
use crate::flow::pressure::Pressure;
use crate::hub::cluster::message::{Arrival, Body, ClusterMessage};
use crate::hub::hall::{Greeting, Hall, Listing, Seat};
use crate::hub::recent::Recent;
use crate::hub::resume::ResumeToken;
use crate::hub::room::{Ban, RoomSettings};
use crate::hub::shape::Shape;
use crate::hub::{
    Answer, Claimed, Clash, Entrant, Hub, Kept, Leaving, Published, Recipient, Refusal, RegId,
    Registration, RoomList, RoomRefusal, Said, Unpublished, Welcomer,
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

/// The chat as a node starts following it (`tagarela_enter`).
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The last number given.
    pub seq: Seq,
    /// Who is online, anywhere in the cluster.
    pub names: Vec<Holding>,
    /// Every room, the default one included.
    pub rooms: Vec<RoomCopy>,
    /// The bounds on rooms every node of the cluster keeps (the first
    /// node's); `None`: this node's own.
    pub settings: Option<RoomSettings>,
}

/// One room as a snapshot gives it.
#[derive(Debug)]
pub struct RoomCopy {
    /// Its name.
    pub name: RoomName<'static>,
    /// The event that set its topic, if one did.
    pub topic: Option<Arc<Event>>,
    /// Who is in it.
    pub members: Vec<Name<'static>>,
    /// Who runs it.
    pub operators: Vec<Name<'static>>,
    /// Whom it refuses.
    pub bans: Vec<BanTarget<'static>>,
    /// Its latest kept public messages, newest first.
    pub history: Vec<Arc<Event>>,
    /// The number it was made at.
    pub born: Seq,
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
    /// The bounds on rooms, as the cluster keeps them.
    settings: RoomSettings,
    /// Rooms' lines of each registration waiting for Redis, at most
    /// [`ROOM_LINES_PER_CLIENT`] each: one client cannot fill the node's
    /// queue of them for everyone else.
    room_lines: HashMap<RegId, u16>,
}

/// Rooms' lines one client may have waiting for Redis at once (§19.7):
/// more than a `/join` of the most rooms a line names, well within the
/// node's bound.
pub const ROOM_LINES_PER_CLIENT: u16 = 32;

impl Replica {
    /// This node's name, if registration `id` of it holds `from`.
    fn sender(&self, from: &NameKey, id: RegId) -> Result<Incarnation, Unpublished> {
        let node = self.node.clone().ok_or(Unpublished::Unavailable)?;
        self.hall.seat(from, id).ok_or(Unpublished::NotHeld)?;
        Ok(node)
    }
}

/// A claim or resume of this node that took effect, as [`ClusterHub::admit`]
/// welcomes it.
struct Admission<'a> {
    /// The registration that asked.
    reg: RegId,
    key: NameKey,
    name: Name<'static>,
    /// What a newcomer is told (a resume's is made from `since`).
    greeting: Greeting,
    /// Where its holding began.
    since: Seq,
    /// Its join, if it made one.
    join: Option<Arc<Event>>,
    /// The rooms a resumed holding is back in, each entered just after.
    back_in: &'a [RoomName<'static>],
}

/// An event about someone or some room this replica does not have (it
/// cannot happen while replicas agree with Redis, but a replica never
/// stops for it): its number is taken, nothing else changes.
fn passed(hall: &mut Hall, seq: Seq) -> Option<Entry> {
    tracing::debug!(seq = %seq, "an event about nothing this replica holds");
    hall.pass(seq);
    None
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
    /// This node's own bounds on rooms (its flags), offered to the
    /// cluster as it enters.
    own: RoomSettings,
}

impl ClusterHub {
    /// A hub not yet in the cluster, and the receiving end of its
    /// commands (for the link). `recent`: the room keeps history and
    /// replays `replay` messages to a newcomer.
    /// `recording`: [`ClusterHub::apply`] returns entries for this
    /// node's clients' events, for the sinks. `crowd_size`: from how many
    /// members joins and leaves go into crowd notices (§18; 0: never).
    /// `rooms`: this node's bounds on rooms (§19.5; the cluster keeps the
    /// first node's, §19.7).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        metrics: Arc<Metrics>,
        pressure: Arc<Pressure>,
        recent: Option<Recent>,
        replay: usize,
        recording: bool,
        crowd_size: usize,
        max_connections: usize,
        rooms: RoomSettings,
    ) -> (Arc<ClusterHub>, mpsc::Receiver<Command>) {
        let cut = Arc::new(Notify::new());
        let (queue, receiver) = CommandQueue::new(pressure, max_connections, Arc::clone(&cut));
        let hall = Hall::new(&metrics, rooms.default.clone(), recent, replay, crowd_size);
        let hub = ClusterHub {
            replica: Mutex::new(Replica {
                node: None,
                hall,
                waiting: HashMap::new(),
                peers: HashMap::new(),
                recording,
                settings: rooms.clone(),
                room_lines: HashMap::new(),
            }),
            queue,
            last_reg: AtomicU64::new(0),
            cut,
            metrics,
            own: rooms,
        };
        (Arc::new(hub), receiver)
    }

    /// This node's own bounds on rooms, which it offers the cluster.
    pub fn own_settings(&self) -> &RoomSettings {
        &self.own
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
        r.room_lines.clear();
        // An overflow of an earlier incarnation is not this one's.
        self.queue.clear_overflow();
        if let Some(settings) = snapshot.settings {
            if settings.default.key() != self.own.default.key()
                || settings.per_client != self.own.per_client
                || settings.max != self.own.max
                || settings.members_max != self.own.members_max
            {
                tracing::warn!(
                    default = %settings.default,
                    per_client = settings.per_client,
                    max = settings.max,
                    members_max = settings.members_max,
                    "the cluster's bounds on rooms are not this node's flags; the cluster's apply"
                );
            }
            r.hall.rename_default(settings.default.clone());
            r.settings = settings;
        }
        let default = r.hall.default_room().key();
        let mut rooms = snapshot.rooms;
        let lobby = rooms
            .iter_mut()
            .find(|c| c.name.key() == default)
            .map(|c| std::mem::take(&mut c.history))
            .unwrap_or_default();
        r.hall.load(snapshot.seq, lobby.into_iter().rev());
        for Holding { name, since } in snapshot.names {
            r.hall.add_registered(name, since);
        }
        for copy in rooms {
            let key = copy.name.key();
            if key != default {
                let kept = copy.history.into_iter().rev().collect();
                r.hall.load_room(copy.name, kept, usize::MAX);
            }
            for member in &copy.members {
                r.hall.place(&key, &member.key());
            }
            for operator in &copy.operators {
                r.hall.make_operator(&operator.key(), &key);
            }
            if let Some(room) = r.hall.room_mut(&key) {
                room.set_born(copy.born);
                if let Some(topic) = copy.topic {
                    room.set_topic(topic);
                }
                room.set_bans(copy.bans.iter().filter_map(Ban::of).collect());
            }
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
            Command::Private { key, reg, to, .. } => {
                if verdict == Verdict::Absent {
                    let r = self.lock();
                    if let Some(seat) = r.hall.seat(key, *reg) {
                        seat.recipient.undeliverable(to);
                    }
                }
            }
            Command::Release { .. } => {}
            Command::Public {
                key,
                reg,
                room,
                plain,
                ..
            } => {
                let Some(mut refusal) = room_refusal(verdict, None) else {
                    return;
                };
                if *plain && refusal == RoomRefusal::NotInRoom {
                    refusal = RoomRefusal::NoRoom;
                }
                self.tell_refusal(key, *reg, room, &refusal);
            }
            Command::Room { from, line } => {
                self.room_line_answered(from.reg);
                let target = match line {
                    RoomLine::Part { target, .. } => target.as_ref(),
                    RoomLine::Op { target } => Some(target),
                    _ => None,
                };
                if let Some(refusal) = room_refusal(verdict, target) {
                    self.tell_refusal(&from.key, from.reg, &from.room, &refusal);
                }
            }
        }
    }

    /// Tells registration `reg` of `key`, if it is here, that Redis
    /// refused its line about `room`.
    fn tell_refusal(
        &self,
        key: &NameKey,
        reg: RegId,
        room: &RoomName<'static>,
        refusal: &RoomRefusal,
    ) {
        let r = self.lock();
        if let Some(seat) = r.hall.seat(key, reg) {
            seat.recipient.room_refused(room, refusal);
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
        let last = r.hall.last_seq();
        let expected = if message.body.is_event() {
            Seq(last.0 + 1)
        } else {
            last
        };
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
        // A leave of the server ends the registration: its address goes.
        let ends = matches!(message.body, Body::Event(EventKind::Leave { .. }));
        let default = r.hall.default_room().key();
        let event = match message.body {
            Body::Join {
                name,
                since,
                back_in,
            } => {
                let key = name.key();
                let event = r.hall.join(seq, at, name.clone(), since);
                if ours {
                    let greeting = Greeting::Newcomer { join: event.seq };
                    let join = Some(Arc::clone(&event));
                    let admission = Admission {
                        reg,
                        key,
                        name,
                        greeting,
                        since,
                        join,
                        back_in: &back_in,
                    };
                    self.admit(&mut r, &node, admission);
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
                    let admission = Admission {
                        reg,
                        key,
                        name,
                        greeting: Greeting::Newcomer { join: since },
                        since,
                        join: None,
                        back_in: &[],
                    };
                    self.admit(&mut r, &node, admission);
                }
                return Ok(None);
            }
            Body::Operator { name, room } => {
                let rkey = room.key();
                r.hall.make_operator(&name.key(), &rkey);
                if ours && let Some(seat) = r.hall.seat_of(reg) {
                    let names = r.hall.operators_of(&rkey);
                    let room = r.hall.room(&rkey).map_or(room, |x| x.name().clone());
                    seat.recipient.room_list(&RoomList::Operators {
                        room: &room,
                        names: &names,
                    });
                }
                return Ok(None);
            }
            Body::Bans { room, targets } => {
                if let Some(x) = r.hall.room_mut(&room.key()) {
                    x.set_bans(targets.iter().filter_map(Ban::of).collect());
                }
                if ours && let Some(seat) = r.hall.seat_of(reg) {
                    seat.recipient.room_list(&RoomList::Bans {
                        room: &room,
                        targets: &targets,
                    });
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
            Body::Public { room, from, text } => match room.filter(|x| x.key() != default) {
                None => {
                    r.hall
                        .accept(seq, at, EventKind::Public { from, text })
                        .event
                }
                Some(room) => match r.hall.say(seq, at, &room.key(), from, text) {
                    Some(event) => event,
                    None => return Ok(passed(&mut r.hall, seq)),
                },
            },
            Body::Enter {
                name,
                room,
                how,
                forgot,
            } => {
                if let Some(forgot) = forgot {
                    r.hall.forget(&forgot.key());
                }
                let (rkey, key) = (room.key(), name.key());
                if how == Arrival::Created && r.hall.room(&rkey).is_none() {
                    r.hall.open(room, Some(&key), usize::MAX);
                }
                let entered = if how == Arrival::Back {
                    r.hall.enter_back(seq, at, &rkey, &key, name)
                } else {
                    r.hall.enter(seq, at, &rkey, &key, name)
                };
                match entered {
                    Some(event) => event,
                    None => return Ok(passed(&mut r.hall, seq)),
                }
            }
            Body::Exit { room, leave } => {
                let (key, echo) = match &leave {
                    EventKind::Leave { name, reason, .. } => (
                        name.key(),
                        matches!(reason, LeaveReason::Part | LeaveReason::Kicked),
                    ),
                    _ => return Ok(passed(&mut r.hall, seq)),
                };
                match r.hall.leave_room(seq, at, &room.key(), &key, leave, echo) {
                    Some(event) => event,
                    None => return Ok(passed(&mut r.hall, seq)),
                }
            }
            Body::Topic { room, by, text } => {
                match r.hall.set_topic(seq, at, &room.key(), by, text) {
                    Some(event) => event,
                    None => return Ok(passed(&mut r.hall, seq)),
                }
            }
        };
        if !ours {
            return Ok(None);
        }
        // Recorded here, in the channel's order, joins included.
        let peer = if ends {
            r.peers.remove(&reg)
        } else {
            r.peers.get(&reg).copied()
        };
        Ok(peer.map(|peer| Entry { event, peer }))
    }

    /// This node's claim or resume took effect (its join, or its move,
    /// was just applied): the client is welcomed and answered, under the
    /// lock, so what it is sent comes before any later event. A name
    /// nobody here waits for any more is given up at once.
    fn admit(&self, r: &mut Replica, node: &Incarnation, admission: Admission<'_>) {
        let Admission {
            reg,
            key,
            name,
            greeting,
            since,
            join,
            back_in,
        } = admission;
        let Some(waiting) = r.waiting.remove(&reg) else {
            self.give_up(node, reg, key);
            return;
        };
        let greeting = match waiting.after {
            Some(after) => Greeting::Resumed { since, after },
            None => greeting,
        };
        (waiting.welcome)(r.hall.welcome(name, &key, greeting, waiting.token, back_in));
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

    /// This node's incarnation, if `holder` may act here: the node is in
    /// the cluster and the registration still holds its name.
    fn acting(&self, r: &Replica, holder: &Registration) -> Result<Incarnation, RoomRefusal> {
        let node = r.node.clone().ok_or(RoomRefusal::NotHeld)?;
        r.hall
            .seat(&holder.key, holder.id)
            .ok_or(RoomRefusal::NotHeld)?;
        Ok(node)
    }

    /// Queues a room's line for Redis; its event comes back on the
    /// channel (or its refusal, to the client's recipient).
    fn send_room(&self, from: RoomSender, line: RoomLine) -> Result<Published, RoomRefusal> {
        let reg = from.reg;
        {
            let mut r = self.lock();
            let waiting = r.room_lines.entry(reg).or_default();
            if *waiting >= ROOM_LINES_PER_CLIENT {
                return Err(RoomRefusal::Unavailable);
            }
            *waiting += 1;
        }
        self.enqueue(Command::Room { from, line }).map_err(|_| {
            self.room_line_answered(reg);
            RoomRefusal::Unavailable
        })
    }

    /// Queues `holder`'s line about `room` (NFC first, §19.2), made by
    /// `line` from this node's copy; a room's line is checked by Redis,
    /// not here (see the Hub methods below).
    fn room_line(
        &self,
        holder: &Registration,
        room: &RoomName<'_>,
        line: impl FnOnce(&Replica) -> Result<RoomLine, RoomRefusal>,
    ) -> Result<Published, RoomRefusal> {
        let room = RoomName::normalize(room.as_str()).map_err(|_| RoomRefusal::NoSuchRoom)?;
        let r = self.lock();
        let node = self.acting(&r, holder)?;
        let line = line(&r)?;
        drop(r);
        let from = RoomSender {
            node,
            reg: holder.id,
            key: holder.key.clone(),
            room,
        };
        self.send_room(from, line)
    }

    /// One of `reg`'s rooms' lines is answered (or was never sent).
    fn room_line_answered(&self, reg: RegId) {
        let mut r = self.lock();
        if let Some(waiting) = r.room_lines.get_mut(&reg) {
            *waiting = waiting.saturating_sub(1);
            if *waiting == 0 {
                r.room_lines.remove(&reg);
            }
        }
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

/// What a refusal of a room's line by Redis tells its client (`None`:
/// nothing to tell, it was done or the node is leaving the cluster).
/// `target`: the name the line was about, if any.
fn room_refusal(verdict: Verdict, target: Option<&Name<'static>>) -> Option<RoomRefusal> {
    Some(match verdict {
        Verdict::RoomRefused(word) => match word.as_str() {
            "no-such-room" => RoomRefusal::NoSuchRoom,
            "not-in-room" => RoomRefusal::NotInRoom,
            "not-operator" => RoomRefusal::NotOperator,
            "too-many-rooms" => RoomRefusal::TooManyRooms,
            "room-full" => RoomRefusal::RoomFull,
            "banned" => RoomRefusal::Banned,
            "no-more-rooms" => RoomRefusal::NoMoreRooms,
            "ban-list-full" => RoomRefusal::BanListFull,
            "no-member" => RoomRefusal::NoSuchMember(target?.clone()),
            _ => return None,
        },
        Verdict::LooksLike(room) => RoomRefusal::LooksLike(RoomName::normalize(&room).ok()?),
        // Failed or fenced: the node leaves the cluster, and the client is
        // told so as its connection closes.
        _ => return None,
    })
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
            if let Some(clash) = r.hall.clash(&name.key(), &Shape::of_name(name)) {
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
        let rooms = entrant.rooms;
        // Redis brings it back into no room that bans its name now (§19.4;
        // as on one server, its address is not checked).
        let marks = Ban::marks_of(&name.key(), &name.skeletons(), None);
        self.ask(entrant, Some(after), new, move |node, reg| {
            Command::Resume {
                node,
                reg,
                name,
                presented,
                token: digest,
                rooms,
                marks,
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
        // Whether the sender is in the room is Redis's to say (§19.7): this
        // node's copy may not have its own join yet.
        let command = match said {
            Said::Public(text) => Command::Public {
                node,
                reg,
                key,
                room: r.hall.default_room().clone(),
                text,
                plain: true,
            },
            Said::InRoom { room, text } => Command::Public {
                node,
                reg,
                key,
                room: RoomName::normalize(room.as_str()).map_err(|_| Unpublished::NoSuchRoom)?,
                text,
                plain: false,
            },
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
            // Only IRC clients send tags alone, and a cluster's node has
            // no IRC port (§20.7): nothing is carried.
            Said::TagsIn { .. } | Said::TagsTo { .. } => return Ok(Published::Queued),
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

    fn has_rooms(&self) -> bool {
        true
    }

    // The room's lines below are checked by Redis, not against this
    // node's copy (§19.7): the copy may not have the client's own join or
    // part yet, nor what another node's client just did. Refusals come
    // to the client's recipient when Redis answers.

    fn join_room(
        &self,
        holder: &Registration,
        room: &RoomName<'_>,
        from: std::net::IpAddr,
        // A cluster's rooms have no keys: its nodes have no IRC port (§20.7).
        _key: Option<&str>,
    ) -> Result<Published, RoomRefusal> {
        self.room_line(holder, room, |r| {
            let member = r.hall.member(&holder.key).ok_or(RoomRefusal::NotHeld)?;
            let marks = Ban::marks_of(&holder.key, &member.name.skeletons(), Some(from));
            Ok(RoomLine::Join { marks })
        })
    }

    fn kick(
        &self,
        holder: &Registration,
        room: &RoomName<'_>,
        name: &Name<'_>,
        text: Option<Text<'static>>,
    ) -> Result<Published, RoomRefusal> {
        let target = Name::normalize(name.as_str()).map_err(|_| RoomRefusal::NoSuchRoom)?;
        self.room_line(holder, room, |_| {
            Ok(RoomLine::Part {
                reason: LeaveReason::Kicked,
                text,
                target: Some(target),
            })
        })
    }

    fn ban(
        &self,
        holder: &Registration,
        room: &RoomName<'_>,
        target: &BanTarget<'_>,
        on: bool,
    ) -> Result<Option<(RoomName<'static>, Vec<BanTarget<'static>>)>, RoomRefusal> {
        let ban = Ban::of(target).ok_or(RoomRefusal::NoSuchRoom)?;
        let marks = ban.marks();
        let id = marks.first().cloned().unwrap_or_default();
        // Taking back one address takes back every network ban holding it
        // (§19.6): Redis is given those networks.
        let within = match (&ban, on) {
            (Ban::Net(net), false) if net.prefix_len() == net.max_prefix_len() => {
                Ban::networks_of(net.addr())
            }
            _ => Vec::new(),
        };
        let shown = ban.target().to_string();
        self.room_line(holder, room, |_| {
            Ok(RoomLine::Ban {
                on,
                id,
                shown,
                marks,
                within,
            })
        })?;
        Ok(None)
    }

    fn op(
        &self,
        holder: &Registration,
        room: &RoomName<'_>,
        name: &Name<'_>,
    ) -> Result<Option<(RoomName<'static>, Vec<Name<'static>>)>, RoomRefusal> {
        let target = Name::normalize(name.as_str()).map_err(|_| RoomRefusal::NoSuchRoom)?;
        self.room_line(holder, room, |_| Ok(RoomLine::Op { target }))?;
        Ok(None)
    }

    fn part_room(
        &self,
        holder: &Registration,
        room: &RoomName<'_>,
        text: Option<Text<'static>>,
    ) -> Result<Published, RoomRefusal> {
        self.room_line(holder, room, |_| {
            Ok(RoomLine::Part {
                reason: LeaveReason::Part,
                text,
                target: None,
            })
        })
    }

    fn topic(
        &self,
        holder: &Registration,
        room: &RoomName<'_>,
        text: Option<Text<'static>>,
    ) -> Result<Published, RoomRefusal> {
        let Some(text) = text else {
            return self
                .lock()
                .hall
                .topic_of(&room.key())
                .map(Published::Numbered);
        };
        self.room_line(holder, room, |_| Ok(RoomLine::Topic { text }))
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
