//! What a connection keeps of its input between reads: the partial line,
//! the first octets it sniffs (§4.6), the lines the rate limit holds back
//! (§11.2), and the figures read since the metrics last took them. Hands
//! complete lines to the session; never reads the socket itself.

use std::sync::Arc;

use bytes::{Buf, BytesMut};
use tagarela_parser::limits::FLOOD_CAP;
use tagarela_parser::sniff::{self, Sniffed};
use tagarela_parser::{ByeReason, Frame, Framed, LineFramer};
use tokio::time::Instant;

use crate::chat::intent::Intent;
use crate::chat::session::{Next, Session};
use crate::flow::pressure::Pressure;
use crate::flow::rate_limit::{Bucket, Rate};
use crate::wire::irc::IrcFront;
use crate::wire::irc::front::FRAME_MAX;
use crate::wire::tagarela;

use super::{Ending, Progress};

/// Figures of a connection's input since the metrics last took them.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Counted {
    /// Octets read.
    pub(super) octets: u32,
    /// Lines handled.
    pub(super) lines: u32,
    /// Times the rate limit held lines back.
    pub(super) holds: u32,
}

/// What a connection keeps of its input between reads.
#[derive(Debug)]
pub(super) struct Input {
    /// Splits the stream into lines (§2).
    pub(super) framer: LineFramer,
    /// Octets read and not yet handled: the start of a line whose LF has
    /// not arrived, and any whole lines the rate limit holds back. Empty
    /// (and holding no memory) between lines; at most one read plus one
    /// line.
    pub(super) partial: BytesMut,
    /// True until the first octets showed the peer is not speaking TLS or
    /// HTTP (§4.6); no line is handled before that.
    pub(super) sniffing: bool,
    /// The rate limit and the client's place under it (none: no limit).
    pub(super) limit: Option<(Rate, Bucket)>,
    /// When the rate limit lets the next held-back line through; reading
    /// waits meanwhile.
    pub(super) held_until: Option<Instant>,
    /// Holds a registered client's lines, even those of a read already
    /// made, while a queue with a hard bound presses (a cluster's queue to
    /// Redis, §17.4): a burst from many senders at once then waits
    /// instead of filling that queue past its end. (A slow reader's
    /// pressure holds the next reads only, §11.1.)
    pressure: Arc<Pressure>,
    /// Figures for the metrics since they were last taken: octets read,
    /// lines handled, times the rate limit held lines back.
    pub(super) counted: Counted,
    /// The reading side of an IRC connection (§20); `None`: Tagarela's.
    irc: Option<Box<IrcFront>>,
}

/// What may happen to the next line, before it is handled.
enum Gate {
    /// Handle it.
    Go,
    /// Keep it (and the rest) until the rate limit or the hard pressure
    /// lets it through.
    Hold,
    /// Keep it until the hub answers the claim.
    Wait,
}

impl Input {
    pub(super) fn new(
        limit: Option<(Rate, Bucket)>,
        pressure: Arc<Pressure>,
        irc: Option<Box<IrcFront>>,
    ) -> Self {
        let framer = if irc.is_some() {
            LineFramer::new(FRAME_MAX, FLOOD_CAP)
        } else {
            LineFramer::default()
        };
        Input {
            irc,
            framer,
            partial: BytesMut::new(),
            sniffing: true,
            limit,
            held_until: None,
            pressure,
            counted: Counted::default(),
        }
    }

