//! One IRC client as the hub and the chat core reach it (spec §20): the
//! [`crate::hub::Recipient`] and [`Replier`] of an IRC connection, which
//! encode events and replies as IRC lines (numerics carry the client's
//! nick) into its bounded [`Outbox`]. It keeps only what encoding needs:
//! the nick once registered, the capabilities turned on, the command
//! being answered (which numeric a refusal is), the rooms whose `NAMES`
//! the connection owes, and whose `QUIT` was told last. Never waits.

use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tagarela_parser::{BanTarget, ByeReason, ErrorCode, LeaveReason, Name, NameError, RoomName};

use crate::chat::reply::{Replier, Reply};
use crate::event::{Event, EventKind, WireFormat};
use crate::hub::crowd::Notice;
use crate::hub::{
    Entered, Heard, ModeChange, Present, Profile, ProfileField, Recipient, RoomList, RoomRefusal,
    Sending,
};
use crate::wire::irc::caps::{Cap, Caps};
use crate::wire::irc::encode::{self, Stamp};
use crate::wire::irc::identity::IrcIdentity;
use crate::wire::irc::whox::{Whox, WhoxUser};
use crate::wire::outbox::Outbox;

/// The most rooms whose `NAMES` a connection may owe at once: more than
/// one client may be in (`--rooms-per-client` is at most this).
const NAMES_DUE_MAX: usize = 64;

/// Which command a reply answers: the same refusal is a different
/// numeric for `PRIVMSG` and for `PART` (spec §20.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Doing {
    /// Anything else.
    #[default]
    Other,
    /// `PRIVMSG`.
    Message,
    /// `NOTICE`: refusals are not answered (RFC 2812 §3.3.2).
    Notice,
    /// `JOIN`.
    Join,
    /// `MODE` (a ban or an operator).
    Mode,
}

/// An IRC client's queue and what encoding for it needs.
#[derive(Debug)]
pub struct IrcClient {
    /// Where its lines wait for the socket.
    outbox: Arc<Outbox>,
    /// The server's name and welcome facts.
    identity: Arc<IrcIdentity>,
    /// The capabilities turned on ([`Caps::bits`]), read on every event.
    caps: AtomicU16,
    /// True when the last event delivered was a `QUIT`: the next leave of
    /// the same name (its next room) is the same `QUIT`, told once.
    quit_told: AtomicBool,
    /// A labelled command is being answered (`labeled-response`, §20.3):
    /// what is made for it is collected (`Pending::captured`), not queued.
    /// Read on every event, so an atomic.
    capturing: AtomicBool,
    /// The rest, rarely touched.
    view: Mutex<View>,
}

#[derive(Debug, Default)]
struct View {
    /// Its name once registered (the display form the hub holds).
    nick: Option<Name<'static>>,
    /// The command being answered.
    doing: Doing,
    /// Rooms entered whose `NAMES` the connection has yet to send.
    names_due: Vec<RoomName<'static>>,
    /// Whose `QUIT` was told last (see `quit_told`).
    last_quit: Option<Name<'static>>,
    /// What `USER` and `AWAY` said (§20.6).
    profile: Option<Profile>,
    /// The name registration last asked for: the `<nick>` of a refusal
    /// (ERR_NICKNAMEINUSE names the nick tried, not its holder).
    asked: Option<Name<'static>>,
    /// What the command being answered carries, only while it does
    /// (boxed: most commands carry nothing, and an idle client keeps
    /// only the pointer).
    pending: Option<Box<Pending>>,
}

/// What a command being answered carries.
#[derive(Debug, Default)]
struct Pending {
    /// The client-only tags of the message being sent (§20.3).
    sending: Option<Arc<str>>,
    /// What a labelled command made so far (see `capturing`).
    captured: Vec<u8>,
}

impl View {
    /// The pending state, made if there is none.
    fn pending(&mut self) -> &mut Pending {
        self.pending.get_or_insert_default()
    }

