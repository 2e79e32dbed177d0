//! One client connection's task: moves bytes between its socket and its
//! [`Session`], and runs its timers (spec §4.5, §10). Reads go through a
//! stack buffer and the framer; only a partial line is kept between reads,
//! so an idle connection holds no buffer at all. Writes swap the outbox's
//! buffer out and send it in one write. Rare, await-heavy work (closing,
//! waiting on the audit log) is boxed so that it does not enlarge the state
//! every open connection keeps. Protocol decisions live in
//! `session.rs`; this file must never interpret line content.

use std::future::{Future, poll_fn};
use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tagarela_parser::sniff::{self, Sniffed};
use tagarela_parser::{ByeReason, Framed, LeaveReason, LineFramer, Token};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::admission::Permit;
use crate::context::Context;
use crate::intent::Intent;
use crate::outbox::Outbox;
use crate::reply::{Replier, Reply};
use crate::session::{Outcome, Session};
use crate::wire;

/// Octets read from the socket at a time.
const READ_CHUNK: usize = 4096;

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
    /// At least one complete line arrived: activity for the keepalive
    /// (spec §10 counts lines, not octets).
    Lines,
    /// Nothing to read after all, or only part of a line.
    NoLine,
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
    outbox.reply(&Reply::Hello);
    let mut session = Session::new(
        peer,
        Arc::clone(&ctx.hub),
        Arc::clone(&outbox),
        settings.log_private_text,
        ctx.sink.is_some(),
    );
    let mut input = Input::default();
    let mut outgoing = Outgoing::default();

    let connected = Instant::now();
    let registration_deadline = connected + settings.registration_timeout;
    let mut last_activity = connected;
    let mut ping_sent: Option<Instant> = None;
    let sleep =
        tokio::time::sleep_until(registration_deadline.min(connected + settings.ping_interval));
    tokio::pin!(sleep);
    let mut ping_counter: u32 = 0;

    // Made once: re-creating it every turn would lock the token's shared
    // waiter list twice per wake-up, for every connection.
    let cancelled = shutdown.cancelled();
    tokio::pin!(cancelled);

    let ending = loop {
        let want_write = outgoing.is_pending();
        // Biased, rare events first: a peer that keeps its socket readable
        // must not starve the timers (registration, keepalive, slow grace)
        // or the overflow check, which the readiness branch would otherwise
        // win every turn.
        tokio::select! {
            biased;
            () = &mut cancelled => break Ending::Bye(ByeReason::Shutdown),
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
                        if let Ok(token) = Token::new(ping_counter.to_string()) {
                            outbox.reply(&Reply::Ping(token));
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
            () = outbox.changed() => {
                if want_write {
                    // The socket is full: leave new lines queued (so later
                    // pushes do not wake us) unless the bound was passed.
                    if outbox.is_overflowed() {
                        break Ending::Bye(ByeReason::Slow);
                    }
                } else if let Some(end) = flush(&stream, &outbox, &mut outgoing) {
                    break end;
                }
                if let Some(since) = outbox.above_soft_since() {
                    let slow_at = Instant::from_std(since) + settings.slow_grace;
                    if slow_at < sleep.deadline() {
                        sleep.as_mut().reset(slow_at);
                    }
                }
            }
            ready = readiness(&stream, want_write) => {
                let Ok((readable, writable)) = ready else { break Ending::Lost };
                if readable {
                    match read_lines(&stream, &mut input, &mut session) {
                        ReadOutcome::Lines => {
                            last_activity = Instant::now();
                            ping_sent = None;
                        }
                        ReadOutcome::NoLine => {}
                        ReadOutcome::Close(reason) => break Ending::Bye(reason),
                        ReadOutcome::Lost => break Ending::Lost,
                    }
                    if session.has_entries() {
                        if let Some(sink) = &ctx.sink {
                            // Boxed by the sink: this wait must not grow
                            // every idle connection's task.
                            sink.record(session.take_entries()).await;
                        }
                    }
                }
                // Write replies now rather than after the peer's backlog
                // of lines is read, so a pipelining client is not cut off
                // as slow while it reads normally.
                if writable || !want_write {
                    if let Some(end) = flush(&stream, &outbox, &mut outgoing) {
                        break end;
                    }
                }
            }
        }
    };

    // Closing is rare and awaits a lot: boxed, so its state does not
    // enlarge the future every open connection keeps.
    Box::pin(close(ending, stream, &ctx, session, &outbox, outgoing)).await;
    drop(permit);
}