    /// Handles octets just read: sniffing first (§4.6), then every
    /// complete line the rate limit allows; the rest is kept.
    pub(super) fn take(&mut self, data: &[u8], session: &mut Session) -> Progress {
        self.counted.octets = self.counted.octets.saturating_add(data.len() as u32);
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
    pub(super) fn handle_lines(&mut self, session: &mut Session) -> Result<usize, ByeReason> {
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

    /// Notes what one pass over the lines did: the lines it handled, and
    /// when (if) it held the rest back (`pressed`: by the hard pressure,
    /// which the metrics do not count as the rate limit's).
    fn handled(
        &mut self,
        used: usize,
        handled: usize,
        held_until: Option<Instant>,
        pressed: bool,
    ) -> (usize, usize) {
        if held_until.is_some() && self.held_until.is_none() && !pressed {
            self.counted.holds += 1;
        }
        self.held_until = held_until;
        self.counted.lines = self.counted.lines.saturating_add(handled as u32);
        (used, handled)
    }

    /// True for an IRC connection (§20).
    pub(super) fn speaks_irc(&self) -> bool {
        self.irc.is_some()
    }

    /// Frames the complete IRC lines at the start of `data` and hands
    /// each to the IRC front, as [`Input::handle`] does for Tagarela's.
    fn handle_irc(
        &mut self,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(usize, usize), ByeReason> {
        let mut handled = 0;
        let mut held_until = None;
        let mut pressed = false;
        let mut used = 0;
        loop {
            let (n, frame) = self.framer.next(&data[used..]);
            match frame {
                Frame::NeedMore => {
                    used += n;
                    break;
                }
                Frame::Flood => return Err(ByeReason::Flood),
                Frame::TooLong | Frame::Line(_) => {}
            }
            // An over-long line is answered at once: its octets are gone.
            if matches!(frame, Frame::Line(_)) {
                match gate(
                    &mut self.limit,
                    &self.pressure,
                    session,
                    true,
                    &mut held_until,
                    &mut pressed,
                ) {
                    Gate::Go => {}
                    Gate::Hold | Gate::Wait => break,
                }
            }
            handled += 1;
            let next = match (frame, self.irc.as_mut()) {
                (Frame::Line(line), Some(front)) => front.handle(line, session),
                _ => session.handle(Intent::TooLong),
            };
            used += n;
            if let Next::Close(reason) = next {
                return Err(reason);
            }
        }
        Ok(self.handled(used, handled, held_until, pressed))
    }

    /// Frames, checks and decodes the complete lines at the start of
    /// `data` (content checks run over the whole buffer at once) and hands
    /// their intents to the session while the rate limit allows; sets
    /// `held_until` when it holds lines back. Returns how many octets were
    /// used and how many lines handled.
    fn handle(&mut self, data: &[u8], session: &mut Session) -> Result<(usize, usize), ByeReason> {
        if self.irc.is_some() {
            return self.handle_irc(data, session);
        }
        let mut handled = 0;
        let mut held_until = None;
        let mut pressed = false;
        let mut lines = self.framer.lines(data);
        let used = loop {
            let before = lines.consumed();
            let Some(framed) = lines.next() else {
                break lines.consumed();
            };
            let line = matches!(framed, Framed::Line(_));
            match gate(
                &mut self.limit,
                &self.pressure,
                session,
                line,
                &mut held_until,
                &mut pressed,
            ) {
                Gate::Go => {}
                Gate::Hold | Gate::Wait => break before,
            }
            handled += 1;
            let intent = match framed {
                Framed::Line(line) => {
                    tagarela::decode(line, session.is_registered(), session.speaks_rooms())
                }
                Framed::TooLong => Intent::TooLong,
                Framed::Flood => return Err(ByeReason::Flood),
            };
            if let Next::Close(reason) = session.handle(intent) {
                return Err(reason);
            }
        };
        Ok(self.handled(used, handled, held_until, pressed))
    }
}

/// Whether the next line may be handled now; `held_until` and
/// `pressed` are set when it may not.
/// (`line`: a whole line, which the rate limit counts; an over-long
/// one it does not.)
fn gate(
    limit: &mut Option<(Rate, Bucket)>,
    pressure: &Pressure,
    session: &Session,
    line: bool,
    held_until: &mut Option<Instant>,
    pressed: &mut bool,
) -> Gate {
    if line
        && let Some((rate, bucket)) = limit
        && let Err(at) = bucket.take(*rate, Instant::now())
    {
        // Not yet: the line stays for later. Between two lines the
        // framer holds no state of the line, so framing it again
        // later gives the same frame.
        *held_until = Some(at);
        return Gate::Hold;
    }
    if session.is_registered() && pressure.is_hard() {
        // Held as a rate-limited line is, and handled once the
        // pressure is released (the connection's timer).
        *pressed = true;
        *held_until = Some(Instant::now());
        return Gate::Hold;
    }
    if session.is_waiting() {
        // The hub has yet to answer a claim: this line and the rest
        // stay until it does.
        return Gate::Wait;
    }
    Gate::Go
}
