//! An IRC connection's reading side (spec §20): one IRC line at a time
//! into the chat core's intents, and the IRC-only commands (`CAP`,
//! `NAMES`, `WHO`, `WHOIS`, `MODE` queries, `MOTD`...) answered from the
//! hub's read-only views. It keeps registration's parts (`NICK`, `USER`,
//! `PASS`, `CAP` negotiation) until the name can be asked for. Never
//! touches a socket, and changes nothing in the chat but through
//! [`Session::handle`].

use std::sync::Arc;

use tagarela_parser::irc::{IRC_CLIENT_TAGS_MAX, IRC_LINE_MAX, IRC_TAGS_MAX, IrcError, IrcMessage};
use tagarela_parser::{BanTarget, Name, RoomName, Text, Token};

use crate::chat::access::Verdict;
use crate::chat::intent::Intent;
use crate::chat::session::{Next, Session};
use crate::hub::{Hub, ModeChange, ProfileField, Recipient, RoomMode, RoomView};
use crate::wire::irc::caps::{Cap, Caps};
use crate::wire::irc::chathistory;
use crate::wire::irc::client::{Doing, IrcClient, ban_mask};
use crate::wire::irc::encode;
use crate::wire::irc::help;
use crate::wire::irc::identity::{MESSAGE_TARGETS, ROOM_TARGETS};
use crate::wire::irc::label;
use crate::wire::irc::text::{self, Inbound};
use crate::wire::irc::whox::Whox;

/// The most nicks one connection's `MONITOR` watches (ISUPPORT `MONITOR`).
pub const MONITOR_MAX: usize = 100;

/// One filter of `LIST` (ELIST, §20.6): names are kept if they match
/// any name or mask given, and drop if they match a `!mask`; counts and
/// topic ages must hold for every one given.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ListFilter {
    /// `#name` or a mask (`*`, `?`), case folded (ELIST `M`).
    Named(String),
    /// `!mask`: not these (ELIST `N`).
    NotNamed(String),
    /// `>n`: more than n members (ELIST `U`).
    MoreThan(usize),
    /// `<n`: fewer than n members.
    FewerThan(usize),
    /// `T>m`: topic set more than m minutes ago (ELIST `T`).
    TopicOlder(u64),
    /// `T<m`: topic set less than m minutes ago.
    TopicNewer(u64),
}

impl ListFilter {
    /// One comma-separated item; `None` if it means nothing.
    fn parse(item: &str) -> Option<ListFilter> {
        let fold = str::to_lowercase;
        if let Some(n) = item.strip_prefix('>') {
            return n.parse().ok().map(ListFilter::MoreThan);
        }
        if let Some(n) = item.strip_prefix('<') {
            return n.parse().ok().map(ListFilter::FewerThan);
        }
        if let Some(n) = item.strip_prefix("T>") {
            return n.parse().ok().map(ListFilter::TopicOlder);
        }
        if let Some(n) = item.strip_prefix("T<") {
            return n.parse().ok().map(ListFilter::TopicNewer);
        }
        if let Some(mask) = item.strip_prefix('!') {
            return Some(ListFilter::NotNamed(fold(mask)));
        }
        (!item.is_empty()).then(|| ListFilter::Named(fold(item)))
    }

    /// Whether `listing` passes every filter (at `now_ms`).
    fn keep(filters: &[ListFilter], listing: &crate::hub::hall::Listing, now_ms: u64) -> bool {
        let name = listing.room.as_str().to_lowercase();
        let minutes = listing
            .topic_at
            .map(|at| now_ms.saturating_sub(at.unix_ms()) / 60_000);
        let mut named = None;
        for filter in filters {
            let pass = match filter {
                ListFilter::Named(mask) => {
                    named = Some(named.unwrap_or(false) || text::glob(mask, &name));
                    continue;
                }
                ListFilter::NotNamed(mask) => !text::glob(mask, &name),
                ListFilter::MoreThan(n) => listing.members > *n,
                ListFilter::FewerThan(n) => listing.members < *n,
                ListFilter::TopicOlder(m) => minutes.is_some_and(|age| age > *m),
                ListFilter::TopicNewer(m) => minutes.is_some_and(|age| age < *m),
            };
            if !pass {
                return false;
            }
        }
        named.unwrap_or(true)
    }
}

/// The changes one `MODE` line made, told to the room as one line
/// (`MODE #room +kl-i key 10`, §20.6).
#[derive(Debug, Default)]
struct ModeLine {
    /// The letters, each run after its sign.
    changes: String,
    /// Their arguments, in order.
    args: Vec<String>,
}

impl ModeLine {
    /// One change made: `change` is a sign and a letter.
    fn push(&mut self, change: &str, arg: &str) {
        let mut letters = change.chars();
        let sign = letters.next().unwrap_or('+');
        let last_sign = self.changes.chars().rev().find(|c| *c == '+' || *c == '-');
        if last_sign != Some(sign) {
            self.changes.push(sign);
        }
        self.changes.push_str(letters.as_str());
        if !arg.is_empty() {
            self.args.push(arg.to_owned());
        }
    }
}

/// Whether `key` may be a room's key: 1 to 32 characters, none a space,
/// a comma or a control character, not starting with `:` (so that `JOIN
/// #a,#b k1,k2` and `324` can carry it as a middle parameter).
fn key_is_valid(key: &str) -> bool {
    (1..=32).contains(&key.chars().count())
        && !key.starts_with(':')
        && !key.chars().any(|c| c == ' ' || c == ',' || c.is_control())
}

/// Mode letters (signs included) one `MODE` line is read for; the rest
/// are ignored.
const MODE_LETTERS_MAX: usize = 16;

/// Nicks one `KICK` may name (`TARGMAX=KICK:4`).
pub const KICK_TARGETS: usize = 4;

/// The most users one `WHO` mask answers with.
pub const WHO_MASK_MAX: usize = 100;

/// The longest line the framer passes: tags, a space, and a line.
pub const FRAME_MAX: usize = IRC_TAGS_MAX + 1 + IRC_LINE_MAX - 2;

/// An IRC connection's reading side.
#[derive(Debug)]
pub struct IrcFront {
    /// Its queue and what encoding for it needs.
    client: Arc<IrcClient>,
    /// The chat, for the read-only views IRC's queries need.
    hub: Arc<dyn Hub>,
    /// The name `NICK` gave, until registered.
    nick: Option<Name<'static>>,
    /// `USER` was given.
    user: bool,
    /// `PASS` gave this, until registered.
    pass: Option<String>,
    /// `CAP LS` or `CAP REQ` came before registration and `CAP END` has
    /// not: registration waits (IRCv3).
    negotiating: bool,
    /// The session was told to speak rooms (first line).
    started: bool,
    /// The nicks `MONITOR` watches (at most [`MONITOR_MAX`]), as given.
    monitored: Vec<Name<'static>>,
    /// Batches opened so far: the next one's name (`CHATHISTORY`).
    batches: u64,
}

impl IrcFront {
    /// The reading side of `client`'s connection.
    pub fn new(client: Arc<IrcClient>, hub: Arc<dyn Hub>) -> IrcFront {
        IrcFront {
            client,
            hub,
            nick: None,
            user: false,
            pass: None,
            negotiating: false,
            started: false,
            monitored: Vec::new(),
            batches: 0,
        }
    }