/// Ends the connection: announces the leave, sends the BYE (bounded by the
/// grace period), records the audit trail and shuts the socket down.
async fn close(
    ending: Ending,
    stream: TcpStream,
    ctx: &Context,
    mut session: Session<Outbox>,
    outbox: &Outbox,
    mut outgoing: Outgoing,
) {
    let settings = &ctx.settings;
    match ending {
        Ending::Lost => {
            session.leave(LeaveReason::Lost);
            outbox.close();
        }
        Ending::Bye(reason) => {
            // A queue that overflowed while something else ended the loop
            // makes this a removal for slowness all the same; but a
            // shutdown announces no leave (spec §9.1), so it stays one.
            let overflowed = outbox.is_overflowed();
            let reason = if overflowed && reason != ByeReason::Shutdown {
                ByeReason::Slow
            } else {
                reason
            };
            if let Some(leave) = reason.leave_reason() {
                session.leave(leave);
            }
            if let Some(bye) = wire::encode_reply(&Reply::Bye(reason)) {
                if overflowed || reason == ByeReason::Slow {
                    // Its output is over the bound: one attempt, never a wait.
                    outbox.close();
                    best_effort_bye(&stream, &outgoing, &bye);
                } else {
                    outbox.push_last(&bye);
                    let grace = settings.shutdown_grace;
                    let _ =
                        tokio::time::timeout(grace, drain(&stream, outbox, &mut outgoing)).await;
                }
            }
            tracing::debug!(peer = %session.peer(), reason = %reason, "closed");
        }
    }
    if let Some(sink) = &ctx.sink {
        sink.record(session.take_entries()).await;
    }
    let mut stream = stream;
    let _ = tokio::time::timeout(Duration::from_millis(200), stream.shutdown()).await;
}

fn configure_socket(stream: &TcpStream) {
    let _ = stream.set_nodelay(true);
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(60))
        .with_interval(Duration::from_secs(10))
        .with_retries(3);
    let _ = socket2::SockRef::from(stream).set_tcp_keepalive(&keepalive);
}

/// What a connection keeps of its input between reads.
#[derive(Debug)]
struct Input {
    /// Splits the stream into lines (§2).
    framer: LineFramer,
    /// The start of a line whose LF has not arrived; empty (and holding no
    /// memory) between lines.
    partial: BytesMut,
    /// True until the first octets showed the peer is not speaking TLS or
    /// HTTP (§4.6); no line is handled before that.
    sniffing: bool,
}

impl Default for Input {
    fn default() -> Self {
        Input {
            framer: LineFramer::default(),
            partial: BytesMut::new(),
            sniffing: true,
        }
    }
}

impl Input {
    /// Looks at every octet the connection has received so far, while
    /// sniffing (§4.6); `Some` closes the connection.
    fn sniff(&mut self, first: &[u8], peer: SocketAddr) -> Option<ByeReason> {
        let verdict = sniff::sniff(first);
        match verdict.protocol() {
            Some(protocol) => {
                tracing::info!(peer = %peer, protocol, "refused a peer speaking another protocol");
                Some(ByeReason::WrongProtocol)
            }
            None => {
                self.sniffing = verdict == Sniffed::NeedMore;
                None
            }
        }
    }
}

/// Reads once and hands every complete line to the session. The read buffer
/// is on the stack of this synchronous function, not in the task's future.
fn read_lines(stream: &TcpStream, input: &mut Input, session: &mut Session<Outbox>) -> ReadOutcome {
    let mut buf = [0u8; READ_CHUNK];
    let n = match stream.try_read(&mut buf) {
        Ok(0) => return ReadOutcome::Lost,
        Ok(n) => n,
        Err(e) if e.kind() == ErrorKind::WouldBlock => return ReadOutcome::NoLine,
        Err(_) => return ReadOutcome::Lost,
    };
    let peer = session.peer();
    let result = if input.partial.is_empty() {
        let data = &buf[..n];
        if input.sniffing {
            if let Some(reason) = input.sniff(data, peer) {
                return ReadOutcome::Close(reason);
            }
        }
        let r = frame_lines(&mut input.framer, data, session);
        if let Ok((used, _)) = r {
            input.partial.extend_from_slice(&data[used..]);
        }
        r
    } else {
        input.partial.extend_from_slice(&buf[..n]);
        // While sniffing, no line has ended yet: `partial` holds every
        // octet the connection has received.
        if input.sniffing {
            let first = std::mem::take(&mut input.partial);
            let verdict = input.sniff(&first, peer);
            input.partial = first;
            if let Some(reason) = verdict {
                return ReadOutcome::Close(reason);
            }
        }
        let r = frame_lines(&mut input.framer, &input.partial, session);
        if let Ok((used, _)) = r {
            input.partial.advance(used);
        }
        r
    };
    if input.partial.is_empty() && input.partial.capacity() > 0 {
        // Give the memory back: idle connections hold no buffer.
        input.partial = BytesMut::new();
    }
    match result {
        Ok((_, 0)) => ReadOutcome::NoLine,
        Ok(_) => ReadOutcome::Lines,
        Err(reason) => ReadOutcome::Close(reason),
    }
}

