//! The chat core for one client (spec §4, §5): unregistered or
//! registered, and what each [`Intent`] does: replies to the client,
//! events through the [`Hub`], entries for the [`crate::store`]s. It works
//! on intents and events only: it is synchronous, never sees octets, never
//! writes to a socket and never waits.

use std::net::SocketAddr;
use std::sync::Arc;

use tagarela_parser::{ByeReason, ErrorCode, LeaveReason, LineError, Name, RoomName, Text};

use crate::chat::access::{Access, Verdict, may_receive_password};
use crate::chat::intent::Intent;
use crate::chat::reply::{Client, Reply};
use crate::event::Event;
use crate::event::Seq;
use crate::hub::{
    Answer, Claimed, Clash, Entrant, Hub, Leaving, Published, Refusal, Registration, RoomRefusal,
    Said, Unpublished, Welcome, Welcomer,
};
use crate::store::Entry;

/// What the connection does next, after an intent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Keep going.
    Continue,
    /// Send `BYE reason` and close.
    Close(ByeReason),
}

/// One client's place in the chat.
#[derive(Debug)]
pub struct Session {
    /// The client's address, for logs and the audit log.
    peer: SocketAddr,
    /// The room.
    hub: Arc<dyn Hub>,
    /// Where replies to this client go (and, once registered, events).
    client: Arc<dyn Client>,
    /// The name's registration, once a name was accepted: a name resumed
    /// elsewhere is not this session's to release.
    registered: Option<Registration>,
    /// Whether entries are kept for the sinks (none configured: no).
    recording: bool,
    /// Events this client caused since the connection last took them.
    entries: Vec<Entry>,
    /// The room's password, if it has one (§4.7).
    access: Option<Arc<Access>>,
    /// The password was given (or the room has none).
    authorized: bool,
    /// The connection is TLS or from this machine (or the operator allows
    /// passwords in plain text): a password may be sent over it.
    secure: bool,
    /// The client asked for the `seq` feature (§16.5).
    numbered: bool,
    /// The client asked for the `resume` feature (§16.6).
    resumable: bool,
    /// The client asked for the `rooms` feature, and this server has
    /// rooms (§19.1).
    rooms: bool,
    /// The client starts in the default room (§19.1; not an IRC client,
    /// §20.2).
    lobby: bool,
    /// A claim or resume the hub will answer later (a cluster, §17), and
    /// the name asked for: no further line is handled until it is.
    awaiting: Option<Name<'static>>,
    /// The answer to come, until the connection takes it to wait on.
    pending: Option<Pending>,
}

/// An answer to a claim or resume that the hub gives later.
pub type Pending = tokio::sync::oneshot::Receiver<Result<Claimed, Refusal>>;

/// What a session is told of its connection and the room when it starts.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// The client's address (a balancer's header may have given it).
    pub peer: SocketAddr,
    /// Entries are kept for the sinks (none configured: no).
    pub recording: bool,
    /// The room's password, if it has one (§4.7).
    pub access: Option<Arc<Access>>,
    /// The connection is TLS (a password may cross it, §4.7).
    pub over_tls: bool,
    /// The client starts in the default room (every Tagarela client,
    /// §19.1); an IRC client starts in none (§20.2).
    pub lobby: bool,
}

impl Session {
    /// A fresh, unregistered session of `client` in `hub`.
    pub fn new(hub: Arc<dyn Hub>, client: Arc<dyn Client>, options: SessionOptions) -> Self {
        let SessionOptions {
            peer,
            recording,
            access,
            over_tls,
            lobby,
        } = options;
        let secure = may_receive_password(
            over_tls,
            peer.ip(),
            access.as_ref().is_some_and(|a| a.allow_plaintext),
        );
        Session {
            peer,
            hub,
            client,
            registered: None,
            recording,
            entries: Vec::new(),
            authorized: access.is_none(),
            numbered: false,
            resumable: false,
            rooms: false,
            lobby,
            awaiting: None,
            pending: None,
            access,
            secure,
        }
    }

    /// Whether a password may be received over this connection (§4.7):
    /// over TLS, from this machine, or as the operator allows.
    pub fn may_receive_password(&self) -> bool {
        self.secure
    }

