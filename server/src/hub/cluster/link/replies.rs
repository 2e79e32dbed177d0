//! What Redis answers: the replies of `cluster.lua` read into typed values
//! (verdicts, the snapshot a node enters with). Pure; a reply of the
//! wrong shape is a failure, never a panic.

use std::sync::Arc;

use redis::{FromRedisValue, ParsingError, Value};

use crate::event::{Event, EventKind, Seq};
use crate::hub::cluster::{Holding, RoomCopy, Snapshot, Verdict};
use crate::hub::room::RoomSettings;
use tagarela_parser::{BanTarget, Name, RoomName, Text, Timestamp};

/// What a function's reply says (see `cluster.lua`); a reply of another
/// shape is [`Verdict::Failed`], never an error.
impl FromRedisValue for Verdict {
    fn from_redis_value(value: Value) -> Result<Verdict, ParsingError> {
        Ok(match value {
            Value::Int(1) => Verdict::Done,
            Value::Int(0) => Verdict::NotHeld,
            Value::Int(-1) => Verdict::Absent,
            Value::Array(items) => {
                let words: Vec<String> = redis::from_redis_value(Value::Array(items))?;
                let holder = || words.get(1).cloned().unwrap_or_default();
                match words.first().map(String::as_str) {
                    Some("ok" | "moved") => Verdict::Done,
                    Some("taken") => Verdict::Taken(holder()),
                    Some("looks") => Verdict::LooksLike(holder()),
                    Some("token") => Verdict::Token,
                    Some("fenced") => Verdict::Fenced,
                    Some("in") => Verdict::Done,
                    Some(
                        word @ ("no-such-room" | "not-in-room" | "not-operator" | "no-member"
                        | "too-many-rooms" | "room-full" | "banned" | "no-more-rooms"
                        | "ban-list-full"),
                    ) => Verdict::RoomRefused(word.to_owned()),
                    _ => Verdict::Failed,
                }
            }
            _ => Verdict::Failed,
        })
    }
}

/// What a function's reply says, whatever its shape.
pub(super) fn verdict(value: &Value) -> Verdict {
    Verdict::from_redis_value_ref(value).unwrap_or(Verdict::Failed)
}

/// A name held, as `tagarela_enter` lists it: name, node, registration
/// and where its holding began.
type Listed = (String, String, String, u64);

/// A kept public message, as a history stream holds it: its id (`SEQ-0`)
/// and its fields (`a` time, `f` sender, `t` text).
type Kept = (String, Vec<(String, String)>);

/// A room, as `tagarela_enter` gives it: name, the topic's number, time,
/// setter and text (empty if none), members, operators, bans, the latest
/// kept messages (newest first), and the number it was made at.
type Listing = (
    String,
    String,
    String,
    String,
    String,
    Vec<String>,
    Vec<String>,
    Vec<String>,
    Vec<Kept>,
    u64,
);

/// The rooms' bounds as the cluster keeps them: the default room, rooms
/// per client, rooms, members per room.
type Bounds = (String, usize, usize, usize);

fn bad(what: &str) -> ParsingError {
    ParsingError::from(format!("an entry snapshot: {what}"))
}

/// `tagarela_enter`'s reply: `[seq, [name, node, reg, since, ...],
/// [room, ...], [default, per_client, max, members_max]]`.
impl FromRedisValue for Snapshot {
    fn from_redis_value(value: Value) -> Result<Snapshot, ParsingError> {
        let (seq, names, rooms, bounds): (u64, Vec<Listed>, Vec<Listing>, Bounds) =
            redis::from_redis_value(value)?;
        let mut snapshot = Snapshot {
            seq: Seq(seq),
            ..Snapshot::default()
        };
        // Each name comes with its node and registration, which a replica
        // does not need (its own clients' come back with their joins).
        for (name, _node, _reg, since) in names {
            snapshot.names.push(Holding {
                name: a_name(&name)?,
                since: Seq(since),
            });
        }
        for listing in rooms {
            snapshot.rooms.push(room_copy(listing)?);
        }
        let (default, per_client, max, members_max) = bounds;
        snapshot.settings = Some(RoomSettings {
            default: RoomName::normalize(&default).map_err(|_| bad("the default room"))?,
            per_client,
            max,
            members_max,
        });
        Ok(snapshot)
    }
}

fn a_name(s: &str) -> Result<Name<'static>, ParsingError> {
    Name::normalize(s).map_err(|_| bad("a name"))
}

