//! The queue from a node's clients to Redis: every claim, resume,
//! release, message and room's line is a [`Command`] the link's
//! publisher sends in order, and each comes back with a [`Verdict`].
//! Bounded four ways (spec §17.4, §19.7, §11.1): messages (past
//! [`QUEUE_MAX`] a sender is told `ERR unavailable`, and from
//! [`PRESS_AT`] senders are held back), claims (at most the connection
//! limit), rooms' lines (the connection limit and [`QUEUE_MAX`] more) and
//! the channel itself, which a release alone can find full, and then the
//! node must leave the cluster rather than keep a name it meant to give
//! up. Never waits.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tagarela_parser::{LeaveReason, Name, NameKey, RoomName, Text};
use tokio::sync::{Notify, mpsc};

use crate::event::Seq;
use crate::flow::pressure::Pressure;
use crate::hub::RegId;
use crate::hub::cluster::lifecycle::Incarnation;

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
        node: Incarnation,
        reg: RegId,
        name: Name<'static>,
        token: String,
    },
    /// Take a name back with a token (`tagarela_resume`).
    Resume {
        node: Incarnation,
        reg: RegId,
        name: Name<'static>,
        presented: String,
        token: String,
        /// The client speaks rooms (§19.1).
        rooms: bool,
        /// What bans of it would name ([`crate::hub::room::Ban::marks_of`]).
        marks: Vec<String>,
    },
    /// Give a name up (`tagarela_release`).
    Release {
        node: Incarnation,
        reg: RegId,
        key: NameKey,
        reason: LeaveReason,
        text: Option<Text<'static>>,
    },
    /// A public message in `room` (`tagarela_public`); `plain`: sent as
    /// a plain line, to the default room (§19.3).
    Public {
        node: Incarnation,
        reg: RegId,
        key: NameKey,
        room: RoomName<'static>,
        text: Text<'static>,
        plain: bool,
    },
    /// A private message (`tagarela_private`), for the holding of `to`
    /// that began at `since`.
    Private {
        node: Incarnation,
        reg: RegId,
        key: NameKey,
        to: Name<'static>,
        since: Seq,
        text: Text<'static>,
    },
    /// A room's line (§19.7): who sends it, in which room, and what.
    Room { from: RoomSender, line: RoomLine },
}

/// Who sends a room's line, and the room it is about.
#[derive(Debug)]
pub struct RoomSender {
    pub node: Incarnation,
    pub reg: RegId,
    pub key: NameKey,
    /// The room as the client named it, in NFC.
    pub room: RoomName<'static>,
}

