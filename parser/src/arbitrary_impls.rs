//! `Arbitrary` for the field types, for structure-aware fuzzing (feature
//! `arbitrary`). Generated values are always valid: invalid raw material is
//! repaired or replaced, never passed through, so every generated line is one
//! the encoder must accept.

use arbitrary::{Arbitrary, Result, Unstructured};

use crate::client_line::{BanTarget, ClientLine};
use crate::limits::{NAME_MAX, TOKEN_MAX};
use crate::name::Name;
use crate::room::RoomName;
use crate::server_line::ServerLine;
use crate::text::{Text, Token};
use crate::timestamp::Timestamp;

/// Characters that exercise the grammar: ASCII, the name punctuation,
/// combining marks, wide and astral letters, and display-confusing text.
const ALPHABET: &[char] = &[
    'a', 'Z', '0', '_', '-', '.', ' ', ':', '@', '/', 'ã', 'ß', 'ﬁ', 'Σ', 'ς', '小', '𝒜',
    '\u{0303}', '\u{202e}', '\u{200d}', '\u{a0}', '😀',
];

fn pick_string(u: &mut Unstructured<'_>, max: usize) -> Result<String> {
    let len = u.int_in_range(0..=max)?;
    let mut s = String::new();
    for _ in 0..len {
        if u.ratio(3, 4)? {
            s.push(*u.choose(ALPHABET)?);
        } else {
            let c = char::arbitrary(u)?;
            if !c.is_control() {
                s.push(c);
            }
        }
    }
    Ok(s)
}

impl<'a> Arbitrary<'a> for Text<'static> {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let s = pick_string(u, 64)?;
        Ok(Text::new(s).unwrap_or_else(|_| Text::new("x").unwrap_or_else(|_| unreachable!())))
    }
}

/// Message text: never blank.
fn message_text(u: &mut Unstructured<'_>) -> Result<Text<'static>> {
    let mut s = pick_string(u, 64)?;
    if s.bytes().all(|b| b == b' ') {
        s.push('m');
    }
    Ok(Text::new(s).unwrap_or_else(|_| unreachable!()))
}

impl<'a> Arbitrary<'a> for Name<'static> {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let raw = pick_string(u, NAME_MAX)?;
        // Keep only name characters; fall back to a plain name.
        let kept: String = raw
            .chars()
            .filter(|c| Name::new(c.to_string()).is_ok() || matches!(c, '-' | '.'))
            .collect();
        Ok(Name::new(kept).unwrap_or_else(|_| Name::new("n").unwrap_or_else(|_| unreachable!())))
    }
}

impl<'a> Arbitrary<'a> for RoomName<'static> {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let name = Name::arbitrary(u)?;
        Ok(RoomName::new(format!("#{name}"))
            .unwrap_or_else(|_| RoomName::new("#r").unwrap_or_else(|_| unreachable!())))
    }
}

/// A ban's target: an address (a whole one, or a network), or a name that
/// does not read as an address (which would be decoded as one).
fn ban_target(u: &mut Unstructured<'_>) -> Result<BanTarget<'static>> {
    Ok(if u.arbitrary()? {
        let (ip, full) = if u.arbitrary()? {
            (
                std::net::IpAddr::V4(std::net::Ipv4Addr::from(u.arbitrary::<u32>()?)),
                32,
            )
        } else {
            (
                std::net::IpAddr::V6(std::net::Ipv6Addr::from(u.arbitrary::<u128>()?)),
                128,
            )
        };
        BanTarget::Address {
            ip,
            prefix: u.int_in_range(0..=full)?,
        }
    } else {
        let name = Name::arbitrary(u)?;
        if name.as_str().parse::<std::net::IpAddr>().is_ok() {
            BanTarget::Name(Name::new("n").unwrap_or_else(|_| unreachable!()))
        } else {
            BanTarget::Name(name)
        }
    })
}

/// Text that is absent or not blank, as a command's optional text is.
fn optional_text(u: &mut Unstructured<'_>) -> Result<Option<Text<'static>>> {
    Ok(if u.arbitrary()? {
        Some(message_text(u)?)
    } else {
        None
    })
}

fn history_query(u: &mut Unstructured<'_>) -> Result<crate::HistoryQuery> {
    let count = if u.arbitrary()? {
        Some(u.int_in_range(1..=crate::limits::HISTORY_PAGE_MAX as u16)?)
    } else {
        None
    };
    Ok(match u.int_in_range(0..=2)? {
        0 => crate::HistoryQuery::Latest { count },
        1 => crate::HistoryQuery::Before {
            seq: u.arbitrary()?,
            count,
        },
        _ => crate::HistoryQuery::After {
            seq: u.arbitrary()?,
            count,
        },
    })
}

impl<'a> Arbitrary<'a> for Token<'static> {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let len = u.int_in_range(1..=TOKEN_MAX)?;
        let mut s = String::with_capacity(len);
        for _ in 0..len {
            let b = u.int_in_range(0x21u8..=0x7e)?;
            s.push(if b == b':' { '!' } else { char::from(b) });
        }
        Ok(Token::new(s).unwrap_or_else(|_| unreachable!()))
    }
}

