//! One client connection's task: moves octets between its [`Transport`]
//! and its [`Session`], and runs its timers (spec §4.5, §10, §11). Reads go
//! into a stack buffer inside one poll and only a partial line (or lines
//! the rate limit holds back) is kept between reads, so an idle connection
//! holds no buffer at all. Writes swap the outbox's buffer out and send it
//! in as few writes as the transport takes. Rare, await-heavy work
//! (closing, waiting on a sink) is boxed so that it does not enlarge the
//! state every open connection keeps. Protocol decisions live in
//! `chat/session.rs` and the wire format in `wire/tagarela.rs`: this file never
//! interprets line content, and it is the same for every transport.

use std::future::poll_fn;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tagarela_parser::sniff::{self, Sniffed};
use tagarela_parser::{ByeReason, Framed, LeaveReason, LineFramer, Token};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::chat::intent::Intent;
use crate::chat::reply::{Replier, Reply};
use crate::chat::session::{Outcome, Pending, Session, SessionOptions};
use crate::config::Settings;
use crate::flow::rate_limit::{Bucket, Rate};
use crate::hub::{Claimed, Refusal};
use crate::ops::metrics::Metrics;
use crate::transport::admission::Permit;
use crate::transport::context::Context;
use crate::wire::outbox::Outbox;
use crate::wire::tagarela;

/// Octets read from the transport at a time.
const READ_CHUNK: usize = 4096;

/// What a connection reads and writes: plain TCP, TLS over it, or an
/// in-memory pipe in tests. The connection loop is the same for all.
pub trait Transport: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Transport for T {}

/// How the main loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// EOF, reset or I/O error: no BYE can be delivered.
    Lost,
    /// Close with this BYE.
    Bye(ByeReason),
}

/// What one turn of socket work found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progress {
    /// At least one complete line arrived: activity for the keepalive
    /// (spec §10 counts lines, not octets).
    Lines,
    /// Octets moved, but no complete line arrived.
    Octets,
    /// The connection must end.
    End(Ending),
}

/// What a connection runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// Plain TCP (spec §2).
    Tcp,
    /// TLS over TCP (spec §15).
    Tls,
}

impl TransportKind {
    /// The metrics' `transport` label.
    pub fn label(self) -> &'static str {
        match self {
            TransportKind::Tcp => "tcp",
            TransportKind::Tls => "tls",
        }
    }
}

