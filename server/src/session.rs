//! One client's protocol state (spec §4, §5): unregistered or registered,
//! and what each decoded line does: replies, routing, audit records. It is
//! synchronous and does no I/O; the connection task feeds it lines and acts
//! on the [`Outcome`]. It must never write to a socket or wait.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use tagarela_parser::{
    ByeReason, CheckedLine, ClientLine, ContentError, ErrorCode, HandshakeLine, LeaveReason,
    LineError, Name, NameKey, ServerLine, Text,
};

use tagarela_parser::sniff::{self, Sniffed};

use crate::audit::{Event, Record};
use crate::log_text::LogText;
use crate::outbox::Outbox;
use crate::replies;
use crate::room::{Clash, Room};

/// What the connection must do after a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Keep going.
    Continue,
    /// Send `BYE reason` and close.
    Close(ByeReason),
}

/// A connection's protocol state.
#[derive(Debug)]
pub struct Session {
    peer: SocketAddr,
    room: Arc<Room>,
    outbox: Arc<Outbox>,
    registered: Option<(Name<'static>, NameKey)>,
    /// True until the first octets have shown the peer is not speaking TLS
    /// or HTTP (§4.6); no line is handled before that.
    sniffing: bool,
    /// Whether private message text may be written to logs and the audit
    /// log: off unless the operator opts in (`--log-private-text`).
    log_private_text: bool,
    audit_enabled: bool,
    /// Audit records produced since the connection last took them.
    audit: Vec<Record>,
}

impl Session {
    /// A fresh, unregistered session.
    pub fn new(
        peer: SocketAddr,
        room: Arc<Room>,
        outbox: Arc<Outbox>,
        log_private_text: bool,
        audit_enabled: bool,
    ) -> Self {
        Session {
            peer,
            room,
            outbox,
            registered: None,
            sniffing: true,
            log_private_text,
            audit_enabled,
            audit: Vec::new(),
        }
    }

    /// True once a name was accepted.
    pub fn is_registered(&self) -> bool {
        self.registered.is_some()
    }

    /// True until the connection's first octets have been told apart from
    /// TLS and HTTP (§4.6).
    pub fn is_sniffing(&self) -> bool {
        self.sniffing
    }

    /// Looks at every octet received so far, while sniffing (§4.6): closes
    /// with `BYE wrong-protocol` for TLS or an HTTP request, and ends the
    /// sniffing as soon as the octets can be neither.
    pub fn sniff(&mut self, first: &[u8]) -> Outcome {
        let verdict = sniff::sniff(first);
        match verdict.protocol() {
            Some(protocol) => {
                tracing::info!(peer = %self.peer, protocol, "refused a peer speaking another protocol");
                Outcome::Close(ByeReason::WrongProtocol)
            }
            None => {
                self.sniffing = verdict == Sniffed::NeedMore;
                Outcome::Continue
            }
        }
    }

    /// The client's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// True when audit records are waiting to be taken.
    pub fn has_audit(&self) -> bool {
        !self.audit.is_empty()
    }

    /// Audit records to hand to the audit log.
    pub fn take_audit(&mut self) -> Vec<Record> {
        std::mem::take(&mut self.audit)
    }

    fn reply(&self, line: Option<Bytes>) {
        if let Some(line) = line {
            self.outbox.push(&line);
        }
    }

    fn error(&self, code: ErrorCode, name: Option<&Name<'_>>) {
        self.reply(replies::error(code, name));
    }

    fn audit(&mut self, ts: tagarela_parser::Timestamp, event: impl FnOnce() -> Event) {
        if self.audit_enabled {
            self.audit.push(Record {
                ts: ts.to_string(),
                event: event(),
            });
        }
    }

    /// An over-long line was discarded (§2.4).
    pub fn line_too_long(&self) {
        self.error(ErrorCode::LineTooLong, None);
    }

    /// Handles one complete line's content (§4.3 or §5).
    pub fn handle_line(&mut self, line: Result<CheckedLine<'_>, ContentError>) -> Outcome {
        let line = match line {
            Ok(line) => line,
            Err(e) => return self.line_error(e.into()),
        };
        if self.registered.is_some() {
            match ClientLine::parse_checked(line) {
                Ok(parsed) => self.registered_line(parsed),
                Err(e) => self.line_error(e),
            }
        } else {
            match HandshakeLine::parse_checked(line) {
                Ok(HandshakeLine::Empty) => Outcome::Continue,
                Ok(HandshakeLine::Name(name)) => self.try_register(name),
                Ok(HandshakeLine::Command(cmd)) => self.registered_line(cmd),
                Err(e) => self.line_error(e),
            }
        }
    }

    fn line_error(&self, e: LineError) -> Outcome {
        match e {
            LineError::Name(why) => self.reply(replies::name_invalid(why)),
            e => self.error(e.code(), None),
        }
        Outcome::Continue
    }