    /// Handles one line (CR LF removed).
    pub fn handle(&mut self, line: &[u8], session: &mut Session) -> Next {
        if !self.started {
            self.started = true;
            // Channels are rooms, one to one (§19.2).
            if let Ok(rooms) = Token::new("rooms") {
                session.handle(Intent::Features(vec![rooms]));
            }
        }
        if line.iter().all(|b| *b == b' ') {
            return session.handle(Intent::Nothing);
        }
        let (tags, body) = match line.strip_prefix(b"@") {
            Some(rest) => {
                let space = rest.iter().position(|b| *b == b' ').unwrap_or(rest.len());
                (space + 2, rest.len().saturating_sub(space + 1))
            }
            None => (0, line.len()),
        };
        if tags > IRC_CLIENT_TAGS_MAX || body > IRC_LINE_MAX - 2 {
            self.reply("417", &[], "Input line was too long");
            return Next::Continue;
        }
        let message = match IrcMessage::decode(line) {
            Ok(m) => m,
            Err(IrcError::NotUtf8) => match self.not_utf8(line) {
                Some(m) => m,
                None => return Next::Continue,
            },
            Err(e) => {
                let mut out = Vec::new();
                self.client.notice(&mut out, &format!("Line refused: {e}"));
                self.client.send(&out);
                return Next::Continue;
            }
        };
        let raw_body = &line[line.len() - body..];
        if matches!(message.command(), "PRIVMSG" | "NOTICE") && self.relay_too_long(raw_body) {
            // Its relay, with the sender's source in front, would not fit
            // one IRC line (§20.4).
            self.reply(
                "417",
                &[],
                "Input line was too long (with your address in front)",
            );
            return Next::Continue;
        }
        // A labelled command's answer comes back labelled (§20.3).
        let label = message
            .tag("label")
            .flatten()
            .filter(|_| self.client.caps().has(Cap::LabeledResponse))
            .map(str::to_owned);
        if label.is_some() {
            self.client.capture();
        }
        let next = self.command(&message, session);
        self.client.doing(Doing::Other);
        self.names_owed();
        if let Some(label) = label {
            let made = self.client.captured();
            self.batches += 1;
            let id = format!("l{}", self.batches);
            let batch = self.client.caps().has(Cap::Batch).then_some(id.as_str());
            let server = &self.client.identity().name;
            self.client
                .send(&label::labelled(&label, &made, server, batch));
        }
        next
    }

    /// A line that is not UTF-8 (`UTF8ONLY`, §20.2): `USER`'s, whose names
    /// are only shown, is read with its bad octets replaced, so that the
    /// client can register; any other is refused with `FAIL <command>
    /// INVALID_UTF8` and goes nowhere (nothing that is not UTF-8 is
    /// relayed).
    fn not_utf8(&self, line: &[u8]) -> Option<IrcMessage> {
        let lossy = String::from_utf8_lossy(line);
        let read = IrcMessage::decode(lossy.as_bytes()).ok();
        if let Some(m) = read.filter(|m| m.command() == "USER") {
            return Some(m);
        }
        let command = IrcMessage::decode(lossy.as_bytes())
            .map(|m| m.command().to_owned())
            .unwrap_or_else(|_| "*".to_owned());
        let server = &self.client.identity().name;
        let line = format!(
            ":{server} FAIL {command} INVALID_UTF8 :Line refused: the line is not UTF-8\r\n"
        );
        self.client.send(line.as_bytes());
        None
    }

    /// Sends one numeric.
    fn reply(&self, code: &str, middles: &[&str], trailing: &str) {
        let mut out = Vec::new();
        self.client.numeric(&mut out, code, middles, trailing);
        self.client.send(&out);
    }

    /// Whether the message line `body` (without tags or CR LF), relayed
    /// with this client's source in front (`:nick!~user@tagarela `) and a
    /// `:` before its text if it had none, passes 512 octets.
    fn relay_too_long(&self, body: &[u8]) -> bool {
        let nick = self.nick.as_ref().map_or("", |n| n.as_str());
        let user = self.client.user();
        let source = 1 + encode::source(nick, user.as_deref()).len() + 1;
        // Names and channels hold no ':', so " :" can only start the text.
        let colon = usize::from(!body.windows(2).any(|w| w == b" :"));
        body.len() + colon + 2 + source > IRC_LINE_MAX
    }

    /// `LIST [#a,#b]`: rooms with someone in them (an empty room is kept
    /// by Tagarela, §19.5, but IRC lists only channels in use).
    /// `LIST [filters]`: rooms with someone in them (§20.6), those the
    /// filters keep (ISUPPORT `ELIST=MNTU`, see [`ListFilter`]).
    fn list(&self, p: &[String]) {
        let filters: Vec<ListFilter> = p
            .first()
            .map(|f| f.split(',').filter_map(ListFilter::parse).collect())
            .unwrap_or_default();
        let now_ms = crate::event::wall_clock().unix_ms();
        let mut out = Vec::new();
        self.client
            .numeric(&mut out, "321", &["Channel"], "Users  Name");
        let me = self.client.name().map(|n| n.key());
        for listing in self.hub.rooms(me.as_ref()) {
            if listing.members == 0 || !ListFilter::keep(&filters, &listing, now_ms) {
                continue;
            }
            let members = listing.members.to_string();
            let topic = listing.topic.as_ref().map_or("", |t| t.as_str());
            self.client
                .numeric(&mut out, "322", &[listing.room.as_str(), &members], topic);
        }
        self.client.numeric(&mut out, "323", &[], "End of /LIST");
        self.client.send(&out);
    }

    /// Sends one numeric with no trailing parameter.
    fn bare(&self, code: &str, middles: &[&str]) {
        let mut out = Vec::new();
        self.client.numeric_bare(&mut out, code, middles);
        self.client.send(&out);
    }

    /// `ERR_NEEDMOREPARAMS`.
    fn need_more(&self, command: &str) {
        self.reply("461", &[command], "Not enough parameters");
    }

    /// The `NAMES` of rooms just entered.
    fn names_owed(&self) {
        for room in self.client.take_names_due() {
            self.names(room.as_str());
        }
    }

