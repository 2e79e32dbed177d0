//! Server lines (§7): decode one line's content into a typed [`ServerLine`]
//! and encode it back. The server builds every line it sends through
//! [`ServerLine::encode`], which is what makes forged lines impossible (§12):
//! no field can hold SP or a control character where the grammar forbids it.

use nom::bytes::complete::{tag, take_while1};
use nom::character::complete::char;
use nom::combinator::{all_consuming, map_res, opt, rest, verify};
use nom::multi::many0;
use nom::sequence::{preceded, separated_pair};
use nom::{IResult, Parser};

use crate::client_line::BanTarget;
use crate::codes::{ByeReason, ErrorCode, LeaveReason};
use crate::content::{self, CheckedLine};
use crate::error::{EncodeError, ServerLineError};
use crate::limits::SERVER_LINE_MAX;
use crate::name::Name;
use crate::room::RoomName;
use crate::text::{Text, Token};
use crate::timestamp::Timestamp;

/// One line from the server (§7.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerLine<'a> {
    /// `HELLO version :text` (§4.2).
    Hello { version: u32, text: Text<'a> },
    /// `WELCOME name online=N line-max=N name-max=N [seq=N] :text` (§4.4;
    /// `seq`, the number of the client's own join, only with the `seq`
    /// feature, §16.5).
    Welcome {
        name: Name<'a>,
        online: u32,
        line_max: u32,
        name_max: u32,
        seq: Option<u64>,
        /// The token that takes the name back after a lost connection,
        /// only with the `resume` feature (§16.6).
        resume: Option<Token<'a>>,
        text: Text<'a>,
    },
    /// `JOIN ts name`.
    Join { at: Timestamp, name: Name<'a> },
    /// `LEAVE ts name reason [:text]`.
    Leave {
        at: Timestamp,
        name: Name<'a>,
        reason: LeaveReason,
        text: Option<Text<'a>>,
    },
    /// `MSG ts from :text`: a public message; text is not blank.
    Msg {
        at: Timestamp,
        from: Name<'a>,
        text: Text<'a>,
    },
    /// `PRIV ts from to :text`: a private message; text is not blank.
    Priv {
        at: Timestamp,
        from: Name<'a>,
        to: Name<'a>,
        text: Text<'a>,
    },
    /// `WHO name...`: part of the who-list.
    Who { names: Vec<Name<'a>> },
    /// `WHOEND count`: end of the who-list.
    WhoEnd { count: u32 },
    /// `PONG [token]`.
    Pong { token: Option<Token<'a>> },
    /// `PING token` (§10).
    Ping { token: Token<'a> },
    /// `HELP :text`.
    Help { text: Text<'a> },
    /// `ERR code [name] :text` (§8).
    Err {
        code: ErrorCode,
        name: Option<Name<'a>>,
        text: Text<'a>,
    },
    /// `BYE reason :text` (§9.2): the last line before close.
    Bye { reason: ByeReason, text: Text<'a> },
    /// `HIST seq ts from :text` (§16.1): a public message from history.
    Hist {
        seq: u64,
        at: Timestamp,
        from: Name<'a>,
        text: Text<'a>,
    },
    /// `HISTEND count` (§16.1): the end of a run of `HIST` lines.
    HistEnd { count: u32 },
    /// `SEQ seq event-line` (§16.5): an event (`JOIN`, `LEAVE`, `MSG` or
    /// `PRIV`, never another `SEQ`) with its sequence number, for clients
    /// that asked for the `seq` feature.
    Seq {
        seq: u64,
        event: Box<ServerLine<'a>>,
    },
    /// `FEATURES word...` (§16.5): the features of `/features` this server
    /// turned on.
    Features { words: Vec<Token<'a>> },
    /// `RESUMED count [gap]` (§16.6): the end of what a resuming client
    /// missed; `gap` if the server no longer had all of it.
    Resumed { count: u32, gap: bool },
    /// `CROWD ts online joined left [+name...] [-name...]` (§18): in a
    /// crowded room, the joins and leaves since the last notice, counted,
    /// with some of the names. `joined` and `left` are at least as many
    /// as the names given.
    Crowd {
        at: Timestamp,
        online: u32,
        joined: u32,
        left: u32,
        joiners: Vec<Name<'a>>,
        leavers: Vec<Name<'a>>,
    },
    /// `TOPIC ts name :text` (§19.3): a room's topic, who set it and when;
    /// only inside `IN`, and numbered (`SEQ`) when it is the event of
    /// setting it.
    Topic {
        at: Timestamp,
        by: Name<'a>,
        text: Text<'a>,
    },
    /// `IN #room line` (§19.3): one of a room's lines (`SEQ`, `HIST`,
    /// `HISTEND`, `CROWD`, `TOPIC`, `WHO`, `WHOEND` or `ERR`), for clients
    /// that turned the `rooms` feature on.
    In {
        room: RoomName<'a>,
        line: Box<ServerLine<'a>>,
    },
    /// `ROOMS #room members [:topic]` (§19.3): one room of the list.
    Rooms {
        room: RoomName<'a>,
        members: u32,
        topic: Option<Text<'a>>,
    },
    /// `ROOMSEND count` (§19.3): the end of the list of rooms.
    RoomsEnd { count: u32 },
    /// `BANS target...` (§19.6): a room's bans, inside `IN`, after
    /// `/ban` or `/unban`.
    Bans { targets: Vec<BanTarget<'a>> },
    /// `OPS name...` (§19.6): a room's operators who hold their names,
    /// inside `IN`, after `/op`.
    Ops { names: Vec<Name<'a>> },
}

const HELLO: &str = "HELLO";
const WELCOME: &str = "WELCOME";
const JOIN: &str = "JOIN";
const LEAVE: &str = "LEAVE";
const MSG: &str = "MSG";
const PRIV: &str = "PRIV";
const WHO: &str = "WHO";
const WHOEND: &str = "WHOEND";
const PONG: &str = "PONG";
const PING: &str = "PING";
const HELP: &str = "HELP";
const ERR: &str = "ERR";
const BYE: &str = "BYE";
const HIST: &str = "HIST";
const HISTEND: &str = "HISTEND";
const SEQ: &str = "SEQ";
const FEATURES: &str = "FEATURES";
const RESUMED: &str = "RESUMED";
const CROWD: &str = "CROWD";
const TOPIC: &str = "TOPIC";
const IN: &str = "IN";
const ROOMS: &str = "ROOMS";
const ROOMSEND: &str = "ROOMSEND";
const BANS: &str = "BANS";
const OPS: &str = "OPS";

impl<'a> ServerLine<'a> {
    /// The line's keyword.
    pub fn keyword(&self) -> &'static str {
        match self {
            ServerLine::Hello { .. } => HELLO,
            ServerLine::Welcome { .. } => WELCOME,
            ServerLine::Join { .. } => JOIN,
            ServerLine::Leave { .. } => LEAVE,
            ServerLine::Msg { .. } => MSG,
            ServerLine::Priv { .. } => PRIV,
            ServerLine::Who { .. } => WHO,
            ServerLine::WhoEnd { .. } => WHOEND,
            ServerLine::Pong { .. } => PONG,
            ServerLine::Ping { .. } => PING,
            ServerLine::Help { .. } => HELP,
            ServerLine::Err { .. } => ERR,
            ServerLine::Bye { .. } => BYE,
            ServerLine::Hist { .. } => HIST,
            ServerLine::HistEnd { .. } => HISTEND,
            ServerLine::Seq { .. } => SEQ,
            ServerLine::Features { .. } => FEATURES,
            ServerLine::Resumed { .. } => RESUMED,
            ServerLine::Crowd { .. } => CROWD,
            ServerLine::Topic { .. } => TOPIC,
            ServerLine::In { .. } => IN,
            ServerLine::Rooms { .. } => ROOMS,
            ServerLine::RoomsEnd { .. } => ROOMSEND,
            ServerLine::Bans { .. } => BANS,
            ServerLine::Ops { .. } => OPS,
        }
    }

    /// True for the lines `IN` may carry (§19.3).
    pub fn is_room_line(&self) -> bool {
        match self {
            ServerLine::Seq { event, .. } => {
                matches!(
                    **event,
                    ServerLine::Join { .. }
                        | ServerLine::Leave { .. }
                        | ServerLine::Msg { .. }
                        | ServerLine::Topic { .. }
                )
            }
            ServerLine::Hist { .. }
            | ServerLine::HistEnd { .. }
            | ServerLine::Crowd { .. }
            | ServerLine::Topic { .. }
            | ServerLine::Who { .. }
            | ServerLine::WhoEnd { .. }
            | ServerLine::Bans { .. }
            | ServerLine::Ops { .. }
            | ServerLine::Err { .. } => true,
            _ => false,
        }
    }

    /// True for the lines an event is sent as (§7.1), which `SEQ` may carry.
    pub fn is_event(&self) -> bool {
        matches!(
            self,
            ServerLine::Join { .. }
                | ServerLine::Leave { .. }
                | ServerLine::Msg { .. }
                | ServerLine::Priv { .. }
                | ServerLine::Topic { .. }
        )
    }

    /// Decodes one server line's content (terminator removed):
    ///
    /// ```abnf
    /// server-line = keyword *(SP field) [SP ":" text]
    /// ```
    /// with each keyword's own rule from §7.1.
    pub fn parse(line: &'a [u8]) -> Result<Self, ServerLineError> {
        if line.len() > SERVER_LINE_MAX {
            return Err(ServerLineError::TooLong);
        }
        Self::parse_checked(content::check_line(line)?)
    }

    /// Decodes content that already passed the §2.1/§2.5 checks (see
    /// [`LineFramer::lines`](crate::LineFramer::lines)).
    pub fn parse_checked(line: CheckedLine<'a>) -> Result<Self, ServerLineError> {
        let s = line.as_str();
        if s.len() > SERVER_LINE_MAX {
            return Err(ServerLineError::TooLong);
        }
        let split = s.find(' ').unwrap_or(s.len());
        let (keyword, body) = s.split_at(split);
        let line = match keyword {
            HELLO => whole((number, trailing), body)
                .map(|(version, text)| ServerLine::Hello { version, text }),
            WELCOME => welcome(body),
            JOIN | LEAVE | MSG | PRIV => event_line(keyword, body),
            WHO => whole(many0(name), body).map(|names| ServerLine::Who { names }),
            WHOEND => whole(number, body).map(|count| ServerLine::WhoEnd { count }),
            PONG => whole(opt(token), body).map(|token| ServerLine::Pong { token }),
            PING => whole(token, body).map(|token| ServerLine::Ping { token }),
            HELP => whole(trailing, body).map(|text| ServerLine::Help { text }),
            ERR => whole((error_code, opt(name), trailing), body)
                .map(|(code, name, text)| ServerLine::Err { code, name, text }),
            BYE => whole((bye_reason, trailing), body)
                .map(|(reason, text)| ServerLine::Bye { reason, text }),
            HIST => {
                whole((seq, timestamp, name, message_text), body).map(|(seq, at, from, text)| {
                    ServerLine::Hist {
                        seq,
                        at,
                        from,
                        text,
                    }
                })
            }
            HISTEND => whole(number, body).map(|count| ServerLine::HistEnd { count }),
            SEQ => seq_line(body),
            FEATURES => whole(many0(token), body).map(|words| ServerLine::Features { words }),
            RESUMED => whole((number, opt(field)), body).and_then(|(count, gap)| match gap {
                None => Some(ServerLine::Resumed { count, gap: false }),
                Some("gap") => Some(ServerLine::Resumed { count, gap: true }),
                Some(_) => None,
            }),
            CROWD => crowd(body),
            TOPIC => topic(body),
            IN => in_room(body),
            ROOMS => whole((room, number, opt(trailing)), body).map(|(room, members, topic)| {
                ServerLine::Rooms {
                    room,
                    members,
                    topic,
                }
            }),
            ROOMSEND => whole(number, body).map(|count| ServerLine::RoomsEnd { count }),
            BANS => whole(many0(ban_target), body).map(|targets| ServerLine::Bans { targets }),
            OPS => whole(many0(name), body).map(|names| ServerLine::Ops { names }),
            other => return Err(ServerLineError::UnknownKeyword(other.to_owned())),
        };
        line.ok_or(ServerLineError::Malformed(keyword_static(keyword)))
    }

    /// Appends the line and its LF. Refuses a line the decoder would not read
    /// back as `self` (blank message text, over `server-line-max`).
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        let result = self.encode_body(out);
        if result.is_ok() && out.len() - start > SERVER_LINE_MAX {
            out.truncate(start);
            return Err(EncodeError::TooLong(SERVER_LINE_MAX));
        }
        match result {
            Ok(()) => {
                out.push(b'\n');
                Ok(())
            }
            Err(e) => {
                out.truncate(start);
                Err(e)
            }
        }
    }

    fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let mut w = Writer(out);
        w.raw(self.keyword());
        match self {
            ServerLine::Hello { version, text } => {
                w.num(*version);
                w.trailing(text);
            }
            ServerLine::Welcome {
                name,
                online,
                line_max,
                name_max,
                seq,
                resume,
                text,
            } => {
                w.field(name.as_str());
                w.param("online", *online);
                w.param("line-max", *line_max);
                w.param("name-max", *name_max);
                if let Some(seq) = seq {
                    w.field(&format!("seq={seq}"));
                }
                if let Some(token) = resume {
                    w.field(&format!("resume={}", token.as_str()));
                }
                w.trailing(text);
            }
            ServerLine::Join { at, name } => {
                w.time(*at);
                w.field(name.as_str());
            }
            ServerLine::Leave {
                at,
                name,
                reason,
                text,
            } => {
                w.time(*at);
                w.field(name.as_str());
                w.field(reason.as_str());
                if let Some(text) = text {
                    w.trailing(text);
                }
            }
            ServerLine::Msg { at, from, text } => {
                w.time(*at);
                w.field(from.as_str());
                w.message(text)?;
            }
            ServerLine::Priv { at, from, to, text } => {
                w.time(*at);
                w.field(from.as_str());
                w.field(to.as_str());
                w.message(text)?;
            }
            ServerLine::Who { names } => {
                for name in names {
                    w.field(name.as_str());
                }
            }
            ServerLine::WhoEnd { count } => w.num(*count),
            ServerLine::Pong { token } => {
                if let Some(token) = token {
                    w.field(token.as_str());
                }
            }
            ServerLine::Ping { token } => w.field(token.as_str()),
            ServerLine::Help { text } => w.trailing(text),
            ServerLine::Err { code, name, text } => {
                w.field(code.as_str());
                if let Some(name) = name {
                    w.field(name.as_str());
                }
                w.trailing(text);
            }
            ServerLine::Bye { reason, text } => {
                w.field(reason.as_str());
                w.trailing(text);
            }
            ServerLine::Hist {
                seq,
                at,
                from,
                text,
            } => {
                w.field(seq.to_string().as_str());
                w.time(*at);
                w.field(from.as_str());
                w.message(text)?;
            }
            ServerLine::HistEnd { count } => w.num(*count),
            ServerLine::Seq { seq, event } => {
                if !event.is_event() {
                    return Err(EncodeError::NotAnEvent);
                }
                w.field(seq.to_string().as_str());
                w.0.push(b' ');
                event.encode_body(w.0)?;
            }
            ServerLine::Features { words } => {
                for word in words {
                    w.field(word.as_str());
                }
            }
            ServerLine::Resumed { count, gap } => {
                w.num(*count);
                if *gap {
                    w.field("gap");
                }
            }
            ServerLine::Crowd {
                at,
                online,
                joined,
                left,
                joiners,
                leavers,
            } => {
                if joiners.len() > *joined as usize || leavers.len() > *left as usize {
                    return Err(EncodeError::CrowdCount);
                }
                w.time(*at);
                w.num(*online);
                w.num(*joined);
                w.num(*left);
                for name in joiners {
                    w.field("+");
                    w.raw(name.as_str());
                }
                for name in leavers {
                    w.field("-");
                    w.raw(name.as_str());
                }
            }
            ServerLine::Topic { at, by, text } => {
                w.time(*at);
                w.field(by.as_str());
                w.message(text)?;
            }
            ServerLine::In { room, line } => {
                if !line.is_room_line() {
                    return Err(EncodeError::NotARoomLine);
                }
                w.field(room.as_str());
                w.0.push(b' ');
                line.encode_body(w.0)?;
            }
            ServerLine::Rooms {
                room,
                members,
                topic,
            } => {
                w.field(room.as_str());
                w.num(*members);
                if let Some(topic) = topic {
                    w.trailing(topic);
                }
            }
            ServerLine::RoomsEnd { count } => w.num(*count),
            ServerLine::Bans { targets } => {
                for target in targets {
                    w.field(&target.to_string());
                }
            }
            ServerLine::Ops { names } => {
                for name in names {
                    w.field(name.as_str());
                }
            }
        }
        Ok(())
    }

    /// Detaches from the input buffer.
    pub fn into_owned(self) -> ServerLine<'static> {
        match self {
            ServerLine::Hello { version, text } => ServerLine::Hello {
                version,
                text: text.into_owned(),
            },
            ServerLine::Welcome {
                name,
                online,
                line_max,
                name_max,
                seq,
                resume,
                text,
            } => ServerLine::Welcome {
                name: name.into_owned(),
                online,
                line_max,
                name_max,
                seq,
                resume: resume.map(Token::into_owned),
                text: text.into_owned(),
            },
            ServerLine::Join { at, name } => ServerLine::Join {
                at,
                name: name.into_owned(),
            },
            ServerLine::Leave {
                at,
                name,
                reason,
                text,
            } => ServerLine::Leave {
                at,
                name: name.into_owned(),
                reason,
                text: text.map(Text::into_owned),
            },
            ServerLine::Msg { at, from, text } => ServerLine::Msg {
                at,
                from: from.into_owned(),
                text: text.into_owned(),
            },
            ServerLine::Priv { at, from, to, text } => ServerLine::Priv {
                at,
                from: from.into_owned(),
                to: to.into_owned(),
                text: text.into_owned(),
            },
            ServerLine::Who { names } => ServerLine::Who {
                names: names.into_iter().map(Name::into_owned).collect(),
            },
            ServerLine::WhoEnd { count } => ServerLine::WhoEnd { count },
            ServerLine::Pong { token } => ServerLine::Pong {
                token: token.map(Token::into_owned),
            },
            ServerLine::Ping { token } => ServerLine::Ping {
                token: token.into_owned(),
            },
            ServerLine::Help { text } => ServerLine::Help {
                text: text.into_owned(),
            },
            ServerLine::Err { code, name, text } => ServerLine::Err {
                code,
                name: name.map(Name::into_owned),
                text: text.into_owned(),
            },
            ServerLine::Bye { reason, text } => ServerLine::Bye {
                reason,
                text: text.into_owned(),
            },
            ServerLine::Hist {
                seq,
                at,
                from,
                text,
            } => ServerLine::Hist {
                seq,
                at,
                from: from.into_owned(),
                text: text.into_owned(),
            },
            ServerLine::HistEnd { count } => ServerLine::HistEnd { count },
            ServerLine::Seq { seq, event } => ServerLine::Seq {
                seq,
                event: Box::new(event.into_owned()),
            },
            ServerLine::Features { words } => ServerLine::Features {
                words: words.into_iter().map(Token::into_owned).collect(),
            },
            ServerLine::Resumed { count, gap } => ServerLine::Resumed { count, gap },
            ServerLine::Crowd {
                at,
                online,
                joined,
                left,
                joiners,
                leavers,
            } => ServerLine::Crowd {
                at,
                online,
                joined,
                left,
                joiners: joiners.into_iter().map(Name::into_owned).collect(),
                leavers: leavers.into_iter().map(Name::into_owned).collect(),
            },
            ServerLine::Topic { at, by, text } => ServerLine::Topic {
                at,
                by: by.into_owned(),
                text: text.into_owned(),
            },
            ServerLine::In { room, line } => ServerLine::In {
                room: room.into_owned(),
                line: Box::new(line.into_owned()),
            },
            ServerLine::Rooms {
                room,
                members,
                topic,
            } => ServerLine::Rooms {
                room: room.into_owned(),
                members,
                topic: topic.map(Text::into_owned),
            },
            ServerLine::RoomsEnd { count } => ServerLine::RoomsEnd { count },
            ServerLine::Bans { targets } => ServerLine::Bans {
                targets: targets.into_iter().map(BanTarget::into_owned).collect(),
            },
            ServerLine::Ops { names } => ServerLine::Ops {
                names: names.into_iter().map(Name::into_owned).collect(),
            },
        }
    }
}

/// Encodes a whole who-list (§7.1): as many `WHO` lines as needed to keep
/// each within `server-line-max`, then `WHOEND n`.
pub fn encode_who_list<'n>(names: impl IntoIterator<Item = &'n Name<'n>>, out: &mut Vec<u8>) {
    encode_who_list_in(None, names, out);
}

/// Encodes a whole who-list as [`encode_who_list`] does, every line
/// inside `IN room` if a room is given (§19.3), each within
/// `server-line-max` prefix included.
pub fn encode_who_list_in<'n>(
    room: Option<&RoomName<'_>>,
    names: impl IntoIterator<Item = &'n Name<'n>>,
    out: &mut Vec<u8>,
) {
    let prefix = room.map(|r| format!("{IN} {} ", r.as_str()));
    let prefix = prefix.as_deref().unwrap_or("").as_bytes();
    let mut count: u32 = 0;
    let mut line_start: Option<usize> = None;
    for name in names {
        let name = name.as_str().as_bytes();
        if let Some(start) = line_start
            && out.len() - start + 1 + name.len() > SERVER_LINE_MAX
        {
            out.push(b'\n');
            line_start = None;
        }
        if line_start.is_none() {
            line_start = Some(out.len());
            out.extend_from_slice(prefix);
            out.extend_from_slice(WHO.as_bytes());
        }
        out.push(b' ');
        out.extend_from_slice(name);
        count = count.saturating_add(1);
    }
    if line_start.is_some() {
        out.push(b'\n');
    }
    out.extend_from_slice(prefix);
    out.extend_from_slice(WHOEND.as_bytes());
    out.push(b' ');
    out.extend_from_slice(count.to_string().as_bytes());
    out.push(b'\n');
}

/// Appends fields with the single SP separators of §7.1.
struct Writer<'o>(&'o mut Vec<u8>);

impl Writer<'_> {
    fn raw(&mut self, s: &str) {
        self.0.extend_from_slice(s.as_bytes());
    }
    fn field(&mut self, s: &str) {
        self.0.push(b' ');
        self.raw(s);
    }
    fn num(&mut self, n: u32) {
        self.field(itoa(n).as_str());
    }
    fn time(&mut self, at: Timestamp) {
        self.0.push(b' ');
        at.write(self.0);
    }
    fn param(&mut self, key: &str, value: u32) {
        self.field(key);
        self.0.push(b'=');
        self.raw(itoa(value).as_str());
    }
    fn trailing(&mut self, text: &Text<'_>) {
        self.raw(" :");
        self.raw(text.as_str());
    }
    fn message(&mut self, text: &Text<'_>) -> Result<(), EncodeError> {
        if text.is_blank() {
            return Err(EncodeError::BlankText);
        }
        self.trailing(text);
        Ok(())
    }
}

fn itoa(n: u32) -> String {
    n.to_string()
}

/// Runs `parser` over the whole `body`; `None` unless it matches exactly.
fn whole<'a, O>(
    parser: impl Parser<&'a str, Output = O, Error = nom::error::Error<&'a str>>,
    body: &'a str,
) -> Option<O> {
    all_consuming(parser).parse(body).ok().map(|(_, out)| out)
}

