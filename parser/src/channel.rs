//! The messages of a cluster's Redis channel (spec §17.2): one message
//! per event, as the cluster's functions publish it, decoded into typed
//! values and encoded back. Fields are separated by LF, which no name,
//! text or node id can hold:
//!
//! ```text
//! J seq at node reg name since                  a join
//! L seq at node reg name reason text            a leave (text may be empty)
//! P seq at node reg from text                   a public message
//! W seq at node reg from to text                a private message
//! M seq 0 node reg name since oldnode oldreg    a name resumed while held
//! ```
//!
//! I/O-free, like the rest of this crate. A message that does not decode
//! is an error, never a panic; what [`ChannelMessage::encode`] writes,
//! [`ChannelMessage::decode`] reads back as the same value (fuzzed
//! decode-encode-decode).

use crate::{LeaveReason, Name, Text, Timestamp};

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
    /// itself for [`ChannelBody::Moved`].
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
    /// `name` joined; its holding began at `since` (its own join, or an
    /// earlier one if it resumed a released name).
    Join { name: Name<'static>, since: u64 },
    /// `name` left; `text` is its farewell (never empty: an empty field
    /// is no farewell).
    Leave {
        name: Name<'static>,
        reason: LeaveReason,
        text: Option<Text<'static>>,
    },
    /// A public message.
    Public {
        from: Name<'static>,
        text: Text<'static>,
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
}

impl ChannelMessage {
    /// Reads one channel payload.
    pub fn decode(payload: &[u8]) -> Result<ChannelMessage, Malformed> {
        let text = std::str::from_utf8(payload).map_err(|_| Malformed("not UTF-8"))?;
        let mut fields = text.split('\n');
        let mut next = |what: &'static str| fields.next().ok_or(Malformed(what));
        let kind = next("kind")?;
        let seq = number(next("seq")?)?;
        let at = Timestamp::from_unix_ms(number(next("at")?)?).ok_or(Malformed("at"))?;
        let node = NodeId::new(next("node")?)?;
        let reg = number(next("reg")?)?;
        let body = match kind {
            "J" => ChannelBody::Join {
                name: name(next("name")?)?,
                since: number(next("since")?)?,
            },
            "L" => ChannelBody::Leave {
                name: name(next("name")?)?,
                reason: LeaveReason::from_word(next("reason")?).ok_or(Malformed("reason"))?,
                text: match next("text")? {
                    "" => None,
                    t => Some(text_of(t)?),
                },
            },
            "P" => ChannelBody::Public {
                from: name(next("from")?)?,
                text: text_of(next("text")?)?,
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
        let (kind, rest): (&str, Vec<&str>) = match &self.body {
            ChannelBody::Join { name, .. } => ("J", vec![name.as_str()]),
            ChannelBody::Leave { name, reason, text } => (
                "L",
                vec![
                    name.as_str(),
                    reason.as_str(),
                    text.as_ref().map_or("", Text::as_str),
                ],
            ),
            ChannelBody::Public { from, text } => ("P", vec![from.as_str(), text.as_str()]),
            ChannelBody::Private { from, to, text } => {
                ("W", vec![from.as_str(), to.as_str(), text.as_str()])
            }
            ChannelBody::Moved { name, .. } => ("M", vec![name.as_str()]),
        };
        let mut fields = vec![
            kind.to_owned(),
            self.seq.to_string(),
            self.at.unix_ms().to_string(),
            self.node.as_str().to_owned(),
            self.reg.to_string(),
        ];
        fields.extend(rest.into_iter().map(str::to_owned));
        match &self.body {
            ChannelBody::Join { since, .. } => fields.push(since.to_string()),
            ChannelBody::Moved {
                since,
                old_node,
                old_reg,
                ..
            } => {
                fields.push(since.to_string());
                fields.push(old_node.as_str().to_owned());
                fields.push(old_reg.to_string());
            }
            _ => {}
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
        assert!(matches!(m.body, ChannelBody::Join { since: 7, .. }));
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
        prop_oneof![
            (a_name(), any::<u64>()).prop_map(|(name, since)| ChannelBody::Join { name, since }),
            (a_name(), reason, proptest::option::of(a_text())).prop_map(|(name, reason, text)| {
                // An empty farewell is no farewell: the field cannot tell them apart.
                let text = text.filter(|t| !t.as_str().is_empty());
                ChannelBody::Leave { name, reason, text }
            }),
            (a_name(), a_text()).prop_map(|(from, text)| ChannelBody::Public { from, text }),
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