/// One room of the snapshot.
fn room_copy(listing: Listing) -> Result<RoomCopy, ParsingError> {
    let (name, tseq, tat, tby, ttext, members, operators, bans, history, born) = listing;
    let name = RoomName::normalize(&name).map_err(|_| bad("a room"))?;
    let topic = match tseq.as_str() {
        "" => None,
        seq => {
            let seq = seq.parse().map_err(|_| bad("a topic"))?;
            let at = tat
                .parse()
                .ok()
                .and_then(Timestamp::from_unix_ms)
                .ok_or_else(|| bad("a topic's time"))?;
            let by = a_name(&tby)?;
            let text = Text::new(ttext).map_err(|_| bad("a topic"))?;
            let kind = EventKind::Topic { by, text };
            Some(Arc::new(Event::new_in(
                Seq(seq),
                at,
                Some(name.clone()),
                kind,
            )))
        }
    };
    let members = members
        .iter()
        .map(|m| a_name(m))
        .collect::<Result<_, _>>()?;
    let operators = operators
        .iter()
        .map(|m| a_name(m))
        .collect::<Result<_, _>>()?;
    let bans = bans
        .iter()
        .map(|b| {
            BanTarget::parse(b)
                .map(BanTarget::into_owned)
                .map_err(|_| bad("a ban"))
        })
        .collect::<Result<_, _>>()?;
    let mut kept = Vec::with_capacity(history.len());
    for (id, fields) in history {
        let seq = id.split('-').next().and_then(|s| s.parse().ok());
        let (mut at, mut from, mut body) = (None, None, None);
        for (k, v) in fields {
            match k.as_str() {
                "a" => at = v.parse::<u64>().ok(),
                "f" => from = Some(v),
                "t" => body = Some(v),
                _ => {}
            }
        }
        let at = at
            .and_then(Timestamp::from_unix_ms)
            .ok_or_else(|| bad("a time"))?;
        let from = from.and_then(|f| Name::normalize(&f).ok());
        let text = body.and_then(|t| Text::new(t).ok());
        let (Some(seq), Some(from), Some(text)) = (seq, from, text) else {
            return Err(bad("a message"));
        };
        let kind = EventKind::Public { from, text };
        kept.push(Arc::new(Event::new_in(
            Seq(seq),
            at,
            Some(name.clone()),
            kind,
        )));
    }
    Ok(RoomCopy {
        name,
        topic,
        members,
        operators,
        bans,
        history: kept,
        born: Seq(born),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_read_as_verdicts() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        assert_eq!(verdict(&Value::Int(1)), Verdict::Done);
        assert_eq!(verdict(&Value::Int(-1)), Verdict::Absent);
        assert_eq!(
            verdict(&Value::Array(vec![bulk("taken"), bulk("Ana")])),
            Verdict::Taken("Ana".to_owned())
        );
        assert_eq!(
            verdict(&Value::Array(vec![bulk("fenced")])),
            Verdict::Fenced
        );
        assert_eq!(verdict(&Value::Nil), Verdict::Failed);
    }

    /// `tagarela_enter`'s reply as Redis gives it (bulk strings, history
    /// newest first) reads into a snapshot; one of another shape is an
    /// error, never a panic.
    #[test]
    fn an_entry_reply_reads_as_a_snapshot() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let strings = |items: &[&str]| Value::Array(items.iter().map(|s| bulk(s)).collect());
        let room = |name: &str, topic: &[&str], members: &[&str], kept: Value| {
            let mut items = vec![bulk(name)];
            items.extend(topic.iter().map(|s| bulk(s)));
            items.push(strings(members));
            items.push(strings(&members[..1]));
            items.push(strings(&["Zed", "10.0.0.0/8"]));
            items.push(kept);
            items.push(bulk("3"));
            Value::Array(items)
        };
        let bounds = || strings(&["#general", "20", "1000", "500"]);
        let reply = Value::Array(vec![
            bulk("12"),
            strings(&["Ana", "n1.x.1", "3", "7", "Bia", "n2.y.1", "1", "9"]),
            Value::Array(vec![
                room(
                    "#general",
                    &["", "", "", ""],
                    &["Ana", "Bia"],
                    Value::Array(vec![Value::Array(vec![
                        bulk("11-0"),
                        strings(&["a", "1000", "f", "Ana", "t", "hi: there"]),
                    ])]),
                ),
                room(
                    "#casa",
                    &["10", "900", "Bia", "our place"],
                    &["Bia"],
                    Value::Array(vec![]),
                ),
            ]),
            bounds(),
        ]);
        let snapshot = Snapshot::from_redis_value(reply).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(snapshot.seq, Seq(12));
        let names: Vec<(String, Seq)> = snapshot
            .names
            .iter()
            .map(|h| (h.name.to_string(), h.since))
            .collect();
        assert_eq!(
            names,
            [("Ana".to_owned(), Seq(7)), ("Bia".to_owned(), Seq(9))]
        );
        let general = &snapshot.rooms[0];
        assert_eq!(general.history.len(), 1);
        assert_eq!(general.history[0].seq, Seq(11));
        assert_eq!(general.members.len(), 2);
        assert_eq!(general.bans.len(), 2);
        let casa = &snapshot.rooms[1];
        assert_eq!(casa.topic.as_ref().map(|t| t.seq), Some(Seq(10)));
        assert_eq!(snapshot.settings.as_ref().map(|s| s.members_max), Some(500));
        for bad in [
            Value::Nil,
            Value::Array(vec![
                bulk("12"),
                strings(&["Ana", "n1", "3"]),
                Value::Array(vec![]),
                bounds(),
            ]),
            Value::Array(vec![
                bulk("x"),
                Value::Array(vec![]),
                Value::Array(vec![]),
                bounds(),
            ]),
            Value::Array(vec![
                bulk("12"),
                Value::Array(vec![]),
                Value::Array(vec![room(
                    "#general",
                    &["", "", "", ""],
                    &["Ana"],
                    Value::Array(vec![Value::Array(vec![
                        bulk("11-0"),
                        strings(&["f", "Ana"]),
                    ])]),
                )]),
                bounds(),
            ]),
            Value::Array(vec![
                bulk("12"),
                Value::Array(vec![]),
                Value::Array(vec![room(
                    "general",
                    &["", "", "", ""],
                    &["Ana"],
                    Value::Array(vec![]),
                )]),
                bounds(),
            ]),
        ] {
            assert!(Snapshot::from_redis_value(bad).is_err());
        }
    }
}
