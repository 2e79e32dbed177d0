//! Client lines (§5) and name lines (§4.3): decode one line's content into a
//! typed [`ClientLine`] and encode it back. I/O-free; the content comes from
//! the [`crate::LineFramer`]. Decoding never allocates for registered-client
//! lines; it must never accept a line the spec refuses.

use nom::bytes::complete::take_till;
use nom::character::complete::{alpha1, char};
use nom::combinator::{opt, rest};
use nom::sequence::preceded;
use nom::{IResult, Parser};

use crate::content::{self, CheckedLine};
use crate::error::{EncodeError, LineError};
use crate::history::HistoryQuery;
use crate::limits::LINE_MAX;
use crate::name::Name;
use crate::room::{ROOM_MARK, RoomName};
use crate::text::{Text, Token};

/// The most rooms one `/join` names (§19.3).
pub const JOIN_ROOMS_MAX: usize = 10;

/// One line from a client, as the server understands it (§5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientLine<'a> {
    /// An empty line: ignored, but counts as activity (§2.3).
    Empty,
    /// A public message; the text is verbatim and not blank (§5.2).
    Public(Text<'a>),
    /// `@to text` or `/msg to text` (§5.2).
    Private {
        /// The recipient as typed (matched by key, §3.3).
        to: Name<'a>,
        /// Verbatim text after the one separating SP; not blank.
        text: Text<'a>,
    },
    /// `/quit [reason]` and its aliases (§5.3); the reason is never blank.
    Quit(Option<Text<'a>>),
    /// `/who`.
    Who,
    /// `/help`.
    Help,
    /// `/ping [token]`.
    Ping(Option<Token<'a>>),
    /// `/pong [token]`.
    Pong(Option<Token<'a>>),
    /// `/history [...]` (§16.3).
    History(HistoryQuery),
    /// `/join #room[,#room...]` (§19.3): 1 to [`JOIN_ROOMS_MAX`] rooms.
    Join(Vec<RoomName<'a>>),
    /// `/part #room [text]` (§19.3): leave one room, with a farewell.
    Part {
        room: RoomName<'a>,
        text: Option<Text<'a>>,
    },
    /// `/msg #room text` (§19.3): a public message to one room.
    RoomMsg { room: RoomName<'a>, text: Text<'a> },
    /// `/who #room` (§19.3): who is in one room.
    RoomWho(RoomName<'a>),
    /// `/rooms` (§19.3): the list of rooms.
    Rooms,
    /// `/topic #room [text]` (§19.3): ask for the topic, or set it.
    Topic {
        room: RoomName<'a>,
        text: Option<Text<'a>>,
    },
    /// `/history #room [...]` (§19.4): `/history` in one room.
    RoomHistory {
        room: RoomName<'a>,
        query: HistoryQuery,
    },
    /// `/kick #room name [text]` (§19.6): remove a member of the room.
    Kick {
        room: RoomName<'a>,
        name: Name<'a>,
        text: Option<Text<'a>>,
    },
    /// `/ban #room target` (§19.6): refuse a name or an address the room.
    Ban {
        room: RoomName<'a>,
        target: BanTarget<'a>,
    },
    /// `/unban #room target` (§19.6): take a ban back.
    Unban {
        room: RoomName<'a>,
        target: BanTarget<'a>,
    },
    /// `/op #room name` (§19.6): make a member of the room an operator.
    Op { room: RoomName<'a>, name: Name<'a> },
}

/// Whom a ban is of (§19.6): an address, or a network in CIDR form, when
/// the target reads as one; a name otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BanTarget<'a> {
    /// A name, as typed (matched by key and by shape, §3.3).
    Name(Name<'a>),
    /// An address and the length of the prefix that must match (32 or
    /// 128 for one address).
    Address { ip: std::net::IpAddr, prefix: u8 },
}

impl BanTarget<'_> {
    /// Reads `/ban`'s target: an IP address, `address/prefix`, or a name.
    pub fn parse(s: &str) -> Result<BanTarget<'_>, LineError> {
        let (ip, prefix) = s.split_once('/').map_or((s, None), |(a, p)| (a, Some(p)));
        if let Ok(ip) = ip.parse::<std::net::IpAddr>() {
            let full: u8 = if ip.is_ipv4() { 32 } else { 128 };
            let prefix = match prefix {
                None => full,
                Some(p)
                    if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    p.parse::<u8>()
                        .ok()
                        .filter(|n| *n <= full)
                        .ok_or(LineError::BadArgument)?
                }
                Some(_) => return Err(LineError::BadArgument),
            };
            return Ok(BanTarget::Address { ip, prefix });
        }
        Name::recipient(s)
            .map(BanTarget::Name)
            .map_err(|_| LineError::BadArgument)
    }

    /// Detaches from the input buffer.
    pub fn into_owned(self) -> BanTarget<'static> {
        match self {
            BanTarget::Name(n) => BanTarget::Name(n.into_owned()),
            BanTarget::Address { ip, prefix } => BanTarget::Address { ip, prefix },
        }
    }
}

impl std::fmt::Display for BanTarget<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BanTarget::Name(n) => f.write_str(n.as_str()),
            BanTarget::Address { ip, prefix } => {
                let full = if ip.is_ipv4() { 32 } else { 128 };
                // A field cannot start with `:` (§7.1): `::1` is written
                // `0::1`, the same address.
                let lead = if ip.to_string().starts_with(':') {
                    "0"
                } else {
                    ""
                };
                if *prefix == full {
                    write!(f, "{lead}{ip}")
                } else {
                    write!(f, "{lead}{ip}/{prefix}")
                }
            }
        }
    }
}