/// Serves one accepted connection to the end.
pub async fn serve<T: Transport>(
    transport: T,
    peer: SocketAddr,
    ctx: Arc<Context>,
    shutdown: CancellationToken,
    permit: Permit,
    kind: TransportKind,
) {
    let mut transport = transport;
    let open = ctx
        .metrics
        .open
        .get_or_create(&[("transport", kind.label())])
        .clone();
    open.inc();
    let settings = &ctx.settings;
    let outbox = Arc::new(
        Outbox::new(settings.outbox_bytes, settings.outbox_soft_bytes)
            .pressing_on(Arc::clone(&ctx.pressure), settings.pressure_window),
    );
    // A node out of its cluster can give no names (§17.4): it says so
    // instead of greeting, so the client (and a balancer's health check
    // that reads the greeting) goes elsewhere at once.
    let ready = ctx.hub.is_ready();
    if ready {
        outbox.reply(&Reply::Hello);
    }
    let options = SessionOptions {
        peer,
        recording: ctx.sink.is_some(),
        access: ctx.access.clone(),
        over_tls: kind == TransportKind::Tls,
    };
    let mut session = Session::new(Arc::clone(&ctx.hub), outbox.clone(), options);
    let mut input = Input::new(
        settings
            .rate_limit
            .map(|rate| (rate, Bucket::new(Instant::now()))),
    );
    let mut outgoing = Outgoing::default();

    let connected = Instant::now();
    let registration_deadline = connected + settings.registration_timeout;
    let mut last_activity = connected;
    let mut ping_sent: Option<Instant> = None;
    let sleep =
        tokio::time::sleep_until(registration_deadline.min(connected + settings.ping_interval));
    tokio::pin!(sleep);
    let mut ping_counter: u32 = 0;
    let mut may_press = false;

    // Made once: re-creating it every turn would lock the token's shared
    // waiter list twice per wake-up, for every connection.
    let cancelled = shutdown.cancelled();
    tokio::pin!(cancelled);
    // The hub's answer to a claim it decides later (a cluster, §17).
    let mut pending: Option<Pending> = None;

    let ending = 'serve: {
        if !ready {
            break 'serve Ending::Bye(ByeReason::Unavailable);
        }
        loop {
            // Registered clients' input waits while some reader is behind
            // (spec §11); the rate limit holds input back by time.
            let held_back = session.is_registered() && ctx.pressure.is_active();
            if pending.is_none() {
                pending = session.take_pending();
            }
            // A name the cluster has yet to grant holds the client's further
            // lines (kept in `input`) until it answers.
            let may_read = !held_back && input.held_until.is_none() && !session.is_waiting();
            // Biased, rare events first: a peer that keeps its socket readable
            // must not starve the timers (registration, keepalive, slow grace)
            // or the overflow check, which the I/O branch would otherwise win
            // every turn.
            tokio::select! {
                biased;
                () = &mut cancelled => break Ending::Bye(ByeReason::Shutdown),
                () = &mut sleep => {
                    let now = Instant::now();
                    if !session.is_registered() && now >= registration_deadline {
                        break Ending::Bye(ByeReason::Timeout);
                    }
                    let above_soft = outbox.above_soft_since();
                    if above_soft.is_some_and(|since| now >= since + settings.slow_grace) {
                        break Ending::Bye(ByeReason::Slow);
                    }
                    if outbox.pressing_until().is_some_and(|until| now >= until) {
                        outbox.end_pressure_window();
                    }
                    // While its input is held back (§11.1) the client is not
                    // being read, so its silence is not counted (§10): a
                    // long hold (Redis or a store behind) must not remove
                    // every reader as timed out.
                    if held_back {
                        last_activity = now;
                        ping_sent = None;
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
                    if input.held_until.is_some_and(|at| now >= at) && !held_back {
                        match input.handle_lines(&mut session) {
                            Err(reason) => break Ending::Bye(reason),
                            // Lines the rate limit held back are the client's
                            // activity too (§10), whenever they are handled.
                            Ok(handled) if handled > 0 => {
                                last_activity = now;
                                ping_sent = None;
                            }
                            Ok(_) => {}
                        }
                        if session.has_entries()
                            && let Some(sink) = &ctx.sink {
                                sink.record(session.take_entries()).await;
                            }
                    }
                    let wake = Wake {
                        registered: session.is_registered(),
                        registration_deadline,
                        last_activity,
                        ping_sent,
                        held_until: input.held_until.filter(|_| !held_back),
                    };
                    sleep.as_mut().reset(wake.next(&outbox, settings).max(now + Duration::from_millis(1)));
                }
                () = outbox.changed() => {
                    if outbox.is_overflowed() {
                        break Ending::Bye(ByeReason::Slow);
                    }
                    if let Some(why) = outbox.displaced() {
                        break Ending::Bye(why);
                    }
                    if let Some(since) = outbox.above_soft_since() {
                        let mut at = since + settings.slow_grace;
                        if let Some(until) = outbox.pressing_until() {
                            at = at.min(until);
                        }
                        if at < sleep.deadline() {
                            sleep.as_mut().reset(at);
                        }
                    }
                }
                answer = answer_to(&mut pending), if pending.is_some() => {
                    pending = None;
                    session.settle(answer);
                    match input.handle_lines(&mut session) {
                        Err(reason) => break Ending::Bye(reason),
                        Ok(handled) if handled > 0 => {
                            last_activity = Instant::now();
                            ping_sent = None;
                        }
                        Ok(_) => {}
                    }
                    if session.has_entries()
                        && let Some(sink) = &ctx.sink {
                            sink.record(session.take_entries()).await;
                        }
                }
                () = async { Box::pin(ctx.pressure.released()).await }, if held_back => {
                    // Lines held back meanwhile are handled by the timer.
                    if input.held_until.is_some() {
                        sleep.as_mut().reset(Instant::now());
                    }
                }
                progress = poll_fn(|cx| io_turn(cx, &mut transport, &mut input, &mut session, &outbox, &mut outgoing, may_read)) => {
                    count(&ctx.metrics, &mut input, &mut outgoing);
                    if !may_press && session.is_registered() {
                        // Only a registered client's queue holds senders back.
                        outbox.allow_pressing();
                        may_press = true;
                    }
                    match progress {
                        Progress::Lines => {
                            last_activity = Instant::now();
                            ping_sent = None;
                        }
                        Progress::Octets => {}
                        Progress::End(end) => break end,
                    }
                    if let Some(at) = input.held_until
                        && at < sleep.deadline() {
                            sleep.as_mut().reset(at);
                        }
                    if session.has_entries()
                        && let Some(sink) = &ctx.sink {
                            // Boxed by the sink: this wait must not grow
                            // every idle connection's task.
                            sink.record(session.take_entries()).await;
                        }
                }
            }
        }
    };

    // Closing is rare and awaits a lot: boxed, so its state does not
    // enlarge the future every open connection keeps.
    let reason = match ending {
        Ending::Lost => "lost",
        Ending::Bye(reason) if outbox.is_overflowed() && reason != ByeReason::Shutdown => "slow",
        Ending::Bye(reason) => reason.as_str(),
    };
    ctx.metrics
        .removals
        .get_or_create(&[("reason", reason)])
        .inc();
    Box::pin(close(ending, transport, &ctx, session, &outbox, outgoing)).await;
    open.dec();
    drop(permit);
}