/// Keyword for error messages; unknown keywords never reach here.
fn keyword_static(k: &str) -> &'static str {
    [
        HELLO, WELCOME, JOIN, LEAVE, MSG, PRIV, WHO, WHOEND, PONG, PING, HELP, ERR, BYE, HIST,
        HISTEND, SEQ, FEATURES, RESUMED, CROWD, TOPIC, IN, ROOMS, ROOMSEND, BANS, OPS,
    ]
    .into_iter()
    .find(|&kw| kw == k)
    .unwrap_or("server")
}

// ---- field parsers, each one `SP field` --------------------------------

/// `SP field`, where `field = <1*nospace-char not starting with ":">`.
fn field(i: &str) -> IResult<&str, &str> {
    preceded(
        char(' '),
        verify(take_while1(|c| c != ' '), |f: &str| !f.starts_with(':')),
    )
    .parse(i)
}

/// `SP ":" text`
fn trailing(i: &str) -> IResult<&str, Text<'_>> {
    preceded(tag(" :"), rest).map(Text::checked).parse(i)
}

/// `SP ":" msg-text`, not blank.
fn message_text(i: &str) -> IResult<&str, Text<'_>> {
    verify(trailing, |t: &Text<'_>| !t.is_blank()).parse(i)
}

/// `SP name`
fn name(i: &str) -> IResult<&str, Name<'_>> {
    map_res(field, Name::new).parse(i)
}

