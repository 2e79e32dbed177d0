//! Calling Redis and reading what it answers: one bounded function
//! call, and the replies of `cluster.lua` read into typed values
//! (verdicts, the snapshot a node enters with). Pure but for [`call`]; a
//! reply of the wrong shape is a failure, never a panic.

use std::sync::Arc;

use redis::Value;
use redis::aio::ConnectionManager;
use tokio::time::timeout;

use crate::event::{Event, EventKind, Seq};
use crate::hub::cluster::{Holding, Snapshot, Verdict};

use super::CALL_TIMEOUT;

/// One function call, bounded in time.
pub(super) async fn call(
    conn: &mut ConnectionManager,
    function: &str,
    args: &[&str],
) -> Result<Value, String> {
    let mut cmd = redis::cmd("FCALL");
    cmd.arg(function).arg(0);
    for a in args {
        cmd.arg(*a);
    }
    checked(timeout(CALL_TIMEOUT, cmd.query_async::<Value>(conn)).await)
}

pub(super) fn checked<T>(
    r: Result<redis::RedisResult<T>, tokio::time::error::Elapsed>,
) -> Result<T, String> {
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".to_owned()),
    }
}

/// What a function's reply says (see `cluster.lua`).
pub(super) fn verdict(value: &Value) -> Verdict {
    match value {
        Value::Int(1) => Verdict::Done,
        Value::Int(0) => Verdict::NotHeld,
        Value::Int(-1) => Verdict::Absent,
        Value::Array(items) => {
            let word = items.first().and_then(text);
            let holder = || items.get(1).and_then(text).unwrap_or_default();
            match word.as_deref() {
                Some("ok" | "moved") => Verdict::Done,
                Some("taken") => Verdict::Taken(holder()),
                Some("looks") => Verdict::LooksLike(holder()),
                Some("token") => Verdict::Token,
                Some("fenced") => Verdict::Fenced,
                _ => Verdict::Failed,
            }
        }
        _ => Verdict::Failed,
    }
}

pub(super) fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `tagarela_enter`'s reply: `[seq, [name, node, reg, since, ...],
/// [[id, [field, value, ...]], ...]]` (history newest first).
pub(super) fn snapshot(value: &Value) -> Option<Snapshot> {
    let Value::Array(parts) = value else {
        return None;
    };
    let [seq, names, history] = parts.as_slice() else {
        return None;
    };
    let seq = Seq(text(seq)?.parse().ok()?);
    let Value::Array(names) = names else {
        return None;
    };
    let mut snapshot = Snapshot {
        seq,
        ..Snapshot::default()
    };
    // Each name comes with its node and registration, which a replica
    // does not need (its own clients' come back with their joins).
    for four in names.chunks(4) {
        let [name, _node, _reg, since] = four else {
            return None;
        };
        snapshot.names.push(Holding {
            name: tagarela_parser::Name::normalize(&text(name)?).ok()?,
            since: Seq(text(since)?.parse().ok()?),
        });
    }
    let Value::Array(history) = history else {
        return None;
    };
    for entry in history {
        let Value::Array(entry) = entry else {
            return None;
        };
        let [id, Value::Array(fields)] = entry.as_slice() else {
            return None;
        };
        let id = text(id)?;
        let seq = Seq(id.split('-').next()?.parse().ok()?);
        let (mut at, mut from, mut body) = (None, None, None);
        for pair in fields.chunks(2) {
            let [k, v] = pair else { return None };
            match text(k)?.as_str() {
                "a" => at = text(v)?.parse::<u64>().ok(),
                "f" => from = text(v),
                "t" => body = text(v),
                _ => {}
            }
        }
        let at = tagarela_parser::Timestamp::from_unix_ms(at?)?;
        let from = tagarela_parser::Name::normalize(&from?).ok()?;
        let text = tagarela_parser::Text::new(body?).ok()?;
        snapshot.history.push(Arc::new(Event::new(
            seq,
            at,
            EventKind::Public { from, text },
        )));
    }
    Some(snapshot)
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
}