    /// True once a name was accepted.
    pub fn is_registered(&self) -> bool {
        self.registered.is_some()
    }

    /// True once the client turned the `rooms` feature on (§19.1): its
    /// lines are read with the room lines of §19.3.
    pub fn speaks_rooms(&self) -> bool {
        self.rooms
    }

    /// Sends the keepalive's `PING token` (§10), in the client's own
    /// wire format.
    pub fn ping(&self, token: tagarela_parser::Token<'_>) {
        self.reply(Reply::Ping(token));
    }

    /// Whether `room` keeps its history, topic and members from this
    /// client (a closed room it is not in, §20.6).
    fn closed(&self, room: &RoomName<'_>) -> bool {
        self.registered
            .as_ref()
            .is_some_and(|me| self.hub.closed_to(&me.key, room))
    }

    /// The rooms this client is invited into (IRC's `INVITE` alone,
    /// §20.6).
    pub fn invitations(&self) -> Vec<RoomName<'static>> {
        match &self.registered {
            Some(me) => self.hub.invitations(me),
            None => Vec::new(),
        }
    }

    /// The client's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// True while a claim or resume waits for the hub's answer: the
    /// connection handles no further line until [`Session::settle`].
    pub fn is_waiting(&self) -> bool {
        self.awaiting.is_some()
    }

    /// The answer to wait for, once (then [`Session::settle`] with it).
    pub fn take_pending(&mut self) -> Option<Pending> {
        self.pending.take()
    }

    /// The hub's later answer to the claim or resume this session waits
    /// for (`None`: the hub dropped it, so it cannot be given).
    pub fn settle(&mut self, answer: Option<Result<Claimed, Refusal>>) {
        if let Some(name) = self.awaiting.take() {
            self.admitted(
                name,
                answer.unwrap_or(Err(Refusal::Clash(Clash::Unavailable))),
            );
        }
    }

    /// True when entries are waiting to be taken.
    pub fn has_entries(&self) -> bool {
        !self.entries.is_empty()
    }

    /// Entries to hand to the sinks, in the order they happened.
    pub fn take_entries(&mut self) -> Vec<Entry> {
        std::mem::take(&mut self.entries)
    }

    fn reply(&self, reply: Reply<'_>) {
        self.client.reply(&reply);
    }

    fn record(&mut self, event: Arc<Event>) {
        if self.recording {
            self.entries.push(Entry {
                event,
                peer: self.peer,
            });
        }
    }

    /// Does what one intent asks (§4.3, §5).
    pub fn handle(&mut self, intent: Intent<'_>) -> Next {
        match intent {
            Intent::Nothing | Intent::Pong => {}
            Intent::Register(_) if !self.authorized => {
                let code = if self.secure {
                    ErrorCode::PasswordRequired
                } else {
                    ErrorCode::TlsRequired
                };
                self.reply(Reply::Error { code, name: None });
            }
            Intent::Register(name) => self.register(name),
            Intent::Password(attempt) => return self.password(attempt.as_str()),
            Intent::Features(words) => {
                // Before registration only (the decoder refuses it after);
                // unknown features are not turned on, and not an error.
                // `resume` brings `seq` with it: resuming needs a number.
                // `rooms` brings `seq` too: a room's lines are numbered.
                let asked = |f: &str| words.iter().any(|w| w.as_str().eq_ignore_ascii_case(f));
                let resume = asked("resume");
                let rooms = asked("rooms") && self.hub.has_rooms();
                if resume || rooms || asked("seq") {
                    self.numbered = true;
                    self.client.number_events();
                }
                if rooms {
                    self.rooms = true;
                    self.client.use_rooms();
                }
                self.resumable |= resume;
                let mut on: Vec<&str> = Vec::with_capacity(3);
                on.extend(self.numbered.then_some("seq"));
                on.extend(self.resumable.then_some("resume"));
                on.extend(self.rooms.then_some("rooms"));
                self.reply(Reply::Features(&on));
            }
            Intent::Resume { .. } if !self.authorized => {
                let code = if self.secure {
                    ErrorCode::PasswordRequired
                } else {
                    ErrorCode::TlsRequired
                };
                self.reply(Reply::Error { code, name: None });
            }
            Intent::Resume { name, token, after } => self.resume(name, token.as_str(), after),
            Intent::Public(text) => self.public(text),
            Intent::Private { to, text } => self.private(&to, text),
            Intent::Quit(reason) => {
                if let Some(me) = self.registered.take() {
                    let leaving = Leaving {
                        reason: LeaveReason::Quit,
                        text: reason.map(Text::into_owned),
                    };
                    self.leave_as(&me, leaving);
                }
                return Next::Close(ByeReason::Quit);
            }
            Intent::Who => {
                // A v1 client lives in the default room, and sees who is
                // there; a rooms client sees everyone on the server.
                let names = if self.rooms {
                    self.hub.who()
                } else {
                    self.hub.who_in_default()
                };
                self.reply(Reply::Who(&names));
            }
            Intent::Help => self.reply(Reply::Help { rooms: self.rooms }),
            Intent::History(query) if self.rooms => {
                let room = self.hub.default_room();
                self.room_history(&room, &query);
            }
            Intent::History(query) => {
                // Only after registration (the decoder refuses it before);
                // a room that keeps no history answers with an empty run.
                let events = self
                    .hub
                    .history(&query, crate::store::history::DEFAULT_PAGE)
                    .unwrap_or_default();
                self.reply(Reply::History(&events));
            }
            Intent::Join { rooms, keys } => {
                for (i, room) in rooms.iter().enumerate() {
                    self.join_room(room, keys.get(i).map(String::as_str));
                }
            }
            Intent::Part { room, text } => {
                let Some(me) = &self.registered else {
                    return Next::Continue;
                };
                let text = text.map(Text::into_owned);
                match self.hub.part_room(me, &room, text) {
                    Ok(published) => self.record_published(published),
                    Err(refusal) => self.room_refused(&room, &refusal),
                }
            }
            Intent::TagsIn { room } => {
                let Some(me) = &self.registered else {
                    return Next::Continue;
                };
                // Never recorded: nothing keeps tags alone (§20.3).
                match self.hub.publish(me, Said::TagsIn { room: &room }) {
                    Err(Unpublished::NotInRoom) => {
                        self.room_refused(&room, &RoomRefusal::NotInRoom);
                    }
                    Err(Unpublished::Moderated) => {
                        self.room_refused(&room, &RoomRefusal::Moderated);
                    }
                    Err(Unpublished::NoSuchRoom) => {
                        self.room_refused(&room, &RoomRefusal::NoSuchRoom);
                    }
                    Ok(_) | Err(_) => {}
                }
            }
            Intent::TagsTo { to } => {
                let Some(me) = &self.registered else {
                    return Next::Continue;
                };
                if let Err(Unpublished::NotOnline) = self.hub.publish(me, Said::TagsTo { to: &to })
                {
                    let shown = Name::normalize(to.as_str()).ok();
                    self.reply(Reply::Error {
                        code: ErrorCode::NoSuchUser,
                        name: shown.as_ref(),
                    });
                }
            }
            Intent::SayIn { room, text } => {
                let Some(me) = &self.registered else {
                    return Next::Continue;
                };
                let said = Said::InRoom {
                    room: &room,
                    text: text.into_owned(),
                };
                match self.hub.publish(me, said) {
                    Ok(published) => self.record_published(published),
                    Err(Unpublished::NotInRoom) => {
                        self.room_refused(&room, &RoomRefusal::NotInRoom);
                    }
                    Err(Unpublished::Moderated) => {
                        self.room_refused(&room, &RoomRefusal::Moderated);
                    }
                    Err(Unpublished::NoSuchRoom) => {
                        self.room_refused(&room, &RoomRefusal::NoSuchRoom);
                    }
                    Err(Unpublished::Unavailable) => self.unavailable(),
                    Err(Unpublished::NotHeld | Unpublished::NotOnline | Unpublished::NoRoom) => {}
                }
            }
            Intent::WhoIn(room)
            | Intent::HistoryIn { room, .. }
            | Intent::Topic { room, text: None }
                if self.closed(&room) =>
            {
                self.room_refused(&room, &RoomRefusal::NotInRoom);
            }
            Intent::WhoIn(room) => match self.hub.who_in(&room) {
                Ok((shown, names)) => self.reply(Reply::WhoIn {
                    room: &shown,
                    names: &names,
                }),
                Err(refusal) => self.room_refused(&room, &refusal),
            },
            Intent::Rooms => {
                let asker = self.registered.as_ref().map(|me| &me.key);
                let list = self.hub.rooms(asker);
                self.reply(Reply::Rooms(&list));
            }
            Intent::Topic { room, text } => {
                let Some(me) = &self.registered else {
                    return Next::Continue;
                };
                let setting = text.is_some();
                match self.hub.topic(me, &room, text.map(Text::into_owned)) {
                    // Set: everyone in the room was told (or will be, by a
                    // cluster), the setter too.
                    Ok(published) if setting => self.record_published(published),
                    Ok(Published::Numbered(set)) => {
                        match set.room.clone().or_else(|| shown_room(&room)) {
                            Some(shown) => self.reply(Reply::Topic {
                                room: &shown,
                                set: &set,
                            }),
                            None => self.room_invalid(),
                        }
                    }
                    Ok(_) => {}
                    Err(refusal) => self.room_refused(&room, &refusal),
                }
            }
            Intent::HistoryIn { room, query } => self.room_history(&room, &query),
            Intent::Kick { room, name, text } => {
                let Some(me) = &self.registered else {
                    return Next::Continue;
                };
                match self.hub.kick(me, &room, &name, text.map(Text::into_owned)) {
                    Ok(published) => self.record_published(published),
                    Err(refusal) => self.room_refused(&room, &refusal),
                }
            }
            Intent::Kill { name, text } => {
                if self.registered.is_none() {
                    return Next::Continue;
                }
                match self.hub.kill(&name, text.map(Text::into_owned)) {
                    Some(published) => self.record_published(published),
                    None => self.reply(Reply::Error {
                        code: ErrorCode::NoSuchUser,
                        name: Some(&name),
                    }),
                }
            }
            Intent::Ban { room, target, on } => {
                let Some(me) = &self.registered else {
                    return Next::Continue;
                };
                match self.hub.ban(me, &room, &target, on) {
                    Ok(Some((shown, targets))) => self.reply(Reply::Bans {
                        room: &shown,
                        targets: &targets,
                    }),
                    Ok(None) => {}
                    Err(refusal) => self.room_refused(&room, &refusal),
                }
            }
            Intent::Op { room, name } => {
                let Some(me) = &self.registered else {
                    return Next::Continue;
                };
                match self.hub.op(me, &room, &name) {
                    Ok(Some((shown, names))) => self.reply(Reply::Ops {
                        room: &shown,
                        names: &names,
                    }),
                    Ok(None) => {}
                    Err(refusal) => self.room_refused(&room, &refusal),
                }
            }
            Intent::Mode { room, mode } => {
                let Some(me) = &self.registered else {
                    return Next::Continue;
                };
                if let Err(refusal) = self.hub.set_mode(me, &room, &mode) {
                    self.room_refused(&room, &refusal);
                }
            }
            Intent::Invite { room, name } => {
                let Some(me) = &self.registered else {
                    return Next::Continue;
                };
                match self.hub.invite(me, &room, &name) {
                    Ok((room, name)) => self.reply(Reply::Invited {
                        room: &room,
                        name: &name,
                    }),
                    Err(refusal) => self.room_refused(&room, &refusal),
                }
            }
            Intent::Ping(token) => self.reply(Reply::Pong(token)),
            Intent::Refused(LineError::Name(why)) => self.reply(Reply::NameInvalid(why)),
            Intent::Refused(e) => self.reply(Reply::Error {
                code: e.code(),
                name: None,
            }),
            Intent::TooLong => self.reply(Reply::Error {
                code: ErrorCode::LineTooLong,
                name: None,
            }),
        }
        Next::Continue
    }

    /// `/join` of one room (§19.3).
    fn join_room(&mut self, room: &RoomName<'_>, key: Option<&str>) {
        let Some(me) = &self.registered else {
            return;
        };
        match self.hub.join_room(me, room, self.peer.ip(), key) {
            Ok(published) => self.record_published(published),
            Err(refusal) => self.room_refused(room, &refusal),
        }
    }

    /// `/history #room` (§19.4): an empty run where nothing is kept.
    fn room_history(&self, room: &RoomName<'_>, query: &tagarela_parser::HistoryQuery) {
        let page = crate::store::history::DEFAULT_PAGE;
        match self.hub.history_in(room, query, page) {
            Ok((shown, events)) => self.reply(Reply::HistoryIn {
                room: &shown,
                events: &events.unwrap_or_default(),
            }),
            Err(refusal) => self.room_refused(room, &refusal),
        }
    }

    /// Tells the client why its line about `room` failed (§19.5).
    fn room_refused(&self, room: &RoomName<'_>, refusal: &RoomRefusal) {
        crate::chat::reply::tell_refusal(self.client.as_ref(), room, refusal);
    }

    fn room_invalid(&self) {
        self.reply(Reply::Error {
            code: ErrorCode::RoomInvalid,
            name: None,
        });
    }

    /// Records every event a hub call published here.
    fn record_published(&mut self, published: Published) {
        match published {
            Published::Numbered(event) => self.record(event),
            Published::Several(events) => {
                for event in events {
                    self.record(event);
                }
            }
            Published::Queued => {}
        }
    }

    /// A password attempt (§4.7): never logged, compared in constant
    /// time, wrong attempts throttled per address.
    fn password(&mut self, attempt: &str) -> Next {
        let Some(access) = &self.access else {
            // No password in this room: nothing to check.
            return Next::Continue;
        };
        if self.authorized || self.registered.is_some() {
            return Next::Continue;
        }
        if !self.secure {
            self.reply(Reply::Error {
                code: ErrorCode::TlsRequired,
                name: None,
            });
            return Next::Continue;
        }
        match access.check(attempt, self.peer.ip(), tokio::time::Instant::now()) {
            Verdict::Right => self.authorized = true,
            Verdict::Wrong => {
                tracing::info!(peer = %self.peer, "wrong password");
                self.reply(Reply::Error {
                    code: ErrorCode::PasswordWrong,
                    name: None,
                });
            }
            Verdict::Throttled => {
                tracing::warn!(peer = %self.peer, "too many wrong passwords; closing");
                return Next::Close(ByeReason::Throttled);
            }
        }
        Next::Continue
    }

    fn register(&mut self, name: Name<'static>) {
        if self.registered.is_some() || self.awaiting.is_some() {
            return;
        }
        let answer = self.hub.claim(self.entrant(&name), self.resumable);
        self.answered(name, answer);
    }

    /// `/resume` (§16.6): the name back, and what was missed.
    fn resume(&mut self, name: Name<'static>, token: &str, after: u64) {
        if self.registered.is_some() || self.awaiting.is_some() {
            return;
        }
        // A resuming client is a v1.1 client: numbers and a new token.
        self.numbered = true;
        self.resumable = true;
        self.client.number_events();
        let answer = self.hub.resume(self.entrant(&name), token, Seq(after));
        self.answered(name, answer);
    }

    /// This client, asking for `name`.
    fn entrant(&self, name: &Name<'static>) -> Entrant {
        Entrant {
            name: name.clone(),
            peer: self.peer,
            recipient: self.client.clone(),
            welcome: self.welcomer(),
            rooms: self.rooms,
            lobby: self.lobby,
        }
    }

    fn answered(&mut self, name: Name<'static>, answer: Answer) {
        match answer {
            Answer::Ready(result) => self.admitted(name, result),
            Answer::Pending(pending) => {
                self.awaiting = Some(name);
                self.pending = Some(pending);
            }
        }
    }

    /// What a claim or resume came to.
    fn admitted(&mut self, name: Name<'static>, result: Result<Claimed, Refusal>) {
        match result {
            Ok(claimed) => {
                if claimed.join.is_none() {
                    tracing::info!(name = %name, peer = %self.peer, "resumed");
                }
                self.registered_as(claimed);
            }
            Err(Refusal::Token) => {
                tracing::info!(name = %name, peer = %self.peer, "resume refused");
                self.reply(Reply::Error {
                    code: ErrorCode::ResumeRefused,
                    name: None,
                });
            }
            Err(Refusal::Clash(clash)) => self.clash(clash),
        }
    }

    /// What to queue, under the hub's lock, when the name is accepted:
    /// `WELCOME`, then the backlog or what a resuming client missed.
    fn welcomer(&self) -> Welcomer {
        let client = Arc::clone(&self.client);
        let numbered = self.numbered;
        let resumable = self.resumable;
        let rooms = self.rooms;
        Box::new(move |w: Welcome| {
            let token = w.token.filter(|_| resumable).map(|t| t.hex());
            client.reply(&Reply::Welcome {
                name: &w.name,
                online: w.online,
                seq: numbered.then_some(w.seq.0),
                resume: token.as_deref(),
            });
            if let Some(missed) = &w.missed {
                client.reply(&Reply::Missed {
                    events: &missed.events,
                    gap: missed.gap,
                    rooms,
                });
            } else if let Some(entered) = &w.entered {
                if rooms {
                    client.reply(&Reply::Entered(entered));
                } else if let Some(backlog) = &entered.backlog {
                    client.reply(&Reply::History(backlog));
                }
            }
        })
    }

    fn registered_as(&mut self, claimed: Claimed) {
        if let Some(join) = claimed.join.filter(|_| !claimed.join_recorded) {
            self.record(join);
        }
        self.registered = Some(claimed.registration);
    }

    fn clash(&mut self, clash: Clash) {
        match clash {
            Clash::Taken(holder) => self.reply(Reply::Error {
                code: ErrorCode::NameTaken,
                name: Some(&holder),
            }),
            Clash::LooksLike(holder) => self.reply(Reply::LooksLike(&holder)),
            Clash::Unavailable => self.unavailable(),
        }
    }

    fn unavailable(&self) {
        self.reply(Reply::Error {
            code: ErrorCode::Unavailable,
            name: None,
        });
    }

    fn public(&mut self, text: Text<'_>) {
        let Some(me) = &self.registered else {
            return;
        };
        let published = self.hub.publish(me, Said::Public(text.into_owned()));
        match published {
            // A cluster records it when it comes back numbered.
            Ok(published) => self.record_published(published),
            Err(Unpublished::NoRoom | Unpublished::NoSuchRoom | Unpublished::NotInRoom) => {
                self.reply(Reply::Error {
                    code: ErrorCode::NoRoom,
                    name: None,
                });
            }
            Err(Unpublished::Moderated) => self.reply(Reply::Error {
                code: ErrorCode::Moderated,
                name: None,
            }),
            Err(Unpublished::NotHeld | Unpublished::NotOnline) => {}
            Err(Unpublished::Unavailable) => self.unavailable(),
        }
    }

    fn private(&mut self, to: &Name<'_>, text: Text<'_>) {
        let Some(me) = &self.registered else {
            return;
        };
        let said = Said::Private {
            to,
            text: text.into_owned(),
        };
        let published = self.hub.publish(me, said);
        match published {
            Ok(published) => self.record_published(published),
            Err(
                Unpublished::NotHeld
                | Unpublished::NoRoom
                | Unpublished::NoSuchRoom
                | Unpublished::NotInRoom
                | Unpublished::Moderated,
            ) => {}
            Err(Unpublished::Unavailable) => self.unavailable(),
            Err(Unpublished::NotOnline) => {
                // Name fields in server lines are NFC names (§7.1): the
                // recipient as typed may be decomposed and longer than
                // `name-max`; its NFC form is what was measured (§3.1).
                let shown = Name::normalize(to.as_str()).ok();
                self.reply(Reply::Error {
                    code: ErrorCode::NoSuchUser,
                    name: shown.as_ref(),
                });
            }
        }
    }

    /// Removes the client from the room, if registered, telling the others
    /// why (§9.1). Idempotent.
    pub fn leave(&mut self, reason: LeaveReason) {
        if let Some(me) = self.registered.take() {
            self.leave_as(&me, reason.into());
        }
    }

    fn leave_as(&mut self, me: &Registration, leaving: Leaving) {
        // Nothing to say if the name was resumed on another connection.
        if let Some(published) = self.hub.release(me, leaving) {
            self.record_published(published);
        }
        // A cluster records it when it comes back numbered.
    }
}

/// A room as a client named it, in NFC, as server lines carry rooms
/// (§19.2); `None` if it is no room name in NFC.
fn shown_room(room: &RoomName<'_>) -> Option<RoomName<'static>> {
    RoomName::normalize(room.as_str()).ok()
}

#[cfg(test)]
mod tests;