/// The hub's later answer to a claim or resume (`None`: it gave none).
async fn answer_to(pending: &mut Option<Pending>) -> Option<Result<Claimed, Refusal>> {
    match pending {
        Some(answer) => answer.await.ok(),
        None => std::future::pending().await,
    }
}

/// Hands the figures counted since the last turn to the metrics: a shared
/// atomic add only for what moved.
fn count(metrics: &Metrics, input: &mut Input, outgoing: &mut Outgoing) {
    let (octets_in, lines, holds) = std::mem::take(&mut input.counted);
    let octets_out = std::mem::take(&mut outgoing.counted);
    for (counter, n) in [
        (&metrics.bytes_in, octets_in),
        (&metrics.lines_in, lines),
        (&metrics.rate_limited, holds),
        (&metrics.bytes_out, octets_out),
    ] {
        if n > 0 {
            counter.inc_by(u64::from(n));
        }
    }
}

/// What decides when the timer branch must next run.
struct Wake {
    registered: bool,
    registration_deadline: Instant,
    last_activity: Instant,
    ping_sent: Option<Instant>,
    /// Held-back lines' next turn, unless back-pressure holds them anyway.
    held_until: Option<Instant>,
}

impl Wake {
    /// The earliest instant at which some timer is due.
    fn next(&self, outbox: &Outbox, settings: &Settings) -> Instant {
        let mut next = match self.ping_sent {
            Some(sent) => sent + settings.ping_timeout,
            None => self.last_activity + settings.ping_interval,
        };
        if !self.registered {
            next = next.min(self.registration_deadline);
        }
        if let Some(since) = outbox.above_soft_since() {
            next = next.min(since + settings.slow_grace);
        }
        if let Some(until) = outbox.pressing_until() {
            next = next.min(until);
        }
        if let Some(at) = self.held_until {
            next = next.min(at);
        }
        next
    }
}

/// One turn of transport work, inside one poll: write what is queued, then
/// (if allowed) read once and hand the lines to the session. Ready when
/// something happened; pending (with the transport holding the waker)
/// when neither direction can move.
fn io_turn<T: Transport>(
    cx: &mut TaskContext<'_>,
    transport: &mut T,
    input: &mut Input,
    session: &mut Session,
    outbox: &Outbox,
    outgoing: &mut Outgoing,
    may_read: bool,
) -> Poll<Progress> {
    if let Some(end) = flush(cx, transport, outbox, outgoing) {
        return Poll::Ready(Progress::End(end));
    }
    if !may_read {
        return Poll::Pending;
    }
    let mut buf = [0u8; READ_CHUNK];
    let mut read = ReadBuf::new(&mut buf);
    match Pin::new(&mut *transport).poll_read(cx, &mut read) {
        Poll::Pending => Poll::Pending,
        Poll::Ready(Err(_)) => Poll::Ready(Progress::End(Ending::Lost)),
        Poll::Ready(Ok(())) if read.filled().is_empty() => Poll::Ready(Progress::End(Ending::Lost)),
        Poll::Ready(Ok(())) => {
            let progress = input.take(read.filled(), session);
            // Write replies now rather than after the peer's backlog of
            // lines is read, so a pipelining client is not cut off as
            // slow while it reads normally.
            if let Some(end) = flush(cx, transport, outbox, outgoing) {
                return Poll::Ready(Progress::End(end));
            }
            Poll::Ready(progress)
        }
    }
}

