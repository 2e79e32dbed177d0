//! IRCv3 `CHATHISTORY` (the `draft/chathistory` capability, spec §20.3):
//! a room's kept public messages (§16, §19.4), paged by `msgid` (an
//! event's number) or by `timestamp`, answered as a `chathistory` batch,
//! so that a modern IRC client scrolls back as the web page does with
//! `/history #room before N`. Reads the chat only through the hub's
//! history views; never changes it. Private messages are not kept (§16:
//! private by default), so a nick's history is an empty batch.

use std::sync::Arc;

use tagarela_parser::limits::HISTORY_PAGE_MAX;
use tagarela_parser::{HistoryQuery, Name, RoomName, Timestamp};

use crate::event::Event;
use crate::hub::{Hub, RoomRefusal};
use crate::wire::irc::encode::{self, Stamp};

/// Where a page starts or ends (IRCv3's message reference).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ref {
    /// `*`: now (`LATEST` only).
    Now,
    /// `msgid=N`: the event numbered N.
    Msgid(u64),
    /// `timestamp=T`.
    Time(Timestamp),
}

/// Why a `CHATHISTORY` line is refused: its `FAIL` code and words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// `INVALID_PARAMS`, `INVALID_TARGET`, `INVALID_MSGREFTYPE`, ...
    pub code: &'static str,
    /// For the person reading.
    pub why: &'static str,
}

const fn refused(code: &'static str, why: &'static str) -> Refused {
    Refused { code, why }
}

fn reference(s: &str) -> Result<Ref, Refused> {
    if s == "*" {
        return Ok(Ref::Now);
    }
    if let Some(n) = s.strip_prefix("msgid=") {
        return n.parse().map(Ref::Msgid).map_err(|_| {
            refused(
                "INVALID_MSGREFTYPE",
                "That msgid is not one of a kept message",
            )
        });
    }
    if let Some(t) = s.strip_prefix("timestamp=") {
        return Timestamp::parse(t)
            .map(Ref::Time)
            .map_err(|_| refused("INVALID_PARAMS", "A timestamp is YYYY-MM-DDThh:mm:ss.sssZ"));
    }
    Err(refused(
        "INVALID_MSGREFTYPE",
        "References are *, msgid= or timestamp=",
    ))
}

/// A page's size: 1 to [`HISTORY_PAGE_MAX`] (ISUPPORT `CHATHISTORY`);
/// more is cut to that.
fn limit(s: &str) -> Result<usize, Refused> {
    match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n.min(HISTORY_PAGE_MAX)),
        _ => Err(refused("INVALID_PARAMS", "The limit is a number from 1")),
    }
}

/// What a `CHATHISTORY` line asks for, read from its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Asked<'p> {
    /// `LATEST`, `BEFORE`, `AFTER`, `AROUND` or `BETWEEN`.
    sub: &'static str,
    /// The room or nick.
    target: &'p str,
    /// The first reference.
    from: Ref,
    /// `BETWEEN`'s second.
    to: Option<Ref>,
    /// At most this many.
    limit: usize,
}

fn asked(p: &[String]) -> Result<Asked<'_>, Refused> {
    let bad = refused("INVALID_PARAMS", "Not enough or malformed parameters");
    let sub = p.first().ok_or(bad)?.to_ascii_uppercase();
    let sub = ["LATEST", "BEFORE", "AFTER", "AROUND", "BETWEEN"]
        .into_iter()
        .find(|s| *s == sub)
        .ok_or(refused("UNKNOWN_COMMAND", "Unknown CHATHISTORY subcommand"))?;
    let target = p.get(1).ok_or(bad)?;
    let (from, to, limit_at) = if sub == "BETWEEN" {
        let to = reference(p.get(3).ok_or(bad)?)?;
        (reference(p.get(2).ok_or(bad)?)?, Some(to), 4)
    } else {
        (reference(p.get(2).ok_or(bad)?)?, None, 3)
    };
    if from == Ref::Now && sub != "LATEST" || to == Some(Ref::Now) {
        return Err(refused("INVALID_PARAMS", "* is for LATEST only"));
    }
    let limit = limit(p.get(limit_at).ok_or(bad)?)?;
    Ok(Asked {
        sub,
        target,
        from,
        to,
        limit,
    })
}