    fn command(&mut self, m: &IrcMessage, session: &mut Session) -> Next {
        let p = m.params();
        let registered = session.is_registered();
        match m.command() {
            "CAP" => return self.cap(p, session),
            "PING" => match p.first() {
                Some(token) => {
                    let server = &self.client.identity().name;
                    let line = format!(":{server} PONG {server} :{token}\r\n");
                    self.client.send(line.as_bytes());
                }
                None => self.reply("409", &[], "No origin specified"),
            },
            "PONG" => return session.handle(Intent::Pong),
            "QUIT" => {
                let text = p.first().and_then(|t| match text::inbound(t) {
                    Inbound::Text(t) => Some(t),
                    _ => None,
                });
                return session.handle(Intent::Quit(text));
            }
            "NICK" if registered => {
                // Names are held, not renamed (§20.2).
                let attempt = p.first().map_or("*", String::as_str);
                self.reply(
                    "432",
                    &[attempt],
                    "Names cannot change here: reconnect to take another",
                );
            }
            "NICK" => match p.first() {
                None => self.reply("431", &[], "No nickname given"),
                Some(nick) => match Name::normalize(nick) {
                    Ok(name) => {
                        self.nick = Some(name);
                        return self.try_register(session);
                    }
                    Err(why) => {
                        let text = format!("Erroneous nickname: {why}");
                        self.reply("432", &[nick], &text);
                    }
                },
            },
            "USER" if registered => self.reply("462", &[], "You may not reregister"),
            "USER" => {
                if p.len() < 4 || p[0].is_empty() || p[3].is_empty() {
                    self.need_more("USER");
                } else {
                    self.user = true;
                    self.client.introduce(
                        &text::user_name(&p[0]),
                        &text::shown(&p[3], text::REALNAME_MAX),
                    );
                    return self.try_register(session);
                }
            }
            "PASS" if registered => self.reply("462", &[], "You may not reregister"),
            "PASS" => match p.first() {
                Some(pass) => self.pass = Some(pass.clone()),
                None => self.need_more("PASS"),
            },
            _ if !registered => self.reply("451", &[], "You have not registered"),
            "PRIVMSG" | "NOTICE" | "TAGMSG" => {
                // The message's client tags ride on its event (§20.3).
                self.client.set_sending_tags(self.client_tags(m));
                let next = match m.command() {
                    "TAGMSG" => self.tagmsg(p, session),
                    verb => self.message(verb, p, session),
                };
                self.client.set_sending_tags(None);
                return next;
            }
            "CHATHISTORY" => self.chathistory(p),
            "JOIN" => return self.join(p, session),
            "PART" => return self.part(p, session),
            "TOPIC" => return self.topic(p, session),
            "NAMES" => match p.first() {
                Some(rooms) => self.names(rooms),
                None => self.reply("366", &["*"], "End of /NAMES list"),
            },
            "LIST" => self.list(p),
            "WHO" => self.who(p),
            "WHOIS" => self.whois(p),
            "MODE" => return self.mode(p, session),
            "KICK" => return self.kick(p, session),
            "INVITE" => return self.invite(p, session),
            "AWAY" => {
                let away = p
                    .first()
                    .filter(|t| !t.is_empty())
                    .map(|t| text::shown(t, text::AWAY_MAX));
                let was = self.client.profile().and_then(|p| p.away);
                self.client
                    .edit_profile(|p| p.away = away.as_deref().map(Arc::from));
                // Those sharing a room who asked are told (away-notify),
                // if anything changed.
                if was.as_deref() != away.as_deref()
                    && let Some(me) = self.client.name()
                {
                    self.hub.tell_profile(&me, ProfileField::Away);
                }
                if away.is_some() {
                    self.reply("306", &[], "You have been marked as being away");
                } else {
                    self.reply("305", &[], "You are no longer marked as being away");
                }
            }
            "SETNAME" => self.setname(p),
            "OPER" => self.oper(p, session),
            "KILL" => return self.kill(p, session),
            "WALLOPS" => self.wallops(p),
            "INFO" => {
                let mut out = Vec::new();
                let id = self.client.identity();
                for info in [
                    id.version.as_str(),
                    "Tagarela: a chat server; this is its IRC port (spec/PROTOCOL.md, section 20).",
                    "Started:",
                    id.created.as_str(),
                ] {
                    self.client.numeric(&mut out, "371", &[], info);
                }
                self.client
                    .numeric(&mut out, "374", &[], "End of INFO list");
                self.client.send(&out);
            }
            "MOTD" => {
                let mut out = Vec::new();
                self.client.motd_to(&mut out);
                self.client.send(&out);
            }
            // Nick history is not kept (private by default, §12).
            "WHOWAS" => match p.first() {
                None => self.reply("431", &[], "No nickname given"),
                Some(nicks) => {
                    // A count of 0 or less (or none) is every one kept.
                    let count = p
                        .get(1)
                        .and_then(|c| c.parse::<i64>().ok())
                        .map_or(0, |c| usize::try_from(c).unwrap_or(0));
                    let mut out = Vec::new();
                    for nick in nicks.split(',').take(MESSAGE_TARGETS) {
                        let gone = Name::recipient(nick)
                            .map(|n| self.hub.whowas(&n, count))
                            .unwrap_or_default();
                        if gone.is_empty() {
                            let nick = if nick.is_empty() { "*" } else { nick };
                            self.client.numeric(
                                &mut out,
                                "406",
                                &[nick],
                                "There was no such nickname",
                            );
                        }
                        for who in &gone {
                            self.client.whowas_lines(&mut out, who);
                        }
                    }
                    self.client.numeric(
                        &mut out,
                        "369",
                        &[nicks.split(',').next().unwrap_or("*")],
                        "End of WHOWAS",
                    );
                    self.client.send(&out);
                }
            },
            // One server as IRC sees it; a cluster's nodes (§17) are not shown.
            "LINKS" => self.reply("365", &["*"], "End of /LINKS list"),
            "MONITOR" => self.monitor(p),
            "HELP" | "HELPOP" => self.help(p.first().map_or(help::INDEX, String::as_str)),
            "LUSERS" => {
                let online = self.hub.who().len().to_string();
                let rooms = self.hub.rooms(None).len().to_string();
                self.reply(
                    "251",
                    &[],
                    &format!("There are {online} users and 0 invisible on 1 servers"),
                );
                self.reply("254", &[&rooms], "channels formed");
                self.reply(
                    "255",
                    &[],
                    &format!("I have {online} clients and 0 servers"),
                );
                // The short forms: no peak is kept (§20.6).
                self.reply("265", &[], &format!("Current local users: {online}"));
                self.reply("266", &[], &format!("Current global users: {online}"));
            }
            "VERSION" => {
                let id = self.client.identity();
                self.reply("351", &[&id.version, &id.name], "Tagarela");
                let mut out = Vec::new();
                for chunk in id.isupport.chunks(13) {
                    let middles: Vec<&str> = chunk.iter().map(String::as_str).collect();
                    self.client
                        .numeric(&mut out, "005", &middles, "are supported by this server");
                }
                self.client.send(&out);
            }
            "TIME" => {
                let mut at = Vec::new();
                crate::event::wall_clock().write(&mut at);
                let name = self.client.identity().name.clone();
                self.reply("391", &[&name], &String::from_utf8_lossy(&at));
            }
            "USERHOST" => {
                let found: Vec<String> = p
                    .iter()
                    .take(5)
                    .filter_map(|n| Name::recipient(n).ok())
                    .filter_map(|n| self.hub.whois(&n))
                    .map(|w| {
                        let profile = w.present.profile.as_ref();
                        let here = if profile.is_some_and(|p| p.away.is_some()) {
                            '-'
                        } else {
                            '+'
                        };
                        let user = encode::user_part(profile.map(|p| &*p.user));
                        format!("{}={here}{user}@{}", w.present.name.as_str(), encode::HOST)
                    })
                    .collect();
                self.reply("302", &[], &found.join(" "));
            }
            "ISON" => {
                let found: Vec<String> = p
                    .iter()
                    .flat_map(|w| w.split(' '))
                    .take(32)
                    .filter_map(|n| Name::recipient(n).ok())
                    .filter_map(|n| self.hub.whois(&n))
                    .map(|w| w.present.name.as_str().to_owned())
                    .collect();
                self.reply("303", &[], &found.join(" "));
            }
            other => self.reply("421", &[other], "Unknown command"),
        }
        Next::Continue
    }

    /// Asks for the name once `NICK` and `USER` are in and no `CAP`
    /// negotiation holds registration.
    fn try_register(&mut self, session: &mut Session) -> Next {
        if !self.user || self.negotiating || session.is_registered() || session.is_waiting() {
            return Next::Continue;
        }
        let Some(name) = self.nick.clone() else {
            return Next::Continue;
        };
        if let Some(pass) = self.pass.take()
            && let Ok(pass) = Text::new(pass)
            && let Next::Close(why) = session.handle(Intent::Password(pass))
        {
            return Next::Close(why);
        }
        self.client.asking(&name);
        session.handle(Intent::Register(name))
    }

    /// `CAP` (IRCv3 capability negotiation, version 302).
    fn cap(&mut self, p: &[String], session: &mut Session) -> Next {
        let registered = session.is_registered();
        let nick = self.client.nick();
        let server = self.client.identity().name.clone();
        let sub = p
            .first()
            .map(|s| s.to_ascii_uppercase())
            .unwrap_or_default();
        let line = |rest: &str| format!(":{server} CAP {nick} {rest}\r\n");
        match sub.as_str() {
            "LS" => {
                if !registered {
                    self.negotiating = true;
                }
                let all = Caps::default()
                    .request(&crate::wire::irc::caps::Cap::ALL.map(|c| c.name()).join(" "))
                    .unwrap_or_default();
                self.client
                    .send(line(&format!("LS :{}", all.names())).as_bytes());
            }
            "LIST" => {
                let on = self.client.caps().names();
                self.client.send(line(&format!("LIST :{on}")).as_bytes());
            }
            "REQ" => {
                if !registered {
                    self.negotiating = true;
                }
                let asked = p.get(1).map_or("", String::as_str);
                match self.client.caps().request(asked) {
                    Some(caps) => {
                        self.client.set_caps(caps);
                        self.client.send(line(&format!("ACK :{asked}")).as_bytes());
                    }
                    None => self.client.send(line(&format!("NAK :{asked}")).as_bytes()),
                }
            }
            "END" => {
                self.negotiating = false;
                return self.try_register(session);
            }
            _ => {
                let sub = p.first().map_or("*", String::as_str);
                self.reply("410", &[sub], "Invalid CAP command");
            }
        }
        Next::Continue
    }

