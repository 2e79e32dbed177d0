//! What the cluster's Redis channel carries (spec §17.2), as the replica
//! applies it: the parser's [`ChannelMessage`] (decoded there, with its
//! encoder and fuzzing) in the hub's own types, numbers as [`Seq`] and
//! registrations as [`RegId`], a leave or a message as the [`EventKind`]
//! every hub holds. Pure and I/O-free; a message that does not parse is
//! an error, never a panic (Redis is trusted, but not to the point of
//! crashing for it).

use tagarela_parser::channel::{ChannelBody, ChannelMessage};
use tagarela_parser::{BanTarget, Name, RoomName, Text, Timestamp};

pub use tagarela_parser::channel::{Arrival, Malformed};

use crate::event::{EventKind, Seq};
use crate::hub::RegId;

/// One message from the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterMessage {
    /// The event's number: one above the last for an event, the last
    /// itself for a message that is none ([`Body::is_event`]).
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
    /// `name` joined (and entered the default room); its holding began
    /// at `since` (its own join, or an earlier one if it resumed a
    /// released name, and then it is back in `back_in` too, each entered
    /// by a [`Body::Enter`] that follows).
    Join {
        name: Name<'static>,
        since: Seq,
        back_in: Vec<RoomName<'static>>,
    },
    /// A leave of the server or a private message, as every hub holds it.
    Event(EventKind),
    /// A public message in `room` (`None`: the default room).
    Public {
        room: Option<RoomName<'static>>,
        from: Name<'static>,
        text: Text<'static>,
    },
    /// `name` moved from `old_node`/`old_reg` to the message's node/reg
    /// (resumed while held, §16.6); nobody is told.
    Moved {
        name: Name<'static>,
        since: Seq,
        old_node: String,
        old_reg: RegId,
    },
    /// `name` entered `room` as `how` says, `forgot` forgotten to make
    /// place for it.
    Enter {
        name: Name<'static>,
        room: RoomName<'static>,
        how: Arrival,
        forgot: Option<RoomName<'static>>,
    },
    /// Someone left `room` (`leave` is the [`EventKind::Leave`]).
    Exit {
        room: RoomName<'static>,
        leave: EventKind,
    },
    /// `room`'s topic was set.
    Topic {
        room: RoomName<'static>,
        by: Name<'static>,
        text: Text<'static>,
    },
    /// `name` runs `room` too; nobody is told.
    Operator {
        name: Name<'static>,
        room: RoomName<'static>,
    },
    /// `room`'s bans are these now; nobody is told.
    Bans {
        room: RoomName<'static>,
        targets: Vec<BanTarget<'static>>,
    },
}

impl Body {
    /// Whether it is an event, which takes the next number (a move, an
    /// operator or bans take none).
    pub fn is_event(&self) -> bool {
        !matches!(
            self,
            Body::Moved { .. } | Body::Operator { .. } | Body::Bans { .. }
        )
    }
}

impl ClusterMessage {
    /// Reads one channel payload.
    pub fn parse(payload: &[u8]) -> Result<ClusterMessage, Malformed> {
        ChannelMessage::decode(payload).map(ClusterMessage::from)
    }
}

impl From<ChannelMessage> for ClusterMessage {
    fn from(m: ChannelMessage) -> ClusterMessage {
        let body = match m.body {
            ChannelBody::Join {
                name,
                since,
                back_in,
            } => Body::Join {
                name,
                since: Seq(since),
                back_in,
            },
            ChannelBody::Leave { name, reason, text } => {
                Body::Event(EventKind::Leave { name, reason, text })
            }
            ChannelBody::Public { from, text, room } => Body::Public { room, from, text },
            ChannelBody::Private { from, to, text } => {
                Body::Event(EventKind::Private { from, to, text })
            }
            ChannelBody::Moved {
                name,
                since,
                old_node,
                old_reg,
            } => Body::Moved {
                name,
                since: Seq(since),
                old_node: old_node.as_str().to_owned(),
                old_reg: RegId(old_reg),
            },
            ChannelBody::Enter {
                name,
                room,
                how,
                forgot,
            } => Body::Enter {
                name,
                room,
                how,
                forgot,
            },
            ChannelBody::Exit {
                name,
                room,
                reason,
                text,
            } => Body::Exit {
                room,
                leave: EventKind::Leave { name, reason, text },
            },
            ChannelBody::Topic { by, room, text } => Body::Topic { room, by, text },
            ChannelBody::Operator { name, room } => Body::Operator { name, room },
            ChannelBody::Bans { room, targets } => Body::Bans { room, targets },
        };
        ClusterMessage {
            seq: Seq(m.seq),
            at: m.at,
            node: m.node.as_str().to_owned(),
            reg: RegId(m.reg),
            body,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hub's reading of each kind: numbers and registrations typed,
    /// a leave as the event every hub holds.
    #[test]
    fn each_kind_reads_as_the_hub_holds_it() {
        let m =
            ClusterMessage::parse(b"J\n7\n1000\nn1#1\n3\nAna\n7").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((m.seq, m.node.as_str(), m.reg), (Seq(7), "n1#1", RegId(3)));
        assert!(matches!(m.body, Body::Join { since: Seq(7), .. }));
        let m = ClusterMessage::parse(b"L\n8\n1000\nn1#1\n0\nAna\nlost\nbye")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            m.body,
            Body::Event(EventKind::Leave { text: Some(_), .. })
        ));
        let m = ClusterMessage::parse(b"M\n9\n0\nn2#1\n5\nAna\n7\nn1#1\n3")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            m.body,
            Body::Moved {
                old_reg: RegId(3),
                ..
            }
        ));
        assert!(ClusterMessage::parse(b"Q\n1\n1000\nn\n1\nAna\n1").is_err());
    }
}
