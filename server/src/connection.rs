//! One client connection's task: moves bytes between its socket and its
//! [`Session`], and runs its timers (spec §4.5, §10). Reads go through a
//! stack buffer and the framer; only a partial line is kept between reads,
//! so an idle connection holds no buffer at all. Writes drain the outbox and
//! go out coalesced in one vectored write. Protocol decisions live in
//! `session.rs`; this file must never interpret line content.

use std::collections::VecDeque;
use std::io::{ErrorKind, IoSlice};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tagarela_parser::{ByeReason, Frame, LeaveReason, LineFramer};
use tokio::io::{AsyncWriteExt, Interest};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::admission::Permit;
use crate::context::Context;
use crate::outbox::{KEEP_CAPACITY, Outbox};
use crate::replies;
use crate::session::{Outcome, Session};

/// Octets read from the socket at a time.
const READ_CHUNK: usize = 4096;
/// Most buffers handed to one vectored write.
const MAX_IOV: usize = 64;

/// How the main loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// EOF, reset or I/O error: no BYE can be delivered.
    Lost,
    /// Close with this BYE.
    Bye(ByeReason),
}

/// Result of one read.
enum ReadOutcome {
    /// Lines (maybe none) were handled.
    Active,
    /// Nothing to read after all.
    Idle,
    /// The session asked to close, or the peer flooded.
    Close(ByeReason),
    /// EOF or error.
    Lost,
}

/// Serves one accepted connection to the end.
pub async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    ctx: Arc<Context>,
    shutdown: CancellationToken,
    permit: Permit,
) {
    configure_socket(&stream);
    let settings = &ctx.settings;
    let outbox = Arc::new(Outbox::new(
        settings.outbox_bytes,
        settings.outbox_soft_bytes,
    ));
    if let Some(hello) = replies::hello() {
        outbox.push(hello);
    }
    let mut session = Session::new(
        peer,
        Arc::clone(&ctx.room),
        Arc::clone(&outbox),
        settings.omit_private_text,
        ctx.audit.is_enabled(),
    );
    let mut framer = LineFramer::default();
    let mut partial = BytesMut::new();
    let mut inflight: VecDeque<Bytes> = VecDeque::new();

    let connected = Instant::now();
    let registration_deadline = connected + settings.registration_timeout;
    let mut last_activity = connected;
    let mut ping_sent: Option<Instant> = None;
    let sleep =
        tokio::time::sleep_until(registration_deadline.min(connected + settings.ping_interval));
    tokio::pin!(sleep);
    let mut ping_counter: u32 = 0;

    let ending = loop {
        let want_write = !inflight.is_empty();
        let interest = if want_write {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break Ending::Bye(ByeReason::Shutdown),
            ready = stream.ready(interest) => {
                let Ok(ready) = ready else { break Ending::Lost };
                if ready.is_readable() || ready.is_read_closed() {
                    match read_lines(&stream, &mut framer, &mut partial, &mut session) {
                        ReadOutcome::Active => {
                            last_activity = Instant::now();
                            ping_sent = None;
                        }
                        ReadOutcome::Idle => {}
                        ReadOutcome::Close(reason) => break Ending::Bye(reason),
                        ReadOutcome::Lost => break Ending::Lost,
                    }
                    for record in session.take_audit() {
                        ctx.audit.record(record).await;
                    }
                }
                if ready.is_writable() {
                    if let Some(end) = flush(&stream, &outbox, &mut inflight) {
                        break end;
                    }
                }
            }
            () = outbox.changed() => {
                if want_write {
                    // The socket is full: leave new lines queued (so later
                    // pushes do not wake us) unless the bound was passed.
                    if outbox.is_overflowed() {
                        break Ending::Bye(ByeReason::Slow);
                    }
                } else if let Some(end) = flush(&stream, &outbox, &mut inflight) {
                    break end;
                }
                if let Some(since) = outbox.above_soft_since() {
                    let slow_at = Instant::from_std(since) + settings.slow_grace;
                    if slow_at < sleep.deadline() {
                        sleep.as_mut().reset(slow_at);
                    }
                }
            }
            () = &mut sleep => {
                let now = Instant::now();
                if !session.is_registered() && now >= registration_deadline {
                    break Ending::Bye(ByeReason::Timeout);
                }
                let slow_at = outbox.above_soft_since().map(|since| Instant::from_std(since) + settings.slow_grace);
                if slow_at.is_some_and(|at| now >= at) {
                    break Ending::Bye(ByeReason::Slow);
                }
                match ping_sent {
                    Some(sent) if now >= sent + settings.ping_timeout => break Ending::Bye(ByeReason::Timeout),
                    None if now >= last_activity + settings.ping_interval => {
                        ping_counter = ping_counter.wrapping_add(1);
                        if let Some(line) = ping_line(ping_counter) {
                            outbox.push(line);
                        }
                        ping_sent = Some(now);
                    }
                    _ => {}
                }
                let mut next = match ping_sent {
                    Some(sent) => sent + settings.ping_timeout,
                    None => last_activity + settings.ping_interval,
                };
                if !session.is_registered() {
                    next = next.min(registration_deadline);
                }
                if let Some(at) = slow_at {
                    next = next.min(at);
                }
                sleep.as_mut().reset(next.max(now + Duration::from_millis(1)));
            }
        }
    };

    match ending {
        Ending::Lost => {
            session.leave(LeaveReason::Lost);
            outbox.close();
        }
        Ending::Bye(reason) => {
            if let Some(leave) = reason.leave_reason() {
                session.leave(leave);
            }
            if let Some(bye) = replies::bye(reason) {
                if reason == ByeReason::Slow {
                    // Its queue is gone; one attempt, never a wait.
                    outbox.close();
                    best_effort_bye(&stream, &inflight, &bye);
                } else {
                    outbox.push_last(bye);
                    let grace = settings.shutdown_grace;
                    let _ =
                        tokio::time::timeout(grace, drain(&stream, &outbox, &mut inflight)).await;
                }
            }
            tracing::debug!(peer = %peer, reason = %reason, "closed");
        }
    }
    for record in session.take_audit() {
        ctx.audit.record(record).await;
    }
    let mut stream = stream;
    let _ = tokio::time::timeout(Duration::from_millis(200), stream.shutdown()).await;
    drop(permit);
}

