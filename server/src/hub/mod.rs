//! The hub: who is in the room and where events go. One interface for
//! claiming and releasing a name, publishing an event and listing who is
//! online, so that the chat core does not care whether the room lives in
//! this process ([`crate::hub::local::LocalHub`]) or is shared by several
//! through Redis ([`crate::hub::cluster::ClusterHub`]). A local hub answers at
//! once; a cluster hub answers a claim later ([`Answer::Pending`]) and
//! numbers events once Redis has ordered them ([`Published::Queued`]).
//! Recipients are named by
//! their [`NameKey`], which means the same thing in every process; the
//! [`Recipient`] handle is only how a hub reaches a client of its own
//! process. Never encodes lines and never touches sockets.
//!
//! # Ordering guarantees (every implementation)
//! 1. **Sequence.** Every event gets a [`Seq`](crate::event::Seq) strictly greater than every
//!    event accepted before it, and a timestamp no earlier than theirs.
//! 2. **Delivery order.** Every recipient receives events in sequence
//!    order. So one sender's events arrive in the order it sent them, and
//!    everyone sees the same order of everyone's events.
//! 3. **Join first.** A client's `Join` is accepted before any event it
//!    sends, so nobody receives a newcomer's message before its join; its
//!    `Leave` comes after all of them.
//! 4. **Atomic names.** Of several claims of one name (by key or by
//!    look-alike skeleton, spec §3.3), exactly one succeeds.
//! 5. **Replay, then live.** A newcomer's backlog (spec §16.2) is exactly
//!    the latest kept public messages accepted before its join; every
//!    public message accepted after the join reaches it live. No message
//!    is in both, and none falls between. The same holds for every room
//!    a client joins (§19.3): what it is told on entering comes first.
//! 6. **One holder.** A name resumed (spec §16.6) moves to the new
//!    connection in one step: the old one is told it was replaced and
//!    its later release does nothing; nobody else sees a leave or a join.

pub mod cluster;
pub mod crowd;
pub mod event_log;
pub mod hall;
pub mod local;
pub mod monitors;
pub mod recent;
pub mod resume;
pub mod room;
pub mod roster;
#[cfg(test)]
pub mod seen;
pub mod shape;
pub mod whowas;

use std::sync::Arc;

use tagarela_parser::{BanTarget, HistoryQuery, LeaveReason, Name, NameKey, RoomName, Text};

use crate::event::Event;
use crate::hub::crowd::Notice;

/// One registration of a name in one process: a resume makes a new one,
/// so the connection that held the name before (and whatever it does
/// later) can be told from the one that holds it now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct RegId(pub u64);

impl std::fmt::Display for RegId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// One registration's hold on a name, as every later call names it: a
/// connection whose name was resumed elsewhere holds nothing any more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The name's identity.
    pub key: NameKey,
    /// Which registration of this process holds it.
    pub id: RegId,
}

/// What a registered client says: to the room, or to one name.
#[derive(Debug)]
pub enum Said<'a> {
    /// A public message, to everyone else in the default room.
    Public(Text<'static>),
    /// A public message, to everyone else in `room` (§19.3).
    InRoom {
        room: &'a RoomName<'a>,
        text: Text<'static>,
    },
    /// A private message to whoever holds `to`'s key, confirmed to the
    /// sender (once, if they are the same client).
    Private {
        to: &'a Name<'a>,
        text: Text<'static>,
    },
    /// Tags only (IRC's `TAGMSG`, §20.3) to everyone else in `room`:
    /// neither numbered in the server's order nor kept.
    TagsIn { room: &'a RoomName<'a> },
    /// Tags only to whoever holds `to`'s key.
    TagsTo { to: &'a Name<'a> },
}

/// How a client leaves: the reason and the farewell, if any (§9.1).
#[derive(Debug)]
pub struct Leaving {
    /// Why.
    pub reason: LeaveReason,
    /// What it said on leaving (`/quit TEXT`).
    pub text: Option<Text<'static>>,
}

impl From<LeaveReason> for Leaving {
    fn from(reason: LeaveReason) -> Leaving {
        Leaving { reason, text: None }
    }
}