    /// `CHATHISTORY` (§20.3): a page of a room's kept messages, in a
    /// batch for a client that takes batches.
    fn chathistory(&mut self, p: &[String]) {
        // A closed room's history is for those in it (§20.6).
        if let Some(room) = p.get(1).and_then(|t| RoomName::typed(t).ok())
            && self.closed(&room)
        {
            let server = &self.client.identity().name;
            let sub = p.first().map_or("*", String::as_str);
            let line = format!(
                ":{server} FAIL CHATHISTORY INVALID_TARGET {sub} {} :You are not in that channel\r\n",
                room.as_str()
            );
            self.client.send(line.as_bytes());
            return;
        }
        self.batches += 1;
        let id = format!("h{}", self.batches);
        let batch = self.client.caps().has(Cap::Batch).then_some(id.as_str());
        let stamp = self.client.stamp();
        let server = self.client.identity().name.clone();
        match chathistory::answer(self.hub.as_ref(), &server, p, stamp, batch) {
            Ok(page) => self.client.send(&page),
            Err((refused, sub)) => {
                let sub = if sub.is_empty() { "*".to_owned() } else { sub };
                let line = format!(
                    ":{server} FAIL CHATHISTORY {} {} :{}\r\n",
                    refused.code, sub, refused.why
                );
                self.client.send(line.as_bytes());
            }
        }
    }

    /// The client-only tags of `m` to relay (§20.3): only from a client
    /// that asked for `message-tags`.
    fn client_tags(&self, m: &IrcMessage) -> Option<Arc<str>> {
        if !self.client.caps().has(Cap::MessageTags) {
            return None;
        }
        m.client_only_tags().map(Arc::from)
    }

    /// `TAGMSG`: the message's tags alone, to rooms and to names
    /// (§20.3). Refusals are answered as for `PRIVMSG`.
    fn tagmsg(&mut self, p: &[String], session: &mut Session) -> Next {
        let Some(targets) = p.first().filter(|t| !t.is_empty()) else {
            self.reply("411", &[], "No recipient given (TAGMSG)");
            return Next::Continue;
        };
        self.client.doing(Doing::Message);
        for target in targets.split(',').take(MESSAGE_TARGETS) {
            let intent = if target.starts_with('#') {
                match RoomName::typed(target) {
                    Ok(room) => Intent::TagsIn { room },
                    Err(_) => {
                        self.reply("403", &[target], "No such channel");
                        continue;
                    }
                }
            } else {
                match Name::recipient(target) {
                    Ok(to) => Intent::TagsTo { to },
                    Err(_) => {
                        self.reply("401", &[target], "No such nick/channel");
                        continue;
                    }
                }
            };
            if let Next::Close(why) = session.handle(intent) {
                return Next::Close(why);
            }
        }
        Next::Continue
    }

    /// `PRIVMSG` and `NOTICE`: to rooms and to names, several at once.
    fn message(&mut self, verb: &str, p: &[String], session: &mut Session) -> Next {
        let notice = verb == "NOTICE";
        let Some(targets) = p.first().filter(|t| !t.is_empty()) else {
            if !notice {
                self.reply("411", &[], &format!("No recipient given ({verb})"));
            }
            return Next::Continue;
        };
        let text = match p.get(1).map(|t| text::inbound(t)) {
            Some(Inbound::Text(text)) => text,
            Some(Inbound::Ctcp) => {
                if !notice {
                    let mut out = Vec::new();
                    self.client.notice(
                        &mut out,
                        "CTCP requests other than ACTION are not carried on this network",
                    );
                    self.client.send(&out);
                }
                return Next::Continue;
            }
            Some(Inbound::Empty) | None => {
                if !notice {
                    self.reply("412", &[], "No text to send");
                }
                return Next::Continue;
            }
        };
        self.client.doing(if notice {
            Doing::Notice
        } else {
            Doing::Message
        });
        for target in targets.split(',').take(MESSAGE_TARGETS) {
            let text = text.clone();
            let intent = if target.starts_with('#') {
                match RoomName::typed(target) {
                    Ok(room) => Intent::SayIn { room, text },
                    Err(_) => {
                        if !notice {
                            self.reply("403", &[target], "No such channel");
                        }
                        continue;
                    }
                }
            } else {
                match Name::recipient(target) {
                    Ok(to) => {
                        if !notice {
                            self.tell_away(&to);
                        }
                        Intent::Private { to, text }
                    }
                    Err(_) => {
                        if !notice {
                            self.reply("401", &[target], "No such nick/channel");
                        }
                        continue;
                    }
                }
            };
            if let Next::Close(why) = session.handle(intent) {
                return Next::Close(why);
            }
        }
        Next::Continue
    }

    /// `MODE me +B` or `-B` (IRCv3's bot mode), the only user mode; any
    /// other letter is `501`.
    fn user_mode(&self, change: &str) {
        let mut on = true;
        let mut done = String::new();
        for letter in change.chars() {
            match letter {
                '+' => on = true,
                '-' => on = false,
                'B' => {
                    self.client.edit_profile(|p| p.bot = on);
                    done.push(if on { '+' } else { '-' });
                    done.push('B');
                }
                'w' => {
                    self.client.edit_profile(|p| p.wallops = on);
                    done.push(if on { '+' } else { '-' });
                    done.push('w');
                }
                'i' => {
                    self.client.edit_profile(|p| p.invisible = on);
                    done.push(if on { '+' } else { '-' });
                    done.push('i');
                }
                // Only OPER makes an operator; one may stop being one.
                'o' if on => {}
                'o' => {
                    if self.client.profile().is_some_and(|p| p.oper) {
                        self.client.edit_profile(|p| p.oper = false);
                        done.push_str("-o");
                    }
                }
                _ => self.reply(
                    "501",
                    &[],
                    "Unknown MODE flag (user modes are +B, +i, +w and -o)",
                ),
            }
        }
        if let Some(me) = self.client.name()
            && !done.is_empty()
        {
            let source = encode::source(me.as_str(), self.client.user().as_deref());
            let line = format!(":{source} MODE {} {done}\r\n", me.as_str());
            self.client.send(line.as_bytes());
        }
    }

    /// `MONITOR + | - | C | L | S` (IRCv3): watch nicks come online and
    /// leave; masks are not nicks and are not watched.
    fn monitor(&mut self, p: &[String]) {
        let Some(op) = p.first() else {
            self.need_more("MONITOR");
            return;
        };
        let targets: Vec<Name<'static>> = p
            .get(1)
            .map(|t| {
                t.split(',')
                    .filter_map(|n| Name::recipient(n).ok().map(Name::into_owned))
                    .collect()
            })
            .unwrap_or_default();
        let watcher: Arc<dyn Recipient> = self.client.clone();
        let mut out = Vec::new();
        match op.as_str() {
            "+" if p.len() < 2 => self.need_more("MONITOR"),
            "+" => {
                let mut added = Vec::new();
                for (i, name) in targets.iter().enumerate() {
                    if self.monitored.iter().any(|m| m.key() == name.key()) {
                        continue;
                    }
                    if self.monitored.len() >= MONITOR_MAX {
                        let rest: Vec<&str> = targets[i..].iter().map(|n| n.as_str()).collect();
                        let limit = MONITOR_MAX.to_string();
                        self.client.numeric(
                            &mut out,
                            "734",
                            &[&limit, &rest.join(",")],
                            "Monitor list is full",
                        );
                        break;
                    }
                    self.hub.monitor(&watcher, name, true);
                    self.monitored.push(name.clone());
                    added.push(name.clone());
                }
                self.monitor_status(&mut out, &added);
            }
            "-" => {
                for name in &targets {
                    self.hub.monitor(&watcher, name, false);
                    self.monitored.retain(|m| m.key() != name.key());
                }
            }
            "C" | "c" => {
                for name in std::mem::take(&mut self.monitored) {
                    self.hub.monitor(&watcher, &name, false);
                }
            }
            "L" | "l" => {
                for chunk in self.monitored.chunks(10) {
                    let list: Vec<&str> = chunk.iter().map(|n| n.as_str()).collect();
                    self.client.numeric(&mut out, "732", &[], &list.join(","));
                }
                self.client
                    .numeric(&mut out, "733", &[], "End of MONITOR list");
            }
            "S" | "s" => {
                let all = self.monitored.clone();
                self.monitor_status(&mut out, &all);
            }
            other => self.reply("421", &[other], "Unknown MONITOR subcommand"),
        }
        self.client.send(&out);
    }