/// One line from a client that has not registered yet (§4.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeLine<'a> {
    /// Ignored (§2.3).
    Empty,
    /// A name attempt that passed NFC and the grammar: the display form.
    /// Whether it is taken is for the server to say.
    Name(Name<'static>),
    /// One of the commands allowed before registration: `Quit`, `Help`,
    /// `Ping` or `Pong`.
    Command(ClientLine<'a>),
    /// `/password text`: the room's password (§4.7), the rest of the line
    /// verbatim. Only before registration.
    Password(Text<'a>),
    /// `/features word...` (§16.5): v1.1 features the client wants, known
    /// or not. Only before registration.
    Features(Vec<Token<'a>>),
    /// `/resume name token seq` (§16.6): take back a name with the token
    /// its last `WELCOME` gave, and get what was missed after `seq`. Only
    /// before registration.
    Resume {
        name: Name<'static>,
        token: Token<'a>,
        after: u64,
    },
}

/// The commands of §5.3, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    Quit,
    Who,
    Msg,
    Say,
    Me,
    Help,
    Ping,
    Pong,
    Password,
    History,
    Features,
    Resume,
    Join,
    Part,
    Rooms,
    Topic,
    Kick,
    Ban,
    Unban,
    Op,
}

impl Command {
    fn from_name(name: &str) -> Option<Command> {
        const TABLE: &[(&str, Command)] = &[
            ("quit", Command::Quit),
            ("sair", Command::Quit),
            ("exit", Command::Quit),
            ("close", Command::Quit),
            ("who", Command::Who),
            ("msg", Command::Msg),
            ("say", Command::Say),
            ("me", Command::Me),
            ("help", Command::Help),
            ("ping", Command::Ping),
            ("pong", Command::Pong),
            ("password", Command::Password),
            ("history", Command::History),
            ("features", Command::Features),
            ("resume", Command::Resume),
            ("join", Command::Join),
            ("part", Command::Part),
            ("rooms", Command::Rooms),
            ("topic", Command::Topic),
            ("kick", Command::Kick),
            ("ban", Command::Ban),
            ("unban", Command::Unban),
            ("op", Command::Op),
        ];
        TABLE
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|&(_, c)| c)
    }

    fn allowed_before_registration(self) -> bool {
        matches!(
            self,
            Command::Quit
                | Command::Help
                | Command::Ping
                | Command::Pong
                | Command::Password
                | Command::Features
                | Command::Resume
        )
    }
}

impl<'a> ClientLine<'a> {
    /// Decodes a registered client's line (§5.1):
    ///
    /// ```abnf
    /// client-line  = empty-line / command-line / private-line / public-line
    /// command-line = "/" cmd-name [ SP cmd-args ]
    /// private-line = "@" recipient SP msg-text
    /// public-line  = public-first *safe-char
    /// ```
    pub fn parse(line: &'a [u8]) -> Result<Self, LineError> {
        Self::parse_checked(content::check_line(line)?)
    }

    /// Decodes content that already passed the §2.1/§2.5 checks (see
    /// [`LineFramer::lines`](crate::LineFramer::lines)).
    pub fn parse_checked(line: CheckedLine<'a>) -> Result<Self, LineError> {
        let s = line.as_str();
        match s.as_bytes().first() {
            None => Ok(ClientLine::Empty),
            Some(b'/') => {
                let (cmd, args) = split_command(&s[1..])?;
                command_line(cmd, args)
            }
            Some(b'@') => private_body(&s[1..]),
            Some(_) => public_text(s).map(ClientLine::Public),
        }
    }

    /// Appends the line and its LF terminator. Refuses anything the decoder
    /// would not read back as `self`.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        match self {
            ClientLine::Empty => {}
            ClientLine::Public(text) => {
                non_blank(text)?;
                if text.as_str().starts_with(['/', '@']) {
                    out.extend_from_slice(b"/say ");
                }
                out.extend_from_slice(text.as_str().as_bytes());
            }
            ClientLine::Private { to, text } => {
                non_blank(text)?;
                out.push(b'@');
                out.extend_from_slice(to.as_str().as_bytes());
                out.push(b' ');
                out.extend_from_slice(text.as_str().as_bytes());
            }
            ClientLine::Quit(reason) => {
                out.extend_from_slice(b"/quit");
                if let Some(reason) = reason {
                    non_blank(reason)?;
                    out.push(b' ');
                    out.extend_from_slice(reason.as_str().as_bytes());
                }
            }
            ClientLine::Who => out.extend_from_slice(b"/who"),
            ClientLine::Help => out.extend_from_slice(b"/help"),
            ClientLine::Ping(token) => put_token_command(out, b"/ping", token.as_ref()),
            ClientLine::Pong(token) => put_token_command(out, b"/pong", token.as_ref()),
            ClientLine::History(query) => {
                out.extend_from_slice(b"/history");
                query.encode_args(out);
            }
            ClientLine::Join(rooms) => {
                if rooms.is_empty() || rooms.len() > JOIN_ROOMS_MAX {
                    return Err(EncodeError::RoomCount);
                }
                out.extend_from_slice(b"/join ");
                for (i, room) in rooms.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(room.as_str().as_bytes());
                }
            }
            ClientLine::Part { room, text } | ClientLine::Topic { room, text } => {
                let cmd: &[u8] = match self {
                    ClientLine::Part { .. } => b"/part ",
                    _ => b"/topic ",
                };
                out.extend_from_slice(cmd);
                out.extend_from_slice(room.as_str().as_bytes());
                if let Some(text) = text {
                    non_blank(text)?;
                    out.push(b' ');
                    out.extend_from_slice(text.as_str().as_bytes());
                }
            }
            ClientLine::RoomMsg { room, text } => {
                non_blank(text)?;
                out.extend_from_slice(b"/msg ");
                out.extend_from_slice(room.as_str().as_bytes());
                out.push(b' ');
                out.extend_from_slice(text.as_str().as_bytes());
            }
            ClientLine::RoomWho(room) => {
                out.extend_from_slice(b"/who ");
                out.extend_from_slice(room.as_str().as_bytes());
            }
            ClientLine::Rooms => out.extend_from_slice(b"/rooms"),
            ClientLine::RoomHistory { room, query } => {
                out.extend_from_slice(b"/history ");
                out.extend_from_slice(room.as_str().as_bytes());
                query.encode_args(out);
            }
            ClientLine::Kick { room, name, text } => {
                out.extend_from_slice(format!("/kick {room} {name}").as_bytes());
                if let Some(text) = text {
                    non_blank(text)?;
                    out.push(b' ');
                    out.extend_from_slice(text.as_str().as_bytes());
                }
            }
            ClientLine::Ban { room, target } => {
                out.extend_from_slice(format!("/ban {room} {target}").as_bytes());
            }
            ClientLine::Unban { room, target } => {
                out.extend_from_slice(format!("/unban {room} {target}").as_bytes());
            }
            ClientLine::Op { room, name } => {
                out.extend_from_slice(format!("/op {room} {name}").as_bytes());
            }
        }
        if out.len() - start > LINE_MAX {
            out.truncate(start);
            return Err(EncodeError::TooLong(LINE_MAX));
        }
        out.push(b'\n');
        Ok(())
    }

    /// Detaches from the input buffer.
    pub fn into_owned(self) -> ClientLine<'static> {
        match self {
            ClientLine::Empty => ClientLine::Empty,
            ClientLine::Public(t) => ClientLine::Public(t.into_owned()),
            ClientLine::Private { to, text } => ClientLine::Private {
                to: to.into_owned(),
                text: text.into_owned(),
            },
            ClientLine::Quit(r) => ClientLine::Quit(r.map(Text::into_owned)),
            ClientLine::Who => ClientLine::Who,
            ClientLine::Help => ClientLine::Help,
            ClientLine::Ping(t) => ClientLine::Ping(t.map(Token::into_owned)),
            ClientLine::Pong(t) => ClientLine::Pong(t.map(Token::into_owned)),
            ClientLine::History(q) => ClientLine::History(q),
            ClientLine::Join(rooms) => {
                ClientLine::Join(rooms.into_iter().map(RoomName::into_owned).collect())
            }
            ClientLine::Part { room, text } => ClientLine::Part {
                room: room.into_owned(),
                text: text.map(Text::into_owned),
            },
            ClientLine::RoomMsg { room, text } => ClientLine::RoomMsg {
                room: room.into_owned(),
                text: text.into_owned(),
            },
            ClientLine::RoomWho(room) => ClientLine::RoomWho(room.into_owned()),
            ClientLine::Rooms => ClientLine::Rooms,
            ClientLine::Topic { room, text } => ClientLine::Topic {
                room: room.into_owned(),
                text: text.map(Text::into_owned),
            },
            ClientLine::RoomHistory { room, query } => ClientLine::RoomHistory {
                room: room.into_owned(),
                query,
            },
            ClientLine::Kick { room, name, text } => ClientLine::Kick {
                room: room.into_owned(),
                name: name.into_owned(),
                text: text.map(Text::into_owned),
            },
            ClientLine::Ban { room, target } => ClientLine::Ban {
                room: room.into_owned(),
                target: target.into_owned(),
            },
            ClientLine::Unban { room, target } => ClientLine::Unban {
                room: room.into_owned(),
                target: target.into_owned(),
            },
            ClientLine::Op { room, name } => ClientLine::Op {
                room: room.into_owned(),
                name: name.into_owned(),
            },
        }
    }
}

