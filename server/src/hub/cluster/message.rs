//! What the cluster's Redis channel carries (spec §17.2): one message per
//! event, as `cluster.lua` publishes it, read back into typed values. Pure
//! and I/O-free; a message that does not parse is an error, never a panic
//! (Redis is trusted, but not to the point of crashing for it).

use tagarela_parser::{LeaveReason, Name, Text, Timestamp};

use crate::event::{EventKind, Seq};
use crate::hub::RegId;

/// One message from the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterMessage {
    /// The event's number: one above the last for an event, the last
    /// itself for a [`Body::Moved`].
    pub seq: Seq,
    /// When Redis accepted it (never earlier than the one before).
    pub at: Timestamp,
    /// The node whose client caused it (for a leave, the node that held
    /// the name).
    pub node: String,
    /// That client's registration on its node.
    pub reg: RegId,
    /// What happened.
    pub body: Body,
}

/// What a message says happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// `name` joined; its holding began at `since` (its own join, or an
    /// earlier one if it resumed a released name).
    Join { name: Name<'static>, since: Seq },
    /// A leave, a public or a private message, as every hub holds it.
    Event(EventKind),
    /// `name` moved from `old_node`/`old_reg` to the message's node/reg
    /// (resumed while held, §16.6); nobody is told.
    Moved {
        name: Name<'static>,
        since: Seq,
        old_node: String,
        old_reg: RegId,
    },
}

/// A channel message that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a cluster message that does not parse: {0}")]
pub struct Malformed(&'static str);

impl ClusterMessage {
    /// Reads one channel payload.
    pub fn parse(payload: &[u8]) -> Result<ClusterMessage, Malformed> {
        let text = std::str::from_utf8(payload).map_err(|_| Malformed("not UTF-8"))?;
        let mut fields = text.split('\n');
        let mut next = |what: &'static str| fields.next().ok_or(Malformed(what));
        let kind = next("kind")?;
        let seq = Seq(number(next("seq")?)?);
        let at = Timestamp::from_unix_ms(number(next("at")?)?).ok_or(Malformed("at"))?;
        let node = next("node")?.to_owned();
        let reg = RegId(number(next("reg")?)?);
        let body = match kind {
            "J" => Body::Join {
                name: name(next("name")?)?,
                since: Seq(number(next("since")?)?),
            },
            "L" => Body::Event(EventKind::Leave {
                name: name(next("name")?)?,
                reason: LeaveReason::from_word(next("reason")?).ok_or(Malformed("reason"))?,
                text: match next("text")? {
                    "" => None,
                    t => Some(text_of(t)?),
                },
            }),
            "P" => Body::Event(EventKind::Public {
                from: name(next("from")?)?,
                text: text_of(next("text")?)?,
            }),
            "W" => Body::Event(EventKind::Private {
                from: name(next("from")?)?,
                to: name(next("to")?)?,
                text: text_of(next("text")?)?,
            }),
            "M" => Body::Moved {
                name: name(next("name")?)?,
                since: Seq(number(next("since")?)?),
                old_node: next("old node")?.to_owned(),
                old_reg: RegId(number(next("old reg")?)?),
            },
            _ => return Err(Malformed("kind")),
        };
        if fields.next().is_some() {
            return Err(Malformed("trailing fields"));
        }
        Ok(ClusterMessage {
            seq,
            at,
            node,
            reg,
            body,
        })
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

    #[test]
    fn each_kind_reads_back() {
        let m =
            ClusterMessage::parse(b"J\n7\n1000\nn1#1\n3\nAna\n7").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((m.seq, m.node.as_str(), m.reg), (Seq(7), "n1#1", RegId(3)));
        assert!(matches!(m.body, Body::Join { since: Seq(7), .. }));
        let m = ClusterMessage::parse(b"L\n8\n1000\nn1#1\n0\nAna\nlost\n")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            m.body,
            Body::Event(EventKind::Leave {
                reason: LeaveReason::Lost,
                text: None,
                ..
            })
        ));
        let m = ClusterMessage::parse(b"W\n9\n1000\nn2#1\n4\nBia\nAna\nhi: there")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            matches!(m.body, Body::Event(EventKind::Private { ref text, .. }) if text.as_str() == "hi: there")
        );
        let m = ClusterMessage::parse(b"M\n9\n0\nn2#1\n5\nAna\n7\nn1#1\n3")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            m.body,
            Body::Moved {
                old_reg: RegId(3),
                ..
            }
        ));
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
            assert!(ClusterMessage::parse(bad).is_err(), "{bad:?}");
        }
    }
}
