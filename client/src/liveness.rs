//! Noticing a dead or hung server. TCP alone never tells a client that a
//! server stopped (a stopped process keeps its sockets open), so the client
//! probes with `/ping <token>`: the server answers `PONG <token>` in order
//! with its other replies (spec §10), so that PONG also confirms every line
//! sent before the probe. A state machine driven by its caller's clock
//! (tokio time): it says when to probe, when to tell the user the server is
//! not responding, and when to give up. It never sends, prints or sleeps
//! itself.
//!
//! The times (documented in the README): probe after [`PROBE_IDLE`] of
//! server silence, or [`PROBE_AFTER_SEND`] after sending a line no probe
//! covers yet; "not responding" when a probe is unanswered for
//! [`WARN_AFTER`]; lost when it is unanswered for [`LOST_AFTER`].

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// Server silence after which the client probes.
pub const PROBE_IDLE: Duration = Duration::from_secs(15);
/// Time after sending a line before the client probes to confirm it.
pub const PROBE_AFTER_SEND: Duration = Duration::from_secs(3);
/// Unanswered probe after which the user is told.
pub const WARN_AFTER: Duration = Duration::from_secs(10);
/// Unanswered probe after which the server is declared lost.
pub const LOST_AFTER: Duration = Duration::from_secs(60);

/// Sent lines remembered for reporting while unconfirmed; older ones are
/// only counted.
const UNCONFIRMED_MAX: usize = 100;

/// Prefix of the client's own probe tokens (spec §1.2 `token`).
const TOKEN_PREFIX: &str = "tgl-";

/// The four bounds; tests shorten them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    /// Server silence before a probe.
    pub probe_idle: Duration,
    /// Delay after sending a line before a probe confirms it.
    pub probe_after_send: Duration,
    /// Unanswered probe before "not responding".
    pub warn_after: Duration,
    /// Unanswered probe before giving up.
    pub lost_after: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            probe_idle: PROBE_IDLE,
            probe_after_send: PROBE_AFTER_SEND,
            warn_after: WARN_AFTER,
            lost_after: LOST_AFTER,
        }
    }
}

impl std::str::FromStr for Timings {
    type Err = String;

    /// `IDLE,SEND,WARN,LOST` in milliseconds.
    fn from_str(s: &str) -> Result<Self, String> {
        let ms: Vec<u64> = s
            .split(',')
            .map(|n| n.trim().parse::<u64>().map_err(|e| format!("{n:?}: {e}")))
            .collect::<Result<_, _>>()?;
        let [idle, send, warn, lost] = ms[..] else {
            return Err("expected IDLE,SEND,WARN,LOST in milliseconds".into());
        };
        Ok(Timings {
            probe_idle: Duration::from_millis(idle),
            probe_after_send: Duration::from_millis(send),
            warn_after: Duration::from_millis(warn),
            lost_after: Duration::from_millis(lost.max(warn)),
        })
    }
}

/// What the caller must do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Alarm {
    /// Send `/ping <token>`.
    Probe(String),
    /// Tell the user the server is not responding.
    NotResponding(Report),
    /// Give up: the server is declared lost.
    Lost(Report),
}

/// The state of things when the server does not answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Time since the server last sent anything.
    pub silent: Duration,
    /// Lines sent and not confirmed, oldest first (at most the last 100).
    pub unconfirmed: Vec<String>,
    /// Unconfirmed lines older than those, only counted.
    pub more: usize,
}

/// A probe in flight.
#[derive(Debug, Clone)]
struct Probe {
    /// Its token, to recognise its PONG.
    token: String,
    /// When it was sent: the warning and giving up count from here.
    sent_at: Instant,
    /// Sequence number of the last line it confirms.
    covers: u64,
    /// True once the user was told the server is not responding.
    warned: bool,
}