/// How a hub reaches a client of this process. Implemented by the
/// client's outbound queue; must never wait.
pub trait Recipient: Send + Sync + std::fmt::Debug {
    /// Queues `event` for the client (nothing, if it can take nothing
    /// more: closed, or past its bound, which its connection then sees).
    fn deliver(&self, event: &Event);

    /// The client's name was resumed on another connection (§16.6): this
    /// one gets no more events and should close.
    fn replaced(&self);

    /// This process lost its place in the cluster (§17.4): the client
    /// gets no more events and should be closed with `BYE unavailable`.
    fn cut_off(&self);

    /// A private message this client sent found its recipient gone by the
    /// time the cluster ordered it (§17.2): tell the sender.
    fn undeliverable(&self, to: &Name<'static>);

    /// Queues a crowd notice (§18): the joins and leaves of a crowded
    /// room, summed up. Must never wait.
    fn crowd(&self, notice: &Notice);

    /// The client entered a room (§19.3): its own join, the topic and the
    /// backlog, queued before any other event of the room can reach it.
    /// Must never wait.
    fn entered(&self, entered: &Entered);

    /// A line of this client about `room` was refused by the cluster when
    /// Redis ordered it (§19.7), after its node had let it through: tell
    /// the client, as if refused at once. Must never wait.
    fn room_refused(&self, room: &RoomName<'static>, refusal: &RoomRefusal);

    /// A room's list this client changed, as it is now that the cluster
    /// has the change (§19.7). Must never wait.
    fn room_list(&self, list: &RoomList<'_>);

    /// Whether the client gets its own public messages back, as everyone
    /// else in the room does (IRC's `echo-message`, §20.3); a Tagarela
    /// client never does (§19.3).
    fn echoes(&self) -> bool {
        false
    }

    /// What the client said of itself, if it is an IRC client (§20.6):
    /// shown in its source, `WHO`, `WHOIS` and `USERHOST`. Must never
    /// wait.
    fn profile(&self) -> Option<Profile> {
        None
    }

    /// How the message this client is sending now goes out, beyond its
    /// text (IRC's `NOTICE` and client-only tags, §20.3), to go on its
    /// event. Must never wait.
    fn sending(&self) -> Sending {
        Sending::default()
    }

    /// An operator changed the modes of a room this client is in (IRC's
    /// `MODE`, §20.6). Must never wait.
    #[allow(unused_variables)] // only IRC clients are told
    fn mode_changed(&self, change: &ModeChange<'_>) {}

    /// Someone sharing a room with this client (`Heard::InRoom`), or whose
    /// name it watches (`Heard::Watching`), changed `what` of its profile,
    /// as `who.profile` now says: IRC's `away-notify`, `setname` and
    /// `extended-monitor` (§20.3). Must never wait.
    #[allow(unused_variables)] // only IRC clients are told
    fn profile_changed(&self, who: &Present, what: ProfileField, heard: Heard) {}

    /// A server operator removed this client from the server (IRC's
    /// `KILL`, §20.6): the others were told; it gets no more events and
    /// should close with `BYE killed`.
    fn killed(&self);

    /// A server operator's `WALLOPS` (§20.6), from `from`: told to IRC
    /// clients that asked for them (user mode `+w`). Must never wait.
    #[allow(unused_variables)] // only IRC clients are told
    fn wallops(&self, from: &Present, text: &str) {}

    /// `by` invited this client into `room` (IRC's `INVITE`, §20.6). Must
    /// never wait.
    #[allow(unused_variables)] // only IRC clients are told
    fn invited(&self, by: &Present, room: &RoomName<'_>) {}

    /// A name this client watches (IRC's `MONITOR`, §20.6) came online
    /// (`who`) or left. Must never wait.
    #[allow(unused_variables)] // only IRC clients watch
    fn presence(&self, who: &Present, online: bool) {}
}

/// A mode of a room its operators set (IRC's `MODE`, §20.6; no Tagarela
/// line sets them yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomMode {
    /// The most members it lets in (`+l`), or none (`-l`).
    Limit(Option<usize>),
    /// The key a newcomer must give (`+k`), or none (`-k`).
    Key(Option<String>),
    /// Only those invited may join (`+i`), or anyone (`-i`).
    InviteOnly(bool),
    /// `name` is no longer one of its operators (`-o`).
    Unop(Name<'static>),
    /// `name`, in it, is given a voice (`+v`, `true`) or loses it (`-v`).
    Voice(Name<'static>, bool),
    /// Only its operators and those with a voice may speak in it (`+m`),
    /// or anyone (`-m`).
    Moderated(bool),
    /// Only those in it see it in the list of rooms (`+s`), or everyone
    /// (`-s`).
    Secret(bool),
    /// Anyone in it may set its topic (`-t`), or only its operators
    /// (`+t`).
    TopicOpen(bool),
    /// Anyone may send it messages, in it or not (`-n`), or only those
    /// in it (`+n`).
    OpenToOutside(bool),
}

/// A change of a room's modes an operator made (IRC's `MODE`, §20.6),
/// told to everyone in the room so that their lists of operators and
/// bans stay true. Tagarela clients ask for those lists (`/ops`,
/// `/bans`) and are not told.
#[derive(Debug, Clone, Copy)]
pub struct ModeChange<'a> {
    /// The room, as the server holds its name.
    pub room: &'a RoomName<'a>,
    /// Who made it.
    pub by: &'a Name<'a>,
    /// The user name `by` gave, for its IRC source (§20.6).
    pub by_user: Option<&'a str>,
    /// The change: `+o`, `+b`, `-b`, `+l`, `-l`.
    pub change: &'a str,
    /// Its argument (a nick, a mask, a number), if any.
    pub arg: Option<&'a str>,
}

/// How a message goes out beyond its text: what an IRC client's line
/// said of it (§20.3). A Tagarela client's messages have nothing here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sending {
    /// Its client-only tags (`+key=value;...`, escaped as on the wire).
    pub tags: Option<Arc<str>>,
    /// It is a `NOTICE`: never answered automatically.
    pub notice: bool,
}

/// What an IRC client said of itself (§20.6). A Tagarela client has
/// none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// `USER`'s user name, as IRC shows it (without the `~`).
    pub user: Arc<str>,
    /// `USER`'s real name.
    pub realname: Arc<str>,
    /// `AWAY`'s message, while away.
    pub away: Option<Arc<str>>,
    /// It marked itself a bot (user mode `+B`, IRCv3's bot mode).
    pub bot: bool,
    /// It is a server operator (`OPER`, user mode `+o`).
    pub oper: bool,
    /// It asked for server operators' `WALLOPS` (user mode `+w`).
    pub wallops: bool,
    /// It is not found by a `WHO` mask, but by those sharing a room with
    /// it (user mode `+i`).
    pub invisible: bool,
}

/// The part of a [`Profile`] that changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileField {
    /// `AWAY`: gone, with a message, or back.
    Away,
    /// `SETNAME`: the real name.
    Realname,
}

/// Why a client hears of a change to someone's profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    /// They share a room.
    InRoom,
    /// It watches their name (`MONITOR`) and shares no room with them.
    Watching,
}

/// Someone online, as an IRC client's `WHO` and `WHOIS` see them (§20.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Present {
    /// The name held.
    pub name: Name<'static>,
    /// What it said of itself, if it is an IRC client of this process.
    pub profile: Option<Profile>,
}

