//! What Redis answers: the replies of `cluster.lua` read into typed values
//! (verdicts, the snapshot a node enters with). Pure; a reply of the
//! wrong shape is a failure, never a panic.

use std::sync::Arc;

use redis::{FromRedisValue, ParsingError, Value};

use crate::event::{Event, EventKind, Seq};
use crate::hub::cluster::{Holding, Snapshot, Verdict};
use tagarela_parser::{Name, Text, Timestamp};

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

/// A kept public message, as the history stream holds it: its id
/// (`SEQ-0`) and its fields (`a` time, `f` sender, `t` text).
type Kept = (String, Vec<(String, String)>);

/// `tagarela_enter`'s reply: `[seq, [name, node, reg, since, ...],
/// [[id, [field, value, ...]], ...]]` (history newest first).
impl FromRedisValue for Snapshot {
    fn from_redis_value(value: Value) -> Result<Snapshot, ParsingError> {
        let bad = |what: &str| ParsingError::from(format!("an entry snapshot: {what}"));
        let (seq, names, history): (u64, Vec<Listed>, Vec<Kept>) = redis::from_redis_value(value)?;
        let mut snapshot = Snapshot {
            seq: Seq(seq),
            ..Snapshot::default()
        };
        // Each name comes with its node and registration, which a replica
        // does not need (its own clients' come back with their joins).
        for (name, _node, _reg, since) in names {
            snapshot.names.push(Holding {
                name: Name::normalize(&name).map_err(|_| bad("a name"))?,
                since: Seq(since),
            });
        }
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
            snapshot
                .history
                .push(Arc::new(Event::new(Seq(seq), at, kind)));
        }
        Ok(snapshot)
    }
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
        let reply = Value::Array(vec![
            bulk("12"),
            strings(&["Ana", "n1.x.1", "3", "7", "Bia", "n2.y.1", "1", "9"]),
            Value::Array(vec![Value::Array(vec![
                bulk("11-0"),
                strings(&["a", "1000", "f", "Ana", "t", "hi: there"]),
            ])]),
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
        assert_eq!(snapshot.history.len(), 1);
        assert_eq!(snapshot.history[0].seq, Seq(11));
        for bad in [
            Value::Nil,
            Value::Array(vec![
                bulk("12"),
                strings(&["Ana", "n1", "3"]),
                Value::Array(vec![]),
            ]),
            Value::Array(vec![bulk("x"), Value::Array(vec![]), Value::Array(vec![])]),
            Value::Array(vec![
                bulk("12"),
                Value::Array(vec![]),
                Value::Array(vec![Value::Array(vec![
                    bulk("11-0"),
                    strings(&["f", "Ana"]),
                ])]),
            ]),
        ] {
            assert!(Snapshot::from_redis_value(bad).is_err());
        }
    }
}