    /// 730 for those of `names` online, 731 for the others.
    fn monitor_status(&self, out: &mut Vec<u8>, names: &[Name<'static>]) {
        for name in names {
            match self.hub.whois(name) {
                Some(w) => {
                    let user = w.present.profile.as_ref().map(|p| &*p.user);
                    let source = encode::source(w.present.name.as_str(), user);
                    self.client.numeric(out, "730", &[], &source);
                }
                None => self.client.numeric(out, "731", &[], name.as_str()),
            }
        }
    }

    /// `HELP [subject]`: 704, 705..., 706; or 524.
    fn help(&self, subject: &str) {
        let mut out = Vec::new();
        match help::entry(subject) {
            Some((name, lines)) => {
                let mut lines = lines.iter();
                let first = lines.next().copied().unwrap_or_default();
                self.client.numeric(&mut out, "704", &[name], first);
                for line in lines {
                    self.client.numeric(&mut out, "705", &[name], line);
                }
                self.client
                    .numeric(&mut out, "706", &[name], "End of /HELP");
            }
            None => {
                // Echoed only if it is one plain word (a middle parameter).
                let shown =
                    if !subject.is_empty() && subject.chars().all(|c| c.is_ascii_alphanumeric()) {
                        subject
                    } else {
                        "*"
                    };
                self.client
                    .numeric(&mut out, "524", &[shown], "No help available on this topic");
            }
        }
        self.client.send(&out);
    }

    /// `OPER name password`: a server operator from now on, if the
    /// operators file says so (381, then `MODE nick +o`); wrong: 464,
    /// every attempt counted against the address as the room's password
    /// is (§4.7); no operators file: 491.
    fn oper(&self, p: &[String], session: &Session) {
        let (Some(name), Some(password)) = (p.first(), p.get(1)) else {
            self.need_more("OPER");
            return;
        };
        let Some(operators) = &self.client.identity().operators else {
            self.reply("491", &[], "No server operators are configured here");
            return;
        };
        let peer = session.peer();
        // As the room's password (§4.7): not in plain text from afar.
        if !session.may_receive_password() {
            self.reply(
                "464",
                &[],
                "Send OPER over TLS: a password may not cross the network in plain text",
            );
            return;
        }
        match operators.check(name, password, peer.ip(), tokio::time::Instant::now()) {
            Verdict::Right => {
                tracing::info!(%peer, operator = ?name, "server operator");
                self.client.edit_profile(|p| p.oper = true);
                self.reply("381", &[], "You are now an IRC operator");
                if let Some(me) = self.client.name() {
                    let source = encode::source(me.as_str(), self.client.user().as_deref());
                    let line = format!(":{source} MODE {} +o\r\n", me.as_str());
                    self.client.send(line.as_bytes());
                }
            }
            Verdict::Wrong => {
                tracing::warn!(%peer, operator = ?name, "wrong operator password");
                self.reply("464", &[], "Password incorrect");
            }
            Verdict::Throttled => {
                tracing::warn!(%peer, operator = ?name, "operator password throttled");
                self.reply(
                    "464",
                    &[],
                    "Too many wrong passwords: try again in a minute",
                );
            }
        }
    }

    /// Whether this client is a server operator; if not, says so (481).
    fn is_oper(&self) -> bool {
        let oper = self.client.profile().is_some_and(|p| p.oper);
        if !oper {
            self.reply("481", &[], "Permission Denied- You're not an IRC operator");
        }
        oper
    }

    /// `KILL nick [:reason]` (server operators): the holder leaves
    /// everywhere, told as `QUIT :Killed (oper: reason)`, and is closed.
    fn kill(&mut self, p: &[String], session: &mut Session) -> Next {
        if !self.is_oper() {
            return Next::Continue;
        }
        let Some(target) = p.first() else {
            self.need_more("KILL");
            return Next::Continue;
        };
        let Some(name) = Name::recipient(target)
            .ok()
            .filter(|n| self.hub.whois(n).is_some())
        else {
            self.reply("401", &[target], "No such nick/channel");
            return Next::Continue;
        };
        let me = self.client.nick();
        let reason = p.get(1).map(|r| text::shown(r, text::AWAY_MAX));
        let said = match reason.as_deref().filter(|r| !r.trim().is_empty()) {
            Some(reason) => format!("{me}: {reason}"),
            None => me,
        };
        let text = Text::new(said).ok().map(Text::into_owned);
        session.handle(Intent::Kill {
            name: name.into_owned(),
            text,
        })
    }

    /// `WALLOPS :text` (server operators): to every IRC client with user
    /// mode `+w`, the sender included if it has it.
    fn wallops(&self, p: &[String]) {
        if !self.is_oper() {
            return;
        }
        let Some(said) = p.first().map(|t| text::shown(t, text::AWAY_MAX)) else {
            self.need_more("WALLOPS");
            return;
        };
        if let Some(me) = self.client.name() {
            self.hub.wallops(&me, &said);
        }
    }

    /// `SETNAME :real name` (IRCv3 `setname`, §20.3): the real name
    /// changes, cut to [`text::REALNAME_MAX`] as `USER`'s is; the client
    /// (if it asked for the capability) and those sharing a room or
    /// watching its name who asked are told.
    fn setname(&self, p: &[String]) {
        let realname = p.first().map(|r| text::shown(r, text::REALNAME_MAX));
        let Some(realname) = realname.filter(|r| !r.trim().is_empty()) else {
            let server = &self.client.identity().name;
            let line =
                format!(":{server} FAIL SETNAME INVALID_REALNAME :A real name cannot be empty\r\n");
            self.client.send(line.as_bytes());
            return;
        };
        self.client
            .edit_profile(|p| p.realname = Arc::from(realname.as_str()));
        let Some(me) = self.client.name() else {
            return;
        };
        if self.client.caps().has(Cap::Setname) {
            let source = encode::source(me.as_str(), self.client.user().as_deref());
            self.client
                .send(format!(":{source} SETNAME :{realname}\r\n").as_bytes());
        }
        self.hub.tell_profile(&me, ProfileField::Realname);
    }

    /// Whether `room` keeps its history, topic and members from this
    /// client (§20.6).
    fn closed(&self, room: &RoomName<'_>) -> bool {
        self.client
            .name()
            .is_some_and(|me| self.hub.closed_to(&me.key(), room))
    }

    /// RPL_AWAY (301) if `to` is away: a message to them is still
    /// delivered.
    fn tell_away(&self, to: &Name<'_>) {
        if let Some(w) = self.hub.whois(to)
            && let Some(away) = w.present.profile.and_then(|p| p.away)
        {
            self.reply("301", &[w.present.name.as_str()], &away);
        }
    }

    /// `JOIN #a,#b` (keys are ignored: rooms have none), `JOIN 0`.
    fn join(&mut self, p: &[String], session: &mut Session) -> Next {
        let Some(list) = p.first() else {
            self.need_more("JOIN");
            return Next::Continue;
        };
        if list == "0" {
            // Leave every channel.
            let rooms = self
                .client
                .name()
                .and_then(|me| self.hub.whois(&me))
                .map(|w| {
                    w.rooms
                        .into_iter()
                        .map(|(room, _)| room)
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            for room in rooms {
                let intent = Intent::Part { room, text: None };
                if let Next::Close(why) = session.handle(intent) {
                    return Next::Close(why);
                }
            }
            return Next::Continue;
        }
        self.client.doing(Doing::Join);
        let mut rooms = Vec::new();
        for name in list.split(',').take(ROOM_TARGETS) {
            match RoomName::typed(name) {
                Ok(room) => rooms.push(room),
                Err(_) => self.reply(
                    "403",
                    &[name],
                    "No such channel (a channel is # and a name)",
                ),
            }
        }
        if rooms.is_empty() {
            return Next::Continue;
        }
        let keys = p
            .get(1)
            .map(|k| k.split(',').map(str::to_owned).collect())
            .unwrap_or_default();
        session.handle(Intent::Join { rooms, keys })
    }

    /// `PART #a,#b [:reason]`.
    fn part(&mut self, p: &[String], session: &mut Session) -> Next {
        let Some(list) = p.first() else {
            self.need_more("PART");
            return Next::Continue;
        };
        let text = p.get(1).and_then(|t| match text::inbound(t) {
            Inbound::Text(t) => Some(t),
            _ => None,
        });
        for name in list.split(',').take(ROOM_TARGETS) {
            match RoomName::typed(name) {
                Ok(room) => {
                    let intent = Intent::Part {
                        room,
                        text: text.clone(),
                    };
                    if let Next::Close(why) = session.handle(intent) {
                        return Next::Close(why);
                    }
                }
                Err(_) => self.reply("403", &[name], "No such channel"),
            }
        }
        Next::Continue
    }

    /// `TOPIC #r [:text]`.
    fn topic(&mut self, p: &[String], session: &mut Session) -> Next {
        let Some(name) = p.first() else {
            self.need_more("TOPIC");
            return Next::Continue;
        };
        let Ok(room) = RoomName::typed(name) else {
            self.reply("403", &[name], "No such channel");
            return Next::Continue;
        };
        let text = match p.get(1).map(|t| text::inbound(t)) {
            None => None,
            Some(Inbound::Text(t)) => Some(t),
            Some(_) => {
                let mut out = Vec::new();
                self.client
                    .notice(&mut out, "A topic cannot be cleared on this network");
                self.client.send(&out);
                return Next::Continue;
            }
        };
        session.handle(Intent::Topic { room, text })
    }

    /// `NAMES #a,#b`: each room's 353s, then one 366 naming what was
    /// asked (a single room by its own name); a room that is not has no
    /// 353.
    fn names(&self, asked: &str) {
        let mut out = Vec::new();
        let rooms: Vec<&str> = asked.split(',').take(ROOM_TARGETS).collect();
        let mut end = asked.to_owned();
        for name in &rooms {
            if let Some(shown) = self.names_of(&mut out, name)
                && rooms.len() == 1
            {
                end = shown;
            }
        }
        self.client
            .numeric(&mut out, "366", &[&end], "End of /NAMES list");
        self.client.send(&out);
    }

    /// The 353s of the room `name`, each within 512 octets; its own name,
    /// if it is a room.
    fn names_of(&self, out: &mut Vec<u8>, name: &str) -> Option<String> {
        let room = RoomName::typed(name).ok()?;
        let view = self.hub.room_view(&room).ok()?;
        let shown = view.room.as_str();
        // A secret room (+s) is `@`; a closed one (+s, +k, +i) shows its
        // members to them only.
        let symbol = if view.secret { "@" } else { "=" };
        if self.closed(&room) {
            return Some(shown.to_owned());
        }
        // What a 353 of this room takes before its first name.
        let mut empty = Vec::new();
        self.client.numeric(&mut empty, "353", &[symbol, shown], "");
        let room_for = IRC_LINE_MAX.saturating_sub(empty.len());
        let userhosts = self.client.caps().has(Cap::UserhostInNames);
        let mut names = String::new();
        for member in &view.members {
            let op = self.client.status(
                view.operators.contains(&member.name),
                view.voiced.contains(&member.name),
            );
            let entry = if userhosts {
                let user = member.profile.as_ref().map(|p| &*p.user);
                format!("{op}{}", encode::source(member.name.as_str(), user))
            } else {
                format!("{op}{}", member.name.as_str())
            };
            if !names.is_empty() && names.len() + 1 + entry.len() > room_for {
                self.client.numeric(out, "353", &[symbol, shown], &names);
                names.clear();
            }
            if !names.is_empty() {
                names.push(' ');
            }
            names.push_str(&entry);
        }
        if !names.is_empty() {
            self.client.numeric(out, "353", &[symbol, shown], &names);
        }
        Some(shown.to_owned())
    }

    /// `WHO #r`, `WHO nick`, or `WHO mask` (`*` and `?` over names:
    /// at most [`WHO_MASK_MAX`] answers).
    fn who(&self, p: &[String]) {
        let mask = p.first().map_or("*", String::as_str);
        let whox = p.get(1).and_then(|f| Whox::parse(f));
        let whox = whox.as_ref();
        let mut out = Vec::new();
        if mask.starts_with('#') {
            if let Ok(room) = RoomName::typed(mask)
                && !self.closed(&room)
                && let Ok(view) = self.hub.room_view(&room)
            {
                for member in &view.members {
                    let status = self.client.status(
                        view.operators.contains(&member.name),
                        view.voiced.contains(&member.name),
                    );
                    self.client
                        .who_line(&mut out, view.room.as_str(), member, status, whox);
                }
            }
        } else if mask.contains(['*', '?']) {
            let pattern = mask.to_lowercase();
            let mut matched: Vec<Name<'static>> = self
                .hub
                .who()
                .into_iter()
                .filter(|n| text::glob(&pattern, &n.as_str().to_lowercase()))
                .collect();
            matched.sort_by_key(|n| n.key());
            // One invisible (+i) is found by a mask only by those sharing
            // a room with it, and by itself.
            let me = self.client.name();
            let mine: Vec<tagarela_parser::RoomKey> = me
                .as_ref()
                .and_then(|me| self.hub.whois(me))
                .map(|w| w.rooms.iter().map(|(r, _)| r.key()).collect())
                .unwrap_or_default();
            // Bounded: at most ten looked up for each answer given.
            let found = matched
                .iter()
                .take(WHO_MASK_MAX * 10)
                .filter_map(|name| self.hub.whois(name))
                .filter(|w| {
                    !w.present.profile.as_ref().is_some_and(|p| p.invisible)
                        || me
                            .as_ref()
                            .is_some_and(|me| me.key() == w.present.name.key())
                        || w.rooms.iter().any(|(r, _)| mine.contains(&r.key()))
                });
            for w in found.take(WHO_MASK_MAX) {
                self.client.who_line(&mut out, "*", &w.present, "", whox);
            }
        } else if let Ok(name) = Name::recipient(mask)
            && let Some(w) = self.hub.whois(&name)
        {
            self.client.who_line(&mut out, "*", &w.present, "", whox);
        }
        self.client
            .numeric(&mut out, "315", &[mask], "End of WHO list");
        self.client.send(&out);
    }

    /// `WHOIS [server] nick`: 311, 319, 312, 301 (away), 318.
    fn whois(&self, p: &[String]) {
        let Some(target) = p.last() else {
            self.reply("431", &[], "No nickname given");
            return;
        };
        let mut out = Vec::new();
        let held = Name::recipient(target)
            .ok()
            .and_then(|n| self.hub.whois(&n));
        match held {
            None => self
                .client
                .numeric(&mut out, "401", &[target], "No such nick/channel"),
            Some(w) => {
                let nick = w.present.name.as_str();
                let profile = w.present.profile.as_ref();
                let id = self.client.identity();
                let user = encode::user_part(profile.map(|p| &*p.user));
                let realname = profile.map_or(nick, |p| &*p.realname);
                self.client
                    .numeric(&mut out, "311", &[nick, &user, encode::HOST, "*"], realname);
                // A closed room (+s, +k, +i) is shown to those in it only.
                let mine = self
                    .client
                    .name()
                    .is_some_and(|me| me.key() == w.present.name.key());
                let rooms: Vec<_> = w
                    .rooms
                    .iter()
                    .filter(|(r, _)| mine || !self.closed(r))
                    .collect();
                if !rooms.is_empty() {
                    let list: Vec<String> = rooms
                        .iter()
                        .map(|(r, s)| {
                            format!("{}{}", self.client.status(s.operator, s.voiced), r.as_str())
                        })
                        .collect();
                    self.client
                        .numeric(&mut out, "319", &[nick], &list.join(" "));
                }
                self.client
                    .numeric(&mut out, "312", &[nick, &id.name], "Tagarela");
                if profile.is_some_and(|p| p.oper) {
                    self.client
                        .numeric(&mut out, "313", &[nick], "is an IRC operator");
                }
                if profile.is_some_and(|p| p.bot) {
                    self.client.numeric(&mut out, "335", &[nick], "is a bot");
                }
                if let Some(away) = profile.and_then(|p| p.away.as_deref()) {
                    self.client.numeric(&mut out, "301", &[nick], away);
                }
            }
        }
        self.client
            .numeric(&mut out, "318", &[target], "End of /WHOIS list");
        self.client.send(&out);
    }

    /// `MODE`: a room's modes and bans, its operators; one's own modes.
    fn mode(&mut self, p: &[String], session: &mut Session) -> Next {
        let Some(target) = p.first() else {
            self.need_more("MODE");
            return Next::Continue;
        };
        if !target.starts_with('#') {
            let mine = Name::recipient(target)
                .is_ok_and(|n| self.client.name().is_some_and(|m| m.key() == n.key()));
            if !mine {
                let exists = Name::recipient(target)
                    .ok()
                    .and_then(|n| self.hub.whois(&n));
                if exists.is_none() {
                    self.reply("401", &[target], "No such nick/channel");
                } else {
                    self.reply("502", &[], "Can't change mode for other users");
                }
            } else if let Some(change) = p.get(1) {
                self.user_mode(change);
            } else {
                let mut modes = "+".to_owned();
                if let Some(p) = self.client.profile() {
                    for (on, c) in [
                        (p.bot, 'B'),
                        (p.invisible, 'i'),
                        (p.oper, 'o'),
                        (p.wallops, 'w'),
                    ] {
                        if on {
                            modes.push(c);
                        }
                    }
                }
                self.bare("221", &[&modes]);
            }
            return Next::Continue;
        }
        let Ok(room) = RoomName::typed(target) else {
            self.reply("403", &[target], "No such channel");
            return Next::Continue;
        };
        let Ok(view) = self.hub.room_view(&room) else {
            self.reply("403", &[target], "No such channel");
            return Next::Continue;
        };
        let shown = view.room.as_str();
        let Some(modes) = p.get(1) else {
            // The key is shown to those in the room only.
            let member = self
                .client
                .name()
                .is_some_and(|me| view.members.iter().any(|m| m.name.key() == me.key()));
            let mut letters = "+".to_owned();
            let mut shown_args = Vec::new();
            if view.invite_only {
                letters.push('i');
            }
            if let Some(key) = &view.key {
                letters.push('k');
                shown_args.push(if member { key.clone() } else { "*".to_owned() });
            }
            if let Some(limit) = view.limit {
                letters.push('l');
                shown_args.push(limit.to_string());
            }
            if view.moderated {
                letters.push('m');
            }
            if !view.open_to_outside {
                letters.push('n');
            }
            if view.secret {
                letters.push('s');
            }
            if !view.topic_open {
                letters.push('t');
            }
            let mut middles = vec![shown, letters.as_str()];
            middles.extend(shown_args.iter().map(String::as_str));
            self.bare("324", &middles);
            if let Some(created) = view.created {
                let secs = (created.unix_ms() / 1000).to_string();
                self.bare("329", &[shown, &secs]);
            }
            return Next::Continue;
        };
        // Only its operators change a room's modes: a line from anyone
        // else is refused once, whatever it asks (a ban list alone is
        // anyone's to read).
        let listing_bans = p.len() == 2 && modes.trim_start_matches('+') == "b";
        let operator = self
            .client
            .name()
            .is_some_and(|me| view.operators.iter().any(|o| o.key() == me.key()));
        if !operator && !listing_bans {
            self.reply("482", &[shown], "You're not channel operator");
            return Next::Continue;
        }
        let mut on = true;
        let mut line = ModeLine::default();
        let mut args = p.iter().skip(2);
        for letter in modes.chars().take(MODE_LETTERS_MAX) {
            match letter {
                '+' => on = true,
                '-' => on = false,
                // `-n`: anyone may send to the room; `-t`: anyone in it
                // may set its topic (both `+` by default); `+s`: only
                // those in it see it listed.
                'n' | 't' | 's' | 'm' => {
                    let (mode, seen): (RoomMode, fn(&RoomView) -> bool) = match letter {
                        'n' => (RoomMode::OpenToOutside(!on), |v| v.open_to_outside),
                        't' => (RoomMode::TopicOpen(!on), |v| v.topic_open),
                        'm' => (RoomMode::Moderated(on), |v| v.moderated),
                        _ => (RoomMode::Secret(on), |v| v.secret),
                    };
                    let change = format!("{}{letter}", if on { '+' } else { '-' });
                    let told = (change.as_str(), String::new());
                    if let Next::Close(why) =
                        self.room_mode(session, &mut line, &room, mode, told, seen)
                    {
                        return Next::Close(why);
                    }
                }
                'l' => {
                    let limit = if on {
                        let given = args.next().map_or("", String::as_str);
                        match given.parse::<usize>() {
                            Ok(n) if n > 0 => Some(n),
                            _ => {
                                self.reply(
                                    "696",
                                    &[shown, "l", given],
                                    "The limit must be a number of members above 0",
                                );
                                continue;
                            }
                        }
                    } else {
                        None
                    };
                    let told = match limit {
                        Some(n) => ("+l", n.to_string()),
                        None => ("-l", String::new()),
                    };
                    let mode = RoomMode::Limit(limit);
                    if let Next::Close(why) =
                        self.room_mode(session, &mut line, &room, mode, told, |v| v.limit)
                    {
                        return Next::Close(why);
                    }
                }
                'k' => {
                    let given = args.next().map(String::as_str);
                    let key = match (on, given) {
                        (false, _) => None,
                        (true, Some(k)) if key_is_valid(k) => Some(k.to_owned()),
                        (true, _) => {
                            self.reply(
                                "696",
                                &[shown, "k", "*"],
                                "A key is 1 to 32 characters, with no space, comma or control character",
                            );
                            continue;
                        }
                    };
                    let told = match &key {
                        Some(k) => ("+k", k.clone()),
                        None => ("-k", "*".to_owned()),
                    };
                    let mode = RoomMode::Key(key);
                    if let Next::Close(why) =
                        self.room_mode(session, &mut line, &room, mode, told, |v| v.key.clone())
                    {
                        return Next::Close(why);
                    }
                }
                'i' => {
                    let told = (if on { "+i" } else { "-i" }, String::new());
                    let mode = RoomMode::InviteOnly(on);
                    if let Next::Close(why) =
                        self.room_mode(session, &mut line, &room, mode, told, |v| v.invite_only)
                    {
                        return Next::Close(why);
                    }
                }
                'b' => match args.next() {
                    None => {
                        let mut out = Vec::new();
                        self.client.ban_list(&mut out, shown, &view.bans);
                        self.client.send(&out);
                    }
                    Some(mask) => {
                        let Some(target) = ban_target(mask) else {
                            let mut out = Vec::new();
                            self.client
                                .notice(&mut out, "Bans here are nick!*@* or *!*@address[/prefix]");
                            self.client.send(&out);
                            continue;
                        };
                        self.client.doing(Doing::Mode);
                        let before = self
                            .hub
                            .room_view(&room)
                            .map(|v| v.bans)
                            .unwrap_or_default();
                        let next = session.handle(Intent::Ban {
                            room: room.clone(),
                            target: target.clone(),
                            on,
                        });
                        let after = self
                            .hub
                            .room_view(&room)
                            .map(|v| v.bans)
                            .unwrap_or_default();
                        if before != after {
                            line.push(if on { "+b" } else { "-b" }, &ban_mask(&target));
                        }
                        if let Next::Close(why) = next {
                            return Next::Close(why);
                        }
                    }
                },
                'o' => match args.next() {
                    None => self.need_more("MODE"),
                    Some(nick) if on => {
                        let online = Name::recipient(nick)
                            .ok()
                            .filter(|n| self.hub.whois(n).is_some());
                        let Some(name) = online else {
                            self.reply("401", &[nick], "No such nick/channel");
                            continue;
                        };
                        self.client.doing(Doing::Mode);
                        let was = self
                            .hub
                            .room_view(&room)
                            .is_ok_and(|v| v.operators.iter().any(|o| o.key() == name.key()));
                        let next = session.handle(Intent::Op {
                            room: room.clone(),
                            name: name.clone(),
                        });
                        let now = self
                            .hub
                            .room_view(&room)
                            .is_ok_and(|v| v.operators.iter().any(|o| o.key() == name.key()));
                        if now && !was {
                            line.push("+o", nick);
                        }
                        if let Next::Close(why) = next {
                            return Next::Close(why);
                        }
                    }
                    Some(nick) => {
                        let Ok(name) = Name::recipient(nick).map(Name::into_owned) else {
                            self.reply("401", &[nick], "No such nick/channel");
                            continue;
                        };
                        let key = name.key();
                        let told = ("-o", nick.clone());
                        let mode = RoomMode::Unop(name);
                        let is_op = move |v: &RoomView| v.operators.iter().any(|o| o.key() == key);
                        if let Next::Close(why) =
                            self.room_mode(session, &mut line, &room, mode, told, is_op)
                        {
                            return Next::Close(why);
                        }
                    }
                },
                'v' => match args.next() {
                    None => self.need_more("MODE"),
                    Some(nick) => {
                        let online = Name::recipient(nick)
                            .ok()
                            .filter(|n| self.hub.whois(n).is_some())
                            .map(Name::into_owned);
                        let Some(name) = online else {
                            self.reply("401", &[nick], "No such nick/channel");
                            continue;
                        };
                        let key = name.key();
                        let told = (if on { "+v" } else { "-v" }, nick.clone());
                        let mode = RoomMode::Voice(name, on);
                        let voiced = move |v: &RoomView| v.voiced.iter().any(|o| o.key() == key);
                        if let Next::Close(why) =
                            self.room_mode(session, &mut line, &room, mode, told, voiced)
                        {
                            return Next::Close(why);
                        }
                    }
                },
                other => {
                    let letter = other.to_string();
                    self.reply("472", &[&letter], "is unknown mode char to me");
                }
            }
        }
        if !line.changes.is_empty() {
            self.mode_told(shown, &line.changes, &line.args.join(" "));
        }
        Next::Continue
    }

    /// Changes `mode` of `room`, adding `told` (the change and its
    /// argument) to the line the room is told only if what `seen` shows of
    /// the room changed (a refused or idle change is nobody's news).
    fn room_mode<T: PartialEq>(
        &mut self,
        session: &mut Session,
        line: &mut ModeLine,
        room: &RoomName<'_>,
        mode: RoomMode,
        told: (&str, String),
        seen: impl Fn(&RoomView) -> T,
    ) -> Next {
        self.client.doing(Doing::Mode);
        let before = self.hub.room_view(room).map(|v| seen(&v)).ok();
        let next = session.handle(Intent::Mode {
            room: room.clone(),
            mode,
        });
        let after = self.hub.room_view(room).map(|v| seen(&v)).ok();
        if before != after {
            line.push(told.0, &told.1);
        }
        next
    }

    /// `INVITE nick #room`: `nick`'s next join of the room passes its
    /// key, `+i`, limit and bans (341 to the inviter, `INVITE` to the one
    /// invited); `INVITE` alone lists one's invitations (336, 337).
    fn invite(&mut self, p: &[String], session: &mut Session) -> Next {
        let (Some(nick), Some(room)) = (p.first(), p.get(1)) else {
            if p.is_empty() {
                let rooms = match self.client.name() {
                    Some(_) => session.invitations(),
                    None => Vec::new(),
                };
                let mut out = Vec::new();
                for room in &rooms {
                    self.client.numeric_bare(&mut out, "336", &[room.as_str()]);
                }
                self.client
                    .numeric(&mut out, "337", &[], "End of /INVITE list");
                self.client.send(&out);
            } else {
                self.need_more("INVITE");
            }
            return Next::Continue;
        };
        let Ok(room) = RoomName::typed(room).map(RoomName::into_owned) else {
            self.reply("403", &[room], "No such channel");
            return Next::Continue;
        };
        let Some(name) = Name::recipient(nick)
            .ok()
            .filter(|n| self.hub.whois(n).is_some())
            .map(Name::into_owned)
        else {
            self.reply("401", &[nick], "No such nick/channel");
            return Next::Continue;
        };
        if self.hub.room_view(&room).is_err() {
            self.reply("403", &[room.as_str()], "No such channel");
            return Next::Continue;
        }
        session.handle(Intent::Invite { room, name })
    }

    /// Tells everyone in `room` (its operator too) that a change it made
    /// took effect.
    fn mode_told(&self, room: &str, change: &str, arg: &str) {
        let (Some(me), Ok(room)) = (self.client.name(), RoomName::typed(room)) else {
            return;
        };
        let user = self.client.user();
        // Everyone in the room is told, the operator too (§20.6).
        self.hub.tell_mode(&ModeChange {
            room: &room,
            by: &me,
            by_user: user.as_deref(),
            change,
            arg: (!arg.is_empty()).then_some(arg),
        });
    }

    /// `KICK #r nick[,nick] [:reason]`.
    fn kick(&mut self, p: &[String], session: &mut Session) -> Next {
        let (Some(rooms), Some(nicks)) = (p.first(), p.get(1)) else {
            self.need_more("KICK");
            return Next::Continue;
        };
        // `KICK #a nick1,nick2` removes each from #a; `KICK #a,#b n1,n2`
        // pairs them (RFC 2812); at most KICK_TARGETS in one line.
        let rooms: Vec<&str> = rooms.split(',').collect();
        let nicks: Vec<&str> = nicks.split(',').take(KICK_TARGETS).collect();
        if rooms.len() != 1 && rooms.len() != nicks.len() {
            self.need_more("KICK");
            return Next::Continue;
        }
        // Without a comment, the kicker's nick is the comment, as IRC
        // servers do: the event does not carry the kicker (§20.5).
        let text = p
            .get(2)
            .and_then(|t| match text::inbound(t) {
                Inbound::Text(t) => Some(t),
                _ => None,
            })
            .or_else(|| {
                self.client
                    .name()
                    .and_then(|me| Text::new(me.as_str().to_owned()).ok())
            });
        for (i, nick) in nicks.into_iter().enumerate() {
            let room = rooms.get(i).or(rooms.first()).copied().unwrap_or_default();
            let Ok(room) = RoomName::typed(room) else {
                self.reply("403", &[room], "No such channel");
                continue;
            };
            let Some(name) = Name::recipient(nick)
                .ok()
                .filter(|n| self.hub.whois(n).is_some())
            else {
                self.reply("401", &[nick], "No such nick/channel");
                continue;
            };
            let intent = Intent::Kick {
                room,
                name,
                text: text.clone(),
            };
            if let Next::Close(why) = session.handle(intent) {
                return Next::Close(why);
            }
        }
        Next::Continue
    }
}

/// A ban mask as a room's ban: `nick`, `nick!*@*`, `*!*@address` or
/// `*!*@address/prefix`; `None` for any other mask.
fn ban_target(mask: &str) -> Option<BanTarget<'static>> {
    if let Some(address) = mask.strip_prefix("*!*@") {
        return match BanTarget::parse(address).ok()? {
            t @ BanTarget::Address { .. } => Some(t.into_owned()),
            BanTarget::Name(_) => None,
        };
    }
    let nick = mask.strip_suffix("!*@*").unwrap_or(mask);
    Name::recipient(nick)
        .ok()
        .map(|n| BanTarget::Name(n.into_owned()))
}
