//! Hands a cluster node's records to its sinks (audit log, server log)
//! from a task of its own, so the loop that follows the cluster's channel
//! and delivers every event to this node's clients never waits on a
//! store (spec §17.4). The queue between them is bounded: from
//! [`PRESS_AT`] records waiting, the node holds its own senders back
//! (spec §11.1, as for Redis behind), which stops new records at their
//! source while delivery goes on; a record that finds [`RECORDS_MAX`]
//! waiting (lines read before the hold took effect, beyond any the
//! publisher can have in flight) is not kept, and is counted
//! (`tagarela_records_lost_total`). Never decides delivery.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use prometheus_client::metrics::counter::Counter;
use tokio::sync::Notify;

use crate::flow::pressure::Pressure;
use crate::store::{Entry, EventSink};

/// Records waiting from which this node's senders are held back.
pub const PRESS_AT: usize = 1024;

/// Records waiting below which they go on.
pub const RELEASE_AT: usize = 256;

/// Records waiting at most.
pub const RECORDS_MAX: usize = 65_536;

/// Records handed to the sinks in one call at most.
const BATCH_MAX: usize = 256;

/// The queue and its wake-up, shared with the task that drains it.
#[derive(Debug)]
pub struct Recorder {
    /// Records not yet handed to the sinks, oldest first.
    waiting: Mutex<VecDeque<Entry>>,
    /// Records pushed and not yet recorded (waiting, or in the sinks'
    /// hands): what the bounds count.
    unrecorded: AtomicUsize,
    /// Wakes the draining task.
    arrived: Notify,
    /// Holds the senders back while the sinks are behind.
    pressure: Arc<Pressure>,
    /// Whether this recorder is holding them back now.
    pressing: AtomicBool,
    /// Counts records not kept.
    lost: Counter,
    /// Records are being lost now (said once per episode in the log).
    losing: AtomicBool,
}

impl Recorder {
    /// A recorder that holds senders back through `pressure` and counts
    /// what it cannot keep in `lost`.
    pub fn new(pressure: Arc<Pressure>, lost: Counter) -> Arc<Recorder> {
        Arc::new(Recorder {
            waiting: Mutex::default(),
            unrecorded: AtomicUsize::new(0),
            arrived: Notify::new(),
            pressure,
            pressing: AtomicBool::new(false),
            lost,
            losing: AtomicBool::new(false),
        })
    }

    /// Queues `entry` for the sinks; never waits.
    pub fn push(&self, entry: Entry) {
        let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        let unrecorded = self.unrecorded.load(Ordering::Acquire);
        if unrecorded >= RECORDS_MAX {
            drop(waiting);
            self.lost.inc();
            if !self.losing.swap(true, Ordering::AcqRel) {
                tracing::error!(
                    waiting = RECORDS_MAX,
                    "the stores are too far behind: records are not kept until they catch up (tagarela_records_lost_total counts them)"
                );
            }
            return;
        }
        waiting.push_back(entry);
        self.unrecorded.fetch_add(1, Ordering::AcqRel);
        drop(waiting);
        if unrecorded + 1 >= PRESS_AT && !self.pressing.swap(true, Ordering::AcqRel) {
            self.pressure.press();
        }
        self.arrived.notify_one();
    }

    /// Records not yet recorded now.
    pub fn len(&self) -> usize {
        self.unrecorded.load(Ordering::Acquire)
    }

    /// Whether everything pushed has been recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Hands what waits to `sink`, in order, batch by batch, for ever.
    pub async fn drain(self: Arc<Self>, sink: Arc<dyn EventSink>) {
        loop {
            let batch: Vec<Entry> = {
                let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
                let n = waiting.len().min(BATCH_MAX);
                waiting.drain(..n).collect()
            };
            if batch.is_empty() {
                self.arrived.notified().await;
                continue;
            }
            let n = batch.len();
            sink.record(batch).await;
            let left = self.unrecorded.fetch_sub(n, Ordering::AcqRel) - n;
            if left <= RELEASE_AT {
                if self.pressing.swap(false, Ordering::AcqRel) {
                    self.pressure.release();
                }
                self.losing.store(false, Ordering::Release);
            }
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if self.pressing.swap(false, Ordering::AcqRel) {
            self.pressure.release();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, EventKind, Seq};
    use crate::store::Recording;
    use tagarela_parser::{Name, Timestamp};

    /// A store that takes nothing until it is opened.
    #[derive(Debug, Default)]
    struct Stalled {
        open: Notify,
        kept: Mutex<Vec<u64>>,
    }

    impl EventSink for Stalled {
        fn record(&self, entries: Vec<Entry>) -> Recording<'_> {
            Box::pin(async move {
                self.open.notified().await;
                self.open.notify_one();
                let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
                kept.extend(entries.iter().map(|e| e.event.seq.0));
            })
        }
    }

    fn entry(seq: u64) -> Entry {
        let name = Name::new("ana").unwrap_or_else(|_| unreachable!());
        let at = Timestamp::from_unix_ms(0).unwrap_or(Timestamp::MAX);
        Entry {
            event: Arc::new(Event::new(Seq(seq), at, EventKind::Join { name })),
            peer: std::net::SocketAddr::from(([127, 0, 0, 1], 1)),
        }
    }

    /// Issue 20, finding 3: a stalled store never makes the pusher wait;
    /// it holds the senders back from PRESS_AT on, keeps every record in
    /// order, and lets go once the store has caught up.
    #[tokio::test(start_paused = true)]
    async fn a_stalled_store_holds_the_senders_back_and_loses_nothing() {
        let pressure = Arc::new(Pressure::new());
        let lost = Counter::default();
        let recorder = Recorder::new(Arc::clone(&pressure), lost.clone());
        let store = Arc::new(Stalled::default());
        let sink: Arc<dyn EventSink> = store.clone();
        let drain = tokio::spawn(Arc::clone(&recorder).drain(sink));
        for seq in 1..=PRESS_AT as u64 + 10 {
            recorder.push(entry(seq));
        }
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
        assert!(pressure.is_active(), "held back while the store is stalled");
        assert_eq!(recorder.len(), PRESS_AT + 10, "nothing recorded yet");
        store.open.notify_one();
        while !recorder.is_empty() {
            tokio::task::yield_now().await;
        }
        tokio::task::yield_now().await;
        assert!(!pressure.is_active(), "released once it caught up");
        let kept = store
            .kept
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        assert_eq!(kept, (1..=PRESS_AT as u64 + 10).collect::<Vec<_>>());
        assert_eq!(lost.get(), 0);
        drain.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn past_the_bound_a_record_is_counted_lost() {
        let lost = Counter::default();
        let recorder = Recorder::new(Arc::new(Pressure::new()), lost.clone());
        for seq in 0..RECORDS_MAX as u64 + 3 {
            recorder.push(entry(seq));
        }
        assert_eq!((recorder.len(), lost.get()), (RECORDS_MAX, 3));
    }
}
