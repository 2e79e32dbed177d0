//! Sender back-pressure (spec §11): while some client's outbound queue is
//! above the soft bound, and has been for less than the pressure window,
//! the server stops reading from registered clients, so fast senders wait
//! for a briefly slow reader instead of the reader being cut. A count of
//! the queues pressing now, and a wake-up for the senders when it drops
//! to zero, and each queue's own part ([`Presser`]): when it may press,
//! and for how long. Never blocks: senders wait on an async notification.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// The share of time one client may hold the senders back, on average
/// (spec §11.1): its budget of pressing time refills at this rate, up to
/// [`BUDGET_WINDOWS`] pressure windows. A reader that pauses 200 ms a second needs about
/// a fifth; a client that tries to freeze the room gets at most this.
pub const DUTY_PERCENT: u32 = 50;

/// The budget holds at most this many windows: a reader that falls
/// behind now and then, more than its average share for a while, keeps
/// its place; each pressing still lasts one window at most.
pub const BUDGET_WINDOWS: u32 = 3;

/// One queue's part in the back-pressure.
#[derive(Debug, Default)]
pub struct Presser {
    /// Only a registered client's queue may press: before a name is
    /// accepted a client can only fill its own queue with its own replies.
    allowed: bool,
    /// When the current pressing began.
    since: Option<Instant>,
    /// When the current pressing must end (its budget, at most a window).
    until: Option<Instant>,
    /// Pressing time left; `None` until first used (a full window).
    budget: Option<Duration>,
    /// When `budget` was last brought up to date.
    budget_at: Option<Instant>,
    /// The budget ran out during this stay above the soft bound: no more
    /// pressing until the queue drops below it.
    spent: bool,
}

impl Presser {
    /// The client registered: from now on its queue may press.
    pub fn allow(&mut self) {
        self.allowed = true;
    }

    /// True while pressing.
    pub fn is_pressing(&self) -> bool {
        self.since.is_some()
    }

    /// When the current pressing must end, if pressing.
    pub fn until(&self) -> Option<Instant> {
        self.until
    }

    /// The queue crossed the soft bound at `now`: press, if allowed and
    /// the budget has time left.
    pub fn start(&mut self, now: Instant, window: Duration, pressure: &Pressure) {
        if !self.allowed || self.spent || self.since.is_some() {
            return;
        }
        let most = window * BUDGET_WINDOWS;
        let mut budget = self.budget.unwrap_or(most);
        if let Some(at) = self.budget_at {
            budget = (budget + (now - at) * DUTY_PERCENT / 100).min(most);
        }
        self.budget = Some(budget);
        self.budget_at = Some(now);
        if budget.is_zero() {
            self.spent = true;
            return;
        }
        self.since = Some(now);
        self.until = Some(now + budget.min(window));
        pressure.press();
    }

    /// Stops pressing at `now`, if pressing; the time spent comes off the
    /// budget. `spent`: no more pressing in this stay above the soft bound.
    pub fn stop(&mut self, now: Instant, spent: bool, pressure: &Pressure) {
        self.spent |= spent;
        if let Some(since) = self.since.take() {
            self.until = None;
            let budget = self.budget.unwrap_or_default();
            self.budget = Some(budget.saturating_sub(now - since));
            self.budget_at = Some(now);
            pressure.release();
        }
    }

    /// The queue is below the soft bound again: a later stay may press.
    pub fn below_soft(&mut self, now: Instant, pressure: &Pressure) {
        self.stop(now, false, pressure);
        self.spent = false;
    }
}

/// How many queues are pressing on the senders now.
#[derive(Debug, Default)]
pub struct Pressure {
    /// Queues above the soft bound and within their window.
    pressing: AtomicUsize,
    /// Wakes the senders when `pressing` drops to zero.
    released: Notify,
    /// How many of the pressing queues have a hard bound.
    hard: AtomicUsize,
}

impl Pressure {
    /// No queue is pressing.
    pub fn new() -> Self {
        Pressure::default()
    }

    /// True while senders must wait.
    pub fn is_active(&self) -> bool {
        self.pressing.load(Ordering::Acquire) > 0
    }

    /// A queue starts pressing.
    pub fn press(&self) {
        self.pressing.fetch_add(1, Ordering::AcqRel);
    }

