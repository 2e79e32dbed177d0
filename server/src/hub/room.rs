//! One room (spec §19): who is in it and, for this process's clients
//! among them, where their events go; its recent public messages, its
//! crowd count (§18), its topic and its operators. The [`Hall`] holds
//! every room and numbers their events; a room only keeps and delivers.
//!
//! Plain data behind its hub's lock: it never waits, never numbers an
//! event, never decides who may join, and knows nothing of wire formats.
//!
//! [`Hall`]: crate::hub::hall::Hall

use std::collections::HashSet;
use std::sync::Arc;

use tagarela_parser::{BanTarget, HistoryQuery, Name, NameKey, RoomName, Skeleton, Timestamp};

use crate::hub::shape::Shape;

use crate::event::{Event, Seq};
use crate::hub::Recipient;
use crate::hub::crowd::Crowd;
use crate::hub::recent::Recent;

/// A registered member's place in the hall (an index into its slab):
/// small, so that a membership costs a few octets, and compared without
/// hashing a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemberId(pub u32);

/// The most bans one room keeps (§19.6).
pub const BANS_MAX: usize = 64;

/// Invitations a room keeps at most (§20.6): past it, the oldest is
/// forgotten.
pub const INVITES_MAX: usize = 64;

/// One ban of a room (§19.6).
#[derive(Debug, Clone)]
pub enum Ban {
    /// A name: refused by key, and by shape as look-alikes are (§3.3).
    Name {
        shown: Name<'static>,
        key: NameKey,
        shapes: [Shape; 2],
    },
    /// An address or a network.
    Net(ipnet::IpNet),
}

impl Ban {
    /// The ban `target` asks for (`None`: no such network).
    pub fn of(target: &BanTarget<'_>) -> Option<Ban> {
        Some(match target {
            BanTarget::Name(name) => {
                let shown = Name::normalize(name.as_str()).ok()?;
                Ban::Name {
                    key: shown.key(),
                    shapes: Shape::of_name(&shown),
                    shown,
                }
            }
            BanTarget::Address { ip, prefix } => {
                // An IPv4 address written as IPv6 (`::ffff:a.b.c.d`) is
                // the IPv4 one, as the listener sees peers.
                let (ip, prefix) = match ip.to_canonical() {
                    std::net::IpAddr::V4(v4) if ip.is_ipv6() => {
                        (std::net::IpAddr::V4(v4), prefix.saturating_sub(96))
                    }
                    same => (same, *prefix),
                };
                Ban::Net(ipnet::IpNet::new(ip, prefix).ok()?.trunc())
            }
        })
    }

    /// What the ban is of, as `BANS` shows it.
    pub fn target(&self) -> BanTarget<'static> {
        match self {
            Ban::Name { shown, .. } => BanTarget::Name(shown.clone()),
            Ban::Net(net) => BanTarget::Address {
                ip: net.addr(),
                prefix: net.prefix_len(),
            },
        }
    }

    /// What a cluster's Redis looks for to refuse someone (§19.7): for a
    /// name, `k:` and its key and `s:` and each of its skeletons; for an
    /// address or network, `a:` and the network (see [`Ban::marks_of`]).
    pub fn marks(&self) -> Vec<String> {
        match self {
            Ban::Name { key, shown, .. } => {
                let mut marks = vec![format!("k:{}", key.as_str())];
                marks.extend(
                    shown
                        .skeletons()
                        .iter()
                        .map(|s| format!("s:{}", s.as_str())),
                );
                marks
            }
            Ban::Net(net) => vec![format!("a:{net}")],
        }
    }

    /// The marks a ban of `key` (with `shapes`), or of a network holding
    /// `ip` (if given), has: a ban refuses them exactly when one of its
    /// [`Ban::marks`] is among them.
    pub fn marks_of(
        key: &NameKey,
        shapes: &[Skeleton; 2],
        ip: Option<std::net::IpAddr>,
    ) -> Vec<String> {
        let mut marks = vec![format!("k:{}", key.as_str())];
        marks.extend(shapes.iter().map(|s| format!("s:{}", s.as_str())));
        if let Some(ip) = ip {
            marks.extend(Ban::networks_of(ip));
        }
        marks
    }

    /// The marks of every network that holds `ip`, one per prefix length.
    pub fn networks_of(ip: std::net::IpAddr) -> Vec<String> {
        let ip = ip.to_canonical();
        let full = if ip.is_ipv4() { 32 } else { 128 };
        (0..=full)
            .filter_map(|prefix| ipnet::IpNet::new(ip, prefix).ok())
            .map(|net| format!("a:{}", net.trunc()))
            .collect()
    }

    /// Whether two bans are the same.
    fn same(&self, other: &Ban) -> bool {
        match (self, other) {
            (Ban::Name { key: a, .. }, Ban::Name { key: b, .. }) => a == b,
            (Ban::Net(a), Ban::Net(b)) => a == b,
            _ => false,
        }
    }

    /// Whether it refuses `name` (its key and shapes) from `ip`.
    fn refuses(&self, key: &NameKey, shapes: &[Shape; 2], ip: Option<std::net::IpAddr>) -> bool {
        match self {
            Ban::Name {
                key: banned,
                shapes: theirs,
                ..
            } => banned == key || shapes.iter().any(|s| theirs.contains(s)),
            Ban::Net(net) => ip.is_some_and(|ip| net.contains(&ip)),
        }
    }
}