/// The watchdog.
#[derive(Debug)]
pub struct Liveness {
    /// The bounds in use.
    timings: Timings,
    /// When the server last sent a line: silence is measured from here.
    last_heard: Instant,
    /// Lines sent and not yet confirmed, with their sequence numbers,
    /// oldest first; bounded by UNCONFIRMED_MAX.
    unconfirmed: VecDeque<(u64, String)>,
    /// Unconfirmed lines dropped from `unconfirmed` to keep it bounded.
    forgotten: usize,
    /// Sequence number of the last line sent.
    sent: u64,
    /// When the oldest line that no probe covers yet was sent.
    uncovered_since: Option<Instant>,
    /// The probe in flight, if any (at most one at a time).
    probe: Option<Probe>,
    /// Counter for probe tokens.
    next_token: u64,
}

impl Liveness {
    /// A watchdog for a connection that has just opened at `now`.
    pub fn new(timings: Timings, now: Instant) -> Self {
        Liveness {
            timings,
            last_heard: now,
            unconfirmed: VecDeque::new(),
            forgotten: 0,
            sent: 0,
            uncovered_since: None,
            probe: None,
            next_token: 0,
        }
    }

    /// The server sent a line (any line).
    pub fn heard(&mut self, now: Instant) {
        self.last_heard = now;
    }

    /// We sent `line` for the user; it awaits confirmation.
    pub fn sent(&mut self, line: &str, now: Instant) {
        self.sent += 1;
        if self.unconfirmed.len() == UNCONFIRMED_MAX {
            self.unconfirmed.pop_front();
            self.forgotten += 1;
        }
        self.unconfirmed.push_back((self.sent, line.to_owned()));
        self.uncovered_since.get_or_insert(now);
    }

    /// We sent a line that the server should answer but that the user
    /// need not hear about (the name): probe as for a sent line, without
    /// listing it as unconfirmed.
    pub fn expect_answer(&mut self, now: Instant) {
        self.uncovered_since.get_or_insert(now);
    }

    /// A `PONG` with `token` arrived. `Some(recovered)` if it answers our
    /// probe (then it is not the user's business, and `recovered` says
    /// whether the user had been told the server was not responding);
    /// `None` if it is someone else's (the user's own `/ping`).
    pub fn pong(&mut self, token: Option<&str>) -> Option<bool> {
        let probe = self.probe.as_ref()?;
        if token != Some(probe.token.as_str()) {
            return None;
        }
        let covers = probe.covers;
        let recovered = probe.warned;
        self.probe = None;
        while self.unconfirmed.front().is_some_and(|(n, _)| *n <= covers) {
            self.unconfirmed.pop_front();
        }
        if self.unconfirmed.is_empty() {
            self.forgotten = 0;
        }
        Some(recovered)
    }

    /// True for a token this client uses for its probes.
    pub fn is_own_token(token: &str) -> bool {
        token.starts_with(TOKEN_PREFIX)
    }

    /// When [`Liveness::tick`] next has something to do.
    pub fn deadline(&self) -> Instant {
        let t = &self.timings;
        match &self.probe {
            Some(p) if !p.warned => p.sent_at + t.warn_after,
            Some(p) => p.sent_at + t.lost_after,
            None => {
                let idle = self.last_heard + t.probe_idle;
                match self.uncovered_since {
                    Some(since) => idle.min(since + t.probe_after_send),
                    None => idle,
                }
            }
        }
    }

    /// What to do at `now` (call at or after [`Liveness::deadline`]).
    pub fn tick(&mut self, now: Instant) -> Option<Alarm> {
        if now < self.deadline() {
            return None;
        }
        let t = self.timings;
        match &mut self.probe {
            Some(p) if now >= p.sent_at + t.lost_after => Some(Alarm::Lost(self.report(now))),
            Some(p) => {
                p.warned = true;
                Some(Alarm::NotResponding(self.report(now)))
            }
            None => {
                self.next_token += 1;
                let token = format!("{TOKEN_PREFIX}{}", self.next_token);
                self.probe = Some(Probe {
                    token: token.clone(),
                    sent_at: now,
                    covers: self.sent,
                    warned: false,
                });
                self.uncovered_since = None;
                Some(Alarm::Probe(token))
            }
        }
    }

