//! Sender back-pressure (spec §11): while some client's outbound queue is
//! above the soft bound, and has been for less than the pressure window,
//! the server stops reading from registered clients, so fast senders wait
//! for a briefly slow reader instead of the reader being cut. A count of
//! the queues pressing now, and a wake-up for the senders when it drops
//! to zero. The queues decide when they press ([`crate::outbox`]); this
//! file only counts. Never blocks: senders wait on an async notification.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

/// How many queues are pressing on the senders now.
#[derive(Debug, Default)]
pub struct Pressure {
    /// Queues above the soft bound and within their window.
    pressing: AtomicUsize,
    /// Wakes the senders when `pressing` drops to zero.
    released: Notify,
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