    /// A queue stops pressing (drained, timed out or closed).
    pub fn release(&self) {
        if self.pressing.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.released.notify_waiters();
        }
    }

    /// A queue with a hard bound starts pressing (a cluster's queue to
    /// Redis, §17.4): as [`Pressure::press`], and the lines of a read
    /// already made wait too ([`Pressure::is_hard`]), not only the next
    /// reads, since every line would reach that queue.
    pub fn press_hard(&self) {
        self.hard.fetch_add(1, Ordering::AcqRel);
        self.press();
    }

    /// The queue of [`Pressure::press_hard`] stops pressing.
    pub fn release_hard(&self) {
        self.hard.fetch_sub(1, Ordering::AcqRel);
        self.release();
    }

    /// True while a queue with a hard bound presses: a registered client's
    /// lines wait one by one, not a read at a time.
    pub fn is_hard(&self) -> bool {
        self.hard.load(Ordering::Acquire) > 0
    }

    /// Resolves once no queue is pressing.
    pub async fn released(&self) {
        loop {
            let notified = self.released.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !self.is_active() {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    const WINDOW: Duration = Duration::from_secs(2);

    #[tokio::test(start_paused = true)]
    async fn a_client_presses_for_at_most_a_window_and_on_average_a_share_of_the_time() {
        let p = Pressure::new();
        let mut q = Presser::default();
        q.start(Instant::now(), WINDOW, &p);
        assert!(!p.is_active(), "not registered: never presses");
        q.allow();
        q.start(Instant::now(), WINDOW, &p);
        assert!(p.is_active());
        assert_eq!(q.until(), Some(Instant::now() + WINDOW));
        // It keeps its queue full: the window ends, and no second window
        // in the same stay.
        tokio::time::advance(WINDOW).await;
        q.stop(Instant::now(), true, &p);
        q.start(Instant::now(), WINDOW, &p);
        assert!(!p.is_active());
        // Drains, then fills again at once, twice more: a window each,
        // and then the budget (three windows) is spent.
        for _ in 0..2 {
            q.below_soft(Instant::now(), &p);
            q.start(Instant::now(), WINDOW, &p);
            assert_eq!(q.until(), Some(Instant::now() + WINDOW));
            tokio::time::advance(WINDOW).await;
            q.stop(Instant::now(), true, &p);
        }
        q.below_soft(Instant::now(), &p);
        q.start(Instant::now(), WINDOW, &p);
        assert!(!p.is_active(), "budget spent");
        // Ten seconds later the budget has refilled 5 s: a whole window.
        q.below_soft(Instant::now(), &p);
        tokio::time::advance(Duration::from_secs(10)).await;
        q.start(Instant::now(), WINDOW, &p);
        assert_eq!(q.until(), Some(Instant::now() + WINDOW));
        q.below_soft(Instant::now(), &p);
    }

    #[tokio::test(start_paused = true)]
    async fn a_reader_that_pauses_a_fifth_of_the_time_always_has_budget() {
        let p = Pressure::new();
        let mut q = Presser::default();
        q.allow();
        for _ in 0..60 {
            // Behind for 200 ms, then caught up for 800 ms.
            q.start(Instant::now(), WINDOW, &p);
            assert!(p.is_active());
            tokio::time::advance(Duration::from_millis(200)).await;
            q.below_soft(Instant::now(), &p);
            tokio::time::advance(Duration::from_millis(800)).await;
        }
    }

    /// A client that fills its queue again and again to freeze the room
    /// holds the senders back at most DUTY_PERCENT of the time, once its
    /// first window is spent.
    #[tokio::test(start_paused = true)]
    async fn a_client_that_tries_to_freeze_the_room_gets_its_share_and_no_more() {
        let p = Pressure::new();
        let mut q = Presser::default();
        q.allow();
        let mut held = Duration::ZERO;
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(600) {
            // Drop below the bound for an instant, and fill again.
            q.below_soft(Instant::now(), &p);
            q.start(Instant::now(), WINDOW, &p);
            match q.until() {
                Some(until) => {
                    // The connection's timer ends the pressing on time.
                    let from = Instant::now();
                    tokio::time::advance(until - from).await;
                    held += until - from;
                    q.stop(Instant::now(), true, &p);
                }
                None => tokio::time::advance(Duration::from_millis(10)).await,
            }
        }
        let share = held.as_secs_f64() / 600.0;
        assert!(share <= 0.51, "held the room {share:.3} of the time");
    }

    #[tokio::test]
    async fn senders_wait_until_the_last_queue_stops_pressing() {
        let p = Arc::new(Pressure::new());
        p.press();
        p.press();
        let waiter = tokio::spawn({
            let p = Arc::clone(&p);
            async move { p.released().await }
        });
        tokio::task::yield_now().await;
        p.release();
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        p.release();
        waiter.await.unwrap_or_else(|_| unreachable!());
        assert!(!p.is_active());
        // Nothing pressing: no wait at all.
        p.released().await;
    }
}
