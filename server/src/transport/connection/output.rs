//! What a connection has taken from its outbox and not yet written, and
//! the writing: as much as the transport takes now, in as few writes as
//! it takes, and the best-effort BYE at the end. Never reads.

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, Waker};

use tagarela_parser::ByeReason;

use crate::wire::outbox::Outbox;

use super::{Ending, Transport};

/// Output taken from the outbox and not yet fully written.
#[derive(Debug, Default)]
pub(super) struct Outgoing {
    pub(super) buf: Vec<u8>,
    /// Octets of `buf` already written.
    pub(super) written: usize,
    /// Written octets the transport may still hold (TLS encrypts into a
    /// buffer of its own): flushed until it says they are out.
    pub(super) needs_flush: bool,
    /// Octets written since the metrics last took them.
    pub(super) counted: u32,
}

impl Outgoing {
    pub(super) fn is_pending(&self) -> bool {
        self.written < self.buf.len()
    }

    pub(super) fn rest(&self) -> &[u8] {
        &self.buf[self.written..]
    }
}

/// Writes as much queued output as the transport takes now, in as few
/// writes as it takes. Returns an ending if the peer is gone or the outbox
/// overflowed; `None` when everything is written or the transport is full
/// (it then holds the waker).
pub(super) fn flush<T: Transport>(
    cx: &mut TaskContext<'_>,
    transport: &mut T,
    outbox: &Outbox,
    out: &mut Outgoing,
) -> Option<Ending> {
    loop {
        if !out.is_pending() {
            out.written = 0;
            if outbox.take(&mut out.buf) {
                return Some(Ending::Bye(ByeReason::Slow));
            }
            if out.buf.is_empty() {
                break;
            }
        }
        match Pin::new(&mut *transport).poll_write(cx, out.rest()) {
            Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return Some(Ending::Lost),
            Poll::Ready(Ok(n)) => {
                outbox.release(n);
                out.written += n;
                out.counted = out.counted.saturating_add(n as u32);
            }
            Poll::Pending => break,
        }
    }
    {
        // Buffering transports (TLS) hold written octets until flushed, and
        // may have queued records of their own while reading (the rest of
        // a handshake, an alert): flushed on every turn. A flush that
        // cannot finish now is tried again when the transport wakes the
        // task. Over plain TCP this costs nothing.
        match Pin::new(&mut *transport).poll_flush(cx) {
            Poll::Ready(Ok(())) => out.needs_flush = false,
            Poll::Ready(Err(_)) => return Some(Ending::Lost),
            Poll::Pending => out.needs_flush = true,
        }
    }
    None
}

/// Writes everything queued (used while closing), waiting as needed.
pub(super) fn drain<T: Transport>(
    cx: &mut TaskContext<'_>,
    transport: &mut T,
    outbox: &Outbox,
    out: &mut Outgoing,
) -> Poll<()> {
    match flush(cx, transport, outbox, out) {
        Some(_) => Poll::Ready(()),
        None if out.is_pending() || out.needs_flush => Poll::Pending,
        None => Poll::Ready(()),
    }
}

/// One attempt to end a slow client's stream with `BYE slow`: finish the
/// line being written, if the transport takes it, then the BYE. Never
/// waits, and never sends the BYE after a torn line.
pub(super) fn best_effort_bye<T: Transport>(transport: &mut T, out: &Outgoing, bye: &[u8]) {
    let mut cx = TaskContext::from_waker(Waker::noop());
    let rest = out.rest();
    if out.written > 0 && out.buf.get(out.written - 1) != Some(&b'\n') {
        let end = memchr::memchr(b'\n', rest).map_or(rest.len(), |i| i + 1);
        match Pin::new(&mut *transport).poll_write(&mut cx, &rest[..end]) {
            Poll::Ready(Ok(n)) if n == end => {}
            _ => return,
        }
    }
    let _ = Pin::new(&mut *transport).poll_write(&mut cx, bye);
    let _ = Pin::new(&mut *transport).poll_flush(&mut cx);
}
