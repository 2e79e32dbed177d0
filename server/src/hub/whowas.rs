//! Who held a name lately (IRC's `WHOWAS`, spec §20.6): the names that
//! left this process, newest first, with what their holders said of
//! themselves (an IRC client's user and real name), in memory only and
//! bounded both in number and in age. Never written anywhere, and never
//! an address: only what `WHOIS` showed while they were here.

use std::collections::VecDeque;
use std::time::Duration;

use tagarela_parser::NameKey;
use tokio::time::Instant;

use crate::hub::Present;

/// Departures remembered at most: past it the oldest is forgotten.
pub const WHOWAS_MAX: usize = 1024;

/// How long a departure is remembered.
pub const WHOWAS_KEEP: Duration = Duration::from_secs(60 * 60);

/// The recent departures of this process's clients.
#[derive(Debug, Default)]
pub struct Whowas {
    /// Oldest first: who left, as its key, what it was, and when.
    gone: VecDeque<(NameKey, Present, Instant)>,
}

impl Whowas {
    /// `who` left at `now`.
    pub fn record(&mut self, who: Present, now: Instant) {
        self.forget_before(now);
        if self.gone.len() >= WHOWAS_MAX {
            self.gone.pop_front();
        }
        self.gone.push_back((who.name.key(), who, now));
    }

    /// The last `count` holders of `key` (all of them, if 0), newest
    /// first.
    pub fn of(&mut self, key: &NameKey, count: usize, now: Instant) -> Vec<Present> {
        self.forget_before(now);
        let count = if count == 0 { usize::MAX } else { count };
        self.gone
            .iter()
            .rev()
            .filter(|(k, _, _)| k == key)
            .take(count)
            .map(|(_, who, _)| who.clone())
            .collect()
    }

    fn forget_before(&mut self, now: Instant) {
        while self
            .gone
            .front()
            .is_some_and(|(_, _, at)| now.saturating_duration_since(*at) >= WHOWAS_KEEP)
        {
            self.gone.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tagarela_parser::Name;

    fn gone(name: &str, user: &str) -> Present {
        Present {
            name: Name::recipient(name).unwrap().into_owned(),
            profile: Some(crate::hub::Profile {
                user: user.into(),
                realname: "R".into(),
                away: None,
                bot: false,
                oper: false,
                wallops: false,
                invisible: false,
            }),
        }
    }

    fn users(found: &[Present]) -> Vec<String> {
        found
            .iter()
            .map(|p| p.profile.as_ref().unwrap().user.to_string())
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn newest_first_bounded_by_count_and_age() {
        let mut w = Whowas::default();
        let key = Name::recipient("Ana").unwrap().key();
        w.record(gone("ana", "first"), Instant::now());
        w.record(gone("bia", "other"), Instant::now());
        tokio::time::advance(Duration::from_secs(60)).await;
        w.record(gone("ANA", "second"), Instant::now());
        assert_eq!(users(&w.of(&key, 0, Instant::now())), ["second", "first"]);
        assert_eq!(users(&w.of(&key, 1, Instant::now())), ["second"]);
        // An hour after the first left, only the second is remembered.
        tokio::time::advance(WHOWAS_KEEP - Duration::from_secs(60)).await;
        assert_eq!(users(&w.of(&key, 0, Instant::now())), ["second"]);
    }

    #[test]
    fn at_most_whowas_max_are_kept() {
        let mut w = Whowas::default();
        let now = Instant::now();
        for i in 0..=WHOWAS_MAX {
            w.record(gone(&format!("n{i}"), "u"), now);
        }
        assert_eq!(w.gone.len(), WHOWAS_MAX);
        assert!(
            w.of(&Name::recipient("n0").unwrap().key(), 0, now)
                .is_empty()
        );
        assert_eq!(w.of(&Name::recipient("n1").unwrap().key(), 0, now).len(), 1);
    }
}
