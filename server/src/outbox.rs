//! A client's bounded outbound queue (spec §11): encoded lines waiting to be
//! written to its socket. Producers (any connection task routing a message)
//! push shared `Bytes` without ever waiting; the owner drains everything in
//! one go and writes it coalesced. Two bounds: passing the hard bound drops
//! the queue and marks it overflowed at once; staying above the soft bound
//! is timed (the owner removes the client once that lasts too long). So a
//! client that stops reading costs at most the hard bound and never slows
//! the producers, while a healthy client rides out a burst. Never awaits
//! while locked.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::Notify;

/// Queue slots kept after draining; more is given back to the allocator.
pub const KEEP_CAPACITY: usize = 16;

/// Outbound queue of one client.
#[derive(Debug)]
pub struct Outbox {
    state: Mutex<State>,
    notify: Notify,
    limit: usize,
    soft_limit: usize,
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Bytes>,
    /// Octets queued plus octets taken by the writer and not yet released.
    bytes: usize,
    overflowed: bool,
    closed: bool,
    /// Since when `bytes` has been above the soft bound.
    above_soft_since: Option<Instant>,
}

impl Outbox {
    /// An empty queue that holds at most `limit` octets and times how long
    /// it stays above `soft_limit`.
    pub fn new(limit: usize, soft_limit: usize) -> Self {
        Outbox {
            state: Mutex::new(State::default()),
            notify: Notify::new(),
            limit,
            soft_limit: soft_limit.min(limit),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a line. Returns false (and queues nothing) when the outbox is
    /// closed or has overflowed; passing the bound marks it overflowed and
    /// frees what it held.
    pub fn push(&self, line: Bytes) -> bool {
        let mut s = self.lock();
        if s.closed || s.overflowed {
            return false;
        }
        if s.bytes + line.len() > self.limit {
            s.overflowed = true;
            s.queue = VecDeque::new();
            drop(s);
            self.notify.notify_one();
            return false;
        }
        let was_empty = s.queue.is_empty();
        s.bytes += line.len();
        s.queue.push_back(line);
        let crossed_soft = s.bytes > self.soft_limit && s.above_soft_since.is_none();
        if crossed_soft {
            s.above_soft_since = Some(Instant::now());
        }
        drop(s);
        if was_empty || crossed_soft {
            self.notify.notify_one();
        }
        true
    }

    /// Queues a final line whatever the bound (a `BYE`), then closes the
    /// outbox to every later push.
    pub fn push_last(&self, line: Bytes) {
        let mut s = self.lock();
        if !s.closed {
            s.bytes += line.len();
            s.queue.push_back(line);
            s.closed = true;
        }
        drop(s);
        self.notify.notify_one();
    }

    /// Closes the outbox: later pushes are refused. Queued lines stay.
    pub fn close(&self) {
        self.lock().closed = true;
    }

    /// Takes every queued line into `into` (appending). Returns true if the
    /// outbox has overflowed, in which case nothing is taken.
    pub fn take_all(&self, into: &mut VecDeque<Bytes>) -> bool {
        let mut s = self.lock();
        if s.overflowed {
            return true;
        }
        if into.is_empty() {
            // Hand over the whole buffer; the outbox starts again with none,
            // so a burst's capacity is not kept by an idle client.
            *into = std::mem::take(&mut s.queue);
        } else {
            into.extend(s.queue.drain(..));
            if s.queue.capacity() > KEEP_CAPACITY {
                s.queue = VecDeque::new();
            }
        }
        false
    }

    /// True once the bound was passed.
    pub fn is_overflowed(&self) -> bool {
        self.lock().overflowed
    }

    /// The writer reports octets written, freeing room under the bound.
    pub fn release(&self, written: usize) {
        let mut s = self.lock();
        s.bytes = s.bytes.saturating_sub(written);
        if s.bytes <= self.soft_limit {
            s.above_soft_since = None;
        }
    }

    /// Since when the queue has been above the soft bound, if it is.
    pub fn above_soft_since(&self) -> Option<Instant> {
        self.lock().above_soft_since
    }

    /// Resolves when lines were pushed (or the outbox overflowed) since the
    /// last call. Cancel-safe.
    pub async fn changed(&self) {
        self.notify.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_overflows_and_frees() {
        let outbox = Outbox::new(10, 10);
        assert!(outbox.push(Bytes::from_static(b"12345")));
        assert!(outbox.push(Bytes::from_static(b"12345")));
        assert!(!outbox.push(Bytes::from_static(b"1")));
        let mut taken = VecDeque::new();
        assert!(outbox.take_all(&mut taken), "overflow is reported");
        assert!(taken.is_empty());
        assert!(!outbox.push(Bytes::from_static(b"1")), "stays overflowed");
    }

    #[test]
    fn in_flight_octets_count_against_the_bound() {
        let outbox = Outbox::new(10, 10);
        assert!(outbox.push(Bytes::from_static(b"1234567890")));
        let mut taken = VecDeque::new();
        assert!(!outbox.take_all(&mut taken));
        assert_eq!(taken.len(), 1);
        assert!(
            !outbox.push(Bytes::from_static(b"x")),
            "in-flight octets still count"
        );
    }

    #[test]
    fn soft_bound_is_timed_from_first_crossing() {
        let outbox = Outbox::new(100, 10);
        assert!(outbox.push(Bytes::from_static(b"12345")));
        assert_eq!(outbox.above_soft_since(), None);
        assert!(outbox.push(Bytes::from_static(b"123456")));
        let since = outbox.above_soft_since().expect("above soft");
        assert!(outbox.push(Bytes::from_static(b"1")));
        assert_eq!(outbox.above_soft_since(), Some(since), "not restarted");
        let mut taken = VecDeque::new();
        outbox.take_all(&mut taken);
        outbox.release(5);
        assert_eq!(
            outbox.above_soft_since(),
            None,
            "12 - 5 = 7 octets is under the soft bound"
        );
    }

    #[test]
    fn release_then_push() {
        let outbox = Outbox::new(10, 10);
        assert!(outbox.push(Bytes::from_static(b"1234567890")));
        let mut taken = VecDeque::new();
        outbox.take_all(&mut taken);
        outbox.release(10);
        assert!(outbox.push(Bytes::from_static(b"x")));
        outbox.push_last(Bytes::from_static(b"BYE"));
        assert!(!outbox.push(Bytes::from_static(b"y")));
        taken.clear();
        outbox.take_all(&mut taken);
        assert_eq!(
            taken,
            vec![Bytes::from_static(b"x"), Bytes::from_static(b"BYE")]
        );
    }
}
