//! A client's bounded outbound queue (spec §11): the encoded lines waiting
//! to be written to its socket, as one contiguous byte buffer. Producers
//! (any connection task routing a message) append a copy without ever
//! waiting; the owner swaps the whole buffer out and writes from it until
//! it is empty, so a burst costs one write per socket-full, not one per
//! line, and a queued line costs its octets plus the buffer's spare room.
//! Two bounds: passing the hard bound drops the queue and marks it
//! overflowed at once; staying above the soft bound is timed (the owner
//! removes the client once that lasts too long). Queued plus unwritten
//! octets never pass the hard bound, and each of the two buffers' capacity
//! stays within it, so a client that stops reading costs at most twice the
//! hard bound and never slows the producers, while a healthy client rides
//! out a burst. The owner's waker is kept here, so waiting costs no future
//! state of its own. It is how the hub and the chat core reach one client
//! of the Tagarela wire format (`Recipient`, `Replier`). Never awaits
//! while locked.

use std::future::{Future, poll_fn};
use std::mem;
use std::sync::Arc;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use std::time::Duration;

use tagarela_parser::{ByeReason, ErrorCode, Name, RoomName};
use tokio::time::Instant;

use crate::chat::reply::{Replier, Reply};
use crate::event::{Event, WireFormat};
use crate::flow::pressure::{Presser, Pressure};
use crate::hub::crowd::Notice;
use crate::hub::{Entered, Recipient, RoomList, RoomRefusal};
use crate::wire::tagarela;

/// Capacity a queue starts with: a few typical lines.
const MIN_CAPACITY: usize = 256;

/// Outbound queue of one client.
#[derive(Debug)]
pub struct Outbox {
    state: Mutex<State>,
    /// The hard bound.
    limit: usize,
    /// The soft bound.
    soft_limit: usize,
    /// The senders' back-pressure this queue takes part in while above
    /// the soft bound (spec §11), and the longest one pressing may last.
    pressure: Option<(Arc<Pressure>, Duration)>,
    /// The client asked for sequence numbers (§16.5): events are sent as
    /// `SEQ` lines. Set before registration, read by every delivery.
    seq_lines: std::sync::atomic::AtomicBool,
    /// Events of a room go as that room's lines (`IN #room SEQ`, the
    /// `rooms` feature, §19.3).
    room_lines: std::sync::atomic::AtomicBool,
}

#[derive(Debug, Default)]
struct State {
    queue: Vec<u8>,
    /// Octets queued plus octets taken by the writer and not yet released.
    bytes: usize,
    overflowed: bool,
    closed: bool,
    /// Why the hub let go of this client, if it did: its name was resumed
    /// on another connection (§16.6), or this process lost its cluster
    /// (§17.4). The connection ends with this `BYE`.
    displaced: Option<ByeReason>,
    /// Since when `bytes` has been above the soft bound.
    above_soft_since: Option<Instant>,
    /// Whether, and until when, this queue holds the senders back.
    presser: Presser,
    /// Something happened that the owner has not yet been told about.
    signalled: bool,
    /// The owner, waiting in [`Outbox::changed`].
    waker: Option<Waker>,
}

impl State {
    /// Marks a change; returns the waker to wake once unlocked.
    fn signal(&mut self) -> Option<Waker> {
        self.signalled = true;
        self.waker.take()
    }
}