/// Where the hall's members' events go, by [`MemberId`]: `Some` for this
/// process's clients.
pub type Recipients = [Option<Arc<dyn Recipient>>];

/// One room's state (see the module doc).
#[derive(Debug)]
pub struct Room {
    /// Its display form: every event of the room carries this one, so
    /// comparing it is comparing rooms.
    name: RoomName<'static>,
    /// Its members, by their place in the hall.
    members: HashSet<MemberId>,
    /// Its kept public messages, if the server keeps history (§16).
    recent: Option<Recent>,
    /// Joins and leaves counted rather than sent, once it is crowded (§18).
    crowd: Crowd,
    /// The event that set its topic, if one was set (§19.3).
    topic: Option<Arc<Event>>,
    /// Who may set its topic (§19.6): its creator, while it holds its
    /// name. Empty for a room nobody created (the default room).
    operators: HashSet<MemberId>,
    /// Names and addresses refused (§19.6), at most [`BANS_MAX`].
    bans: Vec<Ban>,
    /// The most members its operators let in (IRC's `+l`, §20.6);
    /// `None`: only the server's bound.
    limit: Option<usize>,
    /// The key a newcomer must give (IRC's `+k`, §20.6), if its operators
    /// set one.
    key: Option<Box<str>>,
    /// Only those invited may join (IRC's `+i`, §20.6).
    invite_only: bool,
    /// Those its operators gave a voice (IRC's `+v`, §20.6), while they
    /// are in it: they may speak in it when it is moderated.
    voiced: HashSet<MemberId>,
    /// Only its operators and those with a voice may speak in it (IRC's
    /// `+m`, §20.6).
    moderated: bool,
    /// Anyone in it may set its topic (IRC's `-t`, §20.6); else only its
    /// operators.
    topic_open: bool,
    /// Anyone may send it messages, in it or not (IRC's `-n`, §20.6).
    open_to_outside: bool,
    /// Only those in it see it in the list of rooms (IRC's `+s`, §20.6).
    secret: bool,
    /// Who was invited (`INVITE`) and has not joined since, oldest first,
    /// at most [`INVITES_MAX`]: they pass its key, `+i`, limit and bans.
    invited: Vec<MemberId>,
    /// Kept however long it stays empty (the default room).
    lasting: bool,
    /// The number of the event that left it empty, if it is: of the empty
    /// rooms, the one empty the longest is forgotten first (§19.5).
    emptied: Option<Seq>,
    /// The number it was made at (the number of its maker's join): a room
    /// forgotten and made again under the same name is another room, and
    /// a resume does not make its old operators run the new one (§19.6).
    born: Seq,
    /// When it was made (IRC's `329`, §20.6).
    created: tagarela_parser::Timestamp,
}

impl Room {
    /// An empty room called `name` that keeps history in `recent` (if
    /// any) and counts crowds from `crowd_size` members on (§18).
    pub fn new(
        name: RoomName<'static>,
        recent: Option<Recent>,
        crowd_size: usize,
        lasting: bool,
        born: Seq,
    ) -> Room {
        Room {
            name,
            members: HashSet::new(),
            recent,
            crowd: Crowd::new(crowd_size),
            topic: None,
            operators: HashSet::new(),
            bans: Vec::new(),
            limit: None,
            key: None,
            invite_only: false,
            voiced: HashSet::new(),
            moderated: false,
            topic_open: false,
            open_to_outside: false,
            secret: false,
            invited: Vec::new(),
            lasting,
            emptied: Some(Seq(0)),
            born,
            created: crate::event::wall_clock(),
        }
    }