/// Ends the connection: announces the leave, sends the BYE (bounded by the
/// grace period), records the events and shuts the transport down.
async fn close<T: Transport>(
    ending: Ending,
    mut transport: T,
    ctx: &Context,
    mut session: Session,
    outbox: &Outbox,
    mut outgoing: Outgoing,
) {
    let settings = &ctx.settings;
    // What the last turn did (a message before `/quit`) is recorded before
    // anything here waits (spec §16.4).
    record(ctx, &mut session).await;
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
                record(ctx, &mut session).await;
            }
            if let Some(bye) = tagarela::encode_reply(&Reply::Bye(reason)) {
                if overflowed || reason == ByeReason::Slow {
                    // Its output is over the bound: one attempt, never a wait.
                    outbox.close();
                    best_effort_bye(&mut transport, &outgoing, &bye);
                } else {
                    outbox.push_last(&bye);
                    let grace = settings.shutdown_grace;
                    let drained = poll_fn(|cx| drain(cx, &mut transport, outbox, &mut outgoing));
                    let _ = tokio::time::timeout(grace, drained).await;
                }
            }
            tracing::debug!(peer = %session.peer(), reason = %reason, "closed");
        }
    }
    record(ctx, &mut session).await;
    let _ = tokio::time::timeout(Duration::from_millis(200), transport.shutdown()).await;
}

/// Hands the session's new entries to the sinks, waiting while they are
/// behind.
async fn record(ctx: &Context, session: &mut Session) {
    if session.has_entries()
        && let Some(sink) = &ctx.sink
    {
        sink.record(session.take_entries()).await;
    }
}

/// What a connection keeps of its input between reads.
#[derive(Debug)]
struct Input {
    /// Splits the stream into lines (§2).
    framer: LineFramer,
    /// Octets read and not yet handled: the start of a line whose LF has
    /// not arrived, and any whole lines the rate limit holds back. Empty
    /// (and holding no memory) between lines; at most one read plus one
    /// line.
    partial: BytesMut,
    /// True until the first octets showed the peer is not speaking TLS or
    /// HTTP (§4.6); no line is handled before that.
    sniffing: bool,
    /// The rate limit and the client's place under it (none: no limit).
    limit: Option<(Rate, Bucket)>,
    /// When the rate limit lets the next held-back line through; reading
    /// waits meanwhile.
    held_until: Option<Instant>,
    /// Figures for the metrics since they were last taken: octets read,
    /// lines handled, times the rate limit held lines back.
    counted: (u32, u32, u32),
}

impl Input {
    fn new(limit: Option<(Rate, Bucket)>) -> Self {
        Input {
            framer: LineFramer::default(),
            partial: BytesMut::new(),
            sniffing: true,
            limit,
            held_until: None,
            counted: (0, 0, 0),
        }
    }

    /// Handles octets just read: sniffing first (§4.6), then every
    /// complete line the rate limit allows; the rest is kept.
    fn take(&mut self, data: &[u8], session: &mut Session) -> Progress {
        self.counted.0 = self.counted.0.saturating_add(data.len() as u32);
        // The common case, nothing kept from before: frame straight from
        // the read buffer and keep only what is left over.
        let from_read = self.partial.is_empty();
        if !from_read {
            self.partial.extend_from_slice(data);
        }
        if self.sniffing {
            // While sniffing no line has ended yet: `partial` (or, on the
            // first read, `data`) holds every octet the connection has
            // received.
            let seen: &[u8] = if from_read { data } else { &self.partial };
            let verdict = sniff::sniff(seen);
            if let Some(protocol) = verdict.protocol() {
                tracing::info!(peer = %session.peer(), protocol, "refused a peer speaking another protocol");
                return Progress::End(Ending::Bye(ByeReason::WrongProtocol));
            }
            self.sniffing = verdict == Sniffed::NeedMore;
        }
        let handled = if from_read {
            let handled = self.handle(data, session);
            if let Ok((used, _)) = handled {
                self.partial.extend_from_slice(&data[used..]);
            }
            handled
        } else {
            self.handle_kept(session)
        };
        match handled {
            Err(reason) => Progress::End(Ending::Bye(reason)),
            Ok((_, n)) if n > 0 || self.held_until.is_some() => Progress::Lines,
            Ok(_) => Progress::Octets,
        }
    }