impl<'a> HandshakeLine<'a> {
    /// Decodes a line from an unregistered client (§4.3):
    ///
    /// ```abnf
    /// handshake-line = command-line / name-attempt
    /// name-attempt   = 1*safe-char
    /// ```
    pub fn parse(line: &'a [u8]) -> Result<Self, LineError> {
        Self::parse_checked(content::check_line(line)?)
    }

    /// Decodes content that already passed the §2.1/§2.5 checks.
    pub fn parse_checked(line: CheckedLine<'a>) -> Result<Self, LineError> {
        let s = line.as_str();
        match s.as_bytes().first() {
            None => Ok(HandshakeLine::Empty),
            Some(b'/') => {
                let (cmd, args) = split_command(&s[1..])?;
                if !cmd.allowed_before_registration() {
                    return Err(LineError::NotRegistered);
                }
                if cmd == Command::Password {
                    // The whole rest of the line, spaces and all.
                    // Blank is absent, as for every command (§5.3).
                    let raw = s[1..].split_once(' ').map_or("", |(_, rest)| rest);
                    return match args {
                        None => Err(LineError::BadArgument),
                        Some(_) => Ok(HandshakeLine::Password(Text::checked(raw))),
                    };
                }
                if cmd == Command::Features {
                    let words = args.ok_or(LineError::BadArgument)?;
                    return words
                        .split(' ')
                        .map(|w| Token::new(w).map_err(|_| LineError::BadArgument))
                        .collect::<Result<_, _>>()
                        .map(HandshakeLine::Features);
                }
                if cmd == Command::Resume {
                    let args = args.ok_or(LineError::BadArgument)?;
                    let words: Vec<&str> = args.split(' ').collect();
                    let [name, token, after] = words.as_slice() else {
                        return Err(LineError::BadArgument);
                    };
                    let name = Name::normalize(name).map_err(|_| LineError::BadArgument)?;
                    let token = Token::new(*token).map_err(|_| LineError::BadArgument)?;
                    let after = crate::history::parse_seq(after)?;
                    return Ok(HandshakeLine::Resume { name, token, after });
                }
                command_line(cmd, args).map(HandshakeLine::Command)
            }
            Some(_) => Ok(HandshakeLine::Name(Name::normalize(s)?)),
        }
    }
}