/// Someone online and the rooms they are in (`WHOIS`, §20.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Whois {
    /// Who.
    pub present: Present,
    /// Their rooms, in the order they entered them, each with their
    /// standing in it.
    pub rooms: Vec<(RoomName<'static>, Standing)>,
}

/// Someone's standing in a room they are in (IRC's `@` and `+`, §20.6).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Standing {
    /// One of its operators.
    pub operator: bool,
    /// Given a voice (`+v`).
    pub voiced: bool,
}

/// A room as an IRC client's `NAMES`, `WHO` and `MODE` see it (§20).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomView {
    /// Its display form.
    pub room: RoomName<'static>,
    /// Who is in it.
    pub members: Vec<Present>,
    /// Its operators.
    pub operators: Vec<Name<'static>>,
    /// Its bans.
    pub bans: Vec<BanTarget<'static>>,
    /// The most members its operators let in (`+l`), if set.
    pub limit: Option<usize>,
    /// Its key (`+k`), if set.
    pub key: Option<String>,
    /// Only those invited may join (`+i`).
    pub invite_only: bool,
    /// When it was made.
    pub created: Option<tagarela_parser::Timestamp>,
    /// Anyone in it may set its topic (`-t`).
    pub topic_open: bool,
    /// Anyone may send it messages (`-n`).
    pub open_to_outside: bool,
    /// Only those in it see it listed (`+s`).
    pub secret: bool,
    /// Those with a voice (`+v`).
    pub voiced: Vec<Name<'static>>,
    /// Only operators and those with a voice may speak (`+m`).
    pub moderated: bool,
}