    /// Handles the lines kept in `partial` (after a read that did not end
    /// on a line's end, or that the rate limit held back) and drops them.
    fn handle_lines(&mut self, session: &mut Session) -> Result<usize, ByeReason> {
        self.handle_kept(session).map(|(_, handled)| handled)
    }

    fn handle_kept(&mut self, session: &mut Session) -> Result<(usize, usize), ByeReason> {
        let kept = std::mem::take(&mut self.partial);
        let result = self.handle(&kept, session);
        self.partial = kept;
        if let Ok((used, _)) = result {
            self.partial.advance(used);
        }
        if self.partial.is_empty() && self.partial.capacity() > 0 {
            // Give the memory back: idle connections hold no buffer.
            self.partial = BytesMut::new();
        }
        result
    }

    /// Frames, checks and decodes the complete lines at the start of
    /// `data` (content checks run over the whole buffer at once) and hands
    /// their intents to the session while the rate limit allows; sets
    /// `held_until` when it holds lines back. Returns how many octets were
    /// used and how many lines handled.
    fn handle(&mut self, data: &[u8], session: &mut Session) -> Result<(usize, usize), ByeReason> {
        let mut handled = 0;
        let mut held_until = None;
        let mut lines = self.framer.lines(data);
        let used = loop {
            let before = lines.consumed();
            let Some(framed) = lines.next() else {
                break lines.consumed();
            };
            if let (Framed::Line(_), Some((rate, bucket))) = (&framed, &mut self.limit)
                && let Err(at) = bucket.take(*rate, Instant::now())
            {
                // Not yet: the line stays for later. Between two lines the
                // framer holds no state of the line, so framing it again
                // later gives the same frame.
                held_until = Some(at);
                break before;
            }
            if session.is_waiting() {
                // The hub has yet to answer a claim: this line and the
                // rest stay until it does.
                break before;
            }
            handled += 1;
            let intent = match framed {
                Framed::Line(line) => tagarela::decode(line, session.is_registered()),
                Framed::TooLong => Intent::TooLong,
                Framed::Flood => return Err(ByeReason::Flood),
            };
            if let Outcome::Close(reason) = session.handle(intent) {
                return Err(reason);
            }
        };
        if held_until.is_some() && self.held_until.is_none() {
            self.counted.2 += 1;
        }
        self.held_until = held_until;
        self.counted.1 = self.counted.1.saturating_add(handled as u32);
        Ok((used, handled))
    }
}

/// Output taken from the outbox and not yet fully written.
#[derive(Debug, Default)]
struct Outgoing {
    buf: Vec<u8>,
    /// Octets of `buf` already written.
    written: usize,
    /// Written octets the transport may still hold (TLS encrypts into a
    /// buffer of its own): flushed until it says they are out.
    needs_flush: bool,
    /// Octets written since the metrics last took them.
    counted: u32,
}

impl Outgoing {
    fn is_pending(&self) -> bool {
        self.written < self.buf.len()
    }

    fn rest(&self) -> &[u8] {
        &self.buf[self.written..]
    }
}

/// Writes as much queued output as the transport takes now, in as few
/// writes as it takes. Returns an ending if the peer is gone or the outbox
/// overflowed; `None` when everything is written or the transport is full
/// (it then holds the waker).
fn flush<T: Transport>(
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
fn drain<T: Transport>(
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
fn best_effort_bye<T: Transport>(transport: &mut T, out: &Outgoing, bye: &[u8]) {
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

/// Scripted-I/O tests of the connection's timers and flow control, over an
/// in-memory transport with tokio's clock paused: every figure below is
/// exact, and no test sleeps.
#[cfg(test)]
mod tests;