    fn try_register(&mut self, name: Name<'static>) -> Outcome {
        let at = replies::now();
        let join = replies::encode(&ServerLine::Join {
            at,
            name: name.borrowed(),
        });
        match self.room.register(
            &name,
            &self.outbox,
            |online| replies::welcome(&name, online),
            join,
        ) {
            Ok(key) => {
                tracing::info!(name = %name, peer = %self.peer, "join");
                let peer = self.peer;
                self.audit(at, || Event::Join {
                    name: name.to_string(),
                    peer: peer.to_string(),
                });
                self.registered = Some((name, key));
            }
            Err(Clash::Taken(holder)) => self.error(ErrorCode::NameTaken, Some(&holder)),
            Err(Clash::LooksLike(holder)) => self.reply(replies::name_looks_like(&holder)),
        }
        Outcome::Continue
    }

    fn registered_line(&mut self, line: ClientLine<'_>) -> Outcome {
        match line {
            ClientLine::Empty => {}
            ClientLine::Public(text) => self.public(text),
            ClientLine::Private { to, text } => self.private(&to, text),
            ClientLine::Quit(reason) => {
                if let Some((name, key)) = self.registered.take() {
                    self.leave_as(&name, &key, LeaveReason::Quit, reason);
                }
                return Outcome::Close(ByeReason::Quit);
            }
            ClientLine::Who => {
                let names = self.room.names();
                let mut out = Vec::with_capacity(16 * names.len() + 16);
                tagarela_parser::encode_who_list(&names, &mut out);
                self.reply(Some(Bytes::from(out)));
            }
            ClientLine::Help => self.reply(Some(replies::help())),
            ClientLine::Ping(token) => self.reply(replies::encode(&ServerLine::Pong { token })),
            ClientLine::Pong(_) => {}
        }
        Outcome::Continue
    }

    fn public(&mut self, text: Text<'_>) {
        let Some((from, _)) = &self.registered else {
            return;
        };
        let at = replies::now();
        let Some(bytes) = replies::encode(&ServerLine::Msg {
            at,
            from: from.borrowed(),
            text: text.clone(),
        }) else {
            return;
        };
        let recipients = self.room.broadcast(&self.outbox, &bytes);
        tracing::info!(from = %from, recipients, text = %LogText(text.as_str()), "public message");
        if self.audit_enabled {
            let event = Event::Msg {
                from: from.to_string(),
                text: text.to_string(),
            };
            self.audit.push(Record {
                ts: at.to_string(),
                event,
            });
        }
    }

    fn private(&mut self, to: &Name<'_>, text: Text<'_>) {
        let Some((from, _)) = &self.registered else {
            return;
        };
        let Some(member) = self.room.find(to) else {
            // Name fields in server lines are NFC names (§8): the
            // recipient as typed may be decomposed and longer than
            // `name-max`; its NFC form is what was measured (§3.1).
            let shown = Name::normalize(to.as_str()).ok();
            self.error(ErrorCode::NoSuchUser, shown.as_ref());
            return;
        };
        let at = replies::now();
        let line = ServerLine::Priv {
            at,
            from: from.borrowed(),
            to: member.name.borrowed(),
            text: text.clone(),
        };
        let Some(bytes) = replies::encode(&line) else {
            return;
        };
        member.outbox.push(&bytes);
        if !Arc::ptr_eq(&member.outbox, &self.outbox) {
            self.outbox.push(&bytes);
        }
        if self.log_private_text {
            tracing::info!(from = %from, to = %member.name, text = %LogText(text.as_str()), "private message");
        } else {
            tracing::info!(from = %from, to = %member.name, "private message");
        }
        if self.audit_enabled {
            let body = self.log_private_text.then(|| text.to_string());
            let event = Event::Priv {
                from: from.to_string(),
                to: member.name.to_string(),
                text: body,
            };
            self.audit.push(Record {
                ts: at.to_string(),
                event,
            });
        }
    }

    /// Removes the client from the room, if registered, telling the others
    /// why (§9.1). Idempotent.
    pub fn leave(&mut self, reason: LeaveReason) {
        if let Some((name, key)) = self.registered.take() {
            self.leave_as(&name, &key, reason, None);
        }
    }

    fn leave_as(
        &mut self,
        name: &Name<'static>,
        key: &NameKey,
        reason: LeaveReason,
        text: Option<Text<'_>>,
    ) {
        let at = replies::now();
        let line = replies::encode(&ServerLine::Leave {
            at,
            name: name.borrowed(),
            reason,
            text: text.clone(),
        });
        self.room.unregister(key, line);
        match &text {
            Some(t) => {
                tracing::info!(name = %name, reason = %reason, quit_message = %LogText(t.as_str()), "leave")
            }
            None => tracing::info!(name = %name, reason = %reason, "leave"),
        }
        self.audit(at, || Event::Leave {
            name: name.to_string(),
            reason: reason.to_string(),
            text: text.map(|t| t.to_string()),
        });
    }
}