    /// The lines not confirmed so far and how long the server has been
    /// silent.
    pub fn report(&self, now: Instant) -> Report {
        Report {
            silent: now.saturating_duration_since(self.last_heard),
            unconfirmed: self.unconfirmed.iter().map(|(_, l)| l.clone()).collect(),
            more: self.forgotten,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::advance;

    fn probe_token(alarm: Option<Alarm>) -> String {
        match alarm {
            Some(Alarm::Probe(token)) => token,
            other => panic!("expected a probe, got {other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_server_is_probed_then_reported_then_given_up() {
        let mut l = Liveness::new(Timings::default(), Instant::now());
        advance(Duration::from_secs(14)).await;
        assert_eq!(l.tick(Instant::now()), None);
        advance(Duration::from_secs(1)).await;
        assert_eq!(l.deadline(), Instant::now());
        let token = probe_token(l.tick(Instant::now()));
        assert!(Liveness::is_own_token(&token));
        advance(Duration::from_secs(10)).await;
        match l.tick(Instant::now()) {
            Some(Alarm::NotResponding(r)) => assert_eq!(r.silent, Duration::from_secs(25)),
            other => panic!("{other:?}"),
        }
        advance(Duration::from_secs(49)).await;
        assert_eq!(l.tick(Instant::now()), None);
        advance(Duration::from_secs(1)).await;
        match l.tick(Instant::now()) {
            Some(Alarm::Lost(r)) => assert_eq!(r.silent, Duration::from_secs(75)),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn any_server_line_postpones_the_idle_probe() {
        let mut l = Liveness::new(Timings::default(), Instant::now());
        advance(Duration::from_secs(10)).await;
        l.heard(Instant::now());
        advance(Duration::from_secs(10)).await;
        assert_eq!(l.tick(Instant::now()), None);
        advance(Duration::from_secs(5)).await;
        probe_token(l.tick(Instant::now()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_sent_line_is_probed_soon_and_confirmed_by_the_pong() {
        let mut l = Liveness::new(Timings::default(), Instant::now());
        l.sent("great, lunch?", Instant::now());
        advance(Duration::from_secs(3)).await;
        let token = probe_token(l.tick(Instant::now()));
        // A line sent after the probe is not confirmed by its PONG.
        l.sent("later", Instant::now());
        assert_eq!(l.pong(Some("someone-else")), None);
        assert_eq!(l.pong(Some(&token)), Some(false));
        assert_eq!(l.report(Instant::now()).unconfirmed, ["later"]);
        // ... but is probed for on its own.
        advance(Duration::from_secs(3)).await;
        let token = probe_token(l.tick(Instant::now()));
        advance(Duration::from_secs(10)).await;
        match l.tick(Instant::now()) {
            Some(Alarm::NotResponding(r)) => assert_eq!(r.unconfirmed, ["later"]),
            other => panic!("{other:?}"),
        }
        // A late answer says the server recovered.
        assert_eq!(l.pong(Some(&token)), Some(true));
        assert!(l.report(Instant::now()).unconfirmed.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn unconfirmed_lines_are_bounded() {
        let mut l = Liveness::new(Timings::default(), Instant::now());
        for n in 0..250 {
            l.sent(&n.to_string(), Instant::now());
        }
        let r = l.report(Instant::now());
        assert_eq!((r.unconfirmed.len(), r.more), (100, 150));
        assert_eq!(r.unconfirmed[0], "150");
    }

    #[test]
    fn timings_parse_from_milliseconds() {
        let t: Timings = "100,50,200,400".parse().unwrap();
        assert_eq!(t.probe_idle, Duration::from_millis(100));
        assert_eq!(t.lost_after, Duration::from_millis(400));
        assert!("1,2,3".parse::<Timings>().is_err());
    }
}