/// Frames, checks and decodes the lines in `data` (content checks run over
/// the whole buffer at once) and hands their intents to the session;
/// returns how many octets were used and how many complete lines
/// (over-long ones included) they held.
fn frame_lines(
    framer: &mut LineFramer,
    data: &[u8],
    session: &mut Session<Outbox>,
) -> Result<(usize, usize), ByeReason> {
    let mut lines = framer.lines(data);
    let mut count = 0;
    for framed in lines.by_ref() {
        count += 1;
        let intent = match framed {
            Framed::Line(line) => wire::decode(line, session.is_registered()),
            Framed::TooLong => Intent::TooLong,
            Framed::Flood => return Err(ByeReason::Flood),
        };
        if let Outcome::Close(reason) = session.handle(intent) {
            return Err(reason);
        }
    }
    Ok((lines.consumed(), count))
}

/// Waits until the socket is readable (or closed), or writable when
/// `want_write`; says which. The wakers live in the socket's registration,
/// so this future holds nothing but references.
fn readiness(
    stream: &TcpStream,
    want_write: bool,
) -> impl Future<Output = io::Result<(bool, bool)>> + '_ {
    poll_fn(move |cx| {
        let read = stream.poll_read_ready(cx);
        let write = if want_write {
            stream.poll_write_ready(cx)
        } else {
            Poll::Pending
        };
        match (read, write) {
            (Poll::Ready(Err(e)), _) | (_, Poll::Ready(Err(e))) => Poll::Ready(Err(e)),
            (Poll::Pending, Poll::Pending) => Poll::Pending,
            (read, write) => Poll::Ready(Ok((read.is_ready(), write.is_ready()))),
        }
    })
}

/// Output taken from the outbox and not yet fully written.
#[derive(Debug, Default)]
struct Outgoing {
    buf: Vec<u8>,
    /// Octets of `buf` already written.
    written: usize,
}

impl Outgoing {
    fn is_pending(&self) -> bool {
        self.written < self.buf.len()
    }

    fn rest(&self) -> &[u8] {
        &self.buf[self.written..]
    }
}

/// Writes as much queued output as the socket takes now, in as few writes
/// as it takes. Returns an ending if the peer is gone or the outbox
/// overflowed.
fn flush(stream: &TcpStream, outbox: &Outbox, out: &mut Outgoing) -> Option<Ending> {
    loop {
        if !out.is_pending() {
            out.written = 0;
            if outbox.take(&mut out.buf) {
                return Some(Ending::Bye(ByeReason::Slow));
            }
            if out.buf.is_empty() {
                return None;
            }
        }
        match stream.try_write(out.rest()) {
            Ok(0) => return Some(Ending::Lost),
            Ok(n) => {
                outbox.release(n);
                out.written += n;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return None,
            Err(_) => return Some(Ending::Lost),
        }
    }
}

/// Writes everything queued (used while closing), waiting as needed.
async fn drain(stream: &TcpStream, outbox: &Outbox, out: &mut Outgoing) {
    while flush(stream, outbox, out).is_none() && out.is_pending() {
        if stream.writable().await.is_err() {
            return;
        }
    }
}

/// One attempt to end a slow client's stream with `BYE slow`: finish the
/// line being written, if the socket takes it, then the BYE. Never waits,
/// and never sends the BYE after a torn line.
fn best_effort_bye(stream: &TcpStream, out: &Outgoing, bye: &[u8]) {
    let rest = out.rest();
    if out.written > 0 && out.buf.get(out.written - 1) != Some(&b'\n') {
        let end = memchr::memchr(b'\n', rest).map_or(rest.len(), |i| i + 1);
        match stream.try_write(&rest[..end]) {
            Ok(n) if n == end => {}
            _ => return,
        }
    }
    let _ = stream.try_write(bye);
}