fn configure_socket(stream: &TcpStream) {
    let _ = stream.set_nodelay(true);
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(60))
        .with_interval(Duration::from_secs(10))
        .with_retries(3);
    let _ = socket2::SockRef::from(stream).set_tcp_keepalive(&keepalive);
}

fn ping_line(counter: u32) -> Option<Bytes> {
    let token = tagarela_parser::Token::new(counter.to_string()).ok()?;
    replies::encode(&tagarela_parser::ServerLine::Ping { token })
}

/// Reads once and hands every complete line to the session. The read buffer
/// is on the stack of this synchronous function, not in the task's future.
fn read_lines(
    stream: &TcpStream,
    framer: &mut LineFramer,
    partial: &mut BytesMut,
    session: &mut Session,
) -> ReadOutcome {
    let mut buf = [0u8; READ_CHUNK];
    let n = match stream.try_read(&mut buf) {
        Ok(0) => return ReadOutcome::Lost,
        Ok(n) => n,
        Err(e) if e.kind() == ErrorKind::WouldBlock => return ReadOutcome::Idle,
        Err(_) => return ReadOutcome::Lost,
    };
    let result = if partial.is_empty() {
        let data = &buf[..n];
        let r = frame_lines(framer, data, session);
        if let Ok(used) = r {
            partial.extend_from_slice(&data[used..]);
        }
        r
    } else {
        partial.extend_from_slice(&buf[..n]);
        let r = frame_lines(framer, partial, session);
        if let Ok(used) = r {
            partial.advance(used);
        }
        r
    };
    if partial.is_empty() && partial.capacity() > 0 {
        // Give the memory back: idle connections hold no buffer.
        *partial = BytesMut::new();
    }
    match result {
        Ok(_) => ReadOutcome::Active,
        Err(reason) => ReadOutcome::Close(reason),
    }
}

/// Frames and handles lines in `data`; returns how many octets were used.
fn frame_lines(
    framer: &mut LineFramer,
    data: &[u8],
    session: &mut Session,
) -> Result<usize, ByeReason> {
    let mut pos = 0;
    loop {
        let (used, frame) = framer.next(&data[pos..]);
        match frame {
            Frame::Line(line) => {
                if let Outcome::Close(reason) = session.handle_line(line) {
                    return Err(reason);
                }
            }
            Frame::TooLong => session.line_too_long(),
            Frame::Flood => return Err(ByeReason::Flood),
            Frame::NeedMore => return Ok(pos + used),
        }
        pos += used;
    }
}

/// Writes as much queued output as the socket takes now, coalesced.
/// Returns an ending if the peer is gone or the outbox overflowed.
fn flush(stream: &TcpStream, outbox: &Outbox, inflight: &mut VecDeque<Bytes>) -> Option<Ending> {
    loop {
        if outbox.take_all(inflight) {
            return Some(Ending::Bye(ByeReason::Slow));
        }
        if inflight.is_empty() {
            return None;
        }
        let mut slices = [IoSlice::new(&[]); MAX_IOV];
        let mut count = 0;
        for (slot, buf) in slices.iter_mut().zip(inflight.iter()) {
            *slot = IoSlice::new(buf);
            count += 1;
        }
        match stream.try_write_vectored(&slices[..count]) {
            Ok(0) => return Some(Ending::Lost),
            Ok(mut written) => {
                outbox.release(written);
                while written > 0 {
                    let Some(front) = inflight.front_mut() else {
                        break;
                    };
                    if front.len() <= written {
                        written -= front.len();
                        inflight.pop_front();
                    } else {
                        front.advance(written);
                        written = 0;
                    }
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return None,
            Err(_) => return Some(Ending::Lost),
        }
        if inflight.is_empty() && inflight.capacity() > KEEP_CAPACITY {
            // Idle clients hold no buffer: give a burst's capacity back.
            *inflight = VecDeque::new();
        }
    }
}

/// Writes everything queued (used while closing), waiting as needed.
async fn drain(stream: &TcpStream, outbox: &Outbox, inflight: &mut VecDeque<Bytes>) {
    while flush(stream, outbox, inflight).is_none() && !inflight.is_empty() {
        if stream.writable().await.is_err() {
            return;
        }
    }
}

/// One attempt to end a slow client's stream with `BYE slow`: finish the
/// line being written, if the socket takes it, then the BYE. Never waits,
/// and never sends the BYE after a torn line.
fn best_effort_bye(stream: &TcpStream, inflight: &VecDeque<Bytes>, bye: &Bytes) {
    if let Some(front) = inflight.front() {
        match stream.try_write(front) {
            Ok(n) if n == front.len() => {}
            _ => return,
        }
    }
    let _ = stream.try_write(bye);
}