    /// When it was made.
    pub fn created(&self) -> tagarela_parser::Timestamp {
        self.created
    }

    /// The number it was made at.
    pub fn born(&self) -> Seq {
        self.born
    }

    /// It was made at `born` (as a cluster's Redis says).
    pub fn set_born(&mut self, born: Seq) {
        self.born = born;
    }

    /// The same room (empty, as it is when a server starts) under
    /// another name, its kept messages with it.
    pub fn renamed(self, name: RoomName<'static>) -> Room {
        Room { name, ..self }
    }

    /// Its display form.
    pub fn name(&self) -> &RoomName<'static> {
        &self.name
    }

    /// How many are in it.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether `id` is in it.
    pub fn has(&self, id: MemberId) -> bool {
        self.members.contains(&id)
    }

    /// Whether it may be forgotten: empty and not lasting; and since when.
    pub fn forgettable_since(&self) -> Option<Seq> {
        self.emptied.filter(|_| !self.lasting)
    }

    /// `id` comes in.
    pub fn add(&mut self, id: MemberId) {
        self.emptied = None;
        self.members.insert(id);
    }

    /// `id` goes, at the event numbered `seq`; whether it was in.
    pub fn remove(&mut self, id: MemberId, seq: Seq) -> bool {
        let was = self.members.remove(&id);
        // A voice is for this stay only.
        self.voiced.remove(&id);
        if was && self.members.is_empty() {
            self.emptied = Some(seq);
        }
        was
    }

    /// Forgets every member (a replica being loaded anew).
    pub fn clear(&mut self) {
        self.members.clear();
        self.crowd.clear();
        if let Some(recent) = &mut self.recent {
            recent.clear();
        }
    }

    /// Delivers `event` to every member with a recipient here but
    /// `except`; returns how many got it.
    pub fn deliver(&self, recipients: &Recipients, except: Option<MemberId>, event: &Event) -> u64 {
        let mut sent = 0;
        for id in &self.members {
            if Some(*id) == except {
                continue;
            }
            if let Some(Some(recipient)) = recipients.get(id.0 as usize) {
                recipient.deliver(event);
                sent += 1;
            }
        }
        sent
    }

    /// Its members here.
    pub fn member_ids(&self) -> impl Iterator<Item = MemberId> + '_ {
        self.members.iter().copied()
    }

    /// Tells its members here that an operator changed its modes
    /// (§20.6).
    pub fn tell_mode(&self, recipients: &Recipients, change: &crate::hub::ModeChange<'_>) {
        for id in &self.members {
            if let Some(Some(recipient)) = recipients.get(id.0 as usize) {
                recipient.mode_changed(change);
            }
        }
    }

    /// Whether a join or leave in a room of `online` is counted (§18).
    pub fn crowd_absorbs(&self, online: usize) -> bool {
        self.crowd.absorbs(online)
    }

    /// Counts a join or a leave for the next crowd notice, if the room is
    /// crowded (of `online`, counting who comes or goes); false if it
    /// must be delivered.
    pub fn crowd_absorb(&mut self, online: usize, event: &Event) -> bool {
        self.crowd.absorb(online, event)
    }

    /// Whether a crowd notice has anything to say.
    pub fn crowd_pending(&self) -> bool {
        self.crowd.is_pending()
    }

    /// Sends every member here the crowd notice of what was counted, if
    /// anything; returns how many got it.
    pub fn send_crowd_notice(&mut self, recipients: &Recipients, at: Timestamp) -> u64 {
        if !self.crowd.is_pending() {
            return 0;
        }
        let online = self.members.len();
        let members = &self.members;
        let here = members
            .iter()
            .filter_map(|id| recipients.get(id.0 as usize).and_then(Option::as_ref));
        self.crowd.send(&self.name, at, online, here)
    }

    /// Counts crowds from `size` members on, from now on.
    pub fn count_crowds_from(&mut self, size: usize) {
        self.crowd = Crowd::new(size);
    }

    /// Forgets what the crowd counted (this process no longer serves the
    /// room).
    pub fn forget_crowd(&mut self) {
        self.crowd.clear();
    }

    /// Keeps a public message for replay and `/history`.
    pub fn keep(&mut self, event: Arc<Event>, at: Timestamp) {
        if let Some(recent) = &mut self.recent {
            recent.push(event, at);
        }
    }

    /// The latest `n` kept messages, for a newcomer; `None` if the room
    /// keeps none.
    pub fn backlog(&mut self, n: usize, now: Timestamp) -> Option<Vec<Arc<Event>>> {
        let recent = self.recent.as_mut()?;
        // A quiet room's old messages expire here too.
        recent.expire(now);
        Some(recent.latest(n))
    }

    /// What `/history` asks of this room; `None` if it keeps none.
    pub fn history(&mut self, query: &HistoryQuery, default: usize) -> Option<Vec<Arc<Event>>> {
        Some(self.recent.as_mut()?.answer(query, default))
    }

    /// Where `at` falls among the kept messages (see [`Recent::seq_at`]);
    /// `None` if the room keeps none.
    pub fn history_seq_at(&self, at: Timestamp, after: bool) -> Option<u64> {
        Some(self.recent.as_ref()?.seq_at(at, after))
    }

    /// An empty memory of messages like this room's, keeping at most
    /// `messages` (for a new room); `None` if this one keeps none.
    pub fn recent_like(&self, messages: usize) -> Option<Recent> {
        self.recent.as_ref().map(|r| r.like(messages))
    }

    /// The kept messages, for tests to look into.
    #[cfg(test)]
    pub fn recent(&self) -> Option<&Recent> {
        self.recent.as_ref()
    }

    /// The event that set its topic, if any.
    pub fn topic(&self) -> Option<&Arc<Event>> {
        self.topic.as_ref()
    }

    /// `event` set its topic.
    pub fn set_topic(&mut self, event: Arc<Event>) {
        self.topic = Some(event);
    }

    /// Whether `id` is one of its operators.
    pub fn is_operator(&self, id: MemberId) -> bool {
        self.operators.contains(&id)
    }

    /// `id` becomes one of its operators.
    pub fn add_operator(&mut self, id: MemberId) {
        self.operators.insert(id);
    }

    /// Its operators' ids.
    pub fn operators(&self) -> impl Iterator<Item = MemberId> + '_ {
        self.operators.iter().copied()
    }

    /// Whether a ban refuses `key` (with these shapes) from `ip` (if known).
    pub fn refuses(
        &self,
        key: &NameKey,
        shapes: &[Shape; 2],
        ip: Option<std::net::IpAddr>,
    ) -> bool {
        self.bans.iter().any(|b| b.refuses(key, shapes, ip))
    }

    /// Adds `ban` (once); false if the room has [`BANS_MAX`] already.
    pub fn ban(&mut self, ban: Ban) -> bool {
        add_ban(&mut self.bans, ban)
    }

    /// Takes `ban` back (see [`remove_ban`]).
    pub fn unban(&mut self, ban: &Ban) {
        remove_ban(&mut self.bans, ban);
    }

    /// The bans are `bans` from now on (a cluster's, as Redis has them).
    pub fn set_bans(&mut self, bans: Vec<Ban>) {
        self.bans = bans;
    }

    /// The most members its operators let in, if they set one.
    pub fn limit(&self) -> Option<usize> {
        self.limit
    }

    /// Sets (or lifts) the most members its operators let in; those in
    /// it stay.
    pub fn set_limit(&mut self, limit: Option<usize>) {
        self.limit = limit;
    }

    /// The key a newcomer must give, if any.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// Sets (or lifts) the key; those in it stay.
    pub fn set_key(&mut self, key: Option<&str>) {
        self.key = key.map(Box::from);
    }

    /// Whether only those invited may join.
    pub fn invite_only(&self) -> bool {
        self.invite_only
    }

    /// Only those invited may join (`on`), or anyone.
    pub fn set_invite_only(&mut self, on: bool) {
        self.invite_only = on;
    }

    /// Whether anyone in it may set its topic.
    pub fn topic_open(&self) -> bool {
        self.topic_open
    }

    /// Anyone in it may set its topic (`on`), or only its operators.
    pub fn set_topic_open(&mut self, on: bool) {
        self.topic_open = on;
    }

    /// Whether anyone may send it messages, in it or not.
    pub fn open_to_outside(&self) -> bool {
        self.open_to_outside
    }

    /// Anyone may send it messages (`on`), or only those in it.
    pub fn set_open_to_outside(&mut self, on: bool) {
        self.open_to_outside = on;
    }

    /// Whether only those in it see it listed.
    pub fn secret(&self) -> bool {
        self.secret
    }

    /// Only those in it see it listed (`on`), or everyone.
    pub fn set_secret(&mut self, on: bool) {
        self.secret = on;
    }

    /// `id` is invited: its next join passes the key, `+i`, the limit and
    /// the bans. The oldest invitation is forgotten past [`INVITES_MAX`].
    pub fn invite(&mut self, id: MemberId) {
        if self.invited.contains(&id) {
            return;
        }
        if self.invited.len() >= INVITES_MAX {
            self.invited.remove(0);
        }
        self.invited.push(id);
    }

    /// Whether `id` is invited.
    pub fn is_invited(&self, id: MemberId) -> bool {
        self.invited.contains(&id)
    }

    /// `id` joined, or left the server: its invitation is used up.
    pub fn uninvite(&mut self, id: MemberId) {
        self.invited.retain(|i| *i != id);
    }

    /// `id` is no longer one of its operators.
    pub fn remove_operator(&mut self, id: MemberId) {
        self.operators.remove(&id);
    }

    /// Gives `id` (a member) a voice, or takes it back.
    pub fn set_voice(&mut self, id: MemberId, on: bool) {
        if !on {
            self.voiced.remove(&id);
        } else if self.members.contains(&id) {
            self.voiced.insert(id);
        }
    }

    /// Whether `id` has a voice.
    pub fn is_voiced(&self, id: MemberId) -> bool {
        self.voiced.contains(&id)
    }

    /// Those with a voice.
    pub fn voiced(&self) -> impl Iterator<Item = MemberId> + '_ {
        self.voiced.iter().copied()
    }

    /// Whether only its operators and those with a voice may speak.
    pub fn moderated(&self) -> bool {
        self.moderated
    }

    /// Makes it moderated (`on`) or not.
    pub fn set_moderated(&mut self, on: bool) {
        self.moderated = on;
    }

    /// Whether `id` may speak in it: anyone, unless it is moderated.
    pub fn may_speak(&self, id: MemberId) -> bool {
        !self.moderated || self.operators.contains(&id) || self.voiced.contains(&id)
    }

    /// Whether a newcomer would pass its operators' limit.
    pub fn is_full(&self) -> bool {
        self.limit.is_some_and(|l| self.members.len() >= l)
    }

    /// The bans, as `BANS` shows them.
    pub fn bans(&self) -> Vec<BanTarget<'static>> {
        self.bans.iter().map(Ban::target).collect()
    }

    /// `id` is an operator no more (its holding of the name ended).
    pub fn drop_operator(&mut self, id: MemberId) {
        self.operators.remove(&id);
    }
}