/// `SP ban-target` (§19.6): an address, a network, or a name.
fn ban_target(i: &str) -> IResult<&str, BanTarget<'_>> {
    map_res(field, BanTarget::parse).parse(i)
}

/// `SP room` (§19.2).
fn room(i: &str) -> IResult<&str, RoomName<'_>> {
    map_res(field, RoomName::new).parse(i)
}

/// `SP timestamp`
fn timestamp(i: &str) -> IResult<&str, Timestamp> {
    map_res(field, Timestamp::parse).parse(i)
}

/// `SP token`
fn token(i: &str) -> IResult<&str, Token<'_>> {
    map_res(field, Token::new).parse(i)
}

/// `SP number`, `number = 1*10DIGIT`, value < 2^32, no leading zero.
fn number(i: &str) -> IResult<&str, u32> {
    map_res(field, parse_number).parse(i)
}

/// `SP seq` (§16.1).
fn seq(i: &str) -> IResult<&str, u64> {
    map_res(field, crate::history::parse_seq).parse(i)
}

fn parse_number(s: &str) -> Result<u32, ()> {
    let digits_only = s.bytes().all(|b| b.is_ascii_digit());
    if !digits_only || s.len() > 10 || (s.len() > 1 && s.starts_with('0')) {
        return Err(());
    }
    s.parse().map_err(|_| ())
}