fn non_blank(text: &Text<'_>) -> Result<(), EncodeError> {
    if text.is_blank() {
        Err(EncodeError::BlankText)
    } else {
        Ok(())
    }
}

fn put_token_command(out: &mut Vec<u8>, cmd: &[u8], token: Option<&Token<'_>>) {
    out.extend_from_slice(cmd);
    if let Some(token) = token {
        out.push(b' ');
        out.extend_from_slice(token.as_str().as_bytes());
    }
}

/// `cmd-name [ SP cmd-args ]`, the part after "/". Nothing may follow the
/// name but SP or the end of the line.
fn command_parts(i: &str) -> IResult<&str, (&str, Option<&str>)> {
    (alpha1, opt(preceded(char(' '), rest))).parse(i)
}

/// Splits a command line into the known command and its non-blank arguments.
fn split_command(after_slash: &str) -> Result<(Command, Option<&str>), LineError> {
    let (left, (name, args)) = command_parts(after_slash).map_err(|_| LineError::UnknownCommand)?;
    if !left.is_empty() {
        return Err(LineError::UnknownCommand);
    }
    let cmd = Command::from_name(name).ok_or(LineError::UnknownCommand)?;
    let args = args.filter(|a| !a.bytes().all(|b| b == b' '));
    Ok((cmd, args))
}