    /// Drops the pending state once it holds nothing.
    fn tidy(&mut self) {
        if self
            .pending
            .as_ref()
            .is_some_and(|p| p.sending.is_none() && p.captured.is_empty())
        {
            self.pending = None;
        }
    }
}

impl IrcClient {
    /// The IRC client of `outbox`.
    pub fn new(outbox: Arc<Outbox>, identity: Arc<IrcIdentity>) -> IrcClient {
        IrcClient {
            outbox,
            identity,
            caps: AtomicU16::new(0),
            quit_told: AtomicBool::new(false),
            capturing: AtomicBool::new(false),
            view: Mutex::new(View::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, View> {
        self.view.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The server as its clients see it.
    pub fn identity(&self) -> &IrcIdentity {
        &self.identity
    }

    /// The capabilities turned on.
    pub fn caps(&self) -> Caps {
        Caps::from_bits(self.caps.load(Ordering::Relaxed))
    }

    /// Turns these capabilities on (and the rest off).
    pub fn set_caps(&self, caps: Caps) {
        self.caps.store(caps.bits(), Ordering::Relaxed);
    }

    /// The nick numerics address: the name once registered, else `*`.
    pub fn nick(&self) -> String {
        self.lock()
            .nick
            .as_ref()
            .map_or_else(|| "*".to_owned(), |n| n.as_str().to_owned())
    }

    /// The name once registered.
    pub fn name(&self) -> Option<Name<'static>> {
        self.lock().nick.clone()
    }

    /// From now on replies answer `doing`.
    pub fn doing(&self, doing: Doing) {
        self.lock().doing = doing;
    }

    /// `USER` gave these (before registration).
    pub fn introduce(&self, user: &str, realname: &str) {
        self.lock().profile = Some(Profile {
            user: Arc::from(user),
            realname: Arc::from(realname),
            away: None,
            bot: false,
            oper: false,
            wallops: false,
            invisible: false,
        });
    }

    /// Changes what the client said of itself (`AWAY`, `SETNAME`, user
    /// modes, `OPER`), once `USER` gave it.
    pub fn edit_profile(&self, edit: impl FnOnce(&mut Profile)) {
        if let Some(profile) = &mut self.lock().profile {
            edit(profile);
        }
    }

    /// The user name `USER` gave.
    pub fn user(&self) -> Option<Arc<str>> {
        self.lock().profile.as_ref().map(|p| Arc::clone(&p.user))
    }

    /// Registration is asking for `name`.
    pub fn asking(&self, name: &Name<'static>) {
        self.lock().asked = Some(name.clone());
    }

    /// The rooms entered whose `NAMES` are owed, taken.
    pub fn take_names_due(&self) -> Vec<RoomName<'static>> {
        std::mem::take(&mut self.lock().names_due)
    }

    /// Queues raw lines (CR LF ended) answering the client.
    pub fn send(&self, lines: &[u8]) {
        if lines.is_empty() {
            return;
        }
        if self.capturing.load(Ordering::Relaxed) {
            // Looked at again under the lock, where it changes: a line is
            // either collected before the collection is taken, or queued.
            let mut view = self.lock();
            if self.capturing.load(Ordering::Relaxed) {
                view.pending().captured.extend_from_slice(lines);
                return;
            }
        }
        self.outbox.push_reply(lines);
    }

    /// From now on, what is made for this client's own command is
    /// collected rather than queued (`labeled-response`, §20.3).
    pub fn capture(&self) {
        let mut view = self.lock();
        view.pending().captured.clear();
        self.capturing.store(true, Ordering::Relaxed);
    }

    /// What was collected since [`IrcClient::capture`]; queuing again.
    pub fn captured(&self) -> Vec<u8> {
        let mut view = self.lock();
        self.capturing.store(false, Ordering::Relaxed);
        let made = std::mem::take(&mut view.pending().captured);
        view.tidy();
        made
    }

    /// Appends the numeric `code` to `out` with no trailing parameter:
    /// `:server code nick middles`.
    pub fn numeric_bare(&self, out: &mut Vec<u8>, code: &str, middles: &[&str]) {
        numeric_to(out, &self.identity.name, &self.nick(), code, middles, None);
    }

    /// Appends the numeric `code` to `out`: `:server code nick middles
    /// :trailing`.
    pub fn numeric(&self, out: &mut Vec<u8>, code: &str, middles: &[&str], trailing: &str) {
        let nick = self.nick();
        numeric_to(
            out,
            &self.identity.name,
            &nick,
            code,
            middles,
            Some(trailing),
        );
    }

    /// Appends `room`'s ban list: a `367` for each of `targets` (`<room>
    /// <mask>`, without who set it or when, which are not kept), then
    /// `368`.
    pub fn ban_list(&self, out: &mut Vec<u8>, room: &str, targets: &[BanTarget<'static>]) {
        for target in targets {
            self.numeric_bare(out, "367", &[room, &ban_mask(target)]);
        }
        self.numeric(out, "368", &[room], "End of channel ban list");
    }

    /// Appends a `NOTICE` from the server to this client.
    pub fn notice(&self, out: &mut Vec<u8>, text: &str) {
        let nick = self.nick();
        let head = format!(":{} NOTICE {nick} :{text}\r\n", self.identity.name);
        out.extend_from_slice(head.as_bytes());
    }

    /// The line that closes the connection (`ERROR`).
    pub fn bye_line(reason: ByeReason) -> Vec<u8> {
        let why = match reason {
            ByeReason::Quit => "Quit",
            ByeReason::Timeout => "Ping timeout",
            ByeReason::Slow => "Too slow a reader",
            ByeReason::Flood => "Excess flood",
            ByeReason::Shutdown => "Server shutting down",
            ByeReason::ServerFull => "Server full",
            ByeReason::AddressLimit => "Too many connections from your address",
            ByeReason::WrongProtocol => "Not IRC",
            ByeReason::Throttled => "Too many wrong passwords",
            ByeReason::Replaced => "Your name was taken back on another connection",
            ByeReason::Unavailable => "Server unavailable",
            ByeReason::Killed => "Killed by a server operator",
        };
        format!("ERROR :Closing link: {why}\r\n").into_bytes()
    }

    /// The welcome burst: 001 to 005, then the MOTD.
    fn welcome(&self, out: &mut Vec<u8>, name: &Name<'static>) {
        self.lock().nick = Some(name.clone());
        let id = &self.identity;
        let nick = name.as_str();
        let server = id.name.as_str();
        let mut num = |code: &str, middles: &[&str], trailing: Option<&str>| {
            numeric_to(out, server, nick, code, middles, trailing);
        };
        let user = self.user();
        let welcome = format!(
            "Welcome to the Tagarela IRC network, {}",
            encode::source(nick, user.as_deref())
        );
        num("001", &[], Some(&welcome));
        let host = format!("Your host is {server}, running version {}", id.version);
        num("002", &[], Some(&host));
        num(
            "003",
            &[],
            Some(&format!("This server was created {}", id.created)),
        );
        num("004", &[server, &id.version, "i", "bnot", "bo"], None);
        for chunk in id.isupport.chunks(13) {
            let middles: Vec<&str> = chunk.iter().map(String::as_str).collect();
            num("005", &middles, Some("are supported by this server"));
        }
        self.motd_to(out);
    }

    /// The MOTD (375, 372..., 376) or `ERR_NOMOTD`.
    pub fn motd_to(&self, out: &mut Vec<u8>) {
        let id = &self.identity;
        if id.motd.is_empty() {
            self.numeric(out, "422", &[], "MOTD File is missing");
            return;
        }
        self.numeric(
            out,
            "375",
            &[],
            &format!("- {} Message of the day -", id.name),
        );
        for line in &id.motd {
            self.numeric(out, "372", &[], &format!("- {line}"));
        }
        self.numeric(out, "376", &[], "End of /MOTD command.");
    }

    /// A refusal about `room` as its numeric (spec §20.5).
    fn room_error(&self, out: &mut Vec<u8>, room: &str, code: ErrorCode, doing: Doing) {
        let (numeric, text) = match code {
            ErrorCode::NoSuchRoom => ("403", "No such channel"),
            ErrorCode::NotInRoom if matches!(doing, Doing::Message | Doing::Notice) => {
                ("404", "Cannot send to channel (you are not in it)")
            }
            ErrorCode::NotInRoom => ("442", "You're not on that channel"),
            ErrorCode::TooManyRooms => ("405", "You have joined too many channels"),
            ErrorCode::NoMoreRooms => ("403", "This server holds as many channels as it may"),
            ErrorCode::RoomFull => ("471", "Cannot join channel (+l)"),
            ErrorCode::RoomLooksLike => ("479", "A channel of that name exists and looks like it"),
            ErrorCode::NotOperator => ("482", "You're not channel operator"),
            ErrorCode::NoTopic => ("331", "No topic is set"),
            ErrorCode::Banned => ("474", "Cannot join channel (+b)"),
            ErrorCode::BadKey => ("475", "Cannot join channel (+k)"),
            ErrorCode::InviteOnly => ("473", "Cannot join channel (+i)"),
            ErrorCode::Moderated => ("404", "Cannot send to channel (+m)"),
            ErrorCode::AlreadyInRoom => ("443", "is already on channel"),
            ErrorCode::BanListFull => {
                self.numeric(out, "478", &[room, "b"], "Channel ban list is full");
                return;
            }
            ErrorCode::RoomInvalid => ("479", "Illegal channel name"),
            other => {
                self.notice(out, &format!("{room}: refused ({})", other.as_str()));
                return;
            }
        };
        self.numeric(out, numeric, &[room], text);
    }

    /// A reply as IRC lines.
    fn encode_reply(&self, reply: &Reply<'_>, out: &mut Vec<u8>) {
        let (doing, asked) = {
            let view = self.lock();
            (view.doing, view.asked.clone())
        };
        let asked = asked.as_ref().map_or("*", |n| n.as_str());
        match reply {
            // IRC servers do not greet; the features and a resume's run
            // do not arise (§20.1).
            Reply::Hello | Reply::Features(_) | Reply::Missed { .. } | Reply::Help { .. } => {}
            Reply::Welcome { name, .. } => self.welcome(out, name),
            Reply::Error { .. } | Reply::NameInvalid(_) | Reply::LooksLike(_)
                if doing == Doing::Notice => {}
            Reply::Error { code, name } => self.error(out, *code, *name),
            Reply::NameInvalid(why) => {
                let text = format!("Erroneous nickname: {}", name_rule(*why));
                self.numeric(out, "432", &[asked], &text);
            }
            Reply::LooksLike(holder) => {
                let text = format!("Nickname looks like {}, who is online", holder.as_str());
                self.numeric(out, "433", &[asked], &text);
            }
            // The front answers WHO and LIST from the hub's views itself
            // (with profiles and without empty rooms, §20.6): the session's
            // own answers never reach an IRC client.
            Reply::Who(_) | Reply::WhoIn { .. } | Reply::Rooms(_) => {}
            Reply::Pong(token) => {
                let token = token.as_ref().map_or("", |t| t.as_str());
                let line = format!(":{0} PONG {0} :{token}\r\n", self.identity.name);
                out.extend_from_slice(line.as_bytes());
            }
            Reply::Ping(token) => {
                out.extend_from_slice(format!("PING :{}\r\n", token.as_str()).as_bytes());
            }
            Reply::Bye(reason) => out.extend_from_slice(&IrcClient::bye_line(*reason)),
            // IRC clients scroll back with CHATHISTORY, not a backlog.
            Reply::History(_) | Reply::HistoryIn { .. } => {}
            Reply::Entered(entered) => self.entered_to(out, entered),
            Reply::RoomError { .. } if doing == Doing::Notice => {}
            Reply::RoomError { room, code } => self.room_error(out, room.as_str(), *code, doing),
            Reply::Topic { room, set } => self.topic_to(out, room.as_str(), set),
            Reply::Bans { room, targets } => {
                if doing == Doing::Mode {
                    return;
                }
                self.ban_list(out, room.as_str(), targets);
            }
            Reply::Ops { .. } => {}
            Reply::RoomNameError { .. } if doing == Doing::Notice => {}
            Reply::RoomNameError {
                room,
                name,
                code: ErrorCode::AlreadyInRoom,
            } => {
                let text = "is already on channel";
                self.numeric(out, "443", &[name.as_str(), room.as_str()], text);
            }
            Reply::RoomNameError { room, name, .. } => {
                let text = "They aren't on that channel";
                self.numeric(out, "441", &[name.as_str(), room.as_str()], text);
            }
            Reply::Invited { room, name } => {
                self.numeric_bare(out, "341", &[name.as_str(), room.as_str()]);
            }
        }
    }

    /// An error without a room (spec §20.5).
    fn error(&self, out: &mut Vec<u8>, code: ErrorCode, name: Option<&Name<'_>>) {
        let name = name.map(|n| n.as_str());
        match code {
            ErrorCode::NameTaken => {
                let nick = name.unwrap_or("*");
                self.numeric(out, "433", &[nick], "Nickname is already in use");
            }
            ErrorCode::NoSuchUser => {
                let nick = name.unwrap_or("*");
                self.numeric(out, "401", &[nick], "No such nick/channel");
            }
            ErrorCode::PasswordRequired | ErrorCode::PasswordWrong => {
                self.numeric(out, "464", &[], "Password incorrect");
            }
            ErrorCode::TlsRequired => {
                self.numeric(
                    out,
                    "464",
                    &[],
                    "This server takes a password only over TLS",
                );
            }
            ErrorCode::LineTooLong => self.numeric(out, "417", &[], "Input line was too long"),
            ErrorCode::NotRegistered => {
                self.numeric(out, "451", &[], "You have not registered");
            }
            ErrorCode::UnknownCommand => {
                self.numeric(out, "421", &["*"], "Unknown command");
            }
            other => self.notice(out, &format!("Refused: {}", other.as_str())),
        }
    }

    /// 332 and 333 for the event that set a topic.
    fn topic_to(&self, out: &mut Vec<u8>, room: &str, set: &Event) {
        if let EventKind::Topic { by, text } = &set.kind {
            self.numeric(out, "332", &[room], text.as_str());
            let secs = (set.at.unix_ms() / 1000).to_string();
            let nick = self.nick();
            let by = encode::source(by.as_str(), set.user.as_deref());
            numeric_to(
                out,
                &self.identity.name,
                &nick,
                "333",
                &[room, &by, &secs],
                None,
            );
        }
    }

    /// `WHOWAS`'s lines for one who left: 314 with the user and real
    /// name it had (a Tagarela client's name standing for both), 312.
    pub fn whowas_lines(&self, out: &mut Vec<u8>, who: &Present) {
        let nick = who.name.as_str();
        let profile = who.profile.as_ref();
        let user = encode::user_part(profile.map(|p| &*p.user));
        let realname = profile.map_or(nick, |p| &*p.realname);
        self.numeric(out, "314", &[nick, &user, encode::HOST, "*"], realname);
        self.numeric(out, "312", &[nick, &self.identity.name], "Tagarela");
    }

    /// The prefix a member's status in a room shows (`PREFIX=(ov)@+`):
    /// the highest alone, or every one with `multi-prefix`.
    pub fn status(&self, operator: bool, voiced: bool) -> &'static str {
        match (operator, voiced) {
            (true, true) if self.caps().has(Cap::MultiPrefix) => "@+",
            (true, _) => "@",
            (false, true) => "+",
            (false, false) => "",
        }
    }

    /// A `WHO` line for `who`, seen in `room` (`*` for none): 352, or
    /// 354 with the fields `whox` asks for. `H` here or `G` gone (away),
    /// then `status` in `room` (see [`IrcClient::status`]); the real name
    /// `USER` gave (a Tagarela client's name stands for it).
    pub fn who_line(
        &self,
        out: &mut Vec<u8>,
        room: &str,
        who: &Present,
        status: &str,
        whox: Option<&Whox>,
    ) {
        let profile = who.profile.as_ref();
        let here = if profile.is_some_and(|p| p.away.is_some()) {
            "G"
        } else {
            "H"
        };
        let bot = if profile.is_some_and(|p| p.bot) {
            "B"
        } else {
            ""
        };
        let oper = if profile.is_some_and(|p| p.oper) {
            "*"
        } else {
            ""
        };
        let flags = format!("{here}{oper}{bot}{status}");
        let server = self.identity.name.as_str();
        let name = who.name.as_str();
        let user = encode::user_part(profile.map(|p| &*p.user));
        let realname = profile.map_or(name, |p| &*p.realname);
        if let Some(whox) = whox {
            let (middles, trailing) = whox.answer(&WhoxUser {
                channel: room,
                user: &user,
                host: encode::HOST,
                server,
                nick: name,
                flags: &flags,
                realname,
            });
            let middles: Vec<&str> = middles.iter().map(String::as_str).collect();
            let nick = self.nick();
            numeric_to(out, server, &nick, "354", &middles, trailing.as_deref());
            return;
        }
        let trailing = format!("0 {realname}");
        self.numeric(
            out,
            "352",
            &[room, &user, encode::HOST, server, name, &flags],
            &trailing,
        );
    }

    /// What a client is told on entering a room: its JOIN, the topic,
    /// and (owed, sent by the connection) the names.
    fn entered_to(&self, out: &mut Vec<u8>, entered: &Entered) {
        if let Some(join) = &entered.join
            && let Some(bytes) = self.encoded(join)
        {
            out.extend_from_slice(bytes);
        }
        if let Some(topic) = &entered.topic {
            self.topic_to(out, entered.room.as_str(), topic);
        }
        let mut view = self.lock();
        if view.names_due.len() < NAMES_DUE_MAX {
            view.names_due.push(entered.room.clone());
        }
    }

    /// The event in this client's format, encoded once for all.
    fn encoded<'e>(&self, event: &'e Event) -> Option<&'e bytes::Bytes> {
        let stamp = self.stamp();
        let format = match stamp {
            Stamp::Tags => WireFormat::IrcTags,
            Stamp::Time => WireFormat::IrcTime,
            Stamp::Bare => WireFormat::Irc,
        };
        event.encoded(format, |e| encode::event(e, stamp, &self.identity.name))
    }