/// Adds `ban` to `list` (once); false if it has [`BANS_MAX`] already.
fn add_ban(list: &mut Vec<Ban>, ban: Ban) -> bool {
    if list.iter().any(|b| b.same(&ban)) {
        return true;
    }
    if list.len() >= BANS_MAX {
        return false;
    }
    list.push(ban);
    true
}

/// Takes `ban` out of `list`, if it is one; a single address takes back
/// every network ban that holds it (§19.6).
fn remove_ban(list: &mut Vec<Ban>, ban: &Ban) {
    let single = match ban {
        Ban::Net(net) if net.prefix_len() == net.max_prefix_len() => Some(net.addr()),
        _ => None,
    };
    list.retain(|b| match (b, single) {
        (Ban::Net(net), Some(ip)) => !net.contains(&ip),
        _ => !b.same(ban),
    });
}

/// What the operator decides about rooms (§19.5), one table of defaults.
#[derive(Debug, Clone)]
pub struct RoomSettings {
    /// Where every client starts, and where a client without the `rooms`
    /// feature lives.
    pub default: RoomName<'static>,
    /// The most rooms one client is in at once.
    pub per_client: usize,
    /// The most rooms the server holds (the default one included).
    pub max: usize,
    /// The most members a room has (the default room has no bound but
    /// the connection limit).
    pub members_max: usize,
}

/// The reference default room (§19.1).
pub const DEFAULT_ROOM: &str = "#general";
/// The reference bound on the rooms one client is in (§19.5).
pub const DEFAULT_PER_CLIENT: usize = 20;
/// The reference bound on the rooms of a server (§19.5).
pub const DEFAULT_MAX: usize = 1_000;

impl Default for RoomSettings {
    fn default() -> Self {
        RoomSettings {
            default: RoomName::normalize(DEFAULT_ROOM)
                .unwrap_or_else(|_| unreachable!("the reference default room is a room name")),
            per_client: DEFAULT_PER_CLIENT,
            max: DEFAULT_MAX,
            members_max: usize::MAX,
        }
    }
}