fn command_line(cmd: Command, args: Option<&str>) -> Result<ClientLine<'_>, LineError> {
    let no_args = |line| match args {
        None => Ok(line),
        Some(_) => Err(LineError::BadArgument),
    };
    match cmd {
        Command::Quit => Ok(ClientLine::Quit(args.map(Text::checked))),
        Command::Who => match args {
            Some(room) if room.starts_with(ROOM_MARK) => Ok(ClientLine::RoomWho(one_room(room)?)),
            _ => no_args(ClientLine::Who),
        },
        Command::Help => no_args(ClientLine::Help),
        Command::Msg => match args {
            Some(body) if body.starts_with(ROOM_MARK) => room_message(body),
            _ => private_body(args.ok_or(LineError::NoRecipient)?),
        },
        Command::Join => join_rooms(args.ok_or(LineError::BadArgument)?),
        Command::Part => {
            let (room, text) = room_and_text(args.ok_or(LineError::BadArgument)?)?;
            Ok(ClientLine::Part { room, text })
        }
        Command::Topic => {
            let (room, text) = room_and_text(args.ok_or(LineError::BadArgument)?)?;
            Ok(ClientLine::Topic { room, text })
        }
        Command::Rooms => no_args(ClientLine::Rooms),
        Command::Kick => {
            let (room, rest) = room_and_rest(args.ok_or(LineError::BadArgument)?)?;
            let rest = rest.ok_or(LineError::BadArgument)?;
            let (name, text) = rest
                .split_once(' ')
                .map_or((rest, None), |(n, t)| (n, Some(t)));
            let name = Name::recipient(name).map_err(|_| LineError::BadArgument)?;
            let text = text.map(Text::checked).filter(|t| !t.is_blank());
            Ok(ClientLine::Kick { room, name, text })
        }
        Command::Ban | Command::Unban | Command::Op => {
            let (room, rest) = room_and_rest(args.ok_or(LineError::BadArgument)?)?;
            let rest = rest.ok_or(LineError::BadArgument)?;
            if rest.contains(' ') {
                return Err(LineError::BadArgument);
            }
            match cmd {
                Command::Op => Ok(ClientLine::Op {
                    room,
                    name: Name::recipient(rest).map_err(|_| LineError::BadArgument)?,
                }),
                Command::Ban => Ok(ClientLine::Ban {
                    room,
                    target: BanTarget::parse(rest)?,
                }),
                _ => Ok(ClientLine::Unban {
                    room,
                    target: BanTarget::parse(rest)?,
                }),
            }
        }
        Command::History => match args {
            Some(a) if a.starts_with(ROOM_MARK) => {
                let (room, rest) = a.split_once(' ').map_or((a, None), |(r, q)| (r, Some(q)));
                let rest = rest.filter(|q| !q.bytes().all(|b| b == b' '));
                Ok(ClientLine::RoomHistory {
                    room: one_room(room)?,
                    query: HistoryQuery::parse(rest)?,
                })
            }
            _ => HistoryQuery::parse(args).map(ClientLine::History),
        },
        Command::Say => Ok(ClientLine::Public(Text::checked(
            args.ok_or(LineError::NoText)?,
        ))),
        // An action (§5.3, §20.4): the public text `/me ` and the action,
        // the line itself with its command name in lower case.
        Command::Me => {
            let action = args.ok_or(LineError::NoText)?;
            Text::new(format!("/me {action}"))
                .map(ClientLine::Public)
                .map_err(|_| LineError::NoText)
        }
        Command::Ping => Ok(ClientLine::Ping(optional_token(args)?)),
        Command::Pong => Ok(ClientLine::Pong(optional_token(args)?)),
        // Only before registration (§4.7, §16.5); afterwards there are
        // no such commands.
        Command::Password | Command::Features | Command::Resume => Err(LineError::UnknownCommand),
    }
}