/// The kept public messages of `room` that `a` asks for, oldest first;
/// `None` if the room keeps none.
fn messages(
    hub: &dyn Hub,
    room: &RoomName<'_>,
    a: &Asked<'_>,
) -> Result<Option<Vec<Arc<Event>>>, RoomRefusal> {
    let count = u16::try_from(a.limit).unwrap_or(u16::MAX);
    let page = |query: HistoryQuery| -> Result<Option<Vec<Arc<Event>>>, RoomRefusal> {
        Ok(hub.history_in(room, &query, a.limit)?.1)
    };
    // A reference as a number: the event's own, or where a time falls
    // (`after`: the first after it, else the first at it or later).
    let number = |r: Ref, after: bool| -> Result<Option<u64>, RoomRefusal> {
        match r {
            Ref::Msgid(n) => Ok(Some(n)),
            Ref::Time(at) => hub.history_seq_at(room, at, after),
            Ref::Now => Ok(Some(u64::MAX)),
        }
    };
    let before = |seq: u64, n: u16| {
        page(HistoryQuery::Before {
            seq,
            count: Some(n),
        })
    };
    let after = |seq: u64, n: u16| {
        page(HistoryQuery::After {
            seq,
            count: Some(n),
        })
    };
    let Some(start) = number(a.from, a.sub == "AFTER" || a.sub == "LATEST")? else {
        return Ok(None);
    };
    let found = match a.sub {
        "LATEST" => {
            let latest = page(HistoryQuery::Latest { count: Some(count) })?;
            // Newer than the reference only (its number, or the first
            // after its time, and on).
            let floor = match a.from {
                Ref::Now => 0,
                Ref::Msgid(n) => n.saturating_add(1),
                Ref::Time(_) => start,
            };
            latest.map(|l| l.into_iter().filter(|e| e.seq.0 >= floor).collect())
        }
        "BEFORE" => before(start, count)?,
        "AFTER" => {
            // After a msgid: above it; after a time: from the first after it.
            let above = match a.from {
                Ref::Msgid(n) => n,
                _ => start.saturating_sub(1),
            };
            after(above, count)?
        }
        "AROUND" => {
            let half = count / 2;
            let mut around = if half == 0 {
                Vec::new()
            } else {
                before(start, half)?.unwrap_or_default()
            };
            let rest = count - u16::try_from(around.len()).unwrap_or(0);
            around.extend(after(start.saturating_sub(1), rest)?.unwrap_or_default());
            Some(around)
        }
        _ => {
            // BETWEEN: strictly between the two, from the first given.
            let Some(to) = a.to else {
                return Ok(Some(Vec::new()));
            };
            let Some(end) = number(to, false)? else {
                return Ok(None);
            };
            let first = number(a.from, false)?.unwrap_or(start);
            if first <= end {
                let low = match a.from {
                    Ref::Msgid(n) => n,
                    _ => number(a.from, true)?.unwrap_or(start).saturating_sub(1),
                };
                after(low, count)?.map(|l| l.into_iter().filter(|e| e.seq.0 < end).collect())
            } else {
                let high = first;
                let low = match to {
                    Ref::Msgid(n) => n,
                    _ => number(to, true)?.unwrap_or(0).saturating_sub(1),
                };
                before(high, count)?.map(|l| l.into_iter().filter(|e| e.seq.0 > low).collect())
            }
        }
    };
    Ok(found)
}

/// The answer to `CHATHISTORY` with parameters `p`: the page of lines
/// (with `stamp`'s tags, in a batch called `batch` if the client takes
/// batches, from `server`), or why not, with the subcommand to name in
/// the `FAIL`.
pub fn answer(
    hub: &dyn Hub,
    server: &str,
    p: &[String],
    stamp: Stamp,
    batch: Option<&str>,
) -> Result<Vec<u8>, (Refused, String)> {
    // The FAIL names the subcommand as one of ours, or `*`: never a
    // client's text, which could be anything.
    let named = |r: Refused| {
        let sub = p
            .first()
            .map(|s| s.to_ascii_uppercase())
            .unwrap_or_default();
        let known = ["LATEST", "BEFORE", "AFTER", "AROUND", "BETWEEN"].contains(&sub.as_str());
        (r, if known { sub } else { "*".to_owned() })
    };
    let a = asked(p).map_err(named)?;
    let sub = a.sub.to_owned();
    let mut out = Vec::new();
    let open = |out: &mut Vec<u8>, target: &str| {
        if let Some(id) = batch {
            out.extend_from_slice(
                format!(":{server} BATCH +{id} chathistory {target}\r\n").as_bytes(),
            );
        }
    };
    let close = |out: &mut Vec<u8>| {
        if let Some(id) = batch {
            out.extend_from_slice(format!(":{server} BATCH -{id}\r\n").as_bytes());
        }
    };
    if !a.target.starts_with('#') {
        // Private messages are not kept: an empty page, for a valid nick.
        if Name::recipient(a.target).is_err() {
            return Err((refused("INVALID_TARGET", "No such nick or channel"), sub));
        }
        open(&mut out, a.target);
        close(&mut out);
        return Ok(out);
    }
    let room = RoomName::typed(a.target)
        .map_err(|_| (refused("INVALID_TARGET", "No such channel"), sub.clone()))?;
    let found = messages(hub, &room, &a)
        .map_err(|_| (refused("INVALID_TARGET", "No such channel"), sub.clone()))?;
    let shown = room.as_str();
    open(&mut out, shown);
    for event in found.unwrap_or_default() {
        encode::replayed(&mut out, &event, shown, stamp, batch);
    }
    close(&mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn lines_are_read_as_ircv3_says() {
        let p = params("latest #a * 10");
        let a = asked(&p);
        assert_eq!(
            a.map(|a| (a.sub, a.target, a.from, a.limit)),
            Ok(("LATEST", "#a", Ref::Now, 10))
        );
        let p = params("BETWEEN #a msgid=3 timestamp=2026-01-01T00:00:00.000Z 5000");
        let a = asked(&p).ok();
        assert_eq!(a.as_ref().map(|a| a.from), Some(Ref::Msgid(3)));
        assert_eq!(a.as_ref().map(|a| a.limit), Some(HISTORY_PAGE_MAX));
        let code = |s: &str| asked(&params(s)).err().map(|r| r.code);
        assert_eq!(code("BEFORE #a * 10"), Some("INVALID_PARAMS"));
        assert_eq!(code("BEFORE #a msgid=x 10"), Some("INVALID_MSGREFTYPE"));
        assert_eq!(code("BEFORE #a id=3 10"), Some("INVALID_MSGREFTYPE"));
        assert_eq!(code("BEFORE #a msgid=3 0"), Some("INVALID_PARAMS"));
        assert_eq!(code("TARGETS a b 1"), Some("UNKNOWN_COMMAND"));
        assert_eq!(code("LATEST #a"), Some("INVALID_PARAMS"));
    }
}