impl<'a> Arbitrary<'a> for Timestamp {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let ms = u.int_in_range(0..=Timestamp::MAX.unix_ms())?;
        Ok(Timestamp::from_unix_ms(ms).unwrap_or(Timestamp::MAX))
    }
}

impl<'a> Arbitrary<'a> for ClientLine<'static> {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(match u.int_in_range(0..=19)? {
            0 => ClientLine::Empty,
            1 => ClientLine::Public(message_text(u)?),
            2 => ClientLine::Private {
                to: Name::arbitrary(u)?,
                text: message_text(u)?,
            },
            3 => ClientLine::Quit(if u.arbitrary()? {
                Some(message_text(u)?)
            } else {
                None
            }),
            4 => ClientLine::Who,
            5 => ClientLine::Help,
            6 => ClientLine::Ping(u.arbitrary()?),
            7 => ClientLine::Pong(u.arbitrary()?),
            8 => ClientLine::History(history_query(u)?),
            9 => {
                let n = u.int_in_range(1..=crate::JOIN_ROOMS_MAX)?;
                let rooms = (0..n)
                    .map(|_| RoomName::arbitrary(u))
                    .collect::<Result<_>>()?;
                ClientLine::Join(rooms)
            }
            10 => ClientLine::Part {
                room: u.arbitrary()?,
                text: optional_text(u)?,
            },
            11 => ClientLine::RoomMsg {
                room: u.arbitrary()?,
                text: message_text(u)?,
            },
            12 => ClientLine::RoomWho(u.arbitrary()?),
            13 => ClientLine::Rooms,
            14 => ClientLine::Topic {
                room: u.arbitrary()?,
                text: optional_text(u)?,
            },
            15 => ClientLine::RoomHistory {
                room: u.arbitrary()?,
                query: history_query(u)?,
            },
            16 => ClientLine::Kick {
                room: u.arbitrary()?,
                name: u.arbitrary()?,
                text: optional_text(u)?,
            },
            17 => ClientLine::Ban {
                room: u.arbitrary()?,
                target: ban_target(u)?,
            },
            18 => ClientLine::Unban {
                room: u.arbitrary()?,
                target: ban_target(u)?,
            },
            _ => ClientLine::Op {
                room: u.arbitrary()?,
                name: u.arbitrary()?,
            },
        })
    }
}

