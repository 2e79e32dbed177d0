//! The messages of a cluster's Redis channel (spec §17.2): one message
//! per event, as the cluster's functions publish it, decoded into typed
//! values and encoded back. Fields are separated by LF, which no name,
//! room name, text or node id can hold:
//!
//! ```text
//! J seq at node reg name since [room...]        a join (of the default
//!                                               room; a resumed holding
//!                                               lists the rooms it is back
//!                                               in, one E each after it)
//! L seq at node reg name reason text            a leave (of the server)
//! P seq at node reg from text [room]            a public message (no room:
//!                                               the default room)
//! W seq at node reg from to text                a private message
//! M seq 0 node reg name since oldnode oldreg    a name resumed while held
//! E seq at node reg name room how forgot        name enters room (how: ""
//!                                               it joined, "1" it made it
//!                                               and runs it, "r" it is
//!                                               back with a resume; forgot:
//!                                               the room forgotten to make
//!                                               place, or "")
//! X seq at node reg name room reason text       name leaves room
//! T seq at node reg by room text                a room's topic
//! O seq 0 node reg name room                    name runs room too
//! B seq 0 node reg room target...               room's bans are now these
//! ```
//!
//! `M`, `O` and `B` are not events: their seq is the last number given,
//! and nobody is told. I/O-free, like the rest of this crate. A message
//! that does not decode is an error, never a panic; what
//! [`ChannelMessage::encode`] writes, [`ChannelMessage::decode`] reads back
//! as the same value (fuzzed decode-encode-decode).

use crate::{BanTarget, LeaveReason, Name, RoomName, Text, Timestamp};

/// A channel message that does not decode: the field that is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a cluster message that does not parse: {0}")]
pub struct Malformed(&'static str);

/// A node's name on the channel: any text without LF (the field
/// separator).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeId(String);

impl NodeId {
    /// Checks `s`.
    pub fn new(s: impl Into<String>) -> Result<NodeId, Malformed> {
        let s = s.into();
        if s.contains('\n') {
            return Err(Malformed("node"));
        }
        Ok(NodeId(s))
    }

    /// The node's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One message from the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelMessage {
    /// The event's number: one above the last for an event, the last
    /// itself for a message that is none ([`ChannelBody::is_event`]).
    pub seq: u64,
    /// When Redis accepted it.
    pub at: Timestamp,
    /// The node whose client caused it (for a leave, the node that held
    /// the name).
    pub node: NodeId,
    /// That client's registration on its node.
    pub reg: u64,
    /// What happened.
    pub body: ChannelBody,
}

/// What a message says happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelBody {
    /// `name` joined (the server, and its default room); its holding
    /// began at `since` (its own join, or an earlier one if it resumed a
    /// released name).
    Join {
        name: Name<'static>,
        since: u64,
        back_in: Vec<RoomName<'static>>,
    },
    /// `name` left the default room (if it was in it) and gave its name
    /// up; `text` is its farewell (never empty: an empty field is no
    /// farewell).
    Leave {
        name: Name<'static>,
        reason: LeaveReason,
        text: Option<Text<'static>>,
    },
    /// A public message, in `room` (`None`: the default room).
    Public {
        from: Name<'static>,
        text: Text<'static>,
        room: Option<RoomName<'static>>,
    },
    /// A private message.
    Private {
        from: Name<'static>,
        to: Name<'static>,
        text: Text<'static>,
    },
    /// `name` moved from `old_node`/`old_reg` to the message's node and
    /// registration (resumed while held, §16.6); nobody is told.
    Moved {
        name: Name<'static>,
        since: u64,
        old_node: NodeId,
        old_reg: u64,
    },
    /// `name` entered `room`, as `how` says; `forgot`: the room
    /// forgotten to make place for it.
    Enter {
        name: Name<'static>,
        room: RoomName<'static>,
        how: Arrival,
        forgot: Option<RoomName<'static>>,
    },
    /// `name` left `room` (its farewell, if any: never empty).
    Exit {
        name: Name<'static>,
        room: RoomName<'static>,
        reason: LeaveReason,
        text: Option<Text<'static>>,
    },
    /// `by` set `room`'s topic.
    Topic {
        by: Name<'static>,
        room: RoomName<'static>,
        text: Text<'static>,
    },
    /// `name` is an operator of `room` from now on; nobody is told.
    Operator {
        name: Name<'static>,
        room: RoomName<'static>,
    },
    /// `room`'s bans are these from now on; nobody is told.
    Bans {
        room: RoomName<'static>,
        targets: Vec<BanTarget<'static>>,
    },
}