fn error_code(i: &str) -> IResult<&str, ErrorCode> {
    map_res(field, |w| ErrorCode::from_word(w).ok_or(())).parse(i)
}

fn leave_reason(i: &str) -> IResult<&str, LeaveReason> {
    map_res(field, |w| LeaveReason::from_word(w).ok_or(())).parse(i)
}

fn bye_reason(i: &str) -> IResult<&str, ByeReason> {
    map_res(field, |w| ByeReason::from_word(w).ok_or(())).parse(i)
}

/// `SP param-key "=" param-value`
fn welcome_param(i: &str) -> IResult<&str, (&str, &str)> {
    preceded(
        char(' '),
        separated_pair(
            take_while1(|c: char| c.is_ascii_lowercase() || c == '-'),
            char('='),
            take_while1(|c: char| c.is_ascii_graphic() && c != ':'),
        ),
    )
    .parse(i)
}

/// `WELCOME` body: name, the three known parameters in order, any unknown
/// parameters after them (ignored), then the trailing text (§4.4).
fn welcome(body: &str) -> Option<ServerLine<'_>> {
    let (name, params, text) = whole((name, many0(welcome_param), trailing), body)?;
    let known = ["online", "line-max", "name-max"];
    if params.len() < known.len() {
        return None;
    }
    let mut values = [0u32; 3];
    for ((key, value), (want, slot)) in params.iter().zip(known.iter().zip(values.iter_mut())) {
        if key != want {
            return None;
        }
        *slot = parse_number(value).ok()?;
    }
    let [online, line_max, name_max] = values;
    // The v1.1 parameters, where a v1.1 server puts them: `seq`, then
    // `resume`, right after the known ones. Anything else is ignored.
    let mut extra = params[known.len()..].iter().peekable();
    let seq = match extra.peek() {
        Some(&&("seq", value)) => {
            extra.next();
            Some(crate::history::parse_seq(value).ok()?)
        }
        _ => None,
    };
    let resume = match extra.peek() {
        Some(&&("resume", value)) => Some(Token::new(value).ok()?),
        _ => None,
    };
    Some(ServerLine::Welcome {
        name,
        online,
        line_max,
        name_max,
        seq,
        resume,
        text,
    })
}