/// One of the event lines (§7.1), as `SEQ` may carry.
fn event_line(u: &mut Unstructured<'_>) -> Result<ServerLine<'static>> {
    Ok(match u.int_in_range(0..=4)? {
        4 => ServerLine::Topic {
            at: u.arbitrary()?,
            by: u.arbitrary()?,
            text: message_text(u)?,
        },
        0 => ServerLine::Join {
            at: u.arbitrary()?,
            name: u.arbitrary()?,
        },
        1 => ServerLine::Leave {
            at: u.arbitrary()?,
            name: u.arbitrary()?,
            reason: u.arbitrary()?,
            text: u.arbitrary()?,
        },
        2 => ServerLine::Msg {
            at: u.arbitrary()?,
            from: u.arbitrary()?,
            text: message_text(u)?,
        },
        _ => ServerLine::Priv {
            at: u.arbitrary()?,
            from: u.arbitrary()?,
            to: u.arbitrary()?,
            text: message_text(u)?,
        },
    })
}

/// One of the lines `IN` may carry (§19.3).
fn room_line(u: &mut Unstructured<'_>) -> Result<ServerLine<'static>> {
    Ok(match u.int_in_range(0..=8)? {
        0 => ServerLine::Seq {
            seq: u.arbitrary()?,
            event: Box::new(match event_line(u)? {
                // A private message is in no room (§19.3).
                ServerLine::Priv { at, from, text, .. } => ServerLine::Msg { at, from, text },
                event => event,
            }),
        },
        1 => ServerLine::Hist {
            seq: u.arbitrary()?,
            at: u.arbitrary()?,
            from: u.arbitrary()?,
            text: message_text(u)?,
        },
        2 => ServerLine::HistEnd {
            count: u.arbitrary()?,
        },
        3 => ServerLine::Topic {
            at: u.arbitrary()?,
            by: u.arbitrary()?,
            text: message_text(u)?,
        },
        4 => {
            let n = u.int_in_range(0..=4)?;
            let names = (0..n).map(|_| Name::arbitrary(u)).collect::<Result<_>>()?;
            ServerLine::Who { names }
        }
        5 => ServerLine::WhoEnd {
            count: u.arbitrary()?,
        },
        6 => {
            let n = u.int_in_range(0..=4)?;
            let targets = (0..n).map(|_| ban_target(u)).collect::<Result<_>>()?;
            ServerLine::Bans { targets }
        }
        7 => {
            let n = u.int_in_range(0..=4)?;
            let names = (0..n).map(|_| Name::arbitrary(u)).collect::<Result<_>>()?;
            ServerLine::Ops { names }
        }
        _ => ServerLine::Err {
            code: u.arbitrary()?,
            name: u.arbitrary()?,
            text: u.arbitrary()?,
        },
    })
}

impl<'a> Arbitrary<'a> for ServerLine<'static> {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(match u.int_in_range(0..=22)? {
            19 => ServerLine::Rooms {
                room: u.arbitrary()?,
                members: u.arbitrary()?,
                topic: u.arbitrary()?,
            },
            20 => ServerLine::RoomsEnd {
                count: u.arbitrary()?,
            },
            21 => ServerLine::Topic {
                at: u.arbitrary()?,
                by: u.arbitrary()?,
                text: message_text(u)?,
            },
            22 => ServerLine::In {
                room: u.arbitrary()?,
                line: Box::new(room_line(u)?),
            },
            0 => ServerLine::Hello {
                version: u.arbitrary()?,
                text: u.arbitrary()?,
            },
            1 => ServerLine::Welcome {
                name: u.arbitrary()?,
                online: u.arbitrary()?,
                line_max: u.arbitrary()?,
                name_max: u.arbitrary()?,
                seq: u.arbitrary()?,
                resume: u.arbitrary()?,
                text: u.arbitrary()?,
            },
            2..=5 => event_line(u)?,
            6 => {
                let n = u.int_in_range(0..=8)?;
                let names = (0..n).map(|_| Name::arbitrary(u)).collect::<Result<_>>()?;
                ServerLine::Who { names }
            }
            7 => ServerLine::WhoEnd {
                count: u.arbitrary()?,
            },
            8 => ServerLine::Pong {
                token: u.arbitrary()?,
            },
            9 => ServerLine::Ping {
                token: u.arbitrary()?,
            },
            10 => ServerLine::Help {
                text: u.arbitrary()?,
            },
            11 => ServerLine::Err {
                code: u.arbitrary()?,
                name: u.arbitrary()?,
                text: u.arbitrary()?,
            },
            12 => ServerLine::Bye {
                reason: u.arbitrary()?,
                text: u.arbitrary()?,
            },
            13 => ServerLine::Hist {
                seq: u.arbitrary()?,
                at: u.arbitrary()?,
                from: u.arbitrary()?,
                text: message_text(u)?,
            },
            14 => ServerLine::HistEnd {
                count: u.arbitrary()?,
            },
            17 => ServerLine::Resumed {
                count: u.arbitrary()?,
                gap: u.arbitrary()?,
            },
            18 => {
                let names = |u: &mut Unstructured<'a>| {
                    let n = u.int_in_range(0..=6)?;
                    (0..n)
                        .map(|_| Name::arbitrary(u))
                        .collect::<Result<Vec<_>>>()
                };
                let (joiners, leavers) = (names(u)?, names(u)?);
                // Counts never below the names given (§18).
                let more = |u: &mut Unstructured<'a>, named: usize| -> Result<u32> {
                    Ok(u32::try_from(named)
                        .unwrap_or(u32::MAX)
                        .saturating_add(u.int_in_range(0..=50_000)?))
                };
                ServerLine::Crowd {
                    at: u.arbitrary()?,
                    online: u.arbitrary()?,
                    joined: more(u, joiners.len())?,
                    left: more(u, leavers.len())?,
                    joiners,
                    leavers,
                }
            }
            15 => {
                let n = u.int_in_range(0..=4)?;
                let words = (0..n).map(|_| Token::arbitrary(u)).collect::<Result<_>>()?;
                ServerLine::Features { words }
            }
            _ => {
                let event = event_line(u)?;
                ServerLine::Seq {
                    seq: u.arbitrary()?,
                    event: Box::new(event),
                }
            }
        })
    }
}