impl Outbox {
    /// An empty queue that holds at most `limit` octets and times how long
    /// it stays above `soft_limit`.
    pub fn new(limit: usize, soft_limit: usize) -> Self {
        Outbox {
            state: Mutex::new(State::default()),
            limit,
            soft_limit: soft_limit.min(limit),
            pressure: None,
            seq_lines: std::sync::atomic::AtomicBool::new(false),
            room_lines: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The same queue, pressing on `pressure` for at most `window` at a
    /// time while above its soft bound, once [`Outbox::allow_pressing`].
    pub fn pressing_on(mut self, pressure: Arc<Pressure>, window: Duration) -> Self {
        self.pressure = Some((pressure, window));
        self
    }

    /// The client registered: its queue may now hold the senders back.
    pub fn allow_pressing(&self) {
        self.lock().presser.allow();
    }

    /// Stops pressing, if it was (under the lock; releasing never waits).
    fn unpress(&self, s: &mut State, spent: bool) {
        if let Some((p, _)) = &self.pressure {
            s.presser.stop(Instant::now(), spent, p);
        }
    }

    /// The pressing's time is up (spec §11.1): the queue stops holding the
    /// senders back for the rest of this stay above the soft bound; from
    /// now on only the bounds apply to it.
    pub fn end_pressure_window(&self) {
        let mut s = self.lock();
        self.unpress(&mut s, true);
    }

    /// When the current pressing must end, if the queue is pressing.
    pub fn pressing_until(&self) -> Option<Instant> {
        self.lock().presser.until()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a copy of `line`, an event or notice from the room. Returns
    /// false (and queues nothing) when the outbox is closed or has
    /// overflowed; passing the bound marks it overflowed and frees what it
    /// held.
    pub fn push(&self, line: &[u8]) -> bool {
        self.push_as(line, true)
    }

    /// Queues a copy of `line`, an answer to the client's own line: it
    /// counts toward the bounds but never holds the senders back (§11.1).
    pub fn push_reply(&self, line: &[u8]) -> bool {
        self.push_as(line, false)
    }

    /// As [`Outbox::push`]; `presses`: above the soft bound, this line may
    /// start holding the senders back (§11.1). Replies to the client's own
    /// lines never do: holding the others back cannot drain them, and a
    /// client asking `/who` of a large room must not freeze it.
    fn push_as(&self, line: &[u8], presses: bool) -> bool {
        let mut s = self.lock();
        if s.closed || s.overflowed {
            return false;
        }
        if s.bytes + line.len() > self.limit {
            s.overflowed = true;
            self.unpress(&mut s, true);
            let freed = mem::take(&mut s.queue);
            let waker = s.signal();
            drop(s);
            drop(freed);
            wake(waker);
            return false;
        }
        let was_empty = s.queue.is_empty();
        s.bytes += line.len();
        reserve_within(&mut s.queue, line.len(), self.limit);
        s.queue.extend_from_slice(line);
        let above_soft = s.bytes > self.soft_limit;
        let crossed_soft = above_soft && s.above_soft_since.is_none();
        let mut started = false;
        if above_soft && (crossed_soft || presses) {
            let now = Instant::now();
            s.above_soft_since.get_or_insert(now);
            if presses
                && !s.presser.is_pressing()
                && let Some((p, window)) = &self.pressure
            {
                s.presser.start(now, *window, p);
                started = s.presser.is_pressing();
            }
        }
        let waker = if was_empty || crossed_soft || started {
            s.signal()
        } else {
            None
        };
        drop(s);
        wake(waker);
        true
    }

    /// Queues a final line whatever the bound (a `BYE`), then closes the
    /// outbox to every later push.
    pub fn push_last(&self, line: &[u8]) {
        let mut s = self.lock();
        if !s.closed {
            s.bytes += line.len();
            s.queue.extend_from_slice(line);
            s.closed = true;
        }
        self.unpress(&mut s, true);
        let waker = s.signal();
        drop(s);
        wake(waker);
    }

    /// Closes the outbox: later pushes are refused. Queued lines stay; it
    /// no longer holds senders back.
    pub fn close(&self) {
        let mut s = self.lock();
        s.closed = true;
        self.unpress(&mut s, true);
    }

    /// Swaps every queued octet into `into`, which must have been written
    /// out (it is cleared; its capacity goes back to the queue, so a burst
    /// ping-pongs two buffers). When nothing is queued, both buffers are
    /// given back to the allocator: an idle client holds none. Returns true
    /// if the outbox has overflowed, in which case nothing is taken.
    pub fn take(&self, into: &mut Vec<u8>) -> bool {
        into.clear();
        let mut s = self.lock();
        if s.overflowed {
            return true;
        }
        let spare = if s.queue.is_empty() {
            (mem::take(&mut s.queue), mem::take(into))
        } else {
            mem::swap(into, &mut s.queue);
            (Vec::new(), Vec::new())
        };
        drop(s);
        drop(spare);
        false
    }

    /// True once the bound was passed.
    pub fn is_overflowed(&self) -> bool {
        self.lock().overflowed
    }

    /// Why the hub let go of this client, once it did: `Replaced` (its
    /// name moved to another connection, §16.6) or `Unavailable` (this
    /// process lost its cluster, §17.4).
    pub fn displaced(&self) -> Option<ByeReason> {
        self.lock().displaced
    }

    /// The hub let go of this client (`why`: `Replaced` or `Unavailable`).
    pub fn displace(&self, why: ByeReason) {
        let mut s = self.lock();
        s.displaced.get_or_insert(why);
        let waker = s.signal();
        drop(s);
        wake(waker);
    }

    /// The writer reports octets written, freeing room under the bound.
    pub fn release(&self, written: usize) {
        let mut s = self.lock();
        s.bytes = s.bytes.saturating_sub(written);
        if s.bytes <= self.soft_limit {
            s.above_soft_since = None;
            if let Some((p, _)) = &self.pressure {
                s.presser.below_soft(Instant::now(), p);
            }
        }
    }

    /// Since when the queue has been above the soft bound, if it is.
    pub fn above_soft_since(&self) -> Option<Instant> {
        self.lock().above_soft_since
    }

    /// Resolves when lines were pushed to an empty queue, the soft bound was
    /// crossed, the outbox overflowed or took its last line, since the last
    /// time it resolved. Cancel-safe; for the owner only (one waiter).
    pub fn changed(&self) -> impl Future<Output = ()> + '_ {
        poll_fn(|cx| self.poll_changed(cx))
    }

    fn poll_changed(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut s = self.lock();
        if mem::take(&mut s.signalled) {
            return Poll::Ready(());
        }
        match &s.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => s.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((p, _)) = &self.pressure {
            s.presser.stop(Instant::now(), true, p);
        }
    }
}

/// The hub delivers events here, in the Tagarela wire format (each event
/// is encoded once, by whichever recipient asks first).
impl Recipient for Outbox {
    fn killed(&self) {
        self.displace(ByeReason::Killed);
    }

    fn replaced(&self) {
        self.displace(ByeReason::Replaced);
    }

    fn cut_off(&self) {
        self.displace(ByeReason::Unavailable);
    }

    fn undeliverable(&self, to: &Name<'static>) {
        self.reply(&Reply::Error {
            code: ErrorCode::NoSuchUser,
            name: Some(to),
        });
    }

    fn crowd(&self, notice: &Notice) {
        let line = if self.room_lines.load(std::sync::atomic::Ordering::Relaxed) {
            notice.encoded_in_room(tagarela::encode_crowd_in_room)
        } else {
            notice.encoded(tagarela::encode_crowd)
        };
        if let Some(line) = line {
            self.push(line);
        }
    }

    fn deliver(&self, event: &Event) {
        let line = if self.room_lines.load(std::sync::atomic::Ordering::Relaxed) {
            event.encoded(WireFormat::TagarelaRooms, tagarela::encode_event_rooms)
        } else if self.seq_lines.load(std::sync::atomic::Ordering::Relaxed) {
            event.encoded(WireFormat::TagarelaSeq, tagarela::encode_event_seq)
        } else {
            event.encoded(WireFormat::Tagarela, tagarela::encode_event)
        };
        if let Some(line) = line {
            self.push(line);
        }
    }

    fn entered(&self, entered: &Entered) {
        self.reply(&Reply::Entered(entered));
    }

    fn room_refused(&self, room: &RoomName<'static>, refusal: &RoomRefusal) {
        crate::chat::reply::tell_refusal(self, room, refusal);
    }

    fn room_list(&self, list: &RoomList<'_>) {
        match *list {
            RoomList::Bans { room, targets } => self.reply(&Reply::Bans { room, targets }),
            RoomList::Operators { room, names } => self.reply(&Reply::Ops { room, names }),
        }
    }
}

/// The chat core's replies to this client, in the Tagarela wire format.
impl Replier for Outbox {
    fn reply(&self, reply: &Reply<'_>) {
        if let Some(line) = tagarela::encode_reply(reply) {
            self.push_as(&line, false);
        }
    }

    fn number_events(&self) {
        self.seq_lines
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    fn use_rooms(&self) {
        self.room_lines
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Makes room for `more` octets, doubling as usual but never past `limit`
/// (unless `more` alone needs it), so a queue's capacity stays within the
/// hard bound.
fn reserve_within(queue: &mut Vec<u8>, more: usize, limit: usize) {
    let need = queue.len() + more;
    if need > queue.capacity() {
        let target = (queue.capacity() * 2)
            .max(MIN_CAPACITY)
            .min(limit)
            .max(need);
        queue.reserve_exact(target - queue.len());
    }
}

fn wake(waker: Option<Waker>) {
    if let Some(w) = waker {
        w.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drained(outbox: &Outbox) -> Vec<u8> {
        let mut out = Vec::new();
        assert!(!outbox.take(&mut out));
        out
    }

    #[test]
    fn bound_overflows_and_frees() {
        let outbox = Outbox::new(10, 10);
        assert!(outbox.push(b"12345"));
        assert!(outbox.push(b"12345"));
        assert!(!outbox.push(b"1"));
        let mut taken = Vec::new();
        assert!(outbox.take(&mut taken), "overflow is reported");
        assert!(taken.is_empty());
        assert!(!outbox.push(b"1"), "stays overflowed");
    }

    #[test]
    fn in_flight_octets_count_against_the_bound() {
        let outbox = Outbox::new(10, 10);
        assert!(outbox.push(b"1234567890"));
        assert_eq!(drained(&outbox), b"1234567890");
        assert!(!outbox.push(b"x"), "in-flight octets still count");
    }

    #[test]
    fn soft_bound_is_timed_from_first_crossing() {
        let outbox = Outbox::new(100, 10);
        assert!(outbox.push(b"12345"));
        assert_eq!(outbox.above_soft_since(), None);
        assert!(outbox.push(b"123456"));
        let since = outbox.above_soft_since().expect("above soft");
        assert!(outbox.push(b"1"));
        assert_eq!(outbox.above_soft_since(), Some(since), "not restarted");
        drained(&outbox);
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
        assert!(outbox.push(b"1234567890"));
        drained(&outbox);
        outbox.release(10);
        assert!(outbox.push(b"x"));
        outbox.push_last(b"BYE");
        assert!(!outbox.push(b"y"));
        assert_eq!(drained(&outbox), b"xBYE");
    }

    #[test]
    fn lines_keep_their_order_across_swaps() {
        let outbox = Outbox::new(1000, 1000);
        let mut out = Vec::new();
        outbox.push(b"a\n");
        outbox.push(b"b\n");
        assert!(!outbox.take(&mut out));
        outbox.push(b"c\n");
        assert_eq!(out, b"a\nb\n", "taken before c was queued");
        assert!(!outbox.take(&mut out));
        assert_eq!(out, b"c\n");
        assert!(!outbox.take(&mut out));
        assert!(out.is_empty());
        assert_eq!(out.capacity(), 0, "an idle client holds no buffer");
    }

    #[test]
    fn capacity_stays_within_the_hard_bound() {
        let outbox = Outbox::new(1000, 1000);
        for _ in 0..33 {
            assert!(outbox.push(&[b'x'; 30]));
        }
        let mut out = Vec::new();
        assert!(!outbox.take(&mut out));
        assert_eq!(out.len(), 990);
        assert!(out.capacity() <= 1000, "capacity {}", out.capacity());
    }

    #[test]
    fn changed_is_signalled_once_per_empty_to_busy() {
        let outbox = Outbox::new(1000, 1000);
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(outbox.poll_changed(&mut cx).is_pending());
        outbox.push(b"a\n");
        outbox.push(b"b\n");
        assert!(outbox.poll_changed(&mut cx).is_ready());
        assert!(
            outbox.poll_changed(&mut cx).is_pending(),
            "the second push found the queue busy"
        );
        drained(&outbox);
        outbox.push(b"c\n");
        assert!(outbox.poll_changed(&mut cx).is_ready());
    }

    #[tokio::test(start_paused = true)]
    async fn a_queue_above_the_soft_bound_presses_until_drained_or_its_window_ends() {
        let pressure = Arc::new(Pressure::new());
        let outbox =
            Outbox::new(100, 10).pressing_on(Arc::clone(&pressure), Duration::from_secs(2));
        assert!(outbox.push(b"12345678901"));
        assert!(!pressure.is_active(), "not before registration");
        drained(&outbox);
        outbox.release(11);
        outbox.allow_pressing();
        assert!(outbox.push(b"12345678901"));
        assert!(pressure.is_active());
        drained(&outbox);
        outbox.release(11);
        assert!(!pressure.is_active(), "drained below the soft bound");

        assert!(outbox.push(b"12345678901"));
        assert!(pressure.is_active());
        outbox.end_pressure_window();
        assert!(!pressure.is_active(), "window over");
        assert!(outbox.push(b"more"));
        assert!(!pressure.is_active(), "no second window in one stay");
        drained(&outbox);
        outbox.release(15);
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(outbox.push(b"12345678901"));
        assert!(
            pressure.is_active(),
            "a new stay presses again, budget allowing"
        );
        drop(outbox);
        assert!(
            !pressure.is_active(),
            "a dropped queue never leaves the room held"
        );
    }

    /// Issue 20 (spec §11.1): a client's own big reply (a `/who` of a
    /// large room, `/history 200`) counts toward its bounds but never
    /// holds the room back; the room's next line to it does.
    #[tokio::test(start_paused = true)]
    async fn replies_never_start_the_holding_events_do() {
        let pressure = Arc::new(Pressure::new());
        let outbox =
            Outbox::new(1000, 10).pressing_on(Arc::clone(&pressure), Duration::from_secs(2));
        outbox.allow_pressing();
        outbox.reply(&Reply::Pong(None));
        outbox.reply(&Reply::Pong(None));
        outbox.reply(&Reply::Pong(None));
        assert!(outbox.above_soft_since().is_some(), "above the soft bound");
        assert!(!pressure.is_active(), "its own replies hold nobody");
        assert!(outbox.push(b"an event\n"));
        assert!(pressure.is_active(), "the room's next line does");
    }

    #[test]
    fn an_overflowed_or_closed_queue_stops_pressing() {
        let pressure = Arc::new(Pressure::new());
        let outbox = Outbox::new(20, 10).pressing_on(Arc::clone(&pressure), Duration::from_secs(2));
        outbox.allow_pressing();
        assert!(outbox.push(b"12345678901"));
        assert!(!outbox.push(b"12345678901"));
        assert!(!pressure.is_active());
        let other = Outbox::new(100, 10).pressing_on(Arc::clone(&pressure), Duration::from_secs(2));
        other.allow_pressing();
        assert!(other.push(b"12345678901"));
        other.close();
        assert!(!pressure.is_active());
    }
}