    /// The tags this client's events carry, by the capabilities it took.
    pub fn stamp(&self) -> Stamp {
        let caps = self.caps();
        if caps.has(Cap::MessageTags) {
            Stamp::Tags
        } else if caps.has(Cap::ServerTime) {
            Stamp::Time
        } else {
            Stamp::Bare
        }
    }

    /// The client-only tags of the message this client is sending now
    /// (§20.3), until it is sent: the hub puts them on its event.
    pub fn set_sending_tags(&self, tags: Option<Arc<str>>) {
        let mut view = self.lock();
        if tags.is_some() {
            view.pending().sending = tags;
        } else if let Some(p) = view.pending.as_mut() {
            p.sending = None;
        }
        view.tidy();
    }
}

/// Appends `:server code nick middles [:trailing]` and CR LF.
pub fn numeric_to(
    out: &mut Vec<u8>,
    server: &str,
    nick: &str,
    code: &str,
    middles: &[&str],
    trailing: Option<&str>,
) {
    out.push(b':');
    out.extend_from_slice(server.as_bytes());
    out.push(b' ');
    out.extend_from_slice(code.as_bytes());
    out.push(b' ');
    out.extend_from_slice(nick.as_bytes());
    for m in middles {
        out.push(b' ');
        // A middle parameter is one word not starting with ':' (a peer's
        // word echoed back may be anything else): `*` stands for it.
        let word = if m.is_empty() || m.starts_with(':') || m.contains(' ') {
            "*"
        } else {
            m
        };
        out.extend_from_slice(word.as_bytes());
    }
    if let Some(t) = trailing {
        out.extend_from_slice(b" :");
        out.extend_from_slice(t.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

/// A ban as an IRC mask: `name!*@*` or `*!*@address[/prefix]`.
pub fn ban_mask(target: &tagarela_parser::BanTarget<'_>) -> String {
    match target {
        tagarela_parser::BanTarget::Name(name) => format!("{}!*@*", name.as_str()),
        tagarela_parser::BanTarget::Address { ip, prefix } => {
            let full = if ip.is_ipv4() { 32 } else { 128 };
            if *prefix == full {
                format!("*!*@{ip}")
            } else {
                format!("*!*@{ip}/{prefix}")
            }
        }
    }
}

/// Which rule of §3.1 a refused nick broke, in words.
fn name_rule(why: NameError) -> String {
    why.to_string()
}

impl Recipient for IrcClient {
    fn deliver(&self, event: &Event) {
        let quit = matches!(&event.kind, EventKind::Leave { reason, .. }
            if !matches!(reason, LeaveReason::Part | LeaveReason::Kicked));
        match &event.kind {
            // Tags alone are for clients that asked for them (§20.3).
            EventKind::TagsOnly { .. } if !self.caps().has(Cap::MessageTags) => return,
            EventKind::Private { from, to, .. } if from != to => {
                let echo = self.caps().has(Cap::EchoMessage);
                if !echo && self.lock().nick.as_ref() == Some(from) {
                    // Tagarela confirms a private message to its sender;
                    // IRC does only with echo-message.
                    return;
                }
            }
            EventKind::Leave { name, .. } if quit => {
                // One QUIT per departure, not one per room shared.
                let mut view = self.lock();
                let told =
                    self.quit_told.load(Ordering::Relaxed) && view.last_quit.as_ref() == Some(name);
                view.last_quit = Some(name.clone());
                self.quit_told.store(true, Ordering::Relaxed);
                if told {
                    return;
                }
            }
            _ => {}
        }
        if !quit {
            self.quit_told.store(false, Ordering::Relaxed);
        }
        if let Some(bytes) = self.encoded(event) {
            // A message to oneself comes as the recipient's copy and, with
            // echo-message, as the echo too, which alone answers a
            // labelled command (§20.3).
            let to_self = match &event.kind {
                EventKind::Private { from, to, .. } => from == to,
                EventKind::TagsOnly { from, to: Some(to) } => from == to,
                _ => false,
            };
            if to_self && self.caps().has(Cap::EchoMessage) {
                self.outbox.push(bytes);
            }
            // Its own message's echo answers its labelled command; what
            // others do meanwhile is not part of the answer.
            // A kick's actor is the one kicked: it answers no command of
            // theirs, whoever made it.
            let kicked = matches!(
                event.kind,
                EventKind::Leave {
                    reason: LeaveReason::Kicked,
                    ..
                }
            );
            if !kicked && self.capturing.load(Ordering::Relaxed) {
                let mut view = self.lock();
                if self.capturing.load(Ordering::Relaxed)
                    && view.nick.as_ref() == Some(event.actor())
                {
                    view.pending().captured.extend_from_slice(bytes);
                    return;
                }
            }
            self.outbox.push(bytes);
        }
    }

    fn replaced(&self) {
        self.outbox.displace(ByeReason::Replaced);
    }

    fn cut_off(&self) {
        self.outbox.displace(ByeReason::Unavailable);
    }

    fn killed(&self) {
        self.outbox.displace(ByeReason::Killed);
    }

    fn wallops(&self, from: &Present, text: &str) {
        if !self.lock().profile.as_ref().is_some_and(|p| p.wallops) {
            return;
        }
        let user = from.profile.as_ref().map(|p| &*p.user);
        let source = encode::source(from.name.as_str(), user);
        self.outbox
            .push(format!(":{source} WALLOPS :{text}\r\n").as_bytes());
    }

    fn undeliverable(&self, to: &Name<'static>) {
        let mut out = Vec::new();
        self.error(&mut out, ErrorCode::NoSuchUser, Some(to));
        self.send(&out);
    }

    fn crowd(&self, notice: &Notice) {
        let time = self.caps().has(Cap::ServerTime);
        let line = encode::crowd(notice, time, &self.identity.name);
        self.outbox.push(&line);
    }

    fn entered(&self, entered: &Entered) {
        self.reply(&Reply::Entered(entered));
    }

    fn room_refused(&self, room: &RoomName<'static>, refusal: &RoomRefusal) {
        crate::chat::reply::tell_refusal(self, room, refusal);
    }

    fn room_list(&self, list: &RoomList<'_>) {
        if let RoomList::Bans { room, targets } = *list {
            self.reply(&Reply::Bans { room, targets });
        }
    }

    fn echoes(&self) -> bool {
        self.caps().has(Cap::EchoMessage)
    }

    fn sending(&self) -> Sending {
        let view = self.lock();
        Sending {
            tags: view.pending.as_ref().and_then(|p| p.sending.clone()),
            notice: view.doing == Doing::Notice,
        }
    }

    fn profile(&self) -> Option<Profile> {
        self.lock().profile.clone()
    }

    fn profile_changed(&self, who: &Present, what: ProfileField, heard: Heard) {
        let caps = self.caps();
        let cap = match what {
            ProfileField::Away => Cap::AwayNotify,
            ProfileField::Realname => Cap::Setname,
        };
        if !caps.has(cap) || (heard == Heard::Watching && !caps.has(Cap::ExtendedMonitor)) {
            return;
        }
        let Some(profile) = &who.profile else {
            return;
        };
        let source = encode::source(who.name.as_str(), Some(&profile.user));
        let line = match (what, &profile.away) {
            (ProfileField::Away, Some(text)) => format!(":{source} AWAY :{text}\r\n"),
            (ProfileField::Away, None) => format!(":{source} AWAY\r\n"),
            (ProfileField::Realname, _) => format!(":{source} SETNAME :{}\r\n", profile.realname),
        };
        self.outbox.push(line.as_bytes());
    }

    fn mode_changed(&self, change: &ModeChange<'_>) {
        let source = encode::source(change.by.as_str(), change.by_user);
        let mut line = format!(":{source} MODE {} {}", change.room.as_str(), change.change);
        if let Some(arg) = change.arg {
            line.push(' ');
            line.push_str(arg);
        }
        line.push_str("\r\n");
        // The operator's own change answers its command (and its label,
        // §20.3); others' go to the queue.
        if self
            .lock()
            .nick
            .as_ref()
            .is_some_and(|me| me.key() == change.by.key())
        {
            self.send(line.as_bytes());
        } else {
            self.outbox.push(line.as_bytes());
        }
    }

    fn invited(&self, by: &Present, room: &RoomName<'_>) {
        let user = by.profile.as_ref().map(|p| &*p.user);
        let source = encode::source(by.name.as_str(), user);
        let line = format!(":{source} INVITE {} {}\r\n", self.nick(), room.as_str());
        self.outbox.push(line.as_bytes());
    }

    fn presence(&self, who: &Present, online: bool) {
        let mut out = Vec::new();
        let name = who.name.as_str();
        if online {
            let user = who.profile.as_ref().map(|p| &*p.user);
            let source = encode::source(name, user);
            numeric_to(
                &mut out,
                &self.identity.name,
                &self.nick(),
                "730",
                &[],
                Some(&source),
            );
        } else {
            numeric_to(
                &mut out,
                &self.identity.name,
                &self.nick(),
                "731",
                &[],
                Some(name),
            );
        }
        self.outbox.push(&out);
    }
}

/// The chat core's replies, as IRC numerics.
impl Replier for IrcClient {
    fn reply(&self, reply: &Reply<'_>) {
        let mut out = Vec::new();
        self.encode_reply(reply, &mut out);
        self.send(&out);
    }

    fn number_events(&self) {}

    fn use_rooms(&self) {}
}