/// `SP sign name`: a name marked `+` (joined) or `-` (left), §18.
fn signed_name(sign: char) -> impl Fn(&str) -> IResult<&str, Name<'_>> {
    move |i| {
        map_res(field, |f: &str| {
            f.strip_prefix(sign)
                .map_or(Err(()), |n| Name::new(n).map_err(|_| ()))
        })
        .parse(i)
    }
}

/// `CROWD` body (§18): when, online, joined, left, the joiners named
/// (`+name`), then the leavers (`-name`), never more of either than
/// counted.
fn crowd(body: &str) -> Option<ServerLine<'_>> {
    let (at, online, joined, left, joiners, leavers) = whole(
        (
            timestamp,
            number,
            number,
            number,
            many0(signed_name('+')),
            many0(signed_name('-')),
        ),
        body,
    )?;
    if joiners.len() > joined as usize || leavers.len() > left as usize {
        return None;
    }
    Some(ServerLine::Crowd {
        at,
        online,
        joined,
        left,
        joiners,
        leavers,
    })
}

/// `SEQ` body: a sequence number, then a whole event line (§16.5).
fn seq_line(body: &str) -> Option<ServerLine<'_>> {
    let rest = body.strip_prefix(' ')?;
    let (number, event) = rest.split_once(' ')?;
    let seq = crate::history::parse_seq(number).ok()?;
    let split = event.find(' ').unwrap_or(event.len());
    let (keyword, inner) = event.split_at(split);
    Some(ServerLine::Seq {
        seq,
        event: Box::new(event_line(keyword, inner)?),
    })
}