/// A room's list, as the operator who changed it is answered (§19.6).
#[derive(Debug, Clone, Copy)]
pub enum RoomList<'a> {
    /// `BANS`.
    Bans {
        room: &'a RoomName<'static>,
        targets: &'a [BanTarget<'static>],
    },
    /// `OPS`.
    Operators {
        room: &'a RoomName<'static>,
        names: &'a [Name<'static>],
    },
}

/// What a client is told on entering a room, before any other event of
/// it: its own join, the room's topic and its backlog (§19.3).
#[derive(Debug, PartialEq, Eq)]
pub struct Entered {
    /// The room.
    pub room: RoomName<'static>,
    /// Its own join (`None` when it is no longer in the log: a cluster's
    /// resume on another node).
    pub join: Option<Arc<Event>>,
    /// The event that set the room's topic, if one did.
    pub topic: Option<Arc<Event>>,
    /// The latest kept public messages, oldest first (spec §16.2);
    /// `None` when the room keeps no history.
    pub backlog: Option<Vec<Arc<Event>>>,
}

/// Kept public messages, oldest first; `None` where none are kept.
pub type Kept = Option<Vec<Arc<Event>>>;

/// Why a room's request was refused (§19.5, §19.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomRefusal {
    /// The sender holds no name (or it was resumed elsewhere).
    NotHeld,
    /// No such room, and it may not be created (or is not being).
    NoSuchRoom,
    /// The sender is not in the room.
    NotInRoom,
    /// The sender is in as many rooms as a client may be.
    TooManyRooms,
    /// The server holds as many rooms as it may, none of them forgettable.
    NoMoreRooms,
    /// The room has as many members as a room may.
    RoomFull,
    /// A new room's name looks like this existing room's.
    LooksLike(RoomName<'static>),
    /// Only the room's operators may do that.
    NotOperator,
    /// The room's operators refuse this name or address.
    Banned,
    /// The room has as many bans as a room may.
    BanListFull,
    /// This name is not in the room.
    NoSuchMember(Name<'static>),
    /// The room has no topic.
    NoTopic,
    /// The room has a key and it was not given rightly (IRC's `+k`).
    BadKey,
    /// The room lets in only those invited (IRC's `+i`).
    InviteOnly,
    /// The room is moderated and the sender is neither one of its
    /// operators nor has a voice (IRC's `+m`).
    Moderated,
    /// The one invited is in the room already.
    AlreadyInRoom(Name<'static>),
    /// This server has no rooms other than the default one.
    Unsupported,
    /// The cluster cannot be reached (§17.4).
    Unavailable,
    /// A plain line from a client that left the default room (§19.3).
    NoRoom,
}

/// Who asks for a name: what a hub needs to seat it and welcome it.
pub struct Entrant {
    /// The name asked for.
    pub name: Name<'static>,
    /// The client's address, for the records a hub keeps of its events.
    pub peer: std::net::SocketAddr,
    /// Where its events go once it holds the name.
    pub recipient: Arc<dyn Recipient>,
    /// What it is told, before any event can reach it.
    pub welcome: Welcomer,
    /// It turned the `rooms` feature on (§19.1): a holding in rooms other
    /// than the default one is resumed only by a connection that speaks
    /// rooms.
    pub rooms: bool,
    /// It starts in the default room (§19.1), as every Tagarela client
    /// does; an IRC client starts in no channel (§20.2).
    pub lobby: bool,
}

impl std::fmt::Debug for Entrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entrant")
            .field("name", &self.name)
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

/// What a newcomer is told, called once the claim takes effect (at once
/// for a local hub; when the join comes back from Redis for a cluster).
pub type Welcomer = Box<dyn FnOnce(Welcome) + Send>;

/// The answer to a claim or a resume.
#[derive(Debug)]
pub enum Answer {
    /// Decided now.
    Ready(Result<Claimed, Refusal>),
    /// Decided when this receiver yields; the client's further lines wait
    /// until then. A dropped sender means [`Clash::Unavailable`].
    Pending(tokio::sync::oneshot::Receiver<Result<Claimed, Refusal>>),
}

/// What became of an event a client caused.
#[derive(Debug)]
pub enum Published {
    /// Numbered and delivered now: this is the event.
    Numbered(Arc<Event>),
    /// Numbered and delivered now: these are the events, in order (a
    /// client leaving every room it is in, §19.3); perhaps none.
    Several(Vec<Arc<Event>>),
    /// Handed to the cluster, which numbers and delivers it (to this
    /// process's clients too) in the order it decides.
    Queued,
}

/// Why an event was not published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unpublished {
    /// The sender holds no name (or it was resumed elsewhere).
    NotHeld,
    /// The private message's recipient is not online.
    NotOnline,
    /// A public message to the default room from a client not in it
    /// (§19.3).
    NoRoom,
    /// A public message to a room that does not exist (§19.3).
    NoSuchRoom,
    /// A public message to a room the sender is not in (§19.3).
    NotInRoom,
    /// A public message to a moderated room from a member with no voice
    /// (IRC's `+m`, §20.6).
    Moderated,
    /// The cluster cannot be reached (§17.4).
    Unavailable,
}

/// Why a name could not be claimed (§3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clash {
    /// Someone online has the same key.
    Taken(Name<'static>),
    /// Someone online has a name with the same confusable skeleton.
    LooksLike(Name<'static>),
    /// The cluster cannot be reached, so no name can be given (§17.4).
    Unavailable,
}

/// A successful claim.
#[derive(Debug)]
pub struct Claimed {
    /// This registration, as every later call names it.
    pub registration: Registration,
    /// The `Join` published to everyone else; `None` when a name was
    /// resumed from a connection still holding it (nobody is told).
    pub join: Option<Arc<Event>>,
    /// The hub records the join itself, in the order it applies events
    /// (a cluster, §17.4); otherwise the session records it.
    pub join_recorded: bool,
}

/// Why a claim or a `/resume` failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The token does not go with the name, or has expired.
    Token,
    /// The name was free, but someone took it or a look-alike meanwhile.
    Clash(Clash),
}

/// What a resuming client missed (§16.6).
#[derive(Debug)]
pub struct Missed {
    /// The events it would have received after the number it gave,
    /// oldest first.
    pub events: Vec<Arc<Event>>,
    /// Some of them are no longer kept.
    pub gap: bool,
    /// The number the run starts after: the client's, but never below
    /// where its holding began nor above the last number given (§16.6);
    /// `WELCOME seq=` says it.
    pub after: crate::event::Seq,
}

/// What a newcomer is told before any event can reach it.
#[derive(Debug)]
pub struct Welcome {
    /// The name as the room holds it (display form).
    pub name: Name<'static>,
    /// Registered clients, the newcomer included (`WELCOME online=`).
    pub online: usize,
    /// The number of the newcomer's own join (`WELCOME seq=`, §16.5); for
    /// a resuming client, the number its missed run starts after.
    pub seq: crate::event::Seq,
    /// What a newcomer is told of the default room it entered: its join,
    /// topic and backlog (§16.2, §19.3); `None` for a resuming client.
    pub entered: Option<Entered>,
    /// What a resuming client missed, instead of the backlog.
    pub missed: Option<Missed>,
    /// The token that takes this name back after a lost connection; `None`
    /// only if the system had no randomness to give.
    pub token: Option<crate::hub::resume::ResumeToken>,
}

/// The room, as the chat core sees it.
pub trait Hub: Send + Sync + std::fmt::Debug {
    /// Claims the entrant's name for it and publishes its `Join` to
    /// everyone else (not to the newcomer), atomically: no event published
    /// after this returns can precede the join for anyone. Its `welcome`
    /// is called with the number online (the newcomer included) and the
    /// backlog before the newcomer can receive any event, so what it
    /// queues comes first.
    /// A token to take the name back is made only if `resumable` (the
    /// client asked for the `resume` feature, §16.6). Never refuses with
    /// [`Refusal::Token`].
    fn claim(&self, entrant: Entrant, resumable: bool) -> Answer;

    /// Releases the registration's name and publishes its `Leave` to
    /// everyone left. The name is free the moment this returns.
    /// Releasing a name not held (twice, say), or held by another
    /// registration (it was resumed elsewhere), does nothing and returns
    /// `None`.
    fn release(&self, holder: &Registration, leaving: Leaving) -> Option<Published>;

    /// Takes the entrant's name back with the token its last welcome
    /// gave (§16.6). If a connection still holds it, the name moves
    /// without a leave or a join; if it is free, it is claimed as by
    /// [`Hub::claim`]. The welcome gets what the client missed after
    /// `after` instead of a backlog.
    fn resume(&self, entrant: Entrant, token: &str, after: crate::event::Seq) -> Answer;

    /// Publishes what the registration `from` said, to every other
    /// client or to one name.
    fn publish(&self, from: &Registration, said: Said<'_>) -> Result<Published, Unpublished>;

    /// A snapshot of who is online (display forms), in no set order.
    fn who(&self) -> Vec<Name<'static>>;

    /// Whether this process can give names now: always for a room of its
    /// own; for a cluster's node, while it is in the cluster (§17.4).
    fn is_ready(&self) -> bool;

    /// Sends the crowd notice (§18) of what was counted since the last
    /// one, if anything was. Called every [`crate::hub::crowd::INTERVAL`].
    fn tick(&self);

    /// The kept public messages `query` asks for, oldest first, at most
    /// its count (or `default` if it gives none; both at most
    /// `history-page-max`); `None` when the room keeps no history.
    fn history(&self, query: &HistoryQuery, default: usize) -> Option<Vec<Arc<Event>>>;

    /// Whether this hub serves rooms other than the default one (§19):
    /// a client that asks for the `rooms` feature gets it only if so. A
    /// hub without them (a cluster's node, §19.7) keeps the defaults of
    /// the room calls below, which refuse, and is never asked them.
    fn has_rooms(&self) -> bool {
        false
    }

    /// Who is in the default room (a v1 client's `/who`).
    fn who_in_default(&self) -> Vec<Name<'static>>;

    /// The default room's name (§19.1).
    fn default_room(&self) -> RoomName<'static>;

    /// The registration joins `room`, creating it if it does not exist
    /// (its creator becomes its operator): its join is published to the
    /// room, and the joiner is told what [`Entered`] says first. Joining
    /// a room it is in does nothing. `key` is what the joiner gave for
    /// a room with a key (§20.6).
    #[allow(unused_variables)] // a hub without rooms refuses them all
    fn join_room(
        &self,
        holder: &Registration,
        room: &RoomName<'_>,
        from: std::net::IpAddr,
        key: Option<&str>,
    ) -> Result<Published, RoomRefusal> {
        Err(RoomRefusal::Unsupported)
    }

    /// Removes `name` from `room` (its operators only, §19.6): its leave
    /// (`kicked`, with `text`) goes to everyone in the room, itself
    /// included.
    #[allow(unused_variables)] // a hub without rooms refuses them all
    fn kick(
        &self,
        holder: &Registration,
        room: &RoomName<'_>,
        name: &Name<'_>,
        text: Option<Text<'static>>,
    ) -> Result<Published, RoomRefusal> {
        Err(RoomRefusal::Unsupported)
    }

    /// Bans `target` from `room` (or, `on` false, takes the ban back; its
    /// operators only); the room's own name and its bans after (`None`:
    /// they come to the recipient as [`RoomList::Bans`] once a cluster
    /// has the change).
    #[allow(unused_variables)] // a hub without rooms refuses them all
    fn ban(
        &self,
        holder: &Registration,
        room: &RoomName<'_>,
        target: &BanTarget<'_>,
        on: bool,
    ) -> Result<Option<(RoomName<'static>, Vec<BanTarget<'static>>)>, RoomRefusal> {
        Err(RoomRefusal::Unsupported)
    }

    /// Makes `name` (in the room) an operator of `room` (its operators
    /// only); the room's own name and its operators after (`None`: as
    /// [`RoomList::Operators`] later, as for [`Hub::ban`]).
    #[allow(unused_variables)] // a hub without rooms refuses them all
    fn op(
        &self,
        holder: &Registration,
        room: &RoomName<'_>,
        name: &Name<'_>,
    ) -> Result<Option<(RoomName<'static>, Vec<Name<'static>>)>, RoomRefusal> {
        Err(RoomRefusal::Unsupported)
    }

    /// The registration leaves `room`; its leave (`part`, with `text`)
    /// goes to everyone in the room, itself included.
    #[allow(unused_variables)] // a hub without rooms refuses them all
    fn part_room(
        &self,
        holder: &Registration,
        room: &RoomName<'_>,
        text: Option<Text<'static>>,
    ) -> Result<Published, RoomRefusal> {
        Err(RoomRefusal::Unsupported)
    }

    /// Sets `room`'s topic (its operators only), or, with no text, gives
    /// the event that set it (as [`Published::Numbered`]).
    #[allow(unused_variables)] // a hub without rooms refuses them all
    fn topic(
        &self,
        holder: &Registration,
        room: &RoomName<'_>,
        text: Option<Text<'static>>,
    ) -> Result<Published, RoomRefusal> {
        Err(RoomRefusal::Unsupported)
    }

    /// Who is in `room`, and the room's own name.
    #[allow(unused_variables)] // a hub without rooms refuses them all
    fn who_in(
        &self,
        room: &RoomName<'_>,
    ) -> Result<(RoomName<'static>, Vec<Name<'static>>), RoomRefusal> {
        Err(RoomRefusal::Unsupported)
    }

    /// The rooms, by name.
    /// `asker` given, the secret rooms (IRC's `+s`, §20.6) it is not in
    /// are left out.
    #[allow(unused_variables)] // a hub without rooms lists none
    fn rooms(&self, asker: Option<&NameKey>) -> Vec<hall::Listing> {
        Vec::new()
    }

    /// `room`'s members, operators and bans (§20: an IRC client's
    /// `NAMES`, `WHO` and `MODE`).
    #[allow(unused_variables)] // a hub without rooms refuses them all
    fn room_view(&self, room: &RoomName<'_>) -> Result<RoomView, RoomRefusal> {
        Err(RoomRefusal::Unsupported)
    }

    /// The name `name` is held as, and the rooms its holder is in
    /// (`WHOIS`, §20); `None` if nobody holds it.
    #[allow(unused_variables)] // a hub without rooms knows no rooms
    fn whois(&self, name: &Name<'_>) -> Option<Whois> {
        None
    }

    /// Changes one of `room`'s modes (its operators only; IRC's `MODE`,
    /// §20.6); the room's own name.
    #[allow(unused_variables)] // a hub without rooms refuses them all
    fn set_mode(
        &self,
        holder: &Registration,
        room: &RoomName<'_>,
        mode: &RoomMode,
    ) -> Result<RoomName<'static>, RoomRefusal> {
        Err(RoomRefusal::Unsupported)
    }

    /// Invites `name` (online) into `room`: its next join passes the
    /// room's key, `+i`, limit and bans (§20.6). The inviter must be in
    /// the room, and one of its operators if it is invite-only; the one
    /// invited is told ([`Recipient::invited`]). The room's own name and
    /// the name as held.
    #[allow(unused_variables)] // a hub without rooms refuses them all
    fn invite(
        &self,
        holder: &Registration,
        room: &RoomName<'_>,
        name: &Name<'_>,
    ) -> Result<(RoomName<'static>, Name<'static>), RoomRefusal> {
        Err(RoomRefusal::Unsupported)
    }

    /// Whether `room` keeps its history, topic and members from `asker`:
    /// a room that is secret, has a key or is invite-only (IRC's `+s`,
    /// `+k`, `+i`, §20.6) shows them to those in it only.
    #[allow(unused_variables)] // a hub without rooms closes none
    fn closed_to(&self, asker: &NameKey, room: &RoomName<'_>) -> bool {
        false
    }

    /// The rooms `holder` is invited into and has not joined since.
    #[allow(unused_variables)] // a hub without rooms invites nobody
    fn invitations(&self, holder: &Registration) -> Vec<RoomName<'static>> {
        Vec::new()
    }

    /// `watcher` (this process's client) is told from now on when `name`
    /// comes online or leaves (`on`), or no longer (`!on`): IRC's
    /// `MONITOR` (§20.6). A hub that cannot tell does nothing.
    #[allow(unused_variables)] // a cluster's node has no IRC port (§20.7)
    fn monitor(&self, watcher: &Arc<dyn Recipient>, name: &Name<'_>, on: bool) {}

    /// Where the time `at` falls among `room`'s kept messages, as a
    /// number to page from with [`Hub::history_in`] (`Before` it: those
    /// stamped before `at`; `after`, `After` one less: those stamped after
    /// it); `None` if the room keeps none (IRC's `CHATHISTORY`, §20.3).
    #[allow(unused_variables)] // a hub without rooms refuses them all
    fn history_seq_at(
        &self,
        room: &RoomName<'_>,
        at: tagarela_parser::Timestamp,
        after: bool,
    ) -> Result<Option<u64>, RoomRefusal> {
        Err(RoomRefusal::Unsupported)
    }

    /// Tells everyone in the change's room here that its modes changed
    /// (§20.6). A hub without IRC clients tells nobody.
    #[allow(unused_variables)] // a cluster's node has no IRC port (§20.7)
    fn tell_mode(&self, change: &ModeChange<'_>) {}

    /// Removes `name`'s holder from the server, as a server operator's
    /// `KILL` (§20.6; the wire layer decides who is one): its leave
    /// (`killed`, with `text`) goes everywhere it was, its name is free at
    /// once and cannot be resumed, and its connection closes with `BYE
    /// killed`. `None` if nobody here holds it.
    #[allow(unused_variables)] // a cluster's node has no IRC port (§20.7)
    fn kill(&self, name: &Name<'_>, text: Option<Text<'static>>) -> Option<Published> {
        None
    }

    /// The last `count` (0: all) holders of `name` that left this
    /// process lately, newest first (IRC's `WHOWAS`, §20.6).
    #[allow(unused_variables)] // a cluster's node has no IRC port (§20.7)
    fn whowas(&self, name: &Name<'_>, count: usize) -> Vec<Present> {
        Vec::new()
    }

    /// Tells every client here that asked for them (IRC's user mode
    /// `+w`) a server operator's `WALLOPS` (§20.6).
    #[allow(unused_variables)] // a cluster's node has no IRC port (§20.7)
    fn wallops(&self, from: &Name<'_>, text: &str) {}

    /// Tells everyone here who shares a room with `name`'s holder, or
    /// watches its name, that `what` of its profile changed, as its
    /// profile now says (§20.3). A hub without IRC clients tells nobody.
    #[allow(unused_variables)] // a cluster's node has no IRC port (§20.7)
    fn tell_profile(&self, name: &Name<'_>, what: ProfileField) {}

    /// [`Hub::history`] in `room`, and the room's own name.
    #[allow(unused_variables)] // a hub without rooms refuses them all
    fn history_in(
        &self,
        room: &RoomName<'_>,
        query: &HistoryQuery,
        default: usize,
    ) -> Result<(RoomName<'static>, Kept), RoomRefusal> {
        Err(RoomRefusal::Unsupported)
    }
}
