//! The room's memory of its recent public messages (spec §16): what a
//! newcomer is replayed and what `/history` pages through, bounded by the
//! same retention as the history store, which fills it at start. Kept in
//! the hub, under the hub's lock, so a replay and live delivery can never
//! overlap or leave a gap. Plain data structure: no I/O, no clock of its
//! own (callers pass the time).

use std::collections::VecDeque;
use std::sync::Arc;

use tagarela_parser::{HistoryQuery, Timestamp};

use crate::event::Event;
use crate::store::history::Retention;

/// Recent public messages, oldest first, in sequence order.
#[derive(Debug)]
pub struct Recent {
    /// The messages; at most `retention.messages`.
    messages: VecDeque<Arc<Event>>,
    /// What is kept.
    retention: Retention,
}

impl Recent {
    /// Empty, keeping what `retention` says.
    pub fn new(retention: Retention) -> Recent {
        Recent {
            messages: VecDeque::new(),
            retention,
        }
    }

    /// What `/history` asks (§16.3), after dropping what has expired:
    /// at most its count, or `default`.
    pub fn answer(&mut self, query: &HistoryQuery, default: usize) -> Vec<Arc<Event>> {
        self.expire(crate::event::wall_clock());
        self.query(query, query.count_or(default))
    }

    /// An empty memory that keeps what this one does, at most `messages`
    /// (for a new room, §19.4).
    pub fn like(&self, messages: usize) -> Recent {
        Recent::new(Retention {
            messages: self.retention.messages.min(messages),
            age: self.retention.age,
        })
    }

    /// Forgets every message (the room is being loaded anew).
    pub fn clear(&mut self) {
        self.messages.clear();
    }

    /// Adds a message numbered above every one held.
    pub fn push(&mut self, event: Arc<Event>, now: Timestamp) {
        if self.retention.messages == 0 {
            return;
        }
        while self.messages.len() >= self.retention.messages {
            self.messages.pop_front();
        }
        self.messages.push_back(event);
        self.expire(now);
    }

    /// Drops messages older than the retention's age.
    pub fn expire(&mut self, now: Timestamp) {
        let cutoff = self.retention.cutoff_ms(now);
        while self
            .messages
            .front()
            .is_some_and(|e| e.at.unix_ms() < cutoff)
        {
            self.messages.pop_front();
        }
    }

    /// The latest `n`, oldest first.
    pub fn latest(&self, n: usize) -> Vec<Arc<Event>> {
        let skip = self.messages.len().saturating_sub(n);
        self.messages.iter().skip(skip).cloned().collect()
    }

    /// Where `at` falls among the kept messages, as a number to page
    /// from: the number of the first stamped at `at` or later (`after`
    /// false: `Before` it gives those stamped before `at`), or later than
    /// `at` (`after` true: `After` one less gives those stamped after
    /// it); one past the newest kept if there is none.
    pub fn seq_at(&self, at: Timestamp, after: bool) -> u64 {
        let i = self
            .messages
            .partition_point(|e| if after { e.at <= at } else { e.at < at });
        match self.messages.get(i) {
            Some(e) => e.seq.0,
            None => self
                .messages
                .back()
                .map_or(1, |e| e.seq.0.saturating_add(1)),
        }
    }

    /// What `query` asks for, at most `count`, oldest first.
    pub fn query(&self, query: &HistoryQuery, count: usize) -> Vec<Arc<Event>> {
        match *query {
            HistoryQuery::Latest { .. } => self.latest(count),
            HistoryQuery::Before { seq, .. } => {
                let end = self.messages.partition_point(|e| e.seq.0 < seq);
                let start = end.saturating_sub(count);
                self.messages.range(start..end).cloned().collect()
            }
            HistoryQuery::After { seq, .. } => {
                let start = self.messages.partition_point(|e| e.seq.0 <= seq);
                let end = (start + count).min(self.messages.len());
                self.messages.range(start..end).cloned().collect()
            }
        }
    }

    /// How many are held.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.messages.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventKind, Seq};
    use std::time::Duration;
    use tagarela_parser::{Name, Text};

    fn at(ms: u64) -> Timestamp {
        Timestamp::from_unix_ms(ms).unwrap()
    }

    fn msg(seq: u64, ms: u64) -> Arc<Event> {
        Arc::new(Event::new(
            Seq(seq),
            at(ms),
            EventKind::Public {
                from: Name::new("ana").unwrap().into_owned(),
                text: Text::new("hi").unwrap().into_owned(),
            },
        ))
    }

    fn seqs(events: &[Arc<Event>]) -> Vec<u64> {
        events.iter().map(|e| e.seq.0).collect()
    }

    fn keeping(messages: usize) -> Recent {
        Recent::new(Retention {
            messages,
            age: None,
        })
    }

    #[test]
    fn holds_the_newest_up_to_the_count() {
        let mut r = keeping(3);
        for seq in [2, 4, 6, 8, 10] {
            r.push(msg(seq, 0), at(0));
        }
        assert_eq!(r.len(), 3);
        assert_eq!(seqs(&r.latest(50)), [6, 8, 10]);
        assert_eq!(seqs(&r.latest(2)), [8, 10]);
        assert!(r.latest(0).is_empty());
    }

    #[test]
    fn pages_before_and_after_a_number_even_one_not_held() {
        let mut r = keeping(100);
        for seq in [2, 4, 6, 8, 10] {
            r.push(msg(seq, 0), at(0));
        }
        let before = |seq, n| seqs(&r.query(&HistoryQuery::Before { seq, count: None }, n));
        let after = |seq, n| seqs(&r.query(&HistoryQuery::After { seq, count: None }, n));
        assert_eq!(before(8, 2), [4, 6]);
        assert_eq!(before(7, 10), [2, 4, 6]);
        assert_eq!(before(2, 10), Vec::<u64>::new());
        assert_eq!(after(4, 2), [6, 8]);
        assert_eq!(after(5, 10), [6, 8, 10]);
        assert_eq!(after(0, 1), [2]);
        assert_eq!(after(10, 5), Vec::<u64>::new());
    }

    #[test]
    fn old_messages_expire() {
        let mut r = Recent::new(Retention {
            messages: 100,
            age: Some(Duration::from_secs(60)),
        });
        r.push(msg(1, 0), at(0));
        r.push(msg(2, 30_000), at(30_000));
        r.push(msg(3, 70_000), at(70_000));
        assert_eq!(seqs(&r.latest(10)), [2, 3]);
        r.expire(at(95_000));
        assert_eq!(seqs(&r.latest(10)), [3]);
    }

    #[test]
    fn keeping_none_holds_none() {
        let mut r = keeping(0);
        r.push(msg(1, 0), at(0));
        assert_eq!(r.len(), 0);
    }
}