/// `TOPIC` body (§19.3): when, who, the non-blank text.
fn topic(body: &str) -> Option<ServerLine<'_>> {
    whole((timestamp, name, message_text), body).map(|(at, by, text)| ServerLine::Topic {
        at,
        by,
        text,
    })
}

/// `IN` body (§19.3): a room, then one of the lines a room's are.
fn in_room(body: &str) -> Option<ServerLine<'_>> {
    let rest = body.strip_prefix(' ')?;
    let (room, inner) = rest.split_once(' ')?;
    let room = RoomName::new(room).ok()?;
    let line = ServerLine::parse_checked(CheckedLine::from_passed_run(inner)).ok()?;
    line.is_room_line().then(|| ServerLine::In {
        room,
        line: Box::new(line),
    })
}

/// The body of an event line (§7.1): `JOIN`, `LEAVE`, `MSG` or `PRIV`;
/// `None` for any other keyword or a malformed body.
fn event_line<'a>(keyword: &str, body: &'a str) -> Option<ServerLine<'a>> {
    match keyword {
        JOIN => whole((timestamp, name), body).map(|(at, name)| ServerLine::Join { at, name }),
        LEAVE => whole((timestamp, name, leave_reason, opt(trailing)), body).map(
            |(at, name, reason, text)| ServerLine::Leave {
                at,
                name,
                reason,
                text,
            },
        ),
        MSG => whole((timestamp, name, message_text), body)
            .map(|(at, from, text)| ServerLine::Msg { at, from, text }),
        PRIV => whole((timestamp, name, name, message_text), body)
            .map(|(at, from, to, text)| ServerLine::Priv { at, from, to, text }),
        TOPIC => topic(body),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(line: &str) {
        let parsed = ServerLine::parse(line.as_bytes()).unwrap_or_else(|e| panic!("{line}: {e}"));
        let mut out = Vec::new();
        parsed.encode(&mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), format!("{line}\n"));
    }

    #[test]
    fn spec_examples_round_trip() {
        for line in [
            "HELLO 1 :Tagarela chat. Type your name.",
            "WELCOME alice online=2 line-max=1024 name-max=32 :Welcome to Tagarela, alice! 2 online.",
            "JOIN 2026-11-21T12:00:00.000Z bob",
            "MSG 2026-11-21T12:00:01.250Z bob :hello everyone",
            "PRIV 2026-11-21T12:00:02.001Z bob alice :psst",
            "LEAVE 2026-11-21T12:00:09.999Z bob quit :see you",
            "LEAVE 2026-11-21T12:00:10.000Z carol lost",
            "WHO alice bob",
            "WHO",
            "WHOEND 2",
            "PONG abc",
            "PONG",
            "PING k1",
            "HELP :/quit [reason] leaves",
            "ERR no-such-user zed :No one called zed is online.",
            "ERR no-text :",
            "BYE shutdown :The server is shutting down.",
            "MSG 2026-11-21T12:00:01.250Z bob ::) PRIV x",
        ] {
            round_trip(line);
        }
    }

    #[test]
    fn welcome_ignores_unknown_trailing_params_only() {
        let line = b"WELCOME a online=1 line-max=1024 name-max=32 future=x :hi";
        assert!(matches!(
            ServerLine::parse(line),
            Ok(ServerLine::Welcome { online: 1, .. })
        ));
        let swapped = b"WELCOME a line-max=1024 online=1 name-max=32 :hi";
        assert!(ServerLine::parse(swapped).is_err());
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "MSG 2026-11-21T12:00:01.250Z bob :   ",
            "MSG 2026-11-21T12:00:01.250Z bob hi",
            "MSG 2026-11-21T12:00:01.250Z  bob :hi",
            "JOIN 2026-11-21T12:00:00.000Z b@b",
            "WHOEND 02",
            "WHOEND 4294967296",
            "ERR nope :x",
            "BYE quit",
            "msg 2026-11-21T12:00:01.250Z bob :hi",
        ] {
            assert!(ServerLine::parse(bad.as_bytes()).is_err(), "{bad}");
        }
        assert_eq!(
            ServerLine::parse(b"FUTURE x"),
            Err(ServerLineError::UnknownKeyword("FUTURE".into()))
        );
    }

    #[test]
    fn a_rooms_who_list_is_chunked_within_the_limit_prefix_included() {
        let owned: Vec<String> = (0..300)
            .map(|i| format!("{}{i:05}", "小".repeat(27)))
            .collect();
        let names: Vec<Name<'_>> = owned
            .iter()
            .map(|s| Name::new(s.as_str()).unwrap())
            .collect();
        let room = RoomName::new(format!("#{}", "小".repeat(32))).unwrap();
        let mut out = Vec::new();
        encode_who_list_in(Some(&room), &names, &mut out);
        let mut seen = 0;
        let lines: Vec<&[u8]> = out
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        for line in &lines {
            assert!(line.len() <= SERVER_LINE_MAX, "{} octets", line.len());
            let ServerLine::In { room: r, line } = ServerLine::parse(line).unwrap() else {
                panic!("not a room's line");
            };
            assert_eq!(r, room);
            match *line {
                ServerLine::Who { names } => seen += names.len(),
                ServerLine::WhoEnd { count } => assert_eq!(count, 300),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(seen, 300);
    }

    #[test]
    fn who_list_is_chunked_within_the_limit() {
        let owned: Vec<String> = (0..500).map(|i| format!("user_{i:05}")).collect();
        let names: Vec<Name<'_>> = owned
            .iter()
            .map(|s| Name::new(s.as_str()).unwrap())
            .collect();
        let mut out = Vec::new();
        encode_who_list(&names, &mut out);
        let mut seen = 0;
        let lines: Vec<&[u8]> = out
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        for line in &lines[..lines.len() - 1] {
            assert!(line.len() <= SERVER_LINE_MAX);
            match ServerLine::parse(line).unwrap() {
                ServerLine::Who { names } => seen += names.len(),
                other => panic!("{other:?}"),
            }
        }
        assert!(lines.len() > 2);
        assert_eq!(
            ServerLine::parse(lines[lines.len() - 1]).unwrap(),
            ServerLine::WhoEnd { count: 500 }
        );
        assert_eq!(seen, 500);
    }
}
