//! Per-client line rate limit (spec §11): a burst of lines goes through at
//! once, then lines are taken at a steady rate. It decides only *when* the
//! next line may be handled; the connection delays reading (TCP
//! back-pressure) until then, so nothing is ever dropped or reordered.
//! The generic cell rate algorithm: one instant of state per client (the
//! time the client's budget would be back to full), so an idle client
//! pays 16 octets for it. Time comes from tokio's clock.

use std::time::Duration;

use tokio::time::Instant;

/// The limit: `burst` lines at once, then one every `interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Time between lines once the burst is spent.
    pub interval: Duration,
    /// Lines that may come back to back after a quiet spell.
    pub burst: u32,
}

impl Rate {
    /// `per_second` lines a second after a burst of `burst`; `None` when
    /// either is zero or not finite (that is, no limit).
    pub fn new(per_second: f64, burst: u32) -> Option<Rate> {
        if !(per_second.is_finite() && per_second > 0.0) || burst == 0 {
            return None;
        }
        Some(Rate {
            interval: Duration::from_secs_f64(1.0 / per_second),
            burst,
        })
    }

    /// How far ahead of now the budget may be spent.
    fn tolerance(self) -> Duration {
        self.interval * (self.burst - 1)
    }
}

/// One client's state under a [`Rate`].
#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    /// The theoretical time of the next line if lines came at exactly the
    /// rate: the budget is full again once this is in the past.
    next: Instant,
}

impl Bucket {
    /// A full budget at `now`.
    pub fn new(now: Instant) -> Bucket {
        Bucket { next: now }
    }

    /// Takes one line's worth at `now`, or says when one is available.
    pub fn take(&mut self, rate: Rate, now: Instant) -> Result<(), Instant> {
        let allowed_from = self.next.checked_sub(rate.tolerance()).unwrap_or(now);
        if allowed_from > now {
            return Err(allowed_from);
        }
        self.next = self.next.max(now) + rate.interval;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(per_second: f64, burst: u32) -> Rate {
        Rate::new(per_second, burst).unwrap_or_else(|| unreachable!())
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_goes_through_then_the_steady_rate() {
        let r = rate(5.0, 25);
        let start = Instant::now();
        let mut b = Bucket::new(start);
        for _ in 0..25 {
            assert_eq!(b.take(r, start), Ok(()));
        }
        let next = b.take(r, start).unwrap_err();
        assert_eq!(next - start, Duration::from_millis(200));
        tokio::time::advance(Duration::from_millis(199)).await;
        assert!(b.take(r, Instant::now()).is_err());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(b.take(r, Instant::now()), Ok(()));
        assert!(b.take(r, Instant::now()).is_err());
        // Ten seconds of quiet refill the burst, and no more.
        tokio::time::advance(Duration::from_secs(10)).await;
        let now = Instant::now();
        let taken = (0..100).filter(|_| b.take(r, now).is_ok()).count();
        assert_eq!(taken, 25);
    }

    #[tokio::test(start_paused = true)]
    async fn over_a_long_run_the_rate_holds() {
        let r = rate(2.0, 5);
        let mut b = Bucket::new(Instant::now());
        let mut taken = 0;
        // A client trying every 10 ms for 60 s.
        for _ in 0..6000 {
            if b.take(r, Instant::now()).is_ok() {
                taken += 1;
            }
            tokio::time::advance(Duration::from_millis(10)).await;
        }
        assert_eq!(taken, 5 + 2 * 60 - 1);
    }

    #[test]
    fn zero_or_nonsense_means_no_limit() {
        assert_eq!(Rate::new(0.0, 10), None);
        assert_eq!(Rate::new(f64::NAN, 10), None);
        assert_eq!(Rate::new(5.0, 0), None);
    }
}