/// `recipient SP msg-text`, the part after "@" or "/msg ".
fn private_parts(i: &str) -> IResult<&str, (&str, Option<&str>)> {
    (take_till(|c| c == ' '), opt(preceded(char(' '), rest))).parse(i)
}

/// §5.2 checks, in the spec's order: recipient, text, name grammar.
fn private_body(i: &str) -> Result<ClientLine<'_>, LineError> {
    let (_, (to, text)) = private_parts(i).map_err(|_| LineError::NoRecipient)?;
    if to.is_empty() {
        return Err(LineError::NoRecipient);
    }
    let text = public_text(text.unwrap_or(""))?;
    let to = Name::recipient(to).map_err(|_| LineError::InvalidRecipient)?;
    Ok(ClientLine::Private { to, text })
}

/// One room as typed (§19.2).
fn one_room(s: &str) -> Result<RoomName<'_>, LineError> {
    RoomName::typed(s).map_err(|_| LineError::InvalidRoom)
}

/// `#room SP msg-text`, the part after `/msg ` (§19.3).
fn room_message(i: &str) -> Result<ClientLine<'_>, LineError> {
    let (room, text) = i.split_once(' ').unwrap_or((i, ""));
    let room = one_room(room)?;
    let text = public_text(text)?;
    Ok(ClientLine::RoomMsg { room, text })
}

/// `#room [SP text]`, the arguments of `/part` and `/topic`; a blank text
/// is none, as for every command (§5.3).
fn room_and_text(i: &str) -> Result<(RoomName<'_>, Option<Text<'_>>), LineError> {
    let (room, text) = i.split_once(' ').map_or((i, None), |(r, t)| (r, Some(t)));
    let text = text.map(Text::checked).filter(|t| !t.is_blank());
    Ok((one_room(room)?, text))
}

/// `#room SP rest`, the arguments of `/kick`, `/ban`, `/unban` and `/op`;
/// the rest is `None` when absent or blank.
fn room_and_rest(i: &str) -> Result<(RoomName<'_>, Option<&str>), LineError> {
    let (room, rest) = i.split_once(' ').map_or((i, None), |(r, t)| (r, Some(t)));
    let rest = rest.filter(|t| !t.bytes().all(|b| b == b' '));
    Ok((one_room(room)?, rest))
}

/// `#room *("," #room)`, the argument of `/join`: 1 to
/// [`JOIN_ROOMS_MAX`] rooms, no spaces.
fn join_rooms(i: &str) -> Result<ClientLine<'_>, LineError> {
    let rooms = i.split(',').map(one_room).collect::<Result<Vec<_>, _>>()?;
    if rooms.len() > JOIN_ROOMS_MAX {
        return Err(LineError::BadArgument);
    }
    Ok(ClientLine::Join(rooms))
}

fn optional_token(args: Option<&str>) -> Result<Option<Token<'_>>, LineError> {
    args.map(|t| Token::new(t).map_err(|_| LineError::BadArgument))
        .transpose()
}

