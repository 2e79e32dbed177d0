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
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use tagarela_parser::{ByeReason, LeaveReason, Token};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::chat::reply::{Client, Replier, Reply};
use crate::chat::session::{Pending, Session, SessionOptions};
use crate::config::Settings;
use crate::flow::rate_limit::Bucket;
use crate::hub::{Claimed, Refusal};
use crate::ops::metrics::Metrics;
use crate::transport::admission::Permit;
use crate::transport::shared::Shared;
use crate::wire::irc::{IrcClient, IrcFront};
use crate::wire::outbox::Outbox;
use crate::wire::tagarela;

mod input;
mod output;
mod timers;

use input::Input;
use output::{Outgoing, best_effort_bye, drain, flush};
use timers::{Due, Timers};

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

/// The wire format a connection speaks: the port it came in on says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// spec/PROTOCOL.md.
    Tagarela,
    /// IRC (spec §20).
    Irc,
}

impl Protocol {
    /// The metrics' `protocol` label.
    pub fn label(self) -> &'static str {
        match self {
            Protocol::Tagarela => "tagarela",
            Protocol::Irc => "irc",
        }
    }
}

/// What a connection runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// Plain TCP (spec §2).
    Tcp,
    /// TLS over TCP (spec §15).
    Tls,
    /// A WebSocket on the web door (spec §21).
    WebSocket,
    /// A WebSocket on the web door over TLS (HTTPS, spec §21.3).
    WebSocketTls,
}

impl TransportKind {
    /// The metrics' `transport` label.
    pub fn label(self) -> &'static str {
        match self {
            TransportKind::Tcp => "tcp",
            TransportKind::Tls => "tls",
            TransportKind::WebSocket => "websocket",
            TransportKind::WebSocketTls => "websocket-tls",
        }
    }

    /// Whether the octets are encrypted on the way (the room password's
    /// rule, §4.7).
    pub fn over_tls(self) -> bool {
        matches!(self, TransportKind::Tls | TransportKind::WebSocketTls)
    }
}

/// Serves one accepted connection to the end.
pub async fn serve<T: Transport>(
    transport: T,
    peer: SocketAddr,
    ctx: Arc<Shared>,
    shutdown: CancellationToken,
    permit: Permit,
    kind: TransportKind,
    protocol: Protocol,
) {
    let mut transport = transport;
    let open = ctx
        .metrics
        .open
        .get_or_create(&[("transport", kind.label()), ("protocol", protocol.label())])
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
    // Who the chat core talks to: the outbox itself for a Tagarela client,
    // an IRC encoder in front of it for an IRC client.
    let (client, irc): (Arc<dyn Client>, _) = match (protocol, &ctx.irc) {
        (Protocol::Irc, Some(identity)) => {
            let client = Arc::new(IrcClient::new(outbox.clone(), Arc::clone(identity)));
            let front = IrcFront::new(Arc::clone(&client), Arc::clone(&ctx.hub));
            (client, Some(Box::new(front)))
        }
        _ => (outbox.clone(), None),
    };
    if ready && irc.is_none() {
        outbox.reply(&Reply::Hello);
    }
    let options = SessionOptions {
        peer,
        recording: ctx.sink.is_some(),
        access: ctx.access.clone(),
        over_tls: kind.over_tls(),
        lobby: irc.is_none(),
    };
    let mut session = Session::new(Arc::clone(&ctx.hub), client, options);
    let mut input = Input::new(
        settings
            .rate_limit
            .map(|rate| (rate, Bucket::new(Instant::now()))),
        Arc::clone(&ctx.pressure),
        irc,
    );
    let mut outgoing = Outgoing::default();

    let mut timers = Timers::new(Instant::now(), settings);
    let sleep = tokio::time::sleep_until(timers.next(false, settings));
    tokio::pin!(sleep);
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
            // Lines held back (rate limit, or a queue's hard pressure) are
            // due by the timer: if the pressure ended since the timer was
            // last set without them, it is set again now (else they would
            // wait for the next ping).
            if !held_back
                && let Some(at) = input.held_until
                && at < sleep.deadline()
            {
                sleep.as_mut().reset(at);
            }
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
                    let due = timers.fire(now, session.is_registered(), held_back, settings);
                    if let Due::End(reason) = due {
                        break Ending::Bye(reason);
                    }
                    let above_soft = outbox.above_soft_since();
                    if above_soft.is_some_and(|since| now >= since + settings.slow_grace) {
                        break Ending::Bye(ByeReason::Slow);
                    }
                    if outbox.pressing_until().is_some_and(|until| now >= until) {
                        outbox.end_pressure_window();
                    }
                    if let Due::Ping(n) = due
                        && let Ok(token) = Token::new(n.to_string()) {
                            session.ping(token);
                        }
                    if input.held_until.is_some_and(|at| now >= at) && !held_back {
                        // Lines the rate limit held back are the client's
                        // activity too (§10), whenever they are handled.
                        match input.handle_lines(&mut session) {
                            Err(reason) => break Ending::Bye(reason),
                            Ok(handled) if handled > 0 => timers.heard(now),
                            Ok(_) => {}
                        }
                        record(&ctx, &mut session).await;
                    }
                    let held_until = input.held_until.filter(|_| !held_back);
                    let wake = next_wake(&timers, session.is_registered(), held_until, &outbox, settings);
                    sleep.as_mut().reset(wake.max(now + Duration::from_millis(1)));
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
                        Ok(handled) if handled > 0 => timers.heard(Instant::now()),
                        Ok(_) => {}
                    }
                    record(&ctx, &mut session).await;
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
                        Progress::Lines => timers.heard(Instant::now()),
                        Progress::Octets => {}
                        Progress::End(end) => break end,
                    }
                    if let Some(at) = input.held_until
                        && at < sleep.deadline() {
                            sleep.as_mut().reset(at);
                        }
                    // Boxed by the sink: this wait must not grow every idle
                    // connection's task.
                    record(&ctx, &mut session).await;
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
    Box::pin(close(
        ending, transport, &ctx, session, &input, &outbox, outgoing,
    ))
    .await;
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
    let input::Counted {
        octets: octets_in,
        lines,
        holds,
    } = std::mem::take(&mut input.counted);
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

/// The earliest instant at which some timer is due: the connection's
/// own, the outbox's (slow grace, pressure window) or the rate limit's
/// for held-back lines (unless back-pressure holds them anyway).
fn next_wake(
    timers: &Timers,
    registered: bool,
    held_until: Option<Instant>,
    outbox: &Outbox,
    settings: &Settings,
) -> Instant {
    let mut next = timers.next(registered, settings);
    if let Some(since) = outbox.above_soft_since() {
        next = next.min(since + settings.slow_grace);
    }
    if let Some(until) = outbox.pressing_until() {
        next = next.min(until);
    }
    if let Some(at) = held_until {
        next = next.min(at);
    }
    next
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
    ctx: &Shared,
    mut session: Session,
    input: &Input,
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
            let bye = if input.speaks_irc() {
                Some(IrcClient::bye_line(reason).into())
            } else {
                tagarela::encode_reply(&Reply::Bye(reason))
            };
            if let Some(bye) = bye {
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
async fn record(ctx: &Shared, session: &mut Session) {
    if session.has_entries()
        && let Some(sink) = &ctx.sink
    {
        sink.record(session.take_entries()).await;
    }
}

#[cfg(test)]
mod tests;