/// What a room's line asks of Redis.
#[derive(Debug)]
pub enum RoomLine {
    /// Enter the room, making it if there is none (`tagarela_join_room`);
    /// `marks`: what bans of the client would name
    /// ([`crate::hub::room::Ban::marks_of`]).
    Join { marks: Vec<String> },
    /// Leave it, or (`target`, an operator's) remove someone from it
    /// (`tagarela_part_room`).
    Part {
        reason: LeaveReason,
        text: Option<Text<'static>>,
        target: Option<Name<'static>>,
    },
    /// Set its topic (`tagarela_topic`).
    Topic { text: Text<'static> },
    /// Make `target` an operator of it too (`tagarela_op`).
    Op { target: Name<'static> },
    /// Ban someone from it, or take bans back (`tagarela_ban`): the ban's
    /// `id` and how `BANS` shows it, what it refuses (`marks`), and for
    /// taking back a single address, the networks holding it (`within`);
    /// see [`crate::hub::room::Ban::marks`].
    Ban {
        on: bool,
        id: String,
        shown: String,
        marks: Vec<String>,
        within: Vec<String>,
    },
}

impl Command {
    /// Whether it counts as a message against [`QUEUE_MAX`].
    fn is_message(&self) -> bool {
        matches!(self, Command::Public { .. } | Command::Private { .. })
    }

    /// Whether it is a room's line (§19.7), counted against a bound of
    /// its own: one per connection and [`QUEUE_MAX`] more, so that a
    /// crowd joining at once (every client its rooms) is never refused
    /// while a client flooding room lines is.
    fn is_room_line(&self) -> bool {
        matches!(self, Command::Room { .. })
    }
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
    /// A room's rule refused it: the word `cluster.lua` answered
    /// (`too-many-rooms`, `not-operator`...; for `looks`, the room looked
    /// like is [`Verdict::LooksLike`]'s).
    RoomRefused(String),
    /// This node's lease is gone: it is no longer part of the cluster.
    Fenced,
    /// Redis did not answer, or not as expected: what happened is unknown.
    Failed,
}

/// The sending end of the queue to Redis, and its counts.
#[derive(Debug)]
pub struct CommandQueue {
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
    /// A release found `commands` full all the same: this node must leave
    /// the cluster (its names are then released as it enters again),
    /// rather than hold a name it meant to give up.
    overflowed: AtomicBool,
    /// Messages queued and not yet answered by Redis.
    queued: AtomicUsize,
    /// Rooms' lines queued and not yet answered by Redis.
    room_lines: AtomicUsize,
    /// Holds the senders back while Redis is behind (spec §11.1).
    pressure: Arc<Pressure>,
    /// Whether this queue is holding them back now.
    pressing: AtomicBool,
    /// Told when a release found the queue full.
    cut: Arc<Notify>,
}

impl CommandQueue {
    /// A queue for a node of at most `max_connections` clients, pressing
    /// on `pressure` and telling `cut` when it overflows; and its
    /// receiving end, for the link.
    pub fn new(
        pressure: Arc<Pressure>,
        max_connections: usize,
        cut: Arc<Notify>,
    ) -> (CommandQueue, mpsc::Receiver<Command>) {
        let claims_max = max_connections.clamp(1, CLAIMS_MAX);
        let room = 2 * QUEUE_MAX + 4 * claims_max + 64;
        let (commands, receiver) = mpsc::channel(room);
        let queue = CommandQueue {
            commands,
            claims: AtomicUsize::new(0),
            claims_max,
            overflowed: AtomicBool::new(false),
            queued: AtomicUsize::new(0),
            room_lines: AtomicUsize::new(0),
            pressure,
            pressing: AtomicBool::new(false),
            cut,
        };
        (queue, receiver)
    }

    /// Queues `command`, unless it is a message, a claim or a resume and
    /// its bound is reached.
    pub fn send(&self, command: Command) -> bool {
        let message = command.is_message();
        let claim = matches!(command, Command::Claim { .. } | Command::Resume { .. });
        if claim && self.claims.fetch_add(1, Ordering::AcqRel) >= self.claims_max {
            self.claims.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        let room_line = command.is_room_line();
        if room_line
            && self.room_lines.fetch_add(1, Ordering::AcqRel) >= QUEUE_MAX + self.claims_max
        {
            self.room_lines.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        if message {
            let queued = self.queued.fetch_add(1, Ordering::Relaxed);
            if queued >= QUEUE_MAX {
                self.dequeued();
                return false;
            }
            if queued + 1 >= PRESS_AT && !self.pressing.swap(true, Ordering::AcqRel) {
                self.pressure.press_hard();
            }
        }
        let sent = match self.commands.try_send(command) {
            Ok(()) => true,
            // Only a release can find it full (the room is counted), and
            // a name meant to be given up must not stay held.
            Err(mpsc::error::TrySendError::Full(_)) if !message && !claim && !room_line => {
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
        if room_line && !sent {
            self.room_lines.fetch_sub(1, Ordering::AcqRel);
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
            self.pressure.release_hard();
        }
    }

    /// Forgets an overflow of an earlier incarnation of the node.
    pub fn clear_overflow(&self) {
        self.overflowed.store(false, Ordering::Release);
    }

    /// Redis answered `command` (or it was never sent): it no longer
    /// counts against its bound.
    pub fn answered(&self, command: &Command) {
        match command {
            Command::Claim { .. } | Command::Resume { .. } => {
                self.claims.fetch_sub(1, Ordering::AcqRel);
            }
            Command::Release { .. } => {}
            Command::Public { .. } | Command::Private { .. } => self.dequeued(),
            Command::Room { .. } => {
                self.room_lines.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }
}