/// How a name came into a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// It joined a room that was there.
    Joined,
    /// It made the room, and runs it.
    Created,
    /// A resumed holding is back in a room it was in (its join listed it).
    Back,
}

impl ChannelBody {
    /// Whether it is an event (it takes the next number); `M`, `O` and
    /// `B` are not.
    pub fn is_event(&self) -> bool {
        !matches!(
            self,
            ChannelBody::Moved { .. } | ChannelBody::Operator { .. } | ChannelBody::Bans { .. }
        )
    }
}

impl ChannelMessage {
    /// Reads one channel payload.
    pub fn decode(payload: &[u8]) -> Result<ChannelMessage, Malformed> {
        let text = std::str::from_utf8(payload).map_err(|_| Malformed("not UTF-8"))?;
        let mut fields = text.split('\n').peekable();
        let kind = fields.next().ok_or(Malformed("kind"))?;
        let mut next = |what: &'static str| fields.next().ok_or(Malformed(what));
        let seq = number(next("seq")?)?;
        let at = Timestamp::from_unix_ms(number(next("at")?)?).ok_or(Malformed("at"))?;
        let node = NodeId::new(next("node")?)?;
        let reg = number(next("reg")?)?;
        let body = match kind {
            "J" => ChannelBody::Join {
                name: name(next("name")?)?,
                since: number(next("since")?)?,
                back_in: fields.by_ref().map(room).collect::<Result<_, _>>()?,
            },
            "L" => ChannelBody::Leave {
                name: name(next("name")?)?,
                reason: reason(next("reason")?)?,
                text: farewell(next("text")?)?,
            },
            "P" => ChannelBody::Public {
                from: name(next("from")?)?,
                text: text_of(next("text")?)?,
                room: match fields.next() {
                    None => None,
                    Some(r) => Some(room(r)?),
                },
            },
            "W" => ChannelBody::Private {
                from: name(next("from")?)?,
                to: name(next("to")?)?,
                text: text_of(next("text")?)?,
            },
            "M" => ChannelBody::Moved {
                name: name(next("name")?)?,
                since: number(next("since")?)?,
                old_node: NodeId::new(next("old node")?)?,
                old_reg: number(next("old reg")?)?,
            },
            "E" => ChannelBody::Enter {
                name: name(next("name")?)?,
                room: room(next("room")?)?,
                how: match next("how")? {
                    "" => Arrival::Joined,
                    "1" => Arrival::Created,
                    "r" => Arrival::Back,
                    _ => return Err(Malformed("how")),
                },
                forgot: match next("forgot")? {
                    "" => None,
                    r => Some(room(r)?),
                },
            },
            "X" => ChannelBody::Exit {
                name: name(next("name")?)?,
                room: room(next("room")?)?,
                reason: reason(next("reason")?)?,
                text: farewell(next("text")?)?,
            },
            "T" => ChannelBody::Topic {
                by: name(next("by")?)?,
                room: room(next("room")?)?,
                text: text_of(next("text")?)?,
            },
            "O" => ChannelBody::Operator {
                name: name(next("name")?)?,
                room: room(next("room")?)?,
            },
            "B" => {
                let room = room(next("room")?)?;
                let targets = fields
                    .by_ref()
                    .map(|t| {
                        BanTarget::parse(t)
                            .map(BanTarget::into_owned)
                            .map_err(|_| Malformed("ban"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                ChannelBody::Bans { room, targets }
            }
            _ => return Err(Malformed("kind")),
        };
        if fields.next().is_some() {
            return Err(Malformed("trailing fields"));
        }
        Ok(ChannelMessage {
            seq,
            at,
            node,
            reg,
            body,
        })
    }

    /// The payload, as the cluster's functions publish it.
    pub fn encode(&self) -> Vec<u8> {
        let mut fields: Vec<String> = Vec::with_capacity(10);
        let kind = match &self.body {
            ChannelBody::Join { .. } => "J",
            ChannelBody::Leave { .. } => "L",
            ChannelBody::Public { .. } => "P",
            ChannelBody::Private { .. } => "W",
            ChannelBody::Moved { .. } => "M",
            ChannelBody::Enter { .. } => "E",
            ChannelBody::Exit { .. } => "X",
            ChannelBody::Topic { .. } => "T",
            ChannelBody::Operator { .. } => "O",
            ChannelBody::Bans { .. } => "B",
        };
        fields.push(kind.to_owned());
        fields.push(self.seq.to_string());
        fields.push(self.at.unix_ms().to_string());
        fields.push(self.node.as_str().to_owned());
        fields.push(self.reg.to_string());
        let mut put = |s: &str| fields.push(s.to_owned());
        let shown = |t: &Option<Text<'static>>| t.as_ref().map_or("", Text::as_str).to_owned();
        match &self.body {
            ChannelBody::Join {
                name,
                since,
                back_in,
            } => {
                put(name.as_str());
                put(&since.to_string());
                for room in back_in {
                    put(room.as_str());
                }
            }
            ChannelBody::Leave { name, reason, text } => {
                put(name.as_str());
                put(reason.as_str());
                put(&shown(text));
            }
            ChannelBody::Public { from, text, room } => {
                put(from.as_str());
                put(text.as_str());
                if let Some(room) = room {
                    put(room.as_str());
                }
            }
            ChannelBody::Private { from, to, text } => {
                put(from.as_str());
                put(to.as_str());
                put(text.as_str());
            }
            ChannelBody::Moved {
                name,
                since,
                old_node,
                old_reg,
            } => {
                put(name.as_str());
                put(&since.to_string());
                put(old_node.as_str());
                put(&old_reg.to_string());
            }
            ChannelBody::Enter {
                name,
                room,
                how,
                forgot,
            } => {
                put(name.as_str());
                put(room.as_str());
                put(match how {
                    Arrival::Joined => "",
                    Arrival::Created => "1",
                    Arrival::Back => "r",
                });
                put(forgot.as_ref().map_or("", RoomName::as_str));
            }
            ChannelBody::Exit {
                name,
                room,
                reason,
                text,
            } => {
                put(name.as_str());
                put(room.as_str());
                put(reason.as_str());
                put(&shown(text));
            }
            ChannelBody::Topic { by, room, text } => {
                put(by.as_str());
                put(room.as_str());
                put(text.as_str());
            }
            ChannelBody::Operator { name, room } => {
                put(name.as_str());
                put(room.as_str());
            }
            ChannelBody::Bans { room, targets } => {
                put(room.as_str());
                for t in targets {
                    put(&t.to_string());
                }
            }
        }
        fields.join("\n").into_bytes()
    }
}

fn number(field: &str) -> Result<u64, Malformed> {
    field.parse().map_err(|_| Malformed("number"))
}

fn name(field: &str) -> Result<Name<'static>, Malformed> {
    Name::normalize(field).map_err(|_| Malformed("name"))
}

fn room(field: &str) -> Result<RoomName<'static>, Malformed> {
    RoomName::normalize(field).map_err(|_| Malformed("room"))
}

fn reason(field: &str) -> Result<LeaveReason, Malformed> {
    LeaveReason::from_word(field).ok_or(Malformed("reason"))
}

fn farewell(field: &str) -> Result<Option<Text<'static>>, Malformed> {
    match field {
        "" => Ok(None),
        t => text_of(t).map(Some),
    }
}

fn text_of(field: &str) -> Result<Text<'static>, Malformed> {
    Text::new(field.to_owned()).map_err(|_| Malformed("text"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn each_kind_reads_back() {
        let m = ChannelMessage::decode(b"J\n7\n1000\nn1#1\n3\nAna\n7")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((m.seq, m.node.as_str(), m.reg), (7, "n1#1", 3));
        assert!(
            matches!(m.body, ChannelBody::Join { since: 7, ref back_in, .. } if back_in.is_empty())
        );
        let m = ChannelMessage::decode(b"L\n8\n1000\nn1#1\n0\nAna\nlost\n")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            m.body,
            ChannelBody::Leave {
                reason: LeaveReason::Lost,
                text: None,
                ..
            }
        ));
        let m = ChannelMessage::decode(b"W\n9\n1000\nn2#1\n4\nBia\nAna\nhi: there")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            matches!(m.body, ChannelBody::Private { ref text, .. } if text.as_str() == "hi: there")
        );
        let m = ChannelMessage::decode(b"M\n9\n0\nn2#1\n5\nAna\n7\nn1#1\n3")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(m.body, ChannelBody::Moved { old_reg: 3, .. }));
        assert!(!m.body.is_event());
        let m = ChannelMessage::decode(b"P\n10\n1000\nn2#1\n5\nAna\nhi\n#Casa")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            matches!(m.body, ChannelBody::Public { room: Some(ref r), .. } if r.as_str() == "#Casa")
        );
        let m = ChannelMessage::decode(b"E\n11\n1000\nn2#1\n5\nAna\n#casa\n1\n#old")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            m.body,
            ChannelBody::Enter {
                how: Arrival::Created,
                forgot: Some(_),
                ..
            }
        ));
        let m = ChannelMessage::decode(b"X\n12\n1000\nn2#1\n5\nBia\n#casa\nkicked\nout")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            m.body,
            ChannelBody::Exit {
                reason: LeaveReason::Kicked,
                text: Some(_),
                ..
            }
        ));
        let m = ChannelMessage::decode(b"T\n13\n1000\nn2#1\n5\nAna\n#casa\nlet us talk")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(m.body.is_event());
        let m = ChannelMessage::decode(b"B\n13\n0\nn2#1\n5\n#casa\nBia\n10.0.0.0/8")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(m.body, ChannelBody::Bans { ref targets, .. } if targets.len() == 2));
        assert!(!m.body.is_event());
        let m = ChannelMessage::decode(b"O\n13\n0\nn2#1\n5\nBia\n#casa")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(m.body, ChannelBody::Operator { .. }));
    }

    #[test]
    fn malformed_messages_are_errors() {
        for bad in [
            &b""[..],
            b"J\n1",
            b"Q\n1\n1000\nn\n1\nAna\n1",
            b"J\nx\n1000\nn\n1\nAna\n1",
            b"J\n1\n1000\nn\n1\n\n1",
            b"J\n1\n1000\nn\n1\nAna\n1\nextra",
            b"P\n1\n1000\nn\n1\nAna",
            b"L\n1\n1000\nn\n0\nAna\ngone\n",
            b"P\n1\n1000\nn\n0\nAna\nhi\ncasa",
            b"E\n1\n1000\nn\n0\nAna\n#casa\nyes\n",
            b"E\n1\n1000\nn\n0\nAna\n#casa\n1",
            b"B\n1\n0\nn\n0\n#casa\n",
            b"O\n1\n0\nn\n0\nAna\n#casa\n#casa",
            b"J\n1\n1000\nn\n1\nAna\n1\ncasa",
            b"\xff",
        ] {
            assert!(ChannelMessage::decode(bad).is_err(), "{bad:?}");
        }
    }

    fn a_name() -> impl Strategy<Value = Name<'static>> {
        "[a-zA-Z][a-zA-Z0-9_-]{0,15}|[ãéçÅß][a-zç]{0,5}".prop_map(|s| {
            Name::normalize(&s)
                .unwrap_or_else(|_| Name::normalize("x").unwrap_or_else(|_| unreachable!()))
        })
    }

    fn a_text() -> impl Strategy<Value = Text<'static>> {
        "[^\\p{Cc}]{0,40}".prop_map(|s| {
            Text::new(s).unwrap_or_else(|_| Text::new("t").unwrap_or_else(|_| unreachable!()))
        })
    }

    fn a_node() -> impl Strategy<Value = NodeId> {
        "[a-z0-9.#-]{0,20}".prop_map(|s| NodeId::new(s).unwrap_or_else(|_| unreachable!()))
    }

    fn a_body() -> impl Strategy<Value = ChannelBody> {
        let reason = prop_oneof![
            Just(LeaveReason::Quit),
            Just(LeaveReason::Lost),
            Just(LeaveReason::Timeout),
        ];
        let room_reason = prop_oneof![
            Just(LeaveReason::Part),
            Just(LeaveReason::Kicked),
            Just(LeaveReason::Killed),
            Just(LeaveReason::Lost),
        ];
        prop_oneof![
            (
                a_name(),
                any::<u64>(),
                proptest::collection::vec(a_room(), 0..3)
            )
                .prop_map(|(name, since, back_in)| ChannelBody::Join {
                    name,
                    since,
                    back_in
                }),
            (a_name(), reason, proptest::option::of(a_text())).prop_map(|(name, reason, text)| {
                // An empty farewell is no farewell: the field cannot tell them apart.
                let text = text.filter(|t| !t.as_str().is_empty());
                ChannelBody::Leave { name, reason, text }
            }),
            (a_name(), a_text(), proptest::option::of(a_room()))
                .prop_map(|(from, text, room)| ChannelBody::Public { from, text, room }),
            (a_name(), a_name(), a_text()).prop_map(|(from, to, text)| ChannelBody::Private {
                from,
                to,
                text
            }),
            (a_name(), any::<u64>(), a_node(), any::<u64>()).prop_map(
                |(name, since, old_node, old_reg)| ChannelBody::Moved {
                    name,
                    since,
                    old_node,
                    old_reg,
                }
            ),
            (
                a_name(),
                a_room(),
                prop_oneof![
                    Just(Arrival::Joined),
                    Just(Arrival::Created),
                    Just(Arrival::Back)
                ],
                proptest::option::of(a_room())
            )
                .prop_map(|(name, room, how, forgot)| ChannelBody::Enter {
                    name,
                    room,
                    how,
                    forgot
                }),
            (
                a_name(),
                a_room(),
                room_reason,
                proptest::option::of(a_text())
            )
                .prop_map(|(name, room, reason, text)| ChannelBody::Exit {
                    name,
                    room,
                    reason,
                    text: text.filter(|t| !t.as_str().is_empty()),
                }),
            (a_name(), a_room(), a_text()).prop_map(|(by, room, text)| ChannelBody::Topic {
                by,
                room,
                text
            }),
            (a_name(), a_room()).prop_map(|(name, room)| ChannelBody::Operator { name, room }),
            (a_room(), proptest::collection::vec(a_ban(), 0..4))
                .prop_map(|(room, targets)| ChannelBody::Bans { room, targets }),
        ]
    }

    fn a_room() -> impl Strategy<Value = RoomName<'static>> {
        "#[a-z][a-z0-9_-]{0,15}|#[ãéç][a-zç]{0,5}".prop_map(|s| {
            RoomName::normalize(&s)
                .unwrap_or_else(|_| RoomName::normalize("#x").unwrap_or_else(|_| unreachable!()))
        })
    }

    fn a_ban() -> impl Strategy<Value = BanTarget<'static>> {
        prop_oneof![
            a_name().prop_map(BanTarget::Name),
            (any::<[u8; 4]>(), 0u8..=32).prop_map(|(ip, prefix)| BanTarget::Address {
                ip: std::net::IpAddr::from(ip),
                prefix
            }),
            (any::<[u8; 16]>(), 0u8..=128).prop_map(|(ip, prefix)| BanTarget::Address {
                ip: std::net::IpAddr::from(ip),
                prefix
            }),
        ]
    }

    proptest! {
        /// What is encoded decodes to the same value.
        #[test]
        fn encode_then_decode_is_the_identity(
            seq in any::<u64>(),
            at in 0u64..=253_402_300_799_999,
            node in a_node(),
            reg in any::<u64>(),
            body in a_body(),
        ) {
            let Some(at) = Timestamp::from_unix_ms(at) else {
                return Ok(());
            };
            let message = ChannelMessage { seq, at, node, reg, body };
            let decoded = ChannelMessage::decode(&message.encode());
            prop_assert_eq!(decoded, Ok(message));
        }

        /// Whatever decodes encodes back to what decodes to it again.
        #[test]
        fn decode_encode_decode_is_stable(payload in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(first) = ChannelMessage::decode(&payload) {
                prop_assert_eq!(ChannelMessage::decode(&first.encode()), Ok(first));
            }
        }
    }
}