fn public_text(s: &str) -> Result<Text<'_>, LineError> {
    let text = Text::checked(s);
    if text.is_blank() {
        Err(LineError::NoText)
    } else {
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::ErrorCode;

    fn code(line: &str) -> ErrorCode {
        ClientLine::parse(line.as_bytes()).unwrap_err().code()
    }

    fn text(s: &str) -> Text<'_> {
        Text::new(s).unwrap()
    }

    #[test]
    fn private_edge_cases() {
        assert_eq!(code("@"), ErrorCode::NoRecipient);
        assert_eq!(code("@ hi"), ErrorCode::NoRecipient);
        assert_eq!(code("@bob"), ErrorCode::NoText);
        assert_eq!(code("@bob "), ErrorCode::NoText);
        assert_eq!(code("@b!b hi"), ErrorCode::NoSuchUser);
        assert_eq!(
            ClientLine::parse(b"@bob  hi").unwrap(),
            ClientLine::Private {
                to: Name::new("bob").unwrap(),
                text: text(" hi")
            }
        );
    }

    #[test]
    fn commands_are_case_insensitive_and_strict() {
        assert_eq!(ClientLine::parse(b"/QUIT").unwrap(), ClientLine::Quit(None));
        assert_eq!(
            ClientLine::parse(b"/quit  ").unwrap(),
            ClientLine::Quit(None)
        );
        assert_eq!(
            ClientLine::parse(b"/Sair tchau").unwrap(),
            ClientLine::Quit(Some(text("tchau")))
        );
        assert_eq!(code("/"), ErrorCode::UnknownCommand);
        assert_eq!(code("/ x"), ErrorCode::UnknownCommand);
        assert_eq!(code("/quit!"), ErrorCode::UnknownCommand);
        assert_eq!(code("/who x"), ErrorCode::BadArgument);
        assert_eq!(code("/msg"), ErrorCode::NoRecipient);
        assert_eq!(code("/msg bob"), ErrorCode::NoText);
        assert_eq!(code("/ping a b"), ErrorCode::BadArgument);
        assert_eq!(
            ClientLine::parse(b"/say /quit").unwrap(),
            ClientLine::Public(text("/quit"))
        );
    }

    #[test]
    fn me_is_an_action_as_a_public_text() {
        assert_eq!(
            ClientLine::parse(b"/me waves").unwrap(),
            ClientLine::Public(text("/me waves"))
        );
        assert_eq!(
            ClientLine::parse(b"/ME waves  back").unwrap(),
            ClientLine::Public(text("/me waves  back"))
        );
        assert_eq!(code("/me"), ErrorCode::NoText);
        assert_eq!(code("/me   "), ErrorCode::NoText);
    }

    #[test]
    fn handshake_only_allows_some_commands() {
        assert_eq!(
            HandshakeLine::parse(b"/who").unwrap_err().code(),
            ErrorCode::NotRegistered
        );
        assert_eq!(
            HandshakeLine::parse(b"/msg").unwrap_err().code(),
            ErrorCode::NotRegistered
        );
        assert_eq!(
            HandshakeLine::parse(b"/bob").unwrap_err().code(),
            ErrorCode::UnknownCommand
        );
        assert_eq!(
            HandshakeLine::parse(b"/quit").unwrap(),
            HandshakeLine::Command(ClientLine::Quit(None))
        );
        assert_eq!(
            HandshakeLine::parse(b"bob smith").unwrap_err().code(),
            ErrorCode::NameInvalid
        );
    }

    #[test]
    fn encode_escapes_and_refuses() {
        let mut out = Vec::new();
        ClientLine::Public(text("@bob hi"))
            .encode(&mut out)
            .unwrap();
        assert_eq!(out, b"/say @bob hi\n");
        assert_eq!(
            ClientLine::Public(text("  ")).encode(&mut out),
            Err(EncodeError::BlankText)
        );
        let long = "x".repeat(LINE_MAX + 1);
        assert_eq!(
            ClientLine::Public(text(&long)).encode(&mut out),
            Err(EncodeError::TooLong(LINE_MAX))
        );
        assert_eq!(
            out, b"/say @bob hi\n",
            "a refused encode leaves the buffer untouched"
        );
    }
}
